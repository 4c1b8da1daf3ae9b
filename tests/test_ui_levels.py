"""The Levels form (editor/ui/forms/levels_form.py) driven by the mouse, on real photos:
triangles, numbers, Auto and the black/grey/white eyedroppers in the real window."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import make_form
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from test_ui_curves import canvas_point, one_step_settled, open_with_tool

from editor.ops import get_op
from editor.ui.forms.levels_form import LevelsForm, grey_position

pytestmark = pytest.mark.gui

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def form(qtbot, chelsea):
    return make_form(qtbot, "levels", (340, 380), chelsea)


def tip(view, value: float) -> QPoint:
    """Where a triangle at ``value`` sits (just below its tip)."""
    y = view.plot_rect().bottom() + 8 if hasattr(view, "plot_rect") else view.height() - 6
    return QPoint(round(view.to_px(value)), round(y))


def drag(qtbot, view, start: QPoint, xs: list[float]) -> None:
    qtbot.mousePress(view, LEFT, pos=start)
    for x in xs:
        qtbot.mouseMove(view, QPoint(round(x), start.y()))
    qtbot.mouseRelease(view, LEFT, pos=QPoint(round(xs[-1]), start.y()))


def test_registered_with_the_ops_ranges(form):
    assert isinstance(form, LevelsForm)
    spec = get_op("levels")
    assert form.params() == spec.defaults()
    for name in ("in_low", "gamma", "in_high", "out_low", "out_high"):
        p = spec.param(name)
        assert (form.spins[name].minimum(), form.spins[name].maximum()) == (p.lo, p.hi)
    assert form.input_view.gamma_range == (spec.param("gamma").lo, spec.param("gamma").hi)
    assert (form.input_view.lo, form.input_view.hi) == (spec.param("in_low").lo,
                                                        spec.param("in_high").hi)
    assert (form.output_view.lo, form.output_view.hi) == (spec.param("out_low").lo,
                                                          spec.param("out_high").hi)


def test_input_triangles_by_mouse(qtbot, form):
    iv = form.input_view
    changed, committed = [], []
    form.paramsChanged.connect(changed.append)
    form.paramsCommitted.connect(committed.append)
    drag(qtbot, iv, tip(iv, 0), [iv.to_px(20), iv.to_px(40)])
    assert abs(form.params()["in_low"] - 40) <= 1
    assert form.spins["in_low"].value() == form.params()["in_low"]
    assert changed and len(committed) == 1 and committed[-1] == form.params()
    drag(qtbot, iv, tip(iv, 255), [iv.to_px(230), iv.to_px(200)])
    assert abs(form.params()["in_high"] - 200) <= 1
    # the grey triangle kept its place between them: gamma is still 1
    assert form.params()["gamma"] == 1.0
    # grey to a quarter of the way: gamma = log(0.25) / log(0.5) = 2 (brightens)
    lo, hi = form.params()["in_low"], form.params()["in_high"]
    drag(qtbot, iv, tip(iv, grey_position(lo, hi, 1.0)), [iv.to_px(lo + 0.25 * (hi - lo))])
    g = form.params()["gamma"]
    placed = iv.to_value(round(iv.to_px(lo + 0.25 * (hi - lo))))
    assert g == pytest.approx(math.log((placed - lo) / (hi - lo)) / math.log(0.5), abs=0.011)
    assert 1.8 < g < 2.2
    assert len(committed) == 3
    # black cannot pass white
    drag(qtbot, iv, tip(iv, lo), [iv.to_px(250)])
    assert form.params()["in_low"] == form.params()["in_high"] - 1


def test_output_triangles_by_mouse_and_crossing_inverts(qtbot, form, chelsea):
    ov = form.output_view
    y = ov.height() - 5
    drag(qtbot, ov, QPoint(round(ov.to_px(0)), y), [ov.to_px(255)])
    drag(qtbot, ov, QPoint(round(ov.to_px(255)) - 1, y), [ov.to_px(0)])
    p = form.params()
    # stacked at 255, the grab takes the white one (drawn on top): they crossed
    assert (p["out_low"], p["out_high"]) == (255.0, 0.0)
    assert (form.spins["out_low"].value(), form.spins["out_high"].value()) == (255.0, 0.0)
    np.testing.assert_array_equal(get_op("levels")(chelsea, **p), 255 - chelsea)


def test_numbers_move_the_triangles_and_are_kept_consistent(qtbot, form):
    sb = form.spins["in_high"]
    sb.setValue(180)
    assert form.input_view.high == 180
    form.spins["in_low"].setValue(200)  # above the white point: held just below it
    assert form.params()["in_low"] == 179 and form.spins["in_low"].value() == 179
    form.spins["gamma"].setValue(0.5)
    assert form.params()["gamma"] == 0.5
    get_op("levels")(np.zeros((2, 2, 3), np.uint8), **form.params())  # valid for the op


def test_auto_uses_the_histograms_0_1_and_99_9_percent_points(qtbot, form, coffee):
    dull = (coffee * 0.5 + 60).astype(np.uint8)
    form.set_image(dull)
    with qtbot.waitSignal(form.paramsCommitted, timeout=1000):
        form.auto_button.click()
    p = form.params()
    values = dull.ravel()  # RGB pooled: one map for all three channels
    assert abs(p["in_low"] - np.percentile(values, 0.1, method="inverted_cdf")) <= 1
    assert abs(p["in_high"] - np.percentile(values, 99.9, method="inverted_cdf")) <= 1
    out = get_op("levels")(dull, **p)
    assert np.percentile(out, 0.1) <= 3 and np.percentile(out, 99.9) >= 252
    # per channel: the red channel's own points
    form.channel_combo.setCurrentIndex(form.channel_combo.findData("r"))
    form.auto_button.click()
    red = dull[..., 0].ravel()
    assert abs(form.params()["in_low"] - np.percentile(red, 0.1, method="inverted_cdf")) <= 1
    np.testing.assert_array_equal(form.input_view.counts, np.bincount(red, minlength=256))


# -- in the real window ------------------------------------------------------------------

@pytest.fixture
def photo_file(tmp_path, coffee):
    path = tmp_path / "coffee-crop.png"
    Image.fromarray(np.ascontiguousarray(coffee[60:300, 100:460])).save(path)
    return path


def test_triangles_commit_what_the_levels_op_makes(qtbot, window, photo_file):
    w = window
    doc, original, form = open_with_tool(qtbot, w, photo_file, "levels")
    assert isinstance(form, LevelsForm)
    iv = form.input_view
    qtbot.waitUntil(lambda: iv.width() > 100, timeout=2000)
    drag(qtbot, iv, tip(iv, 0), [iv.to_px(15), iv.to_px(30)])
    drag(qtbot, iv, tip(iv, 255), [iv.to_px(220)])
    one_step_settled(qtbot, w)
    p = form.params()
    assert 28 <= p["in_low"] <= 32 and 218 <= p["in_high"] <= 222
    np.testing.assert_array_equal(doc.image, get_op("levels")(original, **p))
    assert w.controller.undo_stack.count() == 1  # both drags: one step


@pytest.mark.parametrize("which", ["black", "white", "grey"])
def test_eyedroppers_take_the_clicked_pixel(qtbot, window, photo_file, which):
    w = window
    doc, original, form = open_with_tool(qtbot, w, photo_file, "levels")
    form.droppers[which].click()
    assert [n for n, b in form.droppers.items() if b.isChecked()] == [which]
    x, y = {"black": (40, 200), "white": (175, 60), "grey": (175, 60)}[which]
    px = original[y, x].astype(float)
    qtbot.mouseClick(w.canvas, LEFT, pos=canvas_point(w.canvas, x, y))
    one_step_settled(qtbot, w)
    p = form.params()
    np.testing.assert_array_equal(doc.image, get_op("levels")(original, **p))
    out = doc.image[y, x]
    if which == "black":
        assert p["in_low"] == px.max() and (out == 0).all()  # that pixel is black now
    elif which == "white":
        assert p["in_high"] == px.min() and (out == 255).all()  # and this one white
    else:
        luma = float(px @ [0.299, 0.587, 0.114])
        mapped = get_op("levels")(np.array([[round(luma)]], np.uint8), **p)
        assert abs(int(mapped[0, 0]) - 128) <= 2  # its luma lands on mid-grey
        assert p["gamma"] != 1.0
    # another eyedropper replaces this one; a click with none on changes nothing
    other = "white" if which != "white" else "black"
    form.droppers[other].click()
    assert not form.droppers[which].isChecked()
    form.droppers[other].click()
    before = form.params()
    qtbot.mouseClick(w.canvas, LEFT, pos=canvas_point(w.canvas, 10, 10))
    assert form.params() == before
