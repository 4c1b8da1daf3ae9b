"""Selections on a 12 MP photo: GUI-thread cost of the marching ants and the tools.

Run: ``python benchmarks/bench_selection_gui.py`` (offscreen Qt).

Goal (issue 10): drawing or moving a selection never blocks the GUI thread
more than 16 ms. Measured on coffee.png upscaled to 4000x3000, in a 1500x940
window, for a simple selection (an ellipse) and a complex one (a global magic
wand on the photo: thousands of outlines):

* the selectionChanged handler (hands the tracing to a worker), and the longest
  GUI-thread stall (a 1 ms heartbeat) from the op's submission until the
  outline is traced;
* one canvas paint (image + animated ants) at fit, 100 % and 400 %, as the
  ants' timer and every pan or zoom cause (median and worst of 30);
* one rectangle-tool drag step (mouse move + repaint of the rubber band);
* one handle-drag step (the outline shown moved: transform preview);
* one quick-mask brush step (a 100 px dab into the 12 MP mask + overlay repaint);
* the tracing itself on the worker (for information: it is off the GUI thread).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

GOAL_MS = 16.0


def main() -> None:
    import numpy as np
    from bench_gui import pct, photo_12mp
    from PySide6.QtCore import QEvent, QPointF, QSettings, Qt, QTimer
    from PySide6.QtGui import QImage, QMouseEvent
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    sys.setswitchinterval(0.001)
    import tempfile

    from editor.ui.main_window import MainWindow
    from editor.ui.marching_ants import trace_pyramid
    from editor.ui.style import apply_dark_theme

    apply_dark_theme(app)
    tmp = tempfile.mkdtemp(prefix="convolve-bench-")
    os.environ["CONVOLVE_RECOVERY_DIR"] = os.path.join(tmp, "recovery")
    w = MainWindow(settings=QSettings(os.path.join(tmp, "s.ini"), QSettings.Format.IniFormat),
                   load_registry=False, install_panels=False)
    w._confirm = lambda doing: True
    w.load_registry(sync=True)
    w.resize(1500, 940)
    w.show()
    c, canvas = w.controller, w.canvas

    def pump_until(cond, timeout=120.0):
        end = time.perf_counter() + timeout
        while not cond():
            app.processEvents()
            if time.perf_counter() > end:
                raise TimeoutError("benchmark step timed out")
            time.sleep(0.0005)

    def idle():
        return not (c.busy() or c.apply_lane.busy() or c.preview_lane.busy())

    c.open_array(photo_12mp(), path="coffee-12mp.png")
    pump_until(lambda: c.document is not None and canvas.image_size() is not None)
    pump_until(idle)
    print("Selections on a 12 MP photo (offscreen Qt, coffee.png upscaled to 4000x3000)")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
          f"canvas {canvas.width()}x{canvas.height()}; goal: every GUI-thread step "
          f"<= {GOAL_MS:.0f} ms")
    target = QImage(canvas.size(), QImage.Format.Format_RGB32)

    def paint_ms(n=40) -> list[float]:
        times = []
        for _ in range(n):
            t = time.perf_counter()
            canvas.render(target)
            times.append((time.perf_counter() - t) * 1000)
        return times

    rows = []

    def row(what, times):
        times = times if isinstance(times, list) else [times]
        med, p95, worst = statistics.median(times), pct(times, 95), max(times)
        rows.append((what, med, p95, worst))
        flag = "ok" if p95 <= GOAL_MS else "OVER"
        print(f"  {what:<62} median {med:6.2f}  p95 {p95:6.2f}  worst {worst:6.2f} ms  {flag}")

    def views():
        for name, zoom in (("fit", None), ("100 %", 1.0), ("400 %", 4.0)):
            if zoom is None:
                canvas.fit()
            else:
                canvas.set_zoom(zoom)
                canvas.center = QPointF(2000, 1500)
                canvas._view_moved()
            pump_until(lambda: canvas.ants.exact is not None or canvas.zoom < 2, 30)
            for _ in range(5):
                app.processEvents()
                time.sleep(0.02)
            pump_until(lambda: not canvas.ants.lane.busy(), 30)
            app.processEvents()
            yield name

    canvas.fit()
    row("paint, no selection (reference), fit", paint_ms())

    selections = {
        "ellipse": ("select_ellipse", {"x": 600, "y": 400, "width": 2800, "height": 2200}),
        "global wand": ("select_wand", {"x": 2000, "y": 1500, "tolerance": 40,
                                         "contiguous": False}),
        "noise (stress)": (None, None),
    }
    rng = np.random.default_rng(0)
    noise = np.repeat(np.repeat(rng.random((750, 1000)) > 0.5, 4, 0), 4, 1)
    for label, (op, params) in selections.items():
        handler = []

        def timed(mask, handler=handler):
            handler.append(time.perf_counter())

        c.selectionChanged.connect(timed)
        # a 1 ms heartbeat: its longest gap is the longest GUI-thread stall while the
        # op runs and the outline is traced on workers (GIL included)
        beats = []
        heart = QTimer()
        heart.setInterval(1)
        heart.timeout.connect(lambda beats=beats: beats.append(time.perf_counter()))
        heart.start()
        t0 = time.perf_counter()
        if op is None:  # 4x4-pixel random blocks: ~190,000 outlines
            c.set_selection(noise.astype(np.float32), "Noise")
            pump_until(lambda h=handler: idle() and c.selection() is not None and h)
        else:
            c.select(op, params)
            pump_until(lambda: c.selection() is not None and idle())
        t_commit = time.perf_counter()
        pump_until(lambda: canvas.ants.pyramid is not None
                   and not canvas.ants.lane.busy())
        heart.stop()
        c.selectionChanged.disconnect(timed)
        stall = max(np.diff(beats)) * 1000 if len(beats) > 1 else float("nan")
        mask = c.selection()
        # the handler's own GUI-thread time (a second call, timed alone)
        t = time.perf_counter()
        canvas.ants.set_mask(mask)
        gui_ms = (time.perf_counter() - t) * 1000
        pump_until(lambda: canvas.ants.pyramid is not None)
        t = time.perf_counter()
        pyr = trace_pyramid(mask)
        trace_ms = (time.perf_counter() - t) * 1000
        print(f"{label}: {int((mask >= 0.5).sum()):,} px selected, "
              f"{len(pyr.levels[0].counts):,} outlines / {pyr.levels[0].points:,} points at "
              f"full size; op + commit {(t_commit - t0) * 1000:.0f} ms; tracing on the worker "
              f"{trace_ms:.0f} ms")
        row(f"{label}: selectionChanged handler (GUI thread)", gui_ms)
        row(f"{label}: longest GUI stall while selecting + tracing", stall)
        for view in views():
            row(f"{label}: paint with ants at {view}", paint_ms())

    # -- tools: a rectangle drag, a handle drag, a quick-mask stroke ------------------------------
    def mouse(kind, pos, button=Qt.MouseButton.LeftButton):
        buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else button
        ev = QMouseEvent(kind, pos, canvas.mapToGlobal(pos), button, buttons,
                         Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(canvas, ev)

    def drag_steps(tool_name, a, b, n=30, button=Qt.MouseButton.LeftButton):
        tool = w.canvas_tools.activate(tool_name)
        pump_until(lambda: getattr(tool, "ready", lambda: True)())
        canvas.fit()
        app.processEvents()
        pa, pb = canvas.to_widget(QPointF(*a)), canvas.to_widget(QPointF(*b))
        mouse(QEvent.Type.MouseButtonPress, pa, button)
        times = []
        for i in range(1, n + 1):
            p = pa + (pb - pa) * (i / n)
            t = time.perf_counter()
            mouse(QEvent.Type.MouseMove, p, button)
            canvas.render(target)  # the repaint that move asks for
            times.append((time.perf_counter() - t) * 1000)
        mouse(QEvent.Type.MouseButtonRelease, pb, button)
        return times

    c.select("select_none", {})
    pump_until(idle)
    row("rectangle drag step (move + repaint), fit",
        drag_steps("rect_select", (500, 500), (3000, 2500)))
    pump_until(lambda: idle() and canvas.ants.pyramid is not None
               and canvas.ants.mask is c.selection())
    x0, y0, x1, y1 = canvas.ants.bbox()
    row("move-handle drag step (outline preview + repaint), fit",
        drag_steps("rect_select", ((x0 + x1) / 2, (y0 + y1) / 2),
                   ((x0 + x1) / 2 + 300, (y0 + y1) / 2 + 200)))
    pump_until(idle)
    c.select(*selections["global wand"])
    pump_until(lambda: idle() and canvas.ants.pyramid is not None
               and canvas.ants.mask is c.selection())
    tool = w.canvas_tools.tool("quick_mask")
    tool.size = 100
    row("quick-mask brush step, 100 px (dabs + overlay repaint), fit",
        drag_steps("quick_mask", (500, 1500), (3500, 1600), n=40))
    canvas.set_zoom(1.0)
    canvas.center = QPointF(2000, 1500)
    canvas._view_moved()
    pa, pb = canvas.to_widget(QPointF(1700, 1400)), canvas.to_widget(QPointF(2300, 1600))
    mouse(QEvent.Type.MouseButtonPress, pa)
    times = []
    for i in range(1, 31):
        t = time.perf_counter()
        mouse(QEvent.Type.MouseMove, pa + (pb - pa) * (i / 30))
        canvas.render(target)
        times.append((time.perf_counter() - t) * 1000)
    mouse(QEvent.Type.MouseButtonRelease, pb)
    row("quick-mask brush step, 100 px, 100 %", times)
    t = time.perf_counter()
    w.canvas_tools.activate("pan")  # leaving quick mask commits its 12 MP mask
    ms = (time.perf_counter() - t) * 1000
    row("leaving quick mask (GUI thread; rounding + SHA-256 on a worker)", ms)
    pump_until(idle)
    t = time.perf_counter()
    w.canvas_tools.activate("quick_mask")  # entering copies the selection (worker)
    ms = (time.perf_counter() - t) * 1000
    row("entering quick mask (GUI thread; mask copy + overlay on a worker)", ms)
    pump_until(tool.ready)
    w.canvas_tools.activate("pan")
    over = [r for r in rows if r[2] > GOAL_MS]
    print(f"{len(rows) - len(over)} of {len(rows)} steps within {GOAL_MS:.0f} ms at p95 "
          "(worst cases on a loaded machine include other processes' time slices)"
          + ("" if not over else "; over: " + ", ".join(r[0] for r in over)))
    c.shutdown()


if __name__ == "__main__":
    main()
