"""Teachable classifier: feature extraction + training on 600 photos, live prediction
frames/s, and memory with 5,000 images in a class.

Run: ``python benchmarks/bench_teach.py [--big 5000] [--skip-big]``

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


def bench_600(tmp: Path) -> None:
    rng = np.random.default_rng(0)
    ds = Dataset.create(tmp / "p600", ["A", "B"])
    write_crops(ds, "A", PHOTOS_A, 300, rng)
    write_crops(ds, "B", PHOTOS_B, 300, rng)
    print("\n== 600 photos (320x240 JPEG), EfficientNet-Lite0 features + logistic head, "
          "30 epochs")
    t0 = time.perf_counter()
    first = train(ds, TrainConfig(seed=0))
    t1 = time.perf_counter()
    again = train(ds, TrainConfig(seed=0))
    t2 = time.perf_counter()
    print(f"first training (features computed + cached): {t1 - t0:6.1f} s   goal <= 20 s")
    print(f"retraining (features from the cache):        {t2 - t1:6.1f} s")
    print(f"held-out accuracy: {first.evaluation.accuracy:.1%} "
          f"(retrain {again.evaluation.accuracy:.1%})")
    return first.model


def bench_live(model) -> None:
    from editor.teach.explain import gradcam

    frame = load("astronaut.png")
    import cv2

    frame = cv2.resize(frame, (640, 480), interpolation=cv2.INTER_AREA)
    print("\n== live prediction on a 640x480 frame (centre crop, 224 px)")
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
    args = ap.parse_args()
    import torch

    from editor.teach.backbones import best_threads

    warnings.simplefilter("ignore")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads available, "
          f"inference uses {best_threads()}")
    with tempfile.TemporaryDirectory() as d:
        model = bench_600(Path(d))
        bench_live(model)
        if not args.skip_big:
            bench_big(Path(d), args.big)


if __name__ == "__main__":
    main()
