"""CNN tools: Gatys style transfer, Deep Dream and classification latency.

References from the issue (a tutorial-grade implementation on this 2-core CPU):
Gatys 256 px, 80 L-BFGS iterations: 24 s; Deep Dream 3 octaves x 40 steps at
~300 px: 25 s. Each is also re-measured here, in the same run, as a
tutorial-style baseline (weights left trainable so backward also computes their
gradients, contiguous memory layout), beside ours (frozen weights, network cut
after the last layer used, channels-last, targets computed once under
inference_mode). Final losses are printed so "same final loss" can be checked.

Usage: python benchmarks/bench_ai.py [--skip-baseline] [--gpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import SHARED_IMAGES  # noqa: F401  (puts the repo on sys.path)


def load_rgb(name: str, size: int) -> np.ndarray:
    """A shared photo as float RGB with its longer side ``size``."""
    from PIL import Image

    from editor.ops.ai import _util

    path = SHARED_IMAGES / name
    if path.exists():
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
    else:
        import skimage.data

        rgb = skimage.data.chelsea()
    w, h = _util.working_size(rgb.shape, size)
    return _util.resize_float(_util.rgb_float(rgb), w, h)


class _Unfrozen:
    """Context manager: make a cached feature net tutorial-like (trainable, contiguous)."""

    def __init__(self, net):
        self.net = net

    def __enter__(self):
        import torch

        for p in self.net.parameters():
            p.requires_grad_(True)
        self.net.to(memory_format=torch.contiguous_format)

    def __exit__(self, *exc):
        import torch

        for p in self.net.parameters():
            p.requires_grad_(False)
            p.grad = None
        self.net.to(memory_format=torch.channels_last)


def bench_style(device, baseline: bool, size: int, steps: int) -> None:
    from editor.ops.ai.style import stylize_rgb
    from editor.ops.ai.vgg import feature_net

    content = load_rgb("chelsea.png", size)
    style = load_rgb("scream.jpg", size)
    h, w = content.shape[:2]
    print(f"\n== Gatys style transfer, {w}x{h}, {steps} L-BFGS iterations "
          f"(reference: 24 s, tutorial-grade, 256 px)")
    runs = [("ours", False, {}), ("ours, multiscale", False, {"multiscale": True})]
    if baseline:
        runs.insert(0, ("tutorial-style baseline", True, {}))
    for title, unfrozen, kw in runs:
        net = feature_net("vgg16", device, pool="avg")
        t0 = time.perf_counter()
        if unfrozen:
            with _Unfrozen(net):
                r = stylize_rgb(content, style, steps=steps, device=device, **kw)
        else:
            r = stylize_rgb(content, style, steps=steps, device=device, **kw)
        dt = time.perf_counter() - t0
        last = r["history"][-1]
        print(f"{title:<26}{dt:7.1f} s   final loss {last['total']:.4g} "
              f"(style {last['style']:.3g}, content {last['content']:.3g})")
        if title == "ours":
            target = last["total"]
            hist = [h["total"] for h in r["history"]]
            reach = next(i + 1 for i, v in enumerate(hist) if v <= target * 1.0001)
            print(f"{'':<26}loss {target:.4g} first reached at iteration {reach}")


def bench_dream(device, baseline: bool, size: int, steps: int) -> None:
    import torch

    from editor.ops.ai import _util
    from editor.ops.ai.dream import dream_rgb, layer_energy
    from editor.ops.ai.vgg import feature_net

    rgb = load_rgb("china.jpg", size)
    h, w = rgb.shape[:2]
    print(f"\n== Deep Dream, {w}x{h}, 3 octaves x {steps} steps, relu4_3 "
          f"(reference: 25 s, tutorial-grade, ~300 px)")
    runs = [("ours", False)]
    if baseline:
        runs.insert(0, ("tutorial-style baseline", True))
    net = feature_net("vgg16", device)
    for title, unfrozen in runs:
        t0 = time.perf_counter()
        if unfrozen:
            with _Unfrozen(net):
                out = dream_rgb(rgb, layer="relu4_3", octaves=3, steps=steps, device=device)
        else:
            out = dream_rgb(rgb, layer="relu4_3", octaves=3, steps=steps, device=device)
        dt = time.perf_counter() - t0
        with torch.no_grad():
            e = float(layer_energy(net, _util.to_tensor(out, device), "relu4_3"))
        print(f"{title:<26}{dt:7.1f} s   final relu4_3 energy {e:.4g}")


def bench_classify(device) -> None:
    from PIL import Image

    from editor.ops.ai.classify import classify_image

    path = SHARED_IMAGES / "chelsea.png"
    img = np.asarray(Image.open(path).convert("RGB")) if path.exists() else \
        (load_rgb("chelsea.png", 451) * 255).astype(np.uint8)
    t0 = time.perf_counter()
    classify_image(img, device=device)  # includes loading the weights
    first = time.perf_counter() - t0
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        classify_image(img, device=device)
        times.append(time.perf_counter() - t0)
    print(f"\n== Classification (EfficientNet-Lite0, {img.shape[1]}x{img.shape[0]} photo)")
    print(f"first call (loads weights) {first * 1000:7.1f} ms; "
          f"then median {np.median(times) * 1000:.1f} ms")


def main() -> None:
    import torch

    from editor.ops.ai.models import device_label, pick_device

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--gpu", action="store_true",
                    help="also time Gatys at 512 px, 300 iterations (goal <= 10 s on CUDA)")
    ap.add_argument("--only", choices=("style", "dream", "classify"))
    args = ap.parse_args()
    device = pick_device(force_cpu=not args.gpu)
    print(f"device: {device_label(device)}, torch {torch.__version__}")
    if args.only in (None, "classify"):
        bench_classify(device)
    if args.only in (None, "style"):
        bench_style(device, not args.skip_baseline, 256, 80)
        if args.gpu and device.type == "cuda":
            bench_style(device, False, 512, 300)
    if args.only in (None, "dream"):
        bench_dream(device, not args.skip_baseline, 300, 40)


if __name__ == "__main__":
    main()
