"""``convolve train``, ``predict``, ``export-model``, ``robustness``: the teachable
classifier from a terminal (no Qt).

:func:`add_commands` is called by :mod:`editor.cli` with its subparsers; each
command sets ``func(args) -> int`` (0 ok, 1 failed, 2 bad input). Progress,
errors and Ctrl+C (exit 130) go through :mod:`editor.cli_common`, as for every
command.

Examples
--------
::

    convolve train photos/ -o pets.safetensors --epochs 30 --seed 0
    convolve predict pets.safetensors new/*.jpg --csv out.csv
    convolve export-model pets.safetensors --onnx pets.onnx --torchscript pets.pt
    convolve robustness pets.safetensors photos/ -o report/
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

from editor.cli_common import EXIT_USAGE, Progress, fail, warning


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add the classifier commands to the ``convolve`` command line."""
    p = subparsers.add_parser(
        "train", help="train an image classifier from a folder of class folders",
        description="Train a classifier: DATASET_DIR holds one subfolder of images per class "
                    "(or is a Convolve classifier project). Features are cached in "
                    "DATASET_DIR/.cache, so training again is fast.")
    p.add_argument("dataset", metavar="DATASET_DIR")
    p.add_argument("-o", "--output", required=True, metavar="MODEL",
                   help="model file to write (.safetensors)")
    _add_setting_flags(p)
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="compute the backbone features on a running Dask cluster "
                   "(tcp://host:8786); they are cached here and training runs here")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser("predict", help="classify images with a trained model",
                              description="Classify image files (or every image in folders).")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("images", nargs="+", metavar="IMAGES")
    p.add_argument("--csv", metavar="FILE", help="write path, class and probabilities")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the frozen network on a running Dask cluster (tcp://host:8786)")
    p.set_defaults(func=cmd_predict)

    p = subparsers.add_parser("export-model", help="export a model to ONNX / TorchScript",
                              description="Export a trained classifier. Inputs: RGB in [0,1], "
                                          "(B,3,S,S); outputs: class probabilities.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--onnx", metavar="FILE")
    p.add_argument("--torchscript", metavar="FILE")
    p.set_defaults(func=cmd_export)

    p = subparsers.add_parser("robustness", help="FGSM and edit sweeps against a model",
                              description="Accuracy of MODEL on DATASET_DIR's images under "
                                          "FGSM and brightness/rotation/blur/JPEG sweeps.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("dataset", metavar="DATASET_DIR")
    p.add_argument("-o", "--output", metavar="DIR", help="write report.json and examples")
    p.add_argument("--max-images", type=int, default=200)
    p.set_defaults(func=cmd_robustness)


def _add_setting_flags(p: argparse.ArgumentParser) -> None:
    """One flag per training setting, from the table in :mod:`editor.teach.config`.

    Flags take the value as text; :meth:`TrainConfig.from_values` checks the
    bounds, so the command line refuses a value with the same sentence as the
    window and the library.
    """
    from editor.teach.config import SETTINGS

    for s in SETTINGS:
        if s.kind is bool and s.default is False:
            p.add_argument(s.option, dest=s.dest, action="store_true", help=s.describe())
        else:
            metavar = {int: "N", float: "X", str: "NAME", bool: "ON"}[s.kind]
            p.add_argument(s.option, dest=s.dest, default=None, metavar=metavar,
                           help=s.describe())


def _train_config(args: argparse.Namespace):
    """The validated :class:`TrainConfig` of the flags given (:class:`OpError` if not)."""
    from editor.teach.config import SETTINGS, TrainConfig

    values = {}
    for s in SETTINGS:
        given = getattr(args, s.dest)
        if given is None:
            continue
        values[s.name] = s.parse(given) if isinstance(given, str) else given
    return TrainConfig.from_values(values)


def cmd_train(args: argparse.Namespace) -> int:
    from editor.core.context import OpError

    root = Path(args.dataset)
    if not root.is_dir():
        return fail(f"{root} is not a folder", EXIT_USAGE)
    try:
        from editor.teach.dataset import Dataset
        from editor.teach.train import train

        cfg = _train_config(args)
    except OpError as e:
        return fail(e, EXIT_USAGE)
    progress = Progress(quiet=args.quiet)
    # Ctrl+C and Cancelled reach cli_common.run_command: exit 130, like every command
    ds = Dataset.open(root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(ds, cfg, progress.context(), scheduler=args.scheduler)
    out = result.model.save(args.output)
    progress.clear()
    for w in caught:
        warning(w.message)
    ev = result.evaluation
    if args.json:
        print(json.dumps({"model": str(out), "seconds": round(result.seconds, 2),
                          "classes": ds.class_names, "evaluation": ev.to_json(),
                          "notes": result.notes, "skipped": result.skipped}))
        return 0
    for note in result.notes:
        print(f"note: {note}")
    where = "held-out" if ev.on_test_split else "training"
    print(f"trained {result.model.backbone} on {len(result.split[0])} images "
          f"({len(result.split[1])} held out) in {result.seconds:.1f} s")
    print(f"accuracy on {len(ev.paths)} {where} images: {ev.accuracy:.1%}")
    width = max(len(n) for n in ds.class_names)
    for name, acc, row in zip(ds.class_names, ev.per_class, ev.confusion, strict=True):
        print(f"  {name:<{width}}  {acc:6.1%}   confusion row: {row}")
    print(f"model written to {out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from editor.core.context import OpError

    try:
        from editor.teach.model import TeachModel
        from editor.teach.predict import image_files, predict_files, write_csv

        model = TeachModel.load(args.model)
    except OpError as e:
        return fail(e, EXIT_USAGE)
    files = image_files(args.images)
    if not files:
        return fail("no images given", EXIT_USAGE)
    progress = Progress()
    # Ctrl+C and Cancelled reach cli_common.run_command: exit 130, like every command
    found = predict_files(model, files, progress.context(), batch_size=args.batch_size,
                          scheduler=args.scheduler)
    progress.clear()
    for message in found.skipped:
        warning(f"skipped {message}")
    if args.csv:
        try:
            write_csv(found, args.csv)
        except OpError as e:
            return fail(e)
        print(f"{len(found.rows)} predictions written to {args.csv}")
    else:
        for row in found.rows:
            print(f"{row.path}\t{found.label(row)}\t{row.probability:.3f}")
    return 0 if found.rows else 1 if found.skipped else 2


def cmd_export(args: argparse.Namespace) -> int:
    from editor.core.context import OpError

    if not args.onnx and not args.torchscript:
        return fail("give --onnx FILE and/or --torchscript FILE", EXIT_USAGE)
    try:
        from editor.teach.model import TeachModel

        model = TeachModel.load(args.model)
    except OpError as e:
        return fail(e, EXIT_USAGE)
    try:
        if args.torchscript:
            print(f"TorchScript written to {model.export_torchscript(args.torchscript)}")
        if args.onnx:
            print(f"ONNX written to {model.export_onnx(args.onnx)}")
    except ImportError as e:
        return fail(f"export needs the {e.name} package (pip install {e.name})")
    except (OSError, RuntimeError) as e:
        return fail(f"export failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    return 0


def cmd_robustness(args: argparse.Namespace) -> int:
    from editor.core.context import OpError

    try:
        from editor.teach.dataset import Dataset
        from editor.teach.model import TeachModel
        from editor.teach.robustness import robustness_report

        model = TeachModel.load(args.model)
        ds = Dataset.open(args.dataset)
    except OpError as e:
        return fail(e, EXIT_USAGE)
    paths, labels = ds.samples()
    name_to_model = {n: i for i, n in enumerate(model.class_names)}
    mapped = [(p, name_to_model.get(ds.class_names[y])) for p, y in zip(paths, labels,
                                                                         strict=True)]
    mapped = [(p, y) for p, y in mapped if y is not None]
    if not mapped:
        return fail("the dataset's classes do not match the model's "
                    f"({', '.join(model.class_names)})", EXIT_USAGE)
    try:
        report = robustness_report(model, [p for p, _ in mapped], [y for _, y in mapped],
                                   max_images=args.max_images)
    except OpError as e:
        return fail(e)
    print(f"{report.n_images} images, clean accuracy {report.clean_accuracy:.1%}")
    for sw in report.sweeps:
        if not sw.available:
            print(f"{sw.name}: {sw.note}")
            continue
        cells = "  ".join(f"{p.value:g}:{p.accuracy:.0%}" for p in sw.points)
        print(f"{sw.name} ({sw.unit}): {cells}")
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(report.to_json(), indent=2), "utf-8")
        from PIL import Image

        for sw in report.sweeps:
            for p in sw.points:
                if p.example is not None:
                    Image.fromarray(p.example).save(out / f"{sw.name}_{p.value:g}.png")
        print(f"report written to {out}")
    return 0
