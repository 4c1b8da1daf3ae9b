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

    p = subparsers.add_parser("models", help="CNN weights: source, licence, SHA-256, status",
                              description="List the CNN models and whether they are installed.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--download", metavar="NAME", choices=("vgg19", "googlenet"),
                   help="download optional torchvision weights (needs internet)")
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


def cmd_models(args: argparse.Namespace) -> int:
    """Print the model table, or download an optional model."""
    from editor.core.context import OpError
    from editor.ops.ai import models

    if args.download:
        progress = Progress()
        try:
            path = models.download_torchvision(args.download, progress.callback)
        except OpError as e:
            return fail(e)
        progress.clear()
        print(f"{args.download}: {path}")
    rows = models.model_table(with_hash=not args.no_hash)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for r in rows:
        state = "ready" if r["status"] == "ready" else "MISSING"
        print(f"{r['name']:<20}{state:<9}{r['role']}")
        print(f"{'':<20}source: {r['source']}; licence: {r['licence']}")
        if r["status"] == "ready":
            print(f"{'':<20}{r['size'] / 1e6:.1f} MB  sha256 {r['sha256'] or '-'}")
            print(f"{'':<20}{r['file']}")
        else:
            print(f"{'':<20}install: {r['install']}")
    return 0
