"""Frequency and feature ops on a 12 MP photo beside NumPy, SciPy, torch, OpenCV, skimage.

Run: ``python benchmarks/bench_ops_frequency.py [--repeats N] [--quick]``.
Every reference does the same job as our op (filter all three channels, or compute
the corner response and pick peaks), from the same uint8 photo, in this process.
Figures are each call's fastest run (load from elsewhere only adds time); nothing is
asserted.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from common import photo_12mp, print_header, print_row, time_best

from editor.core.context import OpContext
from editor.ops import get_op


def gaussian_lowpass_rfft_grid(h: int, w: int, cutoff: float) -> np.ndarray:
    """The Gaussian low-pass gain on an rfft2 grid, D = 1 at Nyquist."""
    fy = np.fft.fftfreq(h).astype(np.float32) / 0.5
    fx = np.fft.rfftfreq(w).astype(np.float32) / 0.5
    return np.exp(-(fy[:, None] ** 2 + fx[None, :] ** 2) / np.float32(2 * cutoff**2))


def to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def bench_fft(img: np.ndarray, repeats: int) -> None:
    import cv2
    import scipy.fft as sfft

    h, w = img.shape[:2]
    cutoff = 0.1
    print_header(f"Frequency, {w}x{h} RGB uint8 (scipy.fft workers={os.cpu_count()})")

    def numpy_fft():
        gain = gaussian_lowpass_rfft_grid(h, w, cutoff)
        return np.dstack([to_uint8(np.fft.irfft2(np.fft.rfft2(img[..., c]) * gain, s=(h, w)))
                          for c in range(3)])

    def scipy_fft1():
        gain = gaussian_lowpass_rfft_grid(h, w, cutoff)
        return np.dstack([to_uint8(sfft.irfft2(sfft.rfft2(img[..., c].astype(np.float32),
                                                          workers=1) * gain,
                                               s=(h, w), workers=1)) for c in range(3)])

    def cv2_dft():
        fy = np.fft.fftfreq(h).astype(np.float32) / 0.5
        fx = np.fft.fftfreq(w).astype(np.float32) / 0.5
        gain = np.exp(-(fy[:, None] ** 2 + fx[None, :] ** 2) / np.float32(2 * cutoff**2))
        g2 = np.dstack([gain, gain])  # OpenCV's complex output: (re, im) planes
        out = []
        for c in range(3):
            spec = cv2.dft(img[..., c].astype(np.float32), flags=cv2.DFT_COMPLEX_OUTPUT)
            out.append(to_uint8(cv2.idft(spec * g2, flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)))
        return np.dstack(out)

    refs = {"numpy.fft": numpy_fft, "scipy.fft (1 worker)": scipy_fft1, "cv2.dft": cv2_dft}
    try:
        import torch

        def torch_fft():
            gain = torch.from_numpy(gaussian_lowpass_rfft_grid(h, w, cutoff))
            t = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float()
            out = torch.fft.irfftn(torch.fft.rfftn(t, dim=(1, 2)) * gain, s=(h, w), dim=(1, 2))
            return out.add_(0.5).clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()

        refs[f"torch.fft (CPU, {torch.get_num_threads()} thr)"] = torch_fft
    except ImportError:
        pass

    op = get_op("fft_filter")
    ours = time_best(lambda: op(img, kind="lowpass", shape="gaussian", cutoff=cutoff), repeats)
    print_row("fft_filter gaussian", ours, {k: time_best(f, repeats) for k, f in refs.items()})
    ours = time_best(lambda: op(img, kind="bandstop", shape="butterworth", cutoff=0.3,
                                  width=0.1, order=4), repeats)
    print_row("fft_filter bw bandstop", ours, {})

    notch = get_op("notch_filter")
    pts = [(0.11, 0.05), (-0.2, 0.13), (0.31, -0.02)]

    def scipy_notch1():
        from editor.ops.frequency import notch_mask  # reference mask built once per call

        gain = notch_mask(h, w, pts, 0.005, layout="half")
        return np.dstack([to_uint8(sfft.irfft2(sfft.rfft2(img[..., c].astype(np.float32),
                                                          workers=1) * gain,
                                               s=(h, w), workers=1)) for c in range(3)])

    ours = time_best(lambda: notch(img, points=pts, radius=0.005), repeats)
    print_row("notch_filter 3 pts", ours, {"scipy.fft (1 worker)": time_best(scipy_notch1,
                                                                               repeats)})

    def numpy_spectrum():
        gray = img.astype(np.float32) @ np.float32([0.2126, 0.7152, 0.0722])
        s = np.fft.fftshift(np.log1p(np.abs(np.fft.fft2(gray))))
        return (s / s.max() * 255).astype(np.uint8)

    def scipy_spectrum1():
        gray = img.astype(np.float32) @ np.float32([0.2126, 0.7152, 0.0722])
        s = np.fft.fftshift(np.log1p(np.abs(sfft.fft2(gray, workers=1))))
        return (s / s.max() * 255).astype(np.uint8)

    ours = time_best(lambda: get_op("spectrum")(img), repeats)
    print_row("spectrum", ours, {"numpy.fft": time_best(numpy_spectrum, repeats),
                                 "scipy.fft (1 worker)": time_best(scipy_spectrum1, repeats)})


def bench_features(img: np.ndarray, repeats: int, quick: bool) -> None:
    import cv2
    import skimage.feature as skf

    h, w = img.shape[:2]
    print_header(f"Features, {w}x{h} RGB uint8")
    gray8 = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    slow = 1  # skimage's corner and HOG code takes seconds at 12 MP

    # The ops take the RGB photo: the references convert it to gray inside the timing too.
    def cv2_harris_peaks():
        r = cv2.cornerHarris(np.float32(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)), 3, 3, 0.05)
        peaks = (r == cv2.dilate(r, np.ones((7, 7), np.uint8))) & (r > 0.01 * r.max())
        return np.argwhere(peaks)

    refs = {"cv2.cornerHarris+NMS": time_best(cv2_harris_peaks, repeats)}
    if not quick:
        grayf = gray8.astype(np.float64) / 255
        refs["skimage corner_harris+peaks"] = time_best(
            lambda: skf.corner_peaks(skf.corner_harris(grayf, sigma=1.5), min_distance=3,
                                     threshold_rel=0.01), slow, warmup=0)
    # ours at its default, as the reference ends: the corners found (and the image,
    # which the op returns); drawing them into the pixels ("burn") is timed below
    ctx = OpContext()
    ours = time_best(lambda: get_op("harris")(img, ctx), repeats)
    print_row("harris", ours, refs)
    burn = time_best(lambda: get_op("harris")(img, output="burn"), repeats)
    print(f"{'':<22}({len(ctx.extras['points'])} corners found; drawn into the pixels "
          f"{burn * 1e3:.0f} ms)")

    refs = {}
    if not quick:
        small = gray8[:750, :1000].astype(np.float64)  # skimage's Moravec is a Cython loop
        t = time_best(lambda: skf.corner_moravec(small, window_size=2), slow, warmup=0)
        refs["skimage corner_moravec (x16)"] = t * (h * w) / small.size
    ours = time_best(lambda: get_op("moravec")(img, window=5), repeats)
    print_row("moravec", ours, refs)

    refs = {"cv2 gray+goodFeaturesToTrack": time_best(
        lambda: cv2.goodFeaturesToTrack(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), 500, 0.01, 10),
        repeats)}
    if not quick:
        refs["skimage corner_shi_tomasi"] = time_best(
            lambda: skf.corner_shi_tomasi(gray8.astype(np.float64)), slow, warmup=0)
    ours = time_best(lambda: get_op("shi_tomasi")(img, max_corners=500), repeats)
    print_row("shi_tomasi", ours, refs)

    refs = {}
    if hasattr(cv2, "HOGDescriptor"):  # gone from the main module in OpenCV 5
        cw, ch = (w // 8) * 8, (h // 8) * 8
        descriptor = cv2.HOGDescriptor((cw, ch), (16, 16), (8, 8), (8, 8), 9)
        refs["cv2.HOGDescriptor (gray)"] = time_best(
            lambda: descriptor.compute(gray8[:ch, :cw]), repeats)
    if not quick:
        refs["skimage hog (no vis)"] = time_best(
            lambda: skf.hog(img, 9, (8, 8), (2, 2), channel_axis=-1), slow, warmup=0)
    ctx = OpContext()
    ours = time_best(lambda: get_op("hog")(img, ctx, cell=8, block=2, bins=9,
                                             output="burn"), repeats)
    print_row("hog (with glyphs)", ours, refs)
    ours = time_best(lambda: get_op("hog")(img, ctx, cell=8, block=2, bins=9), repeats)
    print_row("hog (overlay: cells)", ours, refs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="skip the slow skimage references")
    args = ap.parse_args()
    img = photo_12mp()
    bench_fft(img, args.repeats)
    bench_features(img, args.repeats, args.quick)


if __name__ == "__main__":
    main()
