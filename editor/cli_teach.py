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
import csv
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
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0, help="fixes split, augmentation and weights")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    p.add_argument("--test-fraction", type=float, default=0.15,
                   help="held-out share of each class (default 0.15)")
    p.add_argument("--hidden", type=int, default=0,
                   help="hidden units of the head (0: logistic regression)")
    p.add_argument("--augment", type=int, default=0, metavar="N",
                   help="augmented copies per training image (default 0)")
    p.add_argument("--fine-tune", action="store_true", help="also train the last block")
    p.add_argument("--backbone", default="auto",
                   choices=("auto", "efficientnet_lite0", "small_cnn"))
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser("predict", help="classify images with a trained model",
                              description="Classify image files (or every image in folders).")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("images", nargs="+", metavar="IMAGES")
    p.add_argument("--csv", metavar="FILE", help="write path, class and probabilities")
    p.add_argument("--batch-size", type=int, default=32)
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


def cmd_train(args: argparse.Namespace) -> int:
    from editor.core.context import OpError

    root = Path(args.dataset)
    if not root.is_dir():
        return fail(f"{root} is not a folder", EXIT_USAGE)
    try:
        from editor.teach.dataset import Dataset
        from editor.teach.train import TrainConfig, train

        cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size,
                          learning_rate=args.lr, test_fraction=args.test_fraction,
                          seed=args.seed, hidden=args.hidden, backbone=args.backbone,
                          fine_tune=args.fine_tune, augment_copies=args.augment)
        cfg.validate()
    except OpError as e:
        return fail(e, EXIT_USAGE)
    progress = Progress(quiet=args.quiet)
    # Ctrl+C and Cancelled reach cli_common.run_command: exit 130, like every command
    ds = Dataset.open(root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(ds, cfg, progress.context())
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


def _image_files(items: list[str]) -> list[Path]:
    from editor.teach.images import is_image_file

    files = []
    for item in map(Path, items):
        if item.is_dir():
            files += sorted(f for f in item.rglob("*") if f.is_file() and is_image_file(f)
                            and ".cache" not in f.parts)
        else:
            files.append(item)
    return files


def cmd_predict(args: argparse.Namespace) -> int:
    from editor.core.context import OpError

    try:
        from editor.teach.images import UnreadableImage, read_rgb
        from editor.teach.model import TeachModel

        model = TeachModel.load(args.model)
    except OpError as e:
        return fail(e, EXIT_USAGE)
    files = _image_files(args.images)
    if not files:
        return fail("no images given", EXIT_USAGE)
    names = model.class_names
    rows, failed = [], 0
    for s in range(0, len(files), max(1, args.batch_size)):
        part, imgs = [], []
        for f in files[s:s + args.batch_size]:
            try:
                imgs.append(read_rgb(f, max_side=2 * model.size))
                part.append(f)
            except UnreadableImage as e:
                failed += 1
                warning(f"skipped {e}")
        if not imgs:
            continue
        for f, probs in zip(part, model.predict_batch(imgs), strict=True):
            k = int(probs.argmax())
            rows.append((str(f), names[k], float(probs[k]), [float(p) for p in probs]))
            if not args.csv:
                print(f"{f}\t{names[k]}\t{probs[k]:.3f}")
    if args.csv:
        try:
            with open(args.csv, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(["path", "predicted", "probability", *names])
                for path, name, prob, probs in rows:
                    w.writerow([path, name, f"{prob:.5f}", *(f"{p:.5f}" for p in probs)])
        except OSError as e:
            return fail(f"cannot write {args.csv}: {e.strerror}")
        print(f"{len(rows)} predictions written to {args.csv}")
    return 0 if rows else 1 if failed else 2


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
