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

And on the GUI thread, the stroke preview while the button is held (goal of
issue 10: never more than 16 ms a frame): the clone tool's paint with one more
point on a 2000-point, 150 px stroke, beside the first paint of the whole stroke
(what every frame cost before the preview kept its layer).

Run: ``python benchmarks/bench_brush.py`` (the GUI part runs offscreen).
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


def gui() -> None:
    """The clone stamp's stroke preview on the GUI thread."""
    import os
    import statistics
    import tempfile
    import time

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QPointF, QSettings
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtWidgets import QApplication

    from editor.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    tmp = tempfile.mkdtemp()
    os.environ["CONVOLVE_RECOVERY_DIR"] = tmp
    w = MainWindow(settings=QSettings(f"{tmp}/s.ini", QSettings.Format.IniFormat),
                   load_registry=False, install_panels=False)
    w.load_registry(sync=True)
    w.resize(1600, 1000)
    w.show()
    w.controller.open_array(photo_12mp("china.jpg"))
    while w.controller.document is None:
        app.processEvents()
    c = w.canvas
    tool = w.canvas_tools.activate("clone")
    tool.set_size(150)
    tool.stroke = [QPointF(500 + 3000 * k / 2000, 1500 + 400 * math.sin(k / 50))
                   for k in range(2001)]
    tool.pointer = tool.stroke[-1]
    img = QImage(c.size(), QImage.Format.Format_ARGB32_Premultiplied)

    def paint() -> float:
        p = QPainter(img)
        t0 = time.perf_counter()
        tool.paint(p, c)
        dt = time.perf_counter() - t0
        p.end()
        return dt

    print_header("GUI thread: clone stroke preview, 2000 points, 150 px brush")
    for zoom in (0.25, 1.0, 4.0):
        c.set_zoom(zoom)
        tool._layer = None
        first = paint()
        more = []
        for _ in range(50):
            tool.stroke.append(tool.stroke[-1] + QPointF(2, 1))
            more.append(paint())
        print_row(f"one more point @{zoom:g}x", statistics.median(more),
                  {"whole stroke redrawn": first})
    w.close()


if __name__ == "__main__":
    main()
    gui()
