"""Brush strokes and straighten at 12 MP: what one stroke costs when it is committed.

A clone or heal stroke is one undo step computed off the GUI thread on the whole
12 MP photo (4000x3000), so its cost is what the user waits between release and
result. Each figure is printed beside a reference from the same run:

- ``brush_mask`` of a 60 px stroke 1500 px long, beside a dab-stamping
  rasteriser (OpenCV circles at 1/4-size spacing, then a Gaussian blur: the
  classic approach);
- ``clone`` of that stroke, beside a plain copy of the photo (the floor: the op
  returns a new image);
- ``heal`` (Telea) of a 12 px stroke along a 1500 px wire, beside
  ``cv2.inpaint`` on the whole photo with the same hole;
- ``straighten`` by 3.2°, beside ``rotate`` with ``expand`` (the same warp plus
  the corners it throws away).

Run: ``python benchmarks/bench_brush.py``.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from common import memcpy_time, photo_12mp, print_header, print_row, time_median

# after `common`, which puts the repository on sys.path
from editor.ops import get_op, run_op  # noqa: E402
from editor.ops.brush import brush_mask  # noqa: E402


def _stroke(n: int = 60) -> list[tuple[float, float]]:
    """A wavy mouse stroke 1500 px long across the photo."""
    return [(1000 + 1500 * k / n, 1500 + 120 * math.sin(k / 6)) for k in range(n + 1)]


def _dab_mask(shape, points, size) -> np.ndarray:
    """Reference rasteriser: hard dabs every size/4 along the path, then blurred."""
    m = np.zeros(shape[:2], np.uint8)
    spacing = max(1.0, size / 4)
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:], strict=True):
        n = max(1, int(math.hypot(x1 - x0, y1 - y0) / spacing))
        for k in range(n + 1):
            t = k / n
            cv2.circle(m, (round(x0 + t * (x1 - x0)), round(y0 + t * (y1 - y0))),
                       round(size / 2), 255, -1)
    return cv2.GaussianBlur(m, (0, 0), size / 8)


def main() -> None:
    img = photo_12mp("china.jpg")
    pts = _stroke()
    print_header(f"brush strokes on a {img.shape[1]}x{img.shape[0]} photo")
    print_row("brush_mask 60px", time_median(lambda: brush_mask(img.shape, pts, 60, 0.5), 3),
              {"dabs + blur (cv2)": time_median(lambda: _dab_mask(img.shape, pts, 60), 3)})
    clone = get_op("clone")
    params = {"points": pts, "size": 60.0, "hardness": 0.5, "dx": -300, "dy": 200}
    print_row("clone 60px", time_median(lambda: run_op(clone, img, params), 3),
              {"copy of the photo": memcpy_time(img)})
    heal = get_op("heal")
    hp = {"points": pts, "size": 12.0, "hardness": 1.0, "method": "telea"}
    hole = (brush_mask(img.shape, pts, 12, 1.0) > 0).astype(np.uint8)
    print_row("heal telea 12px", time_median(lambda: run_op(heal, img, hp), 3),
              {"cv2.inpaint whole photo": time_median(
                  lambda: cv2.inpaint(img, hole, 5, cv2.INPAINT_TELEA), 1, 0)})
    ep = {"points": pts[:12], "size": 24.0, "hardness": 0.8, "method": "exemplar"}
    print_row("heal exemplar 24px", time_median(lambda: run_op(heal, img, ep), 1, 0), {})
    print_row("straighten 3.2°",
              time_median(lambda: run_op(get_op("straighten"), img, {"angle": 3.2}), 3),
              {"rotate expand": time_median(
                  lambda: run_op(get_op("rotate"), img, {"angle": 3.2, "expand": True}), 3)})


if __name__ == "__main__":
    main()
