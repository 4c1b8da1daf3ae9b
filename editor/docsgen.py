"""Generate ``docs/ops.md`` from the operation registry.

The page is derived, never edited: ``convolve docs`` rewrites it and
``tests/test_docs.py`` fails when it is stale. Values are written by each
parameter's kind (:meth:`editor.ops.params.Param.format`, the inverse of
``parse``), for the examples here and in ``convolve ops``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from editor.ops import all_ops, categories
from editor.ops.registry import OpSpec, Param

DOCS_PATH = Path(__file__).resolve().parents[1] / "docs" / "ops.md"


def cli_text(param: Param, value: Any) -> str:
    """Command-line text for ``value`` that ``param.parse`` reads back to the same value.

    The parameter's kind writes it (:meth:`editor.ops.params.ParamKind.format`).

    Examples
    --------
    >>> from editor.ops.registry import Param
    >>> cli_text(Param("color", "color", (255, 0, 0)), (255, 0, 0))
    '255,0,0'
    """
    return param.format(value)


def example_value(param: Param) -> str:
    """A value to show in an example command (the default, or a sample path)."""
    example = param.type.example
    default = param.default
    # an empty path, text or stroke has nothing to show: use the kind's sample
    empty = default is None or (isinstance(default, (str, list, tuple)) and len(default) == 0)
    if empty and example is not None and not param.optional:
        return example
    return param.format(param.default)


def example_command(spec: OpSpec) -> str:
    """``convolve apply`` line running ``spec`` with every parameter at its default."""
    args = " ".join(f"{p.name}={_quote(example_value(p))}" for p in spec.params)
    mask = " --mask mask.png" if spec.uses_mask else ""  # a fill needs its area
    return (f"convolve apply photo.jpg -o out.png{mask} --op {spec.name}"
            + (f" {args}" if args else ""))


def _quote(text: str) -> str:
    return f'"{text}"' if any(c in text for c in " ;()[]") else text


def type_label(param: Param) -> str:
    """Short type name for tables (``float``, ``choice``, ``int or auto``)."""
    return param.describe()


def range_label(param: Param) -> str:
    """``lo … hi`` for bounded parameters (with the slider range if narrower)."""
    if param.lo is None and param.hi is None:
        return ""
    text = f"{_bound(param.lo)} … {_bound(param.hi)}"
    slider = "log slider" if param.scale == "log" else "slider"
    if param.ui_lo is not None and (param.ui_lo, param.ui_hi) != (param.lo, param.hi):
        text += f" ({slider} {_bound(param.ui_lo)} … {_bound(param.ui_hi)})"
    elif param.scale == "log":
        text += f" ({slider})"
    return text


def _bound(v: float | None) -> str:
    if v is None:
        return "?"
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _flags(spec: OpSpec) -> str:
    flags = []
    if spec.uses_mask:
        flags.append("works on the selection (`--mask MASK.png`, white = inside)")
    if spec.alpha == "process":
        flags.append("fills alpha like the colours" if spec.uses_mask
                     else "transforms alpha with the pixels")
    if not spec.keeps_shape:
        flags.append("changes the image size")
    if spec.heavy:
        flags.append("slow: runs with progress")
    if spec.ai:
        flags.append("neural network (needs model weights)")
    return "; ".join(flags)


def render_ops_markdown() -> str:
    """The whole ``docs/ops.md`` page as text."""
    specs = all_ops()
    selects = all_ops(selects=True)
    sections = categories() + (["Select"] if selects else [])
    lines = [
        "# Operations",
        "",
        "<!-- Generated from the operation registry by `convolve docs`; do not edit. -->",
        "",
        f"{len(specs)} operations in {len(categories())} categories. "
        "The classical operations work on 8- and 16-bit grayscale, RGB and RGBA images "
        "and keep the bit depth; unless noted, "
        "alpha is passed through untouched. Run one from a terminal with "
        "`convolve apply INPUT -o OUTPUT --op NAME key=value ...` (chain several `--op`), "
        "or list them with `convolve ops`.",
        "",
        f"{len(selects)} selection operations (Select) change the selection instead of "
        "the pixels: every operation after one writes only inside the selection "
        "(`out = m·op(img) + (1 − m)·img` with its soft mask `m`), and geometry moves "
        "the selection with the image. They are steps of recipes, and of `convolve "
        "apply` (`--op select_ellipse ... --op gaussian_blur ...`); `--mask MASK.png` "
        "starts from a mask image (white = inside).",
        "",
    ]
    for cat in sections:
        lines.append(f"- [{cat}](#{cat.lower().replace(' ', '-')})")
    lines.append("")
    for cat in sections:
        lines += [f"## {cat}", ""]
        for spec in (s for s in specs + selects if s.category == cat):
            lines += [f"### {spec.title} (`{spec.name}`)", ""]
            if spec.summary:
                lines += [spec.summary, ""]
            flags = _flags(spec)
            if flags:
                lines += [f"*{flags[0].upper() + flags[1:]}.*", ""]
            if spec.params:
                lines += [
                    "| Parameter | Label | Type | Default | Range | Unit | Choices | Description |",
                    "|---|---|---|---|---|---|---|---|",
                ]
                for p in spec.params:
                    default = p.format(p.default)
                    choices = ", ".join(f"`{c}`" for c in p.choices)
                    lines.append(
                        f"| `{p.name}` | {_cell(p.label)} | {type_label(p)} | `{_cell(default)}` | "
                        f"{_cell(range_label(p))} | {_cell(p.unit)} | {choices} | "
                        f"{_cell(p.description)} |"
                    )
                lines.append("")
            else:
                lines += ["No parameters.", ""]
            lines += ["```sh", example_command(spec), "```", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def write_ops_markdown(path: Path | None = None) -> Path:
    """Regenerate the ops page (atomically) and return where it was written."""
    from editor.core.atomic import atomic_write_bytes

    target = Path(path) if path else DOCS_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, render_ops_markdown().encode("utf-8"))
    return target
