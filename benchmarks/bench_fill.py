"""Fill quality and speed: exemplar fill (PatchMatch) beside OpenCV's Telea and Navier–Stokes.

Quality: on every shared photo (8, or scikit-image's copies) and three of
scikit-image's textures (brick, grass, gravel), round holes of 20, 60 and 120
pixels are cut where the photo is most textured (the largest mean gradient
magnitude over the hole's disc, away from the border), so the true pixels are
known. Each method fills them; the score is SSIM (scikit-image
``structural_similarity``, 7x7 windows) between the truth and the fill on the
hole's bounding box, and the mean absolute error inside the hole. Goal (issue
10): the exemplar fill beats Telea on SSIM.

Speed: a 200x200 hole in a 12 MP photo (4000x3000), exemplar beside
``cv2.inpaint`` Telea on the same hole. Goal: exemplar <= 3 s on this 2-core CPU.

Run: ``python benchmarks/bench_fill.py`` (``--quick``: one hole size, 60 px, and
one timing repeat; ``--save DIR``: a PNG per hole with truth | Telea | NS |
exemplar side by side).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np
from common import SHARED_IMAGES, photo_12mp

# after `common`, which puts the repository on sys.path
from editor.ops.retouch import fill_exemplar, fill_navier_stokes, fill_telea  # noqa: E402

PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "china.jpg",
          "flower.jpg", "grace_hopper.jpg", "scream.jpg")
TEXTURES = ("brick", "grass", "gravel")
METHODS = {
    "telea": lambda img, m: fill_telea(img, m, 5),
    "navier_stokes": lambda img, m: fill_navier_stokes(img, m, 5),
    "exemplar": lambda img, m: fill_exemplar(img, m, 9),
}


def images() -> dict[str, np.ndarray]:
    """The photos (shared copies, else scikit-image's) and scikit-image's textures."""
    import skimage.data
    from PIL import Image

    out = {}
    fallback = {"astronaut.png": "astronaut", "chelsea.png": "chelsea", "coffee.png": "coffee",
                "rocket.jpg": "rocket"}
    for name in PHOTOS:
        path = SHARED_IMAGES / name
        if path.exists():
            with Image.open(path) as im:
                out[name] = np.asarray(im.convert("RGB")).copy()
        elif name in fallback:
            out[name] = getattr(skimage.data, fallback[name])()[..., :3].copy()
    for name in TEXTURES:
        out[name] = getattr(skimage.data, name)()
    return out


def textured_disc(img: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A disc of diameter ``size`` in the image's most textured region, and its box.

    Textured region: where the gradient magnitude averaged over three hole
    sizes is high and the hole's own average is like it (a stationary
    texture such as grass, fur, foliage or gravel, not one object's edge).
    """
    gray = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    g = gray.astype(np.float32)
    mag = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    near = cv2.blur(mag, (size, size))
    wide = cv2.blur(mag, (3 * size, 3 * size))
    energy = wide - np.abs(near - wide)
    h, w = gray.shape
    keep = min(size, (min(h, w) - size) // 2 - 2)  # up to a hole's size of context
    inner = np.zeros(energy.shape, bool)
    inner[keep + size // 2:h - keep - size // 2, keep + size // 2:w - keep - size // 2] = True
    cy, cx = np.unravel_index(np.argmax(np.where(inner, energy, -np.inf)), energy.shape)
    mask = np.zeros((h, w), np.uint8)
    cv2.circle(mask, (int(cx), int(cy)), size // 2, 1, -1)
    y0, x0 = cy - size // 2, cx - size // 2
    return mask.astype(bool), (y0, y0 + size, x0, x0 + size)


def score(truth: np.ndarray, out: np.ndarray, mask: np.ndarray, box) -> tuple[float, float]:
    """SSIM on the hole's box and mean absolute error inside the hole."""
    from skimage.metrics import structural_similarity

    y0, y1, x0, x1 = box
    a, b = truth[y0:y1, x0:x1], out[y0:y1, x0:x1]
    s = structural_similarity(a, b, channel_axis=2 if a.ndim == 3 else None, data_range=255)
    mae = float(np.abs(truth[mask].astype(np.float32) - out[mask]).mean())
    return float(s), mae


def quality(sizes: list[int], save: Path | None) -> None:
    names = list(METHODS)
    print("\n== Fill quality: SSIM on the hole's box (higher is better), "
          "mean abs error in the hole (8-bit levels)")
    head = "".join(f"{n + ' SSIM':>20}" for n in names) + "".join(f"{n[:5] + ' MAE':>11}"
                                                                   for n in names)
    print(f"{'image':<18}{'hole':>6}{head}{'ex s':>7}")
    table = {n: [] for n in names}
    by_size = {(n, size): [] for n in names for size in sizes}
    wins = 0
    for name, img in images().items():
        for size in sizes:
            mask, box = textured_disc(img, size)
            row, maes, took = {}, {}, 0.0
            for n, fn in METHODS.items():
                t0 = time.perf_counter()
                out = fn(img, mask)
                if n == "exemplar":
                    took = time.perf_counter() - t0
                row[n], maes[n] = score(img, out, mask, box)
                table[n].append(row[n])
                by_size[n, size].append(row[n])
                if save is not None:
                    y0, y1, x0, x1 = box
                    pad = size
                    crop = out[max(0, y0 - pad):y1 + pad, max(0, x0 - pad):x1 + pad]
                    row.setdefault("_crops", []).append(crop)
            wins += row["exemplar"] > row["telea"]
            print(f"{name:<18}{size:>6}" + "".join(f"{row[n]:>20.3f}" for n in names)
                  + "".join(f"{maes[n]:>11.1f}" for n in names) + f"{took:>7.2f}")
            if save is not None:
                y0, y1, x0, x1 = box
                truth = img[max(0, y0 - size):y1 + size, max(0, x0 - size):x1 + size]
                strip = np.hstack([truth] + row["_crops"])
                if strip.ndim == 2:
                    strip = np.dstack([strip] * 3)
                cv2.imwrite(str(save / f"{Path(name).stem}_{size}.png"), strip[..., ::-1])
    n_holes = len(table["telea"])
    for size in sizes:
        print(f"{'mean':<18}{size:>6}"
              + "".join(f"{np.mean(by_size[n, size]):>20.3f}" for n in names))
    print(f"{'mean':<18}{'all':>6}" + "".join(f"{np.mean(table[n]):>20.3f}" for n in names))
    print(f"exemplar beats Telea on SSIM in {wins} of {n_holes} holes; "
          f"mean SSIM exemplar {np.mean(table['exemplar']):.3f} vs Telea "
          f"{np.mean(table['telea']):.3f} (goal: exemplar above Telea)")


def speed(repeats: int) -> None:
    img = photo_12mp()
    h, w = img.shape[:2]
    mask = np.zeros((h, w), bool)
    # a 200x200 hole on the textured part of the photo (the astronaut's suit and flag)
    y0, x0 = h // 2 - 100, w // 2 - 100
    mask[y0:y0 + 200, x0:x0 + 200] = True

    def best(fn) -> tuple[float, float]:
        """Best wall time and the CPU time of that run (the machine is shared: the
        CPU seconds show what the wall time is on a quiet one)."""
        runs = []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            runs.append((time.perf_counter() - t0, time.process_time() - c0))
        return min(runs)

    rows = [("exemplar (patch 9)", best(lambda: fill_exemplar(img, mask, 9)), "goal <= 3 s"),
            ("fill_telea (hole box + 2r+4)", best(lambda: fill_telea(img, mask, 5)), ""),
            ("cv2.inpaint Telea, whole image",
             best(lambda: cv2.inpaint(img, mask.view(np.uint8), 5, cv2.INPAINT_TELEA)), "")]
    print(f"\n== 200x200 hole in a {w}x{h} photo (best of {repeats}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(f"{'':<34}{'wall s':>8}{'CPU s':>8}")
    for name, (wall, cpu), note in rows:
        print(f"{name:<34}{wall:>8.2f}{cpu:>8.2f}   {note}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--save", type=Path, help="write truth|telea|ns|exemplar strips here")
    ap.add_argument("--no-speed", action="store_true")
    args = ap.parse_args()
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    quality([60] if args.quick else [20, 60, 120], args.save)
    if not args.no_speed:
        speed(1 if args.quick else 3)


if __name__ == "__main__":
    main()
