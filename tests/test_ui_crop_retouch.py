"""Crop, Straighten, Clone Stamp and Heal Brush on the canvas, with real mouse events.

Each edit is checked pixel for pixel against the op run directly with the
parameters the tool recorded, and each is exactly one undo step.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import open_image, settle
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from editor.ops import get_op, run_op
from editor.ops.brush import brush_mask
from editor.ops.geometry import straighten_crop
from editor.ui.canvas_tools.crop_tool import ASPECTS, fit_corner, fit_edge, level_angle

pytestmark = pytest.mark.gui
LEFT = Qt.MouseButton.LeftButton
NO_MOD = Qt.KeyboardModifier.NoModifier
ALT = Qt.KeyboardModifier.AltModifier


def at(canvas, x: float, y: float) -> QPoint:
    """The widget pixel over image point (x, y)."""
    p = canvas.to_widget(QPointF(x, y))
    return QPoint(round(p.x()), round(p.y()))


def drag(canvas, points, modifiers=NO_MOD) -> None:
    """Press at the first image point, move through the others, release at the last."""
    QTest.mousePress(canvas, LEFT, modifiers, at(canvas, *points[0]))
    for p in points[1:]:
        QTest.mouseMove(canvas, at(canvas, *p))
    QTest.mouseRelease(canvas, LEFT, modifiers, at(canvas, *points[-1]))


@pytest.fixture
def photo(coffee):
    return np.ascontiguousarray(coffee[60:300, 100:420])  # 320 x 240


@pytest.fixture
def win(window, qtbot, tmp_path, photo):
    open_image(qtbot, window, photo, tmp_path / "coffee-part.png")
    qtbot.waitUntil(lambda: window.canvas.image_size() is not None, timeout=10000)
    window.activateWindow()
    window.canvas.setFocus()
    window.canvas.set_zoom(2.0)  # one widget pixel is half an image pixel
    return window


def last_state(w):
    doc = w.controller.document
    return doc.states[doc.current_id]


# -- crop ------------------------------------------------------------------------------

def test_crop_frame_by_drag_then_enter_crops_in_one_step(win, qtbot, photo):
    c = win.canvas
    tool = win.canvas_tools.activate("crop")
    c.set_zoom(2.0)
    drag(c, [(30, 20), (80, 60), (130, 90)])
    assert tool.rect == (30, 20, 130, 90)
    assert tool.size_text() == "100 × 70 px"
    assert tool.readout.text() == "100 × 70 px"
    # move it by dragging inside
    drag(c, [(60, 50), (70, 55), (75, 60)])
    assert tool.rect == (45, 30, 145, 100)
    # the right handle widens it
    drag(c, [(145, 65), (160, 65)])
    assert tool.rect == (45, 30, 160, 100)
    QTest.keyClick(c, Qt.Key.Key_Return)
    settle(qtbot, win)
    doc = win.controller.document
    np.testing.assert_array_equal(doc.image, photo[30:100, 45:160])
    assert win.controller.undo_stack.count() == 1
    assert win.controller.undo_stack.text(0) == "Crop"
    assert last_state(win).params == {"x": 45, "y": 30, "width": 115, "height": 70}
    assert tool.rect is None


def test_crop_aspect_preset_holds_while_dragging_and_esc_cancels(win, qtbot, photo):
    c = win.canvas
    tool = win.canvas_tools.activate("crop")
    win.canvas_tools.options_bar.show()
    tool.aspect_box.setCurrentIndex([a for a, _ in ASPECTS].index("16:9"))
    drag(c, [(20, 20), (150, 60), (180, 200)])
    x0, y0, x1, y1 = tool.rect
    assert abs((x1 - x0) / (y1 - y0) - 16 / 9) < 0.02
    assert (x0, y0) == (20, 20) and x1 <= 320 and y1 <= 240
    # an edge handle keeps the ratio too
    drag(c, [((x0 + x1) / 2, y1), ((x0 + x1) / 2, y1 - 30)])
    x0, y0, x1, y1 = tool.rect
    assert abs((x1 - x0) / (y1 - y0) - 16 / 9) < 0.03
    # swap: portrait 9:16 about the same centre
    tool.swap_button.click()
    x0, y0, x1, y1 = tool.rect
    assert abs((x1 - x0) / (y1 - y0) - 9 / 16) < 0.03
    QTest.keyClick(c, Qt.Key.Key_Escape)
    settle(qtbot, win)
    assert tool.rect is None
    assert win.controller.undo_stack.count() == 0
    np.testing.assert_array_equal(win.controller.document.image, photo)


def test_double_click_inside_the_frame_crops(win, qtbot, photo):
    c = win.canvas
    tool = win.canvas_tools.activate("crop")
    drag(c, [(100, 50), (200, 150)])
    QTest.mouseDClick(c, LEFT, NO_MOD, at(c, 150, 100))
    settle(qtbot, win)
    np.testing.assert_array_equal(win.controller.document.image, photo[50:150, 100:200])
    assert win.controller.undo_stack.count() == 1 and tool.rect is None


def test_frame_arithmetic_keeps_the_ratio_inside_the_image():
    x0, y0, x1, y1 = fit_corner(300, 200, 10, 0, 1.0, 320, 240)  # up-left, square
    assert (x1 - x0) == pytest.approx(y1 - y0) and x0 >= 0 and y0 >= 0
    assert (x1, y1) == (300, 200) and (y1 - y0) == pytest.approx(200)
    x0, y0, x1, y1 = fit_edge((100, 100, 200, 150), "r", 400, 2.0, 320, 240)
    assert x1 <= 320 and (x1 - x0) / (y1 - y0) == pytest.approx(2.0)
    assert (y0 + y1) / 2 == pytest.approx(125)


def test_crop_to_selection_is_one_step(win, qtbot, photo):
    c = win.controller
    mask = np.zeros(photo.shape[:2], np.float32)
    mask[40:120, 50:200] = 1.0
    mask[39, 60] = 0.3  # a soft edge pixel counts
    c.set_selection(mask, "Rectangle Select")
    settle(qtbot, win)
    action = win.op_menus.crop_selection_action
    assert action.isEnabled()
    action.trigger()
    settle(qtbot, win)
    np.testing.assert_array_equal(c.document.image, photo[39:120, 50:200])
    assert c.undo_stack.count() == 2 and c.undo_stack.text(1) == "Crop to Selection"
    c.set_selection(None, "Select None")
    settle(qtbot, win)
    assert not action.isEnabled()


# -- straighten --------------------------------------------------------------------------

def test_level_angle_levels_horizons_and_walls():
    t = math.tan(math.radians(5))
    assert level_angle(0, 0, 100, -100 * t) == pytest.approx(-5.0)  # rising right
    assert level_angle(100, -100 * t, 0, 0) == pytest.approx(-5.0)  # drawn leftwards
    assert level_angle(0, 0, 100, 100 * t) == pytest.approx(5.0)
    assert level_angle(0, 0, 100 * t, 100) == pytest.approx(-5.0)  # a wall, top leaning left


def test_straighten_line_at_5_degrees_rotates_by_minus_5_without_empty_corners(
        window, qtbot, tmp_path, photo):
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])  # opaque
    open_image(qtbot, window, rgba, tmp_path / "opaque.png")
    c = window.canvas
    window.canvas_tools.activate("straighten")
    c.set_zoom(1.0)
    t = math.radians(5)
    a = (40.0, 160.0)
    b = (40.0 + 240 * math.cos(t), 160.0 - 240 * math.sin(t))  # rises to the right
    drag(c, [a, ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2), b])
    settle(qtbot, window)
    ctl = window.controller
    assert ctl.undo_stack.count() == 1 and ctl.undo_stack.text(0) == "Straighten"
    angle = last_state(window).params["angle"]
    assert angle == pytest.approx(-5.0, abs=0.3)
    out = ctl.document.image
    assert out.shape[:2] == straighten_crop(320, 240, angle)[3:1:-1]
    assert out[..., 3].min() == 255  # no empty (transparent) corner
    np.testing.assert_array_equal(out, run_op(get_op("straighten"), rgba,
                                              last_state(window).params))
    ctl.undo()
    settle(qtbot, window)
    np.testing.assert_array_equal(ctl.document.image, rgba)


def test_the_c_key_cycles_crop_and_straighten(win, qtbot):
    QTest.keyClick(win.canvas, Qt.Key.Key_C)
    assert win.canvas_tools.current.name == "crop"
    QTest.keyClick(win.canvas, Qt.Key.Key_C)
    assert win.canvas_tools.current.name == "straighten"


# -- clone -------------------------------------------------------------------------------

def test_clone_alt_click_then_drag_copies_pixels_in_one_step(win, qtbot, photo):
    c = win.canvas
    tool = win.canvas_tools.activate("clone")
    tool.set_size(16)
    tool.hardness = 1.0
    QTest.mouseClick(c, LEFT, ALT, at(c, 250.5, 60.5))  # the source
    assert tool.source is not None
    assert win.controller.undo_stack.count() == 0  # setting the source is no edit
    stroke = [(60.5, 60.5), (80.5, 70.5), (100.5, 80.5), (120.5, 80.5)]
    drag(c, stroke)
    settle(qtbot, win)
    ctl = win.controller
    assert ctl.undo_stack.count() == 1 and ctl.undo_stack.text(0) == "Clone Stamp"
    params = last_state(win).params
    assert (params["dx"], params["dy"]) == (190, 0)
    out = ctl.document.image
    np.testing.assert_array_equal(out, run_op(get_op("clone"), photo, params))
    # the stroke's core holds the source's pixels
    core = brush_mask(photo.shape, params["points"], 16, 1.0) == 1.0
    ys, xs = np.nonzero(core)
    assert len(ys) > 500
    np.testing.assert_array_equal(out[ys, xs], photo[ys, xs + 190])
    # the offset stays for the next stroke (aligned), from wherever it starts
    drag(c, [(60.5, 150.5), (90.5, 150.5)])
    settle(qtbot, win)
    assert ctl.undo_stack.count() == 2
    assert (last_state(win).params["dx"], last_state(win).params["dy"]) == (190, 0)
    ctl.undo()
    ctl.undo()
    settle(qtbot, win)
    np.testing.assert_array_equal(ctl.document.image, photo)
    # Ctrl-click (GIMP's key) sets a new source too; the offset is taken afresh
    QTest.mouseClick(c, LEFT, Qt.KeyboardModifier.ControlModifier, at(c, 100.5, 200.5))
    drag(c, [(60.5, 150.5), (90.5, 150.5)])
    settle(qtbot, win)
    assert (last_state(win).params["dx"], last_state(win).params["dy"]) == (40, 50)


def test_clone_without_a_source_says_so(win, qtbot):
    c = win.canvas
    win.canvas_tools.activate("clone")
    messages = []
    win.controller.message.connect(messages.append)
    drag(c, [(60, 60), (90, 70)])
    settle(qtbot, win)
    assert win.controller.undo_stack.count() == 0
    assert any("Alt-click" in m for m in messages)


def test_bracket_keys_change_the_brush_size(win, qtbot):
    tool = win.canvas_tools.activate("heal")
    tool.set_size(20)
    QTest.keyClick(win.canvas, Qt.Key.Key_BracketRight)
    assert tool.size == 24 and tool.size_spin.value() == 24
    QTest.keyClick(win.canvas, Qt.Key.Key_BracketLeft)
    QTest.keyClick(win.canvas, Qt.Key.Key_BracketLeft)
    assert tool.size == 17


# -- heal --------------------------------------------------------------------------------

def test_heal_brush_removes_a_wire_in_one_step(window, qtbot, tmp_path, photo):
    wire = [(20.0, 150.0), (300.0, 120.0)]
    damaged = photo.copy()
    line = brush_mask(photo.shape, wire, 3, 1.0) > 0
    damaged[line] = (15, 15, 15)
    open_image(qtbot, window, damaged, tmp_path / "wire.png")
    c = window.canvas
    c.set_zoom(2.0)
    tool = window.canvas_tools.activate("heal")
    tool.set_size(9)
    tool.hardness = 1.0
    tool.set_method("telea")
    # along the wire (canvas points are op points + 0.5)
    pts = [(20.5 + 280 * k / 8, 150.5 - 30 * k / 8) for k in range(9)]
    drag(c, pts)
    settle(qtbot, window)
    ctl = window.controller
    assert ctl.undo_stack.count() == 1 and ctl.undo_stack.text(0) == "Heal"
    params = last_state(window).params
    assert params["method"] == "telea"
    out = ctl.document.image
    np.testing.assert_array_equal(out, run_op(get_op("heal"), damaged, params))
    before = np.abs(damaged[line].astype(int) - photo[line]).mean()
    after = np.abs(out[line].astype(int) - photo[line]).mean()
    assert after < before / 4, (before, after)


def test_a_retouch_session_replays_bit_exactly_from_its_recipe(win, qtbot, photo):
    """Straighten, crop, clone and heal on the canvas; the recipe (what `convolve apply
    --recipe` reads) gives the same pixels from the original photo."""
    from editor.core.recipe import Recipe

    c = win.canvas
    ctl = win.controller
    win.canvas_tools.activate("straighten")
    drag(c, [(20, 200), (300, 185)])
    settle(qtbot, win)
    win.canvas_tools.activate("crop")
    drag(c, [(10, 10), (200, 150)])
    QTest.keyClick(c, Qt.Key.Key_Enter)
    settle(qtbot, win)
    clone = win.canvas_tools.activate("clone")
    QTest.mouseClick(c, LEFT, ALT, at(c, 150.5, 100.5))
    drag(c, [(40.5, 40.5), (70.5, 50.5), (90.5, 45.5)])
    settle(qtbot, win)
    win.canvas_tools.activate("heal")
    drag(c, [(100.5, 20.5), (120.5, 60.5)])
    settle(qtbot, win)
    assert [ctl.undo_stack.text(i) for i in range(ctl.undo_stack.count())] == \
        ["Straighten", "Crop", "Clone Stamp", "Heal"]
    assert clone.offset == (110, 60)
    recipe = Recipe.from_json(ctl.recipe_json())
    np.testing.assert_array_equal(recipe.apply(photo), ctl.document.image)
