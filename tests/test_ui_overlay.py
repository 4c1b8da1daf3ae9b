"""Feature detectors as overlays on the canvas, not pixels (issue 13), end to end offscreen.

Each detector runs from the Tools dock on a real photo: the image and its histogram
stay exactly as they were, the canvas shows the detector's geometry with its count,
toggling it only repaints, the export holds the detector's own rows, undo takes the
overlay away, and Burn into Image is one explicit undo step with the old burnt pixels.
"""

from __future__ import annotations

import csv
import json
from functools import partial

import numpy as np
import pytest
from conftest import make_main_window
from conftest import settle as settle_within
from PIL import Image

from editor.core.context import OpContext
from editor.core.histogram import compute_histogram
from editor.ops import get_op
from editor.ops.overlays import PointsOverlay, find_overlay

pytestmark = pytest.mark.gui

#: Each detector with parameters that find a fair number of items on the photo.
DETECTORS = {
    "harris": {"sigma": 1.5, "threshold": 0.01},
    "shi_tomasi": {"max_corners": 400, "quality": 0.01},
    "moravec": {"window": 5, "threshold": 0.05},
    "hog": {"cell": 8, "block": 2, "bins": 9},
    "canny": {"sigma": 1.5, "low": 8.0, "high": 20.0},
}


# this module has always given its edits 20 s to settle (the default is 10 s)
settle = partial(settle_within, timeout=20000)


@pytest.fixture
def photo_file(tmp_path, astronaut):
    path = tmp_path / "astronaut.png"
    Image.fromarray(np.ascontiguousarray(astronaut[40:360, 60:460])).save(path)  # 400 x 320
    return path




def open_photo(qtbot, w, path):
    w.open_path(str(path))
    qtbot.waitUntil(lambda: w.controller.document is not None, timeout=10000)
    settle(qtbot, w)
    return w.controller.document


def run_from_tools_dock(qtbot, w, name, params):
    """Pick the detector in the Tools dock, set its parameters and press Apply."""
    form = w.tools.select_op(name)
    assert form is not None
    form.set_params({**form.params(), **params})
    steps = w.controller.undo_stack.count()
    w.tools.apply_button.click()
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == steps + 1, timeout=20000)
    settle(qtbot, w)
    return form


def expected(name, image, params):
    ctx = OpContext()
    get_op(name)(image, ctx, **params)
    return find_overlay(ctx.extras), ctx


def canvas_rgb(w) -> np.ndarray:
    """The canvas as painted, above the overlay bar (the bar is the canvas's child)."""
    img = w.canvas.grab().toImage().convertToFormat(w.canvas.grab().toImage().Format.Format_RGB32)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(
        img.height(), img.bytesPerLine())[:, : img.width() * 4].reshape(img.height(), -1, 4)
    bar = w.overlay.bar
    top = bar.y() if bar.isVisible() else img.height()
    return arr[:top, :, 2::-1].copy()  # B, G, R, A in memory


def same_histogram(a, b) -> bool:
    return a.counts.keys() == b.counts.keys() and all(
        np.array_equal(a.counts[k], b.counts[k]) for k in a.counts)


@pytest.mark.parametrize("name", list(DETECTORS))
def test_detector_from_tools_dock_shows_an_overlay_and_keeps_the_pixels(
        qtbot, window, photo_file, tmp_path, name):
    w = window
    doc = open_photo(qtbot, w, photo_file)
    original = doc.image.copy()
    hist_before = w.histogram.view.histogram
    plain = canvas_rgb(w)
    params = DETECTORS[name]
    ref, _ = expected(name, original, params)
    assert ref.count() > 10

    run_from_tools_dock(qtbot, w, name, params)
    # one history step whose pixels and histogram are the photo's own
    assert w.controller.undo_stack.count() == 1
    np.testing.assert_array_equal(doc.image, original)
    assert same_histogram(w.histogram.view.histogram, hist_before)
    assert same_histogram(w.histogram.view.histogram, compute_histogram(original))
    # the overlay shows the detector's items and says how many
    ov = w.overlay.current()
    assert ov is not None and not ov.preview and ov.op == name
    assert ov.count() == ref.count()
    assert w.canvas.overlay_layer.overlay is ov and w.canvas.overlay_layer.showing()
    assert w.overlay.bar.isVisible()
    assert w.overlay.bar.count_label.text() == ref.summary()
    assert f"{ref.count():,} {ov.noun[1]}" in w.overlay.bar.count_label.text()
    assert f"{ref.summary()} shown over the image" in w.statusBar().currentMessage()
    columns, rows = ov.table()
    ref_columns, ref_rows = ref.table()
    assert columns == ref_columns
    np.testing.assert_array_equal(rows, ref_rows)

    # toggling repaints only: with it off the canvas is the photo's, with it on it is not
    shown = canvas_rgb(w)
    plain = plain[:len(shown)]  # the part of the canvas above the bar
    assert not np.array_equal(shown, plain)
    w.overlay.show_action.trigger()  # View > Show Overlay
    assert not w.overlay.bar.show_box.isChecked() and not w.canvas.overlay_layer.showing()
    np.testing.assert_array_equal(canvas_rgb(w), plain)
    np.testing.assert_array_equal(doc.image, original)
    assert same_histogram(w.histogram.view.histogram, hist_before)
    assert w.controller.undo_stack.count() == 1
    w.overlay.bar.show_box.click()  # the bar's checkbox
    assert w.overlay.show_action.isChecked()
    np.testing.assert_array_equal(canvas_rgb(w), shown)

    # export: one row per item (per edge pixel for Canny), the detector's own values
    n_rows = len(ref_rows)
    assert w.overlay.export(tmp_path / "items.csv") == n_rows
    with open(tmp_path / "items.csv", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ref_columns and len(table) == n_rows + 1
    np.testing.assert_allclose(np.array(table[1:], float), ref_rows, rtol=1e-12)
    assert w.overlay.export(tmp_path / "items.json") == n_rows
    doc_json = json.loads((tmp_path / "items.json").read_text())
    assert doc_json["op"] == name and doc_json["count"] == ref.count()
    np.testing.assert_allclose(np.array(doc_json["rows"], float), ref_rows, rtol=1e-12)

    # undo takes the overlay away with its step; redo brings it back
    w.controller.undo()
    settle(qtbot, w)
    assert w.overlay.current() is None and not w.overlay.bar.isVisible()
    assert not w.canvas.overlay_layer.showing()
    w.controller.redo()
    settle(qtbot, w)
    assert w.overlay.current() is ov


@pytest.mark.parametrize("name", ["harris", "hog", "canny"])
def test_burn_into_image_is_one_undo_step_with_the_old_burnt_pixels(
        qtbot, window, photo_file, name):
    w = window
    doc = open_photo(qtbot, w, photo_file)
    original = doc.image.copy()
    params = DETECTORS[name]
    run_from_tools_dock(qtbot, w, name, params)
    assert w.overlay.bar.burn_button.isEnabled()
    w.overlay.bar.burn_button.click()
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == 2, timeout=20000)
    settle(qtbot, w)
    burnt = get_op(name)(original, output="burn", **params)
    np.testing.assert_array_equal(doc.image, burnt)
    assert not np.array_equal(burnt, original)
    assert w.controller.undo_stack.text(1) == f"Burn {get_op(name).title}"
    # the step is replayable: the recipe holds the same detector with output=burn
    op, recorded = doc.recipe_steps()[-1]
    assert op == name and recorded["output"] == "burn"
    assert {k: recorded[k] for k in params} == params
    # burnt pixels carry no overlay of their own (no markers twice)
    assert w.overlay.current() is None
    w.controller.undo()
    settle(qtbot, w)
    np.testing.assert_array_equal(doc.image, original)
    assert w.overlay.current() is not None  # the detect step's overlay again


def test_live_preview_shows_the_overlay_in_image_coordinates(qtbot, window, photo_file):
    """While the form is open a slider move previews the overlay on a proxy: at half zoom
    the proxy's corners, placed back, land on the full-resolution corners."""
    w = window
    doc = open_photo(qtbot, w, photo_file)
    original = doc.image.copy()
    w.canvas.set_zoom(0.5)
    settle(qtbot, w)
    form = w.tools.select_op("harris")
    params = {**form.params(), "sigma": 3.0, "threshold": 0.02}
    form.set_params(params)
    w.controller.session_changed(form.params())  # what a slider move sends
    qtbot.waitUntil(lambda: w.overlay.current() is not None, timeout=10000)
    ov = w.overlay.current()
    assert ov.preview and ov.scale == pytest.approx(2.0, rel=0.02)
    assert "preview" in w.overlay.bar.count_label.text()
    assert not w.overlay.bar.export_button.isEnabled()  # proxy positions: apply first
    assert w.controller.undo_stack.count() == 0
    np.testing.assert_array_equal(doc.image, original)
    full, _ = expected("harris", original, {"sigma": 3.0, "threshold": 0.02})
    a, b = ov.image_points()[:, :2], full.image_points()[:, :2]
    d = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1]).min(axis=1)
    # the strongest corners survive halving: measured 17 of 20 within 3 px, median 1.6 px
    assert np.median(d[:20]) <= 2.0 and np.mean(d[:20] <= 3.0) >= 0.75
    # Burn from the preview uses the form's full-resolution parameters
    assert w.overlay.burn_target() == ("harris", {k: v for k, v in form.params().items()
                                                  if k != "output"})
    # closing the preview brings back the state's overlay (none yet)
    w.controller.clear_preview()
    assert w.overlay.current() is None


def test_overlay_style_is_kept_and_drawn(qtbot, window, photo_file, tmp_path):
    w = window
    open_photo(qtbot, w, photo_file)
    run_from_tools_dock(qtbot, w, "harris", DETECTORS["harris"])
    before = canvas_rgb(w)
    w.overlay.set_style(color=(0, 255, 0), size=15.0, shape="circle")
    after = canvas_rgb(w)
    green = (after[..., 1] > 200) & (after[..., 0] < 60) & (after[..., 2] < 60)
    assert green.sum() > 200 and not np.array_equal(before, after)
    assert w.overlay.bar.size_spin.value() == 15.0
    assert w.overlay.bar.shape_combo.currentData() == "circle"
    # a new window with the same settings draws corners the same way
    w2 = make_main_window(qtbot, tmp_path)
    assert w2.overlay.style("points").color == (0, 255, 0)
    assert w2.overlay.style("points").shape == "circle"


def test_overlay_draws_at_any_zoom_and_pan(qtbot, window, photo_file):
    """The corner under a marker stays under it when zooming and panning."""
    w = window
    doc = open_photo(qtbot, w, photo_file)
    run_from_tools_dock(qtbot, w, "harris", DETECTORS["harris"])
    w.overlay.set_style(color=(0, 255, 255), size=9.0, shape="cross")
    x, y = w.overlay.current().image_points()[0, :2]
    for zoom in (0.6, 1.0, 3.0):
        w.canvas.set_zoom(zoom)
        w.canvas.center = w.canvas.center.__class__(x + 7.0, y - 5.0)  # pan near the corner
        w.canvas.update()
        settle(qtbot, w)
        img = canvas_rgb(w)
        pt = w.canvas.to_widget(w.canvas.center.__class__(x + 0.5, y + 0.5))
        cx, cy = round(pt.x()), round(pt.y())
        patch = img[cy - 2:cy + 3, cx - 2:cx + 3]
        cyan = (patch[..., 1] > 200) & (patch[..., 2] > 200) & (patch[..., 0] < 80)
        assert cyan.any(), zoom
    assert doc.image is not None


def test_points_overlay_from_any_op_reaches_canvas(qtbot, window, photo_file, temp_overlay_op):
    """An op of one's own that publishes a PointsOverlay gets the same display."""
    w = window
    open_photo(qtbot, w, photo_file)
    w.controller.apply_op(temp_overlay_op, {})
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == 1, timeout=5000)
    settle(qtbot, w)
    assert w.overlay.bar.count_label.text() == "7 corners"
    assert w.canvas.overlay_layer.overlay.count() == 7
    assert w.overlay.burn_target() is None  # not a registered detector with a burn output


@pytest.fixture
def temp_overlay_op():
    from editor.ops.overlays import publish
    from editor.ops.registry import register_op, unregister_op

    def overlay_test_op(image, *, ctx=None):
        """Publish seven fake corners."""
        pts = np.array([[10 + 5 * i, 20, 1.0] for i in range(7)], float)
        publish(ctx, PointsOverlay("", {}, pts))
        return image.copy()

    register_op("overlay_test_op", title="Overlay test", category="Test")(overlay_test_op)
    yield "overlay_test_op"
    unregister_op("overlay_test_op")
