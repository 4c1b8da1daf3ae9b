"""``convolve classify`` and ``convolve models``: the CNN tools from a terminal (no Qt).

:func:`add_commands` is called by :mod:`editor.cli` with its subparsers; each
command sets ``func(args) -> int`` (0 ok, 1 failed, 2 bad input). Progress,
errors and Ctrl+C (exit 130) go through :mod:`editor.cli_common`, as for every
command.
"""

from __future__ import annotations

import argparse
import json

from editor.cli_common import EXIT_USAGE, Progress, fail


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``classify`` and ``models`` to the ``convolve`` command line."""
    p = subparsers.add_parser("classify", help="top ImageNet classes of an image",
                              description="Classify an image with EfficientNet-Lite0.")
    p.add_argument("image", help="image file")
    p.add_argument("--top", type=int, default=5, help="how many classes (default 5)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even with a GPU")
    p.set_defaults(func=cmd_classify)

    p = subparsers.add_parser(
        "models", help="AI models: list, add your own, remove; source, licence, SHA-256",
        description="List the AI models (built in and your own) with kind, source, licence, "
                    "size, SHA-256 and whether they are ready; add a .pth / .safetensors "
                    "super-resolution or restoration model (detected by spandrel) or remove "
                    "one. Your models are recorded in $CONVOLVE_MODELS_DIR/models.json "
                    "(default ~/.local/share/convolve/models); the files stay where they are.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    act = p.add_mutually_exclusive_group()
    act.add_argument("--add", metavar="PATH", help="add a model file (or a model folder)")
    act.add_argument("--remove", metavar="NAME", help="forget one of your models")
    act.add_argument("--download", metavar="NAME", choices=("vgg19", "googlenet"),
                     help="download optional torchvision weights (needs internet)")
    p.add_argument("--name", help="with --add: the name ops use (default: the file's name)")
    p.add_argument("--config", metavar="DIR",
                   help="with --add of a single-file Stable Diffusion checkpoint: its local "
                        "diffusers config folder (default: NAME-config/ beside the file)")
    p.add_argument("--no-hash", action="store_true", help="skip computing SHA-256")
    p.set_defaults(func=cmd_models)


def cmd_classify(args: argparse.Namespace) -> int:
    """Print the top classes of ``args.image``."""
    from editor.core.context import OpError
    from editor.ops.ai._util import read_image

    if not 1 <= args.top <= 1000:
        return fail("--top must be between 1 and 1000", EXIT_USAGE)
    try:
        image = read_image(args.image, "image")
    except OpError as e:
        return fail(e, EXIT_USAGE)
    try:
        from editor.ops.ai.classify import classify_image
        from editor.ops.ai.models import pick_device

        scores = classify_image(image, args.top, device=pick_device(force_cpu=args.cpu))
    except OpError as e:
        return fail(e)
    except ImportError as e:
        return fail(f"PyTorch is needed for classify ({e.name} missing); "
                    "install it with: pip install torch torchvision")
    if args.json:
        print(json.dumps([{"label": lab, "index": idx, "probability": round(p, 6)}
                          for lab, idx, p in scores], indent=1))
    else:
        width = max(len(lab) for lab, _, _ in scores)
        for lab, idx, p in scores:
            bar = "#" * round(p * 30)
            print(f"{p:6.1%}  {lab:<{width}}  [{idx:3d}] {bar}")
    return 0


def model_rows(with_hash: bool = True) -> list[dict]:
    """Every model of the store as a JSON-able row (``status`` and ``install`` added)."""
    from editor.ops.ai import model_store

    if with_hash:
        entries = model_store.list_models()
    else:
        with model_store.without_hashes():
            entries = model_store.list_models()
    rows = []
    for e in entries:
        row = e.to_json()
        row["status"] = "ready" if e.ready else "missing"
        # the packaged networks name their conversion script in extra["install"]
        row["install"] = e.extra.get("install") or f"convolve models --add {e.path}"
        rows.append(row)
    return rows


def cmd_models(args: argparse.Namespace) -> int:
    """Print the model table; or add, remove or download a model first."""
    from editor.core.context import OpError
    from editor.ops.ai import model_store, models

    if args.name and not args.add:
        return fail("--name goes with --add", EXIT_USAGE)
    if args.config and not args.add:
        return fail("--config goes with --add", EXIT_USAGE)
    if args.download:
        progress = Progress()
        try:
            path = models.download_torchvision(args.download, progress.callback)
        except OpError as e:
            return fail(e)
        progress.clear()
        print(f"{args.download}: {path}")
    if args.add:
        progress = Progress()
        try:
            if args.config:
                from editor.ops.ai.diffusion import given_config

                with given_config(args.add, args.config):
                    entry = model_store.add(args.add, args.name, progress.callback)
            else:
                entry = model_store.add(args.add, args.name, progress.callback)
        except model_store.ModelRefused as e:
            return fail(e, EXIT_USAGE)
        except OpError as e:
            return fail(e)
        progress.clear()
        if args.json:
            print(json.dumps(entry.to_json(), indent=1))
        else:
            print(f"added {entry.name}: {entry.purpose}; use it with "
                  f"--op {_op_for(entry.kind)} model={entry.name}")
            print(f"  sha256 {entry.sha256}  {entry.size / 1e6:.1f} MB  {entry.path}")
        return 0
    if args.remove:
        try:
            model_store.remove(args.remove)
        except OpError as e:
            return fail(e, EXIT_USAGE)
        print(f"removed {args.remove} (its file is left where it was)")
        return 0
    rows = model_rows(with_hash=not args.no_hash)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for r in rows:
        state = "ready" if r["status"] == "ready" else "MISSING"
        arch = f"{r['architecture']}, x{r['scale']}" if r["scale"] != 1 else r["architecture"]
        print(f"{r['name']:<40}{state:<9}{r['kind']:<10}{arch}")
        print(f"{'':<4}{r['purpose']}")
        print(f"{'':<4}source: {r['source']}; licence: {r['licence']}")
        if r["status"] == "ready":
            size = f"{r['size'] / 1e6:.1f} MB" if r["size"] is not None else "-"
            print(f"{'':<4}{size}  sha256 {r['sha256'] or '-'}  {r['path']}")
        else:
            print(f"{'':<4}install: {r['install']}")
    return 0


def _op_for(kind: str) -> str:
    return {"upscale": "upscale", "restore": "restore", "inpaint": "inpaint_model"}.get(kind, kind)
