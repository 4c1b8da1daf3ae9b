"""The ``convolve`` command: the editor window, or the same operations from a terminal.

::

    convolve [PHOTO ...]                      open the editor (on the photos)
    convolve ops [--json]                     list operations, parameters, ranges
    convolve apply IN -o OUT --op NAME [k=v ...] [--op ...] [--recipe R] [--mask M]
                                              [--points P]
    convolve info IN [--json] [--verify]      size, mode, bit depth, orientation, ICC
    convolve check FILE ...                   decode fully: truncated or damaged files
    convolve batch RECIPE INPUT ... -o DIR    a recipe over many photos (Dask, resumable)
    convolve docs                             regenerate docs/ops.md
    convolve generate "PROMPT" -o OUT --model NAME   text-to-image from a local model

Exit codes: 0 done, 1 processing or file error, 2 usage error (bad option,
unknown operation, parameter out of range), 130 interrupted. Errors are one
line on stderr, never a traceback, and no output file is written unless the
whole chain succeeded (:func:`editor.io.save_image` replaces files atomically).
Progress, errors and Ctrl+C are handled alike by every command
(:mod:`editor.cli_common`).

No Qt is imported here; the GUI is imported only when it is asked for.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from editor import __version__
from editor.cli_common import (  # noqa: F401  (EXIT_* and UsageError are part of this API)
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Progress,
    UsageError,
    fail,
    run_command,
    warning,
)

#: Modules that may add subcommands: each is imported if present and its
#: ``add_commands(subparsers)`` called; every subcommand it adds sets ``func``
#: (``func(args) -> int``).
EXTRA_COMMAND_MODULES = ("editor.cli_ai", "editor.cli_teach", "editor.cli_diffusion")
#: Extra command modules that exist but failed to import (module -> error).
EXTRA_COMMAND_ERRORS: dict[str, str] = {}

class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing a usage block and exiting,
    so that every error leaves as exactly one line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (subcommands included)."""
    parser = _Parser(prog="convolve", description="Convolve image editor: from classical "
                     "filters to convolutional networks. Without a command, opens the editor.")
    parser.add_argument("--version", action="version", version=f"convolve {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("gui", help="open the editor window (the default)")
    p.add_argument("paths", nargs="*", metavar="PHOTO")
    p.set_defaults(func=_cmd_gui)

    p = sub.add_parser("ops", help="list every operation with its parameters")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_ops)

    p = sub.add_parser("apply", help="run a chain of operations on an image",
                       description="Run operations in order and save the result. Recipe "
                       "steps run first, then each --op in the order given.")
    p.add_argument("input", metavar="INPUT")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                   help="output file; the format follows the extension unless --format")
    p.add_argument("--op", action="append", nargs="+", default=[], dest="ops",
                   metavar=("NAME", "KEY=VALUE"), help="operation and its parameters")
    p.add_argument("--recipe", metavar="RECIPE", help="replay a recipe saved by the editor")
    p.add_argument("--mask", metavar="MASK",
                   help="confine the edits to a mask image of the same size (white = inside)")
    p.add_argument("--save-recipe", metavar="RECIPE", help="also write the chain as a recipe")
    p.add_argument("--points", metavar="POINTS",
                   help="write the points an operation found (e.g. corners) as JSON")
    _add_save_options(p, "PNG, JPEG, WEBP, TIFF or BMP")
    p.set_defaults(func=_cmd_apply)

    p = sub.add_parser("info", help="describe an image file")
    p.add_argument("input", metavar="INPUT")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--verify", action="store_true",
                   help="also decode the whole file and check it (exit 1 if damaged)")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("check", help="decode image files fully; report damaged ones",
                       description="Decode every file completely and check its integrity "
                       "(PNG chunk CRCs and end, JPEG end marker, truncation). Prints one "
                       "line per file; exits 1 if any is damaged.")
    p.add_argument("inputs", nargs="+", metavar="FILE")
    p.add_argument("--max-pixels", type=_count, metavar="N",
                   help="refuse larger images (default 250000000 or $CONVOLVE_MAX_PIXELS)")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("batch", help="run a recipe over many photos (in parallel, resumable)",
                       description="Apply RECIPE to every INPUT (files, folders searched "
                       "recursively, or .txt/.lst lists of files) and write the results to "
                       "OUT_DIR, atomically, with a manifest (convolve-batch.csv/.json) to "
                       "resume from. Runs on a local Dask cluster of one process per core, "
                       "or on a running cluster with --scheduler. Exits 1 if any file "
                       "failed (the others are done).")
    p.add_argument("recipe", metavar="RECIPE", help="a recipe saved by the editor")
    p.add_argument("inputs", nargs="+", metavar="INPUT")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR",
                   help="folder the results are written to (created if needed)")
    p.add_argument("--glob", metavar="PATTERN",
                   help="files of the input folders to take, e.g. '*.jpg' (default: images)")
    p.add_argument("--name", default="{dir}/{stem}.{ext}", metavar="PATTERN",
                   help="output name: {stem} {name} {ext} {n} (e.g. {n:04d}) {dir} {parent} "
                   "{recipe}; default '{dir}/{stem}.{ext}' mirrors the input folders")
    _add_save_options(p, "PNG, JPEG, WEBP, TIFF or BMP (default: the input's)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    group.add_argument("--skip-existing", action="store_true",
                       help="leave existing outputs alone and skip their inputs")
    p.add_argument("--resume", action="store_true",
                   help="skip what an earlier run of the same recipe finished (per manifest)")
    p.add_argument("--workers", type=_positive, metavar="N",
                   help="worker processes of the local cluster (default: one per core)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="use a running Dask cluster, e.g. tcp://host:8786 (workers need "
                   "Convolve installed and the same paths)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=_cmd_batch)

    p = sub.add_parser("docs", help="regenerate docs/ops.md from the registry")
    p.add_argument("--output", metavar="PATH", help="where to write (default docs/ops.md)")
    p.set_defaults(func=_cmd_docs)

    for name in EXTRA_COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                EXTRA_COMMAND_ERRORS[name] = f"{type(e).__name__}: {e}"
            continue
        except Exception as e:  # noqa: BLE001  (a broken plug-in must not break the CLI)
            EXTRA_COMMAND_ERRORS[name] = f"{type(e).__name__}: {e}"
            continue
        module.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``convolve`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    with warnings.catch_warnings():
        # Library warnings (Pillow, NumPy) would break the one-line error promise.
        warnings.simplefilter("ignore")
        return run_command(_dispatch, argv)


def _dispatch(argv: list[str]) -> int:
    parser = build_parser()
    commands = _subcommand_names(parser)
    if not argv or (argv[0] not in commands and not argv[0].startswith("-")):
        argv = ["gui", *argv]
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.error("choose a command")
    return int(args.func(args) or 0)


# -- commands ---------------------------------------------------------------

def _cmd_gui(args: argparse.Namespace) -> int:
    for p in args.paths:
        if not Path(p).exists():
            raise UsageError(f"{p}: no such file or command (see `convolve --help`)")
    try:
        from editor.ui.app import run_app
    except ImportError as e:
        raise RuntimeError(f"the editor window is not available ({e})") from None
    return int(run_app(list(args.paths)) or 0)


def _cmd_ops(args: argparse.Namespace) -> int:
    from editor.docsgen import range_label
    from editor.ops import all_ops, categories

    specs = all_ops()
    if args.json:
        print(json.dumps([s.to_json() for s in specs], indent=2, default=_json_default))
        return EXIT_OK
    selects = all_ops(selects=True)  # steps that change the selection the ops after obey
    for cat in categories() + (["Select"] if selects else []):
        print(cat)
        for spec in (s for s in specs + selects if s.category == cat):
            print(f"  {spec.name:<22} {spec.title}: {spec.summary}")
            for p in spec.params:
                parts = [f"{p.name}={p.format(p.default)}", p.describe()]
                if p.label.lower() != p.name.replace("_", " ").lower():
                    parts.insert(1, f"({p.label})")  # only a label that says more
                if range_label(p):
                    parts.append(range_label(p))
                if p.unit:
                    parts.append(p.unit)
                if p.choices:
                    parts.append("one of " + "|".join(str(c) for c in p.choices))
                print("      " + "  ".join(parts))
        print()
    return EXIT_OK


def _cmd_info(args: argparse.Namespace) -> int:
    from editor.io import LoadError, read_info, verify_image

    info = read_info(args.input)
    damage = None
    if args.verify:
        try:
            verify_image(args.input)
            info["verified"] = True
        except LoadError as e:
            info["verified"], damage = False, str(e)
            info["damage"] = damage.split(": ", 1)[-1]
    if args.json:
        print(json.dumps(info, indent=2))
        return fail(damage) if damage else EXIT_OK
    rows = [
        ("file", info["file"]),
        ("format", info["format"]),
        ("size", f"{info['width']} x {info['height']} ({info['megapixels']:g} MP)"),
        ("mode", f"{info['mode']} ({info['channels']} channel"
                 f"{'s' if info['channels'] != 1 else ''} when opened)"),
        ("bit depth", f"{info['bit_depth']} bits per channel"),
        ("frames", info["frames"]),
        ("orientation", f"{info['orientation']} ({info['orientation_text']})"),
        ("ICC profile", f"yes ({info['icc_bytes']} bytes)" if info["icc_profile"] else "no"),
        ("EXIF", "yes" if info["exif"] else "no"),
        ("file size", f"{info['file_size']:,} bytes"),
    ]
    if info["sample_format"] == "float":
        rows.insert(5, ("samples", "floating point"))
    if info["conversion"]:
        rows.append(("opens as", f"{info['opens_as']}: {info['conversion']}"))
    if not info["within_limit"]:
        rows.append(("warning", "larger than the pixel limit; open with --max-pixels"))
    if args.verify:
        rows.append(("integrity", "damaged" if damage else "ok (decoded completely)"))
    for key, value in rows:
        print(f"{key:<12} {value}")
    return fail(damage) if damage else EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    from editor.io import ImageTooLarge, LoadError, verify_image

    damaged = skipped = 0
    for name in args.inputs:
        try:
            image = verify_image(name, max_pixels=args.max_pixels)
        except ImageTooLarge as e:
            skipped += 1
            print(f"{name}: NOT CHECKED: {str(e).split(': ', 1)[-1]}")
            continue
        except LoadError as e:
            damaged += 1
            print(f"{name}: DAMAGED: {str(e).split(': ', 1)[-1]}")
            continue
        h, w = image.pixels.shape[:2]
        print(f"{name}: ok ({image.format}, {w} x {h})")
    n = len(args.inputs)
    if damaged or skipped:
        parts = [f"{damaged} damaged"] if damaged else []
        parts += [f"{skipped} not checked (over the pixel limit)"] if skipped else []
        return fail(f"{' and '.join(parts)}, of {n} file{'s' if n > 1 else ''}")
    return EXIT_OK


def _cmd_docs(args: argparse.Namespace) -> int:
    from editor.docsgen import write_ops_markdown

    target = write_ops_markdown(Path(args.output) if args.output else None)
    print(f"wrote {target}")
    return EXIT_OK


def _cmd_apply(args: argparse.Namespace) -> int:
    from editor.core.context import OpContext, OpError
    from editor.core.recipe import Recipe, RecipeStep, json_value
    from editor.io import atomic_write_bytes, load_image, save_image
    from editor.io.formats import format_for_path, normalize_format
    from editor.ops import get_op

    # Everything the user typed is checked before the input is even read.
    recipe = Recipe.load(args.recipe) if args.recipe else Recipe()
    for name, *pairs in args.ops:
        try:
            spec = get_op(name)
        except KeyError as e:
            raise UsageError(e.args[0]) from None
        params = spec.parse_args(pairs)
        spec.bind(params)  # range check now: a usage error, not a failure halfway
        recipe.append(spec.name, params)
    try:
        normalize_format(args.format) if args.format else format_for_path(args.output)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.points and not recipe.steps:
        raise UsageError("--points needs an operation that finds points (e.g. a corner detector)")

    if args.mask and not Path(args.mask).is_file():
        raise UsageError(f"{args.mask}: no such mask file")

    image = load_image(args.input, max_pixels=args.max_pixels)
    for note in image.info["notes"]:
        if not note.startswith("EXIF orientation"):  # conversions the user should know
            warning(f"{Path(args.input).name}: {note}")
    selection, masks = None, {}
    if args.mask:
        from editor.core.selection import SelectionError, mask_sha256
        from editor.ops.select import load_mask

        try:
            selection = load_mask(args.mask, image.pixels.shape)
        except SelectionError as e:
            raise OpError(str(e)) from None
        masks[mask_sha256(selection)] = selection
    progress = Progress()
    ctx = OpContext(progress=progress.callback, selection=selection)
    metadata = image.metadata()
    pixels, image = image.pixels, None  # only `pixels` holds the input now...
    result = recipe.apply(pixels, ctx)  # starts from ctx.selection
    del pixels  # ...and it is freed before the encoder runs (peak memory on huge images)
    progress.clear()
    points_json = None
    if args.points:
        if "points" not in ctx.extras:
            raise RuntimeError("no operation in the chain produced points (try a corner "
                               "detector)")
        points_json = json.dumps(json_value(ctx.extras["points"]), indent=1) + "\n"
    notes = save_image(args.output, result, format=args.format, quality=args.quality,
                       progressive=args.progressive, lossless=args.lossless,
                       strip_metadata=args.strip_metadata, background=args.background,
                       **metadata)
    for note in notes:
        warning(note)
    if points_json is not None:
        atomic_write_bytes(args.points, points_json.encode("utf-8"))
    if args.save_recipe:
        from editor.io.masks import save_recipe

        saved = recipe
        if masks:  # the mask becomes the recipe's first step, saved beside it
            saved = Recipe([RecipeStep("select_mask", {"sha256": next(iter(masks))}),
                            *recipe.steps], folder=recipe.folder)
        save_recipe(saved, args.save_recipe, masks)
    return EXIT_OK


def _cmd_batch(args: argparse.Namespace) -> int:
    from editor.batch import PlanError, SaveOptions, make_plan, run_batch
    from editor.core.recipe import Recipe

    if args.scheduler and args.workers:
        raise UsageError("--workers sets the size of the local cluster; a cluster given by "
                         "--scheduler has its own workers")
    recipe = Recipe.load(args.recipe)
    options = SaveOptions(format=args.format, quality=args.quality,
                          progressive=args.progressive, lossless=args.lossless,
                          strip_metadata=args.strip_metadata, background=args.background,
                          max_pixels=args.max_pixels)
    existing = "overwrite" if args.overwrite else "skip" if args.skip_existing else "refuse"
    progress = Progress(quiet=args.quiet)
    try:
        plan = make_plan(args.inputs, args.output, pattern=args.name, glob=args.glob,
                         options=options, recipe_name=Path(args.recipe).stem.split(".")[0])
        result = run_batch(plan, recipe, scheduler=args.scheduler, workers=args.workers,
                           resume=args.resume, existing=existing,
                           ctx=progress.context())
    except PlanError as e:
        raise UsageError(str(e).replace("choose overwrite or skip existing files",
                                        "use --overwrite or --skip-existing")
                         .replace("resume the earlier batch", "--resume")) from None
    except KeyboardInterrupt as e:
        progress.clear()
        interrupted = getattr(e, "batch_result", None)
        if interrupted is not None:
            print(f"{interrupted.summary()}; run again with --resume to finish")
        raise
    progress.clear()
    failures = result.failures
    for row in failures[:10]:
        name = Path(row.input).name  # errors name the file; say which folder it is in
        warning(f"{row.input}: {row.error.removeprefix(name + ': ')}")
    if len(failures) > 10:
        warning(f"{len(failures) - 10} more failures are listed in {result.manifest[0]}")
    print(result.summary())
    return EXIT_FAILURE if failures else EXIT_OK


# -- helpers ----------------------------------------------------------------

def _subcommand_names(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def _add_save_options(p: argparse.ArgumentParser, format_help: str) -> None:
    """How the output is written and which inputs are refused (apply and batch)."""
    p.add_argument("--format", help=format_help)
    p.add_argument("--quality", type=_quality, default=90, help="JPEG/WebP quality 1-100")
    p.add_argument("--progressive", action="store_true", help="progressive JPEG")
    p.add_argument("--lossless", action="store_true", help="lossless WebP")
    p.add_argument("--strip-metadata", action="store_true", help="write no EXIF or ICC")
    p.add_argument("--background", type=_color, default=(255, 255, 255),
                   help="colour that alpha is flattened on for JPEG/BMP (default white)")
    p.add_argument("--max-pixels", type=_count, metavar="N",
                   help="refuse larger inputs (default 250000000 or $CONVOLVE_MAX_PIXELS)")


def _quality(text: str) -> int:
    try:
        q = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"quality must be a whole number, got {text!r}") \
            from None
    if not 1 <= q <= 100:
        raise argparse.ArgumentTypeError(f"quality must be between 1 and 100, got {q}")
    return q


def _count(text: str) -> int:
    try:
        n = int(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return n


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _color(text: str) -> tuple[int, int, int]:
    from editor.ops.registry import Param, ParamError

    param = Param(name="background", kind="color", default=(255, 255, 255))
    try:
        return param.validate(param.parse(text))
    except ParamError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _json_default(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return str(value)
