"""Painting a detector's overlay on the canvas at 12 MP, beside painting no overlay.

For Harris corners, HOG cells and Canny edges on a 12 MP photo in a 1200x800
canvas: the first paint at each zoom (at "fit" it also builds the raster pyramid
or glyph raster, once per overlay) and the median of the next paints while
panning a few pixels (each a new crop). The reference is the same canvas painting the image alone.

Run: ``QT_QPA_PLATFORM=offscreen python benchmarks/bench_overlay.py``
"""

from __future__ import annotations

import statistics
import sys
import time

from common import photo_12mp
from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from editor.core.context import OpContext
from editor.ops import get_op
from editor.ops.overlays import find_overlay
from editor.ui.canvas import Canvas
from editor.workers.render import render_state

SIZE = (1200, 800)


def paint_ms(canvas: Canvas) -> float:
    img = QImage(*SIZE, QImage.Format.Format_RGB32)
    t0 = time.perf_counter()
    canvas.render(img)
    return (time.perf_counter() - t0) * 1000


def main() -> None:
    app = QApplication.instance() or QApplication(sys.argv)  # noqa: F841
    image = photo_12mp()
    canvas = Canvas()
    canvas.resize(*SIZE)
    canvas.set_rendered(render_state(1, image))
    print(f"{'overlay':<30}{'zoom':>6}{'first ms':>10}{'pan ms':>9}{'no overlay ms':>15}")
    for name, params in (("harris", {}), ("hog", {"cell": 8}), ("canny", {})):
        ctx = OpContext()
        get_op(name)(image, ctx, **params)
        overlay = find_overlay(ctx.extras)
        canvas.set_overlay(overlay)  # one object: its raster is built once, then cached
        for label, zoom in (("fit", None), ("1:1", 1.0), ("4:1", 4.0)):
            canvas.fit() if zoom is None else canvas.set_zoom(zoom)
            canvas.set_overlay_visible(False)
            ref = statistics.median(paint_ms(canvas) for _ in range(5))
            canvas.set_overlay_visible(True)
            first = paint_ms(canvas)
            pans = []
            for _ in range(5):
                canvas.center = QPointF(canvas.center.x() + 3, canvas.center.y())
                pans.append(paint_ms(canvas))
            print(f"{overlay.summary():<30}{label:>6}{first:>10.1f}{statistics.median(pans):>9.1f}"
                  f"{ref:>15.1f}")


if __name__ == "__main__":
    main()
