"""A window that fits a laptop, and a histogram that reads (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from editor.core.histogram import compute_histogram
from editor.ui.histogram_panel import HistogramPanel, HistogramView, compact_count

pytestmark = pytest.mark.gui


@pytest.fixture
def laptop(qtbot, tmp_path, monkeypatch, chelsea):
    """The main window at 1280x720 as on a laptop screen (the statistics table folded)."""
    from editor.ui.main_window import MainWindow

    monkeypatch.setenv("CONVOLVE_RECOVERY_DIR", str(tmp_path / "recovery"))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("histogram/stats", False)  # what a 720-pixel screen starts with
    w = MainWindow(settings=settings, load_registry=False, install_panels=False)
    w.load_registry(sync=True)
    w._confirm = lambda doing: True
    w.resize(1280, 720)
    w.show()
    qtbot.addWidget(w)
    w.controller.open_array(np.ascontiguousarray(chelsea))
    qtbot.waitUntil(lambda: w.controller.document is not None, timeout=10000)
    return w


@pytest.mark.parametrize("op", ["convolve", "notch_filter", "fft_filter", "affine",
                                "gaussian_blur", "levels"])
def test_tool_forms_fit_the_tools_dock_at_1280x720(qtbot, laptop, op):
    w = laptop
    form = w.tools.select_op(op)
    qtbot.wait(50)
    viewport = w.tools.scroll.viewport().size()
    need = form.minimumSizeHint()
    assert need.width() <= viewport.width(), (op, need, viewport)
    assert need.height() <= viewport.height(), (op, need, viewport)


def test_histogram_dock_leaves_the_tools_the_height(qtbot, laptop):
    w = laptop
    assert w.histogram_dock.height() < 0.3 * w.height()
    assert w.histogram.view.height() >= 80  # still a histogram
    assert not w.histogram.stats.isVisible()
    w.histogram.stats_box.setChecked(True)  # the table comes back on demand
    assert w.histogram.stats.isVisible()
    assert w.settings.value("histogram/stats", type=bool) is True


def test_histogram_axes_and_clipped_spike(qtbot, chelsea):
    view = HistogramView()
    qtbot.addWidget(view)
    view.resize(320, 140)
    view.show()
    img = chelsea.copy()
    img[: img.shape[0] // 3] = 255  # a third of the photo blown out: a spike in bin 255
    view.set_histogram(compute_histogram(img))
    assert [label for _f, label in view.x_ticks()] == ["0", "64", "128", "192", "255"]
    top, clipped = view.scale_top()
    assert clipped
    spikes = view.clipped()
    assert spikes and all(255 in bins for bins in spikes.values())
    # the rest of the histogram is not flattened by the spike
    curves = view.curves()
    assert all(v[:250].max() > 0.6 for v in curves.values())
    view.grab()  # paints the axes and the marker without error
    # a photo without a spike is drawn whole, its peak near the top
    view.set_histogram(compute_histogram(chelsea))
    top, clipped = view.scale_top()
    assert not clipped and view.clipped() == {}
    assert max(v.max() for v in view.curves().values()) == pytest.approx(1 / 1.05)


def test_sixteen_bit_ticks(qtbot, chelsea):
    view = HistogramView()
    qtbot.addWidget(view)
    view.set_histogram(compute_histogram(chelsea.astype(np.uint16) * 257))
    assert [label for _f, label in view.x_ticks()][::2] == ["0", "32896", "65535"]


def test_compact_counts():
    assert [compact_count(n) for n in (0, 999, 1500, 25_000, 2_500_000)] == \
        ["0", "999", "1.5k", "25k", "2.5M"]


def test_histogram_panel_remembers_the_table(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("histogram/stats", False)
    panel = HistogramPanel(settings=settings)
    qtbot.addWidget(panel)
    panel.show()
    assert not panel.stats.isVisible()
    panel.set_stats_visible(True)
    assert panel.stats.isVisible() and settings.value("histogram/stats", type=bool)


def test_classifier_window_fits_the_screen_and_remembers_its_geometry(qtbot, tmp_path):
    from PySide6.QtGui import QGuiApplication

    from editor.ui.teach.window import ClassifierWindow

    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    free = QGuiApplication.primaryScreen().availableGeometry()
    win = ClassifierWindow(project=tmp_path / "p", settings=settings)
    qtbot.addWidget(win)
    win.show()
    # (this test screen is 800 px wide, narrower than the three columns need)
    assert win.width() <= max(free.width(), win.minimumSizeHint().width()) < 1500
    assert win.height() <= free.height() < 900
    assert win.height() >= free.height() * 0.9  # uses the room there is
    win.resize(win.width(), 560)
    win.move(free.left() + 20, free.top() + 30)
    where = win.geometry()
    win.close()
    assert settings.value("classifier/geometry") is not None
    again = ClassifierWindow(project=tmp_path / "p", settings=settings)
    qtbot.addWidget(again)
    assert again.height() == 560 and again.geometry().y() == where.y()


def test_live_grad_cam_follows_the_current_frame(qtbot, tmp_path, monkeypatch, chelsea,
                                                 coffee):
    """The heat map of the latest prediction is laid over each new frame; before, the
    view showed the predicted frame's overlay, frozen until the next prediction."""
    from editor.teach import explain
    from editor.ui.teach.window import ClassifierWindow

    class Model:
        class_names, meta, backbone = ["A", "B"], {}, "test"

        def predict(self, rgb):
            return np.array([0.8, 0.2])

    def heat_map(model, rgb, class_index=None, max_side=None):
        h, w = rgb.shape[:2]
        return np.tile(np.linspace(0, 1, w, dtype=np.float32), (h, 1)), class_index, 0.8

    monkeypatch.setattr(explain, "gradcam", heat_map)
    win = ClassifierWindow(project=tmp_path / "p")
    qtbot.addWidget(win)
    shown = []
    monkeypatch.setattr(win.capture, "show_frame", shown.append)
    win.set_model(Model())
    win.use.cam_box.setChecked(True)
    first = np.ascontiguousarray(chelsea[:200, :300])
    second = np.ascontiguousarray(coffee[:200, :300])
    win._on_frame(first)
    qtbot.waitUntil(lambda: win.use.cam_heat is not None, timeout=10000)
    win._on_frame(second)
    heat = heat_map(None, second)[0]
    np.testing.assert_array_equal(shown[-1], explain.overlay(second, heat))
    assert np.abs(shown[-1].astype(int) - explain.overlay(first, heat)).mean() > 10
    win.use.cam_box.setChecked(False)
    win._on_frame(first)
    assert shown[-1] is first


def test_count_ticks_are_round(qtbot, chelsea):
    view = HistogramView()
    qtbot.addWidget(view)
    view.set_histogram(compute_histogram(chelsea))
    ticks = view.y_ticks()
    assert ticks[0] == (0, "0") and len(ticks) >= 2
    step = ticks[1][0]
    assert str(int(step)).rstrip("0") in ("1", "2", "5")
    view.log_scale = True
    assert [label for _v, label in view.y_ticks()][:2] == ["0", "10"]


@pytest.mark.parametrize("n", [3, 5, 7, 9])
def test_kernel_grid_is_never_cut_sideways(qtbot, laptop, n):
    form = laptop.tools.select_op("convolve")
    form.size_combo.setCurrentIndex(form.size_combo.findData(n))
    viewport = laptop.tools.scroll.viewport()

    def right_edge() -> int:
        return form.response_view.mapTo(viewport, form.response_view.rect().topRight()).x()

    # the dock lays out in later events (a scroll bar may come and go): give it time on a
    # loaded machine, but a grid wider than the dock never fits
    try:
        qtbot.waitUntil(lambda: form.minimumSizeHint().width() <= viewport.width()
                        and form.response_view.isVisible()
                        and right_edge() <= viewport.width(), timeout=2000)
    except Exception:  # noqa: BLE001  (the asserts below say what is wrong)
        pass
    assert form.minimumSizeHint().width() <= viewport.width(), n
    assert form.response_view.isVisible()
    right = right_edge()
    assert right <= viewport.width()


def qt_polygons(curves: dict, width: int, height: int) -> np.ndarray:
    """The R, G, B fills drawn the way the view drew them before: Qt's antialiased
    polygons through the bins' centres, added at alpha 120 (an independent rasterizer)."""
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QColor, QImage, QPainter, QPolygonF

    from editor.ui.histogram_panel import COLORS

    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor(28, 28, 30))
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Plus)
    p.setPen(QColor(0, 0, 0, 0))
    for c, v in curves.items():
        color = QColor(COLORS[c])
        color.setAlpha(120)
        p.setBrush(color)
        xs = (np.arange(len(v)) + 0.5) * (width / len(v))
        ys = height - v * (height - 2)
        p.drawPolygon(QPolygonF([QPointF(0, height), *map(QPointF, xs, ys),
                                 QPointF(width, height)]))
    p.end()
    return np.frombuffer(image.constBits(), np.uint8).reshape(height, width, 4)[..., :3].copy()


def test_histogram_curves_are_drawn_as_qt_draws_the_polygons(qtbot, chelsea):
    from editor.ui.histogram_panel import render_curves

    view = HistogramView()
    qtbot.addWidget(view)
    view.set_histogram(compute_histogram(chelsea))
    curves = {c: v for c, v in view.curves().items() if c != "l"}
    width, height = 290, 110
    ours = render_curves(curves, width, height, grid=[])[..., :3].astype(int)
    ref = qt_polygons(curves, width, height).astype(int)
    # the same areas: antialiased edges may differ by part of a pixel, nothing more
    assert np.abs(ours - ref).mean() < 1.5
    assert np.percentile(np.abs(ours - ref).max(axis=2), 99) < 60
    assert np.abs(ours.mean(axis=(0, 1)) - ref.mean(axis=(0, 1))).max() < 1.0


def test_histogram_heights_and_the_luminance_outline(qtbot):
    from editor.ui.histogram_panel import render_curves

    width, height = 256, 100
    v = np.zeros(256)
    v[64], v[192] = 0.5, 1.0  # two spikes over an empty histogram
    plot = render_curves({"l": v}, width, height, grid=[128])[..., :3]
    lit = (np.abs(plot.astype(int) - [30, 28, 28]).max(axis=2) > 40)
    column = lit[:, 64]
    assert column.any() and abs(int(np.argmax(column)) - (height - 1 - 0.5 * (height - 2))) <= 1.5
    assert abs(int(np.argmax(lit[:, 192])) - 1) <= 1  # the full-height bin reaches the top
    assert not lit[: height - 3, 100].any()  # an empty stretch: only the outline on the floor
    assert (plot[: height - 3, 128] == [64, 60, 60]).all()  # a grid column, nothing over it
