"""Generate ``docs/ops.md`` from the operation registry.

The page is derived, never edited: ``convolve docs`` rewrites it and
``tests/test_docs.py`` fails when it is stale. :func:`cli_text` is the inverse
of :meth:`editor.ops.registry.Param.parse`, used for the examples here and in
``convolve ops``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from editor.ops import all_ops, categories
from editor.ops.registry import OpSpec, Param

DOCS_PATH = Path(__file__).resolve().parents[1] / "docs" / "ops.md"

#: Example values for parameters whose default is empty (a path must name a file).
_EXAMPLES = {"path": "reference.png", "text": "text"}


def cli_text(param: Param, value: Any) -> str:
    """Command-line text for ``value`` that ``param.parse`` reads back to the same value.

    Examples
    --------
    >>> from editor.ops.registry import Param
    >>> cli_text(Param("color", "color", (255, 0, 0)), (255, 0, 0))
    '255,0,0'
    """
    if value is None:
        return "auto"
    kind = param.kind
    if kind == "bool":
        return "true" if value else "false"
    if kind == "float":
        return f"{float(value):g}" if float(value) == float(f"{float(value):g}") else repr(value)
    if kind == "color":
        return ",".join(str(int(c)) for c in value)
    if kind == "points":
        return ",".join(":".join(_num(c) for c in p) for p in value)
    if kind == "matrix":
        return ",".join(_num(v) for v in value)
    if kind == "kernel":
        return ";".join(",".join(_num(v) for v in row) for row in value)
    return str(value)


def _num(v: Any) -> str:
    return f"{float(v):g}"


def example_value(param: Param) -> str:
    """A value to show in an example command (the default, or a sample path)."""
    if param.default in (None, "") and param.kind in _EXAMPLES and not param.optional:
        return _EXAMPLES[param.kind]
    return cli_text(param, param.default)


def example_command(spec: OpSpec) -> str:
    """``convolve apply`` line running ``spec`` with every parameter at its default."""
    args = " ".join(f"{p.name}={_quote(example_value(p))}" for p in spec.params)
    return f"convolve apply photo.jpg -o out.png --op {spec.name}" + (f" {args}" if args else "")


def _quote(text: str) -> str:
    return f'"{text}"' if any(c in text for c in " ;()[]") else text


def type_label(param: Param) -> str:
    """Short type name for tables (``float``, ``choice``, ``int or auto``)."""
    return param.kind + (" or auto" if param.optional else "")


def range_label(param: Param) -> str:
    """``lo … hi`` for bounded parameters (with the slider range if narrower)."""
    if param.lo is None and param.hi is None:
        return ""
    text = f"{_bound(param.lo)} … {_bound(param.hi)}"
    if param.ui_lo is not None and (param.ui_lo, param.ui_hi) != (param.lo, param.hi):
        text += f" (slider {_bound(param.ui_lo)} … {_bound(param.ui_hi)})"
    return text


def _bound(v: float | None) -> str:
    if v is None:
        return "?"
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _flags(spec: OpSpec) -> str:
    flags = []
    if spec.alpha == "process":
        flags.append("transforms alpha with the pixels")
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
    ]
    for cat in categories():
        lines.append(f"- [{cat}](#{cat.lower().replace(' ', '-')})")
    lines.append("")
    for cat in categories():
        lines += [f"## {cat}", ""]
        for spec in (s for s in specs if s.category == cat):
            lines += [f"### {spec.title} (`{spec.name}`)", ""]
            if spec.summary:
                lines += [spec.summary, ""]
            flags = _flags(spec)
            if flags:
                lines += [f"*{flags[0].upper() + flags[1:]}.*", ""]
            if spec.params:
                lines += [
                    "| Parameter | Type | Default | Range | Unit | Choices | Description |",
                    "|---|---|---|---|---|---|---|",
                ]
                for p in spec.params:
                    default = "auto" if p.default is None else cli_text(p, p.default)
                    choices = ", ".join(f"`{c}`" for c in p.choices)
                    lines.append(
                        f"| `{p.name}` | {type_label(p)} | `{_cell(default)}` | "
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
    from editor.io.atomic import atomic_write_bytes

    target = Path(path) if path else DOCS_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, render_ops_markdown().encode("utf-8"))
    return target
