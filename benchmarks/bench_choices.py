"""Time the implementation choices that comments in ``editor/`` explain.

Run: ``python benchmarks/bench_choices.py [--repeats N] [--skip-torch]``

A comment in the code says *why* a routine was chosen (a SIMD pass instead of a
lookup, strips that stay in cache, one thread for tiny work); the figures that
showed it on a given machine live here, so anyone can rerun them on theirs.
Each row times the chosen way and the alternative it replaced, on the same input
in the same process (median of several runs), and names where the choice is made.
Nothing here asserts: a ratio that flips on other hardware is a finding to report.
"""

from __future__ import annotations

import argparse
import os
import sys

import cv2
import numpy as np
from common import photo_12mp, time_median

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def row(where: str, chosen: str, t_chosen: float, other: str, t_other: float) -> None:
    print(f"{where:<34}{chosen:<30}{t_chosen * 1e3:>9.2f} ms   {other:<34}"
          f"{t_other * 1e3:>9.2f} ms  {t_other / t_chosen:>6.1f}x")


def bench_display(rgb: np.ndarray, repeats: int) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPixmap
    from PySide6.QtWidgets import QApplication

    from editor.ui.qimage import to_pixmap
    from editor.workers.render import to_display

    _app = QApplication.instance() or QApplication([])
    h, w = rgb.shape[:2]
    buf, _ = to_display(rgb)
    q32 = QImage(buf.data, w, h, buf.strides[0], QImage.Format.Format_RGB32)
    q888 = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    row("ui.qimage / workers.render", "QPixmap from RGB32", time_median(
        lambda: QPixmap.fromImage(q32), repeats), "QPixmap from RGB888", time_median(
        lambda: QPixmap.fromImage(q888), repeats))

    def rgb888_pixmap(max_side=None) -> QPixmap:  # the hand-written copies it replaced
        pix = QPixmap.fromImage(QImage(rgb.data, w, h, 3 * w,
                                       QImage.Format.Format_RGB888).copy())
        return pix if max_side is None else pix.scaled(
            max_side, max_side, Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation)

    row("ui.qimage.to_pixmap", "to_pixmap", time_median(
        lambda: to_pixmap(rgb), repeats), "RGB888 copy + fromImage", time_median(
        rgb888_pixmap, repeats))
    row("ui.qimage.to_pixmap (420 px)", "to_pixmap(max_side=420)", time_median(
        lambda: to_pixmap(rgb, 420), repeats), "RGB888 pixmap, then scaled()", time_median(
        lambda: rgb888_pixmap(420), repeats))


def bench_color(rgb: np.ndarray, repeats: int) -> None:
    from editor.ops.color import affine

    lut8 = np.clip(np.arange(256) * 1.2 + 10, 0, 255).astype(np.uint8)
    row("ops.color.affine (8-bit)", "cv2.addWeighted", time_median(
        lambda: affine(rgb, 1.2, 10), repeats), "cv2.LUT", time_median(
        lambda: cv2.LUT(rgb, lut8), repeats))
    rgb16 = rgb.astype(np.uint16) * 257
    lut16 = np.clip(np.arange(65536) * 1.2 + 2570, 0, 65535).astype(np.uint16)
    row("ops.color.affine (16-bit)", "cv2.addWeighted", time_median(
        lambda: affine(rgb16, 1.2, 2570), repeats), "65,536-entry table gather", time_median(
        lambda: lut16[rgb16], repeats))
    row("ops.color luma (BT.601)", "cv2.cvtColor RGB2GRAY", time_median(
        lambda: cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), repeats), "BT.709 NumPy weighted sum",
        time_median(lambda: rgb @ np.float32([0.2126, 0.7152, 0.0722]), repeats))


def bench_tone(rgb: np.ndarray, repeats: int) -> None:
    import editor.ops.tone as tone

    y = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    y_new = cv2.equalizeHist(y)

    def whole() -> np.ndarray:
        up = cv2.cvtColor(cv2.subtract(y_new, y), cv2.COLOR_GRAY2RGB)
        down = cv2.cvtColor(cv2.subtract(y, y_new), cv2.COLOR_GRAY2RGB)
        out = cv2.add(rgb, up)
        return cv2.subtract(out, down, dst=out)

    row("ops.tone._shift_luma", "1 MB strips", time_median(
        lambda: tone._shift_luma(rgb, y, y_new), repeats), "whole-image passes",
        time_median(whole, repeats))


def bench_histogram(rgb: np.ndarray, repeats: int) -> None:
    g = np.ascontiguousarray(rgb[..., 1])
    row("core.histogram", "cv2.calcHist", time_median(
        lambda: cv2.calcHist([g], [0], None, [256], [0, 256]), repeats), "np.bincount",
        time_median(lambda: np.bincount(g.ravel(), minlength=256), repeats))


def bench_filters(rgb: np.ndarray, repeats: int) -> None:
    row("ops.filters gaussian_blur", "sigmaY left at 0", time_median(
        lambda: cv2.GaussianBlur(rgb, (0, 0), 3.0), repeats), "sigmaY passed (= sigmaX)",
        time_median(lambda: cv2.GaussianBlur(rgb, (0, 0), 3.0, sigmaY=3.0), repeats))
    tall = np.ascontiguousarray(rgb[:, :8])
    wide = np.ascontiguousarray(tall.swapaxes(0, 1))
    row("ops.filters median bands (5x5)", "medianBlur, wide band", time_median(
        lambda: cv2.medianBlur(wide, 5), repeats), "medianBlur, tall band", time_median(
        lambda: cv2.medianBlur(tall, 5), repeats))
    px = rgb.shape[0] * rgb.shape[1] * 3
    for k in (5, 7):
        t = time_median(lambda k=k: cv2.medianBlur(rgb, k), repeats)
        print(f"{'ops.filters median cost':<34}medianBlur k={k}: {t / px * 1e9:.1f} ns per "
              "pixel and channel (the strip cost units)")


def bench_geometry(rgb: np.ndarray, repeats: int) -> None:
    row("ops.geometry.flip", "cv2.flip", time_median(
        lambda: cv2.flip(rgb, 1), repeats), "np.ascontiguousarray([:, ::-1])", time_median(
        lambda: np.ascontiguousarray(rgb[:, ::-1]), repeats))
    h, w = rgb.shape[:2]
    block = rgb[100:h - 100, 100:w - 100]

    def numpy_fill() -> np.ndarray:
        out = np.empty_like(rgb)
        out[...] = np.asarray((10, 20, 30), np.uint8)
        out[100:h - 100, 100:w - 100] = block
        return out

    row("ops.geometry canvas/translate", "cv2.copyMakeBorder", time_median(
        lambda: cv2.copyMakeBorder(block, 100, 100, 100, 100, cv2.BORDER_CONSTANT,
                                   value=(10, 20, 30)), repeats),
        "NumPy broadcast fill + copy", time_median(numpy_fill, repeats))


def bench_features_noise(rgb: np.ndarray, repeats: int) -> None:
    f = rgb.astype(np.float32)
    weights = np.float32([[0.2126, 0.7152, 0.0722]])
    row("ops.features grey", "cv2.transform", time_median(
        lambda: cv2.transform(f, weights), repeats), "NumPy weighted sum", time_median(
        lambda: f @ weights[0], repeats))
    cand = (cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) > 250).astype(np.uint8)
    t = time_median(lambda: cv2.connectedComponentsWithStats(cand, connectivity=8), repeats)
    print(f"{'ops.features plateaus':<34}connectedComponentsWithStats on the whole image: "
          f"{t * 1e3:.1f} ms (why it runs only when peaks touch)")
    noise = np.empty(rgb.shape, np.float32)
    rng = np.random.default_rng(0)
    row("ops.noise", "cv2.randn", time_median(
        lambda: cv2.randn(noise.reshape(rgb.shape[0], -1), 0.0, 10.0), repeats),
        "NumPy default_rng.normal", time_median(
        lambda: rng.normal(0.0, 10.0, rgb.shape).astype(np.float32), repeats))


def bench_torch(repeats: int) -> None:
    import torch

    from editor.ops.ai.efficientnet import inference_copy, load_efficientnet_lite0
    from editor.teach.backbones import torch_threads

    model = load_efficientnet_lite0()
    fast = inference_copy(model)
    x = torch.rand(8, 3, 224, 224)
    with torch.inference_mode():
        row("ops.ai.efficientnet (8 x 224 px)", "inference_copy", time_median(
            lambda: fast(x.contiguous(memory_format=torch.channels_last)), repeats),
            "module as loaded", time_median(lambda: model(x), repeats))

    feats = torch.randn(600, 1280)
    labels = torch.randint(0, 2, (600,))

    def head_fit() -> None:
        head = torch.nn.Linear(1280, 2)
        opt = torch.optim.Adam(head.parameters(), lr=1e-3)
        for _ in range(30):
            for i in range(0, 600, 32):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(head(feats[i:i + 32]),
                                                  labels[i:i + 32]).backward()
                opt.step()

    def with_threads(n: int) -> float:
        with torch_threads(n):
            return time_median(head_fit, max(1, repeats // 2))

    threads = max(2, torch.get_num_threads())
    row("teach.train._threads (head fit)", "1 thread", with_threads(1),
        f"{threads} threads", with_threads(threads))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-torch", action="store_true")
    args = parser.parse_args()
    rgb = photo_12mp()
    print(f"12 MP RGB photo {rgb.shape[1]}x{rgb.shape[0]}, {os.cpu_count()} CPUs, "
          f"OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads), "
          f"Python {sys.version.split()[0]}")
    print(f"{'where':<34}{'chosen':<30}{'':>12}   {'instead of':<34}{'':>12}  ratio")
    bench_display(rgb, args.repeats)
    bench_color(rgb, args.repeats)
    bench_tone(rgb, args.repeats)
    bench_histogram(rgb, args.repeats)
    bench_filters(rgb, args.repeats)
    bench_geometry(rgb, args.repeats)
    bench_features_noise(rgb, args.repeats)
    if not args.skip_torch:
        bench_torch(args.repeats)


if __name__ == "__main__":
    main()
