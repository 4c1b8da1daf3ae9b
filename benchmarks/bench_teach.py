"""Teachable classifier: accuracy against photos per class for each backbone, feature
extraction + training on 600 photos, live prediction frames/s, and memory with 5,000
images in a class.

Run: ``python benchmarks/bench_teach.py [--big 5000] [--skip-big]
[--only accuracy|600|live|big] [--draws 3]``

Photos: random crops (320x240, random scale) of the shared real photos, class A from
four of them and class B from the other four, written as JPEG files. Figures are
printed beside the issue's goals; nothing is asserted.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np
from common import SHARED_IMAGES  # noqa: F401  (puts the repo on sys.path)

from editor.teach.dataset import Dataset
from editor.teach.train import TrainConfig, train

PHOTOS_A = ("astronaut.png", "grace_hopper.jpg", "scream.jpg", "china.jpg")
PHOTOS_B = ("chelsea.png", "coffee.png", "rocket.jpg", "flower.jpg")


def load(name: str) -> np.ndarray:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.conftest import load_photo

    return load_photo(name)


def write_crops(ds: Dataset, cls: str, photos, n: int, rng, size=(320, 240)) -> None:
    import cv2

    sources = [load(p) for p in photos]
    for _ in range(n):
        src = sources[int(rng.integers(len(sources)))]
        h, w = src.shape[:2]
        s = rng.uniform(0.35, 1.0)
        ch, cw = int(h * s), int(min(w, h * s * size[0] / size[1]))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = cv2.resize(src[y:y + ch, x:x + cw], size, interpolation=cv2.INTER_AREA)
        ds.add_image(cls, crop)


class PeakRSS:
    """Samples this process's resident memory every 50 ms in a thread."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def crops_sets(tmp: Path, draws: int, per_class, held_out: int = 100):
    """Random crops of the shared photos: the held-out set and ``draws`` training sets
    per size (see the module docstring)."""
    rng = np.random.default_rng(12345)
    held = Dataset.create(tmp / "held", ["A", "B"])
    write_crops(held, "A", PHOTOS_A, held_out, rng)
    write_crops(held, "B", PHOTOS_B, held_out, rng)
    sets = {}
    for n in per_class:
        for d in range(draws):
            r = np.random.default_rng(10 + 100 * n + d)
            ds = Dataset.create(tmp / f"train{n}-{d}", ["A", "B"])
            write_crops(ds, "A", PHOTOS_A, n, r)
            write_crops(ds, "B", PHOTOS_B, n, r)
            sets[n, d] = ds
    return held, sets


def lfw_sets(tmp: Path, draws: int, per_class, held_out: int = 50):
    """scikit-image's ``lfw_subset`` (100 faces, 100 non-faces, 25x25 gray): ``held_out``
    of each class held out, training sets drawn from the rest."""
    import skimage.data

    x = (skimage.data.lfw_subset() * 255).round().astype(np.uint8)
    rng = np.random.default_rng(54321)
    faces, others = rng.permutation(100), 100 + rng.permutation(100)
    held = Dataset.create(tmp / "lfw-held", ["face", "not_face"])
    for i in faces[:held_out]:
        held.add_image("face", x[i])
    for i in others[:held_out]:
        held.add_image("not_face", x[i])
    sets = {}
    for n in per_class:
        for d in range(draws):
            r = np.random.default_rng(20 + 100 * n + d)
            ds = Dataset.create(tmp / f"lfw{n}-{d}", ["face", "not_face"])
            for i in r.choice(faces[held_out:], n, replace=False):
                ds.add_image("face", x[i])
            for i in r.choice(others[held_out:], n, replace=False):
                ds.add_image("not_face", x[i])
            sets[n, d] = ds
    return held, sets


def bench_accuracy(tmp: Path, draws: int = 3, per_class=(5, 10, 20, 50)) -> None:
    """Held-out accuracy against training photos per class, for each pretrained backbone.

    Two real two-class sets: crops of the shared photos (the 600-photo set below) and
    faces vs non-faces. The held-out photos are drawn once and never trained on; each
    training set is a fresh draw (``draws`` per size), trained with the default
    settings and ``test_fraction=0`` (every photo trains). The held-out photos go
    through the backbone once (the frozen stage training uses, whose features equal
    the model's own to ~1e-5) and each trained head scores them.
    """
    import torch

    from editor.teach.backbones import PRETRAINED, backbone_info, build_net, pretrained_available
    from editor.teach.features import FeatureCache, extract
    from editor.teach.train import frozen_stage

    backbones = [b for b in PRETRAINED if pretrained_available(b)]
    for title, make in (("crops of the shared photos, 320x240", crops_sets),
                        ("faces vs non-faces (lfw_subset), 25x25 gray", lfw_sets)):
        held, sets = make(tmp, draws, per_class)
        h_paths, h_labels = held.samples()
        print(f"\n== held-out accuracy on {len(h_paths)} photos, {title}, against "
              f"training photos per class; mean of {draws} draws (worst in brackets); "
              "goal >= 99 % at 50 on the first")
        print(f"{'photos/class':<14}" + "".join(f"{b:>26}" for b in backbones), flush=True)
        held_feats = {}
        for b in backbones:
            size = backbone_info(b).size
            stage, shape, dtype, tag = frozen_stage(build_net(b, 2), False, size, b)
            held_feats[b] = extract(stage, h_paths, cache=FeatureCache(held.cache_dir, tag),
                                    size=size, out_shape=shape, dtype=dtype)[0]
        for n in per_class:
            cells = []
            for b in backbones:
                accs = []
                for d in range(draws):
                    model = train(sets[n, d], TrainConfig(seed=d, backbone=b,
                                                           test_fraction=0.0)).model
                    with torch.inference_mode():
                        logits = model.net.head(torch.from_numpy(held_feats[b]))
                    accs.append(float(np.mean(logits.argmax(1).numpy() == h_labels)))
                cells.append(f"{np.mean(accs):.1%} ({min(accs):.1%})")
            print(f"{n:<14}" + "".join(f"{c:>26}" for c in cells), flush=True)


def bench_600(tmp: Path, backbone: str = "auto"):
    rng = np.random.default_rng(0)
    ds = Dataset.create(tmp / f"p600-{backbone}", ["A", "B"])
    write_crops(ds, "A", PHOTOS_A, 300, rng)
    write_crops(ds, "B", PHOTOS_B, 300, rng)
    print(f"\n== 600 photos (320x240 JPEG), backbone {backbone} (features + logistic "
          "head, 30 epochs)")
    t0 = time.perf_counter()
    first = train(ds, TrainConfig(seed=0, backbone=backbone))
    t1 = time.perf_counter()
    again = train(ds, TrainConfig(seed=0, backbone=backbone))
    t2 = time.perf_counter()
    goal = "   goal <= 20 s" if backbone == "auto" else ""
    print(f"first training (features computed + cached): {t1 - t0:6.1f} s{goal}")
    print(f"retraining (features from the cache):        {t2 - t1:6.1f} s")
    print(f"held-out accuracy: {first.evaluation.accuracy:.1%} "
          f"(retrain {again.evaluation.accuracy:.1%})")
    return first.model


def bench_live(model) -> None:
    from editor.teach.explain import gradcam

    frame = load("astronaut.png")
    import cv2

    frame = cv2.resize(frame, (640, 480), interpolation=cv2.INTER_AREA)
    print(f"\n== live prediction on a 640x480 frame (centre crop, {model.size} px, "
          f"{model.backbone})")
    for label, fn in (("predict", lambda: model.predict(frame)),
                      ("predict + Grad-CAM", lambda: (model.predict(frame),
                                                      gradcam(model, frame)))):
        fn()
        times = []
        for _ in range(30):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        med = float(np.median(times))
        print(f"{label:<22}{med * 1e3:7.1f} ms/frame  = {1 / med:5.1f} frames/s   "
              "goal >= 15 frames/s")


def bench_big(tmp: Path, n: int) -> None:
    rng = np.random.default_rng(1)
    ds = Dataset.create(tmp / "big", ["Many", "Few"])
    print(f"\n== memory: {n} images (640x480 JPEG) in one class, 100 in another")
    write_crops(ds, "Many", PHOTOS_A, n, rng, size=(640, 480))
    write_crops(ds, "Few", PHOTOS_B, 100, rng, size=(640, 480))
    decoded = (n + 100) * 640 * 480 * 3
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        result = train(ds, TrainConfig(seed=0, epochs=10))
        dt = time.perf_counter() - t0
    print(f"training time {dt:.0f} s, held-out accuracy {result.evaluation.accuracy:.1%}")
    print(f"peak resident memory: {mem.peak / 2**20:.0f} MiB "
          f"(+{(mem.peak - mem.base) / 2**20:.0f} MiB over the start); "
          f"all images decoded would be {decoded / 2**30:.1f} GiB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--big", type=int, default=5000, help="images in the big class")
    ap.add_argument("--skip-big", action="store_true")
    ap.add_argument("--only", choices=("accuracy", "600", "live", "big"))
    ap.add_argument("--draws", type=int, default=3, help="training draws per size")
    ap.add_argument("--backbones", default="auto,efficientnet_lite2",
                    help="backbones timed on 600 photos and live (comma-separated)")
    args = ap.parse_args()
    import torch

    from editor.teach.backbones import best_threads

    warnings.simplefilter("ignore")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads available, "
          f"inference uses {best_threads()}")
    from editor.teach.backbones import PRETRAINED, pretrained_available

    with tempfile.TemporaryDirectory() as d:
        if args.only in (None, "accuracy"):
            bench_accuracy(Path(d), args.draws)
        for b in args.backbones.split(","):
            if b in PRETRAINED and not pretrained_available(b):
                print(f"\n({b} is not installed: skipped)")
                continue
            if args.only in (None, "600", "live"):
                model = bench_600(Path(d), b)
                if args.only in (None, "live"):
                    bench_live(model)
        if not args.skip_big and args.only in (None, "big"):
            bench_big(Path(d), args.big)


if __name__ == "__main__":
    main()
