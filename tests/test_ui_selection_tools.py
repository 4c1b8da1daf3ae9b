"""Selection tools on the canvas with real mouse events (issue 10).

Each tool is driven with QTest presses, moves and releases at the widget
positions of image points, and the committed selection mask is checked: its
area and place, the modifiers' modes, the lassos, the wand, the quick-mask
brush, the Select menu, undo and redo with Ctrl+Z, and the marching ants
following the zoom.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import open_image, settle
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest

from editor.core.selection import bbox

pytestmark = pytest.mark.gui
LEFT, RIGHT = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton
NO_MOD = Qt.KeyboardModifier.NoModifier
SHIFT, ALT = Qt.KeyboardModifier.ShiftModifier, Qt.KeyboardModifier.AltModifier
ZOOM = 2.0  # one widget pixel is half an image pixel: image points land exactly


def at(canvas, x: float, y: float) -> QPoint:
    p = canvas.to_widget(QPointF(x, y))
    return QPoint(round(p.x()), round(p.y()))


def look_at(canvas, x: float, y: float) -> None:
    """Centre near image point (x, y) so that whole image points fall on whole widget
    pixels (an odd widget size would put them half a pixel off)."""
    z = canvas.zoom
    kx = round(canvas.width() / 2 - x * z)
    ky = round(canvas.height() / 2 - y * z)
    canvas.center = QPointF((canvas.width() / 2 - kx) / z, (canvas.height() / 2 - ky) / z)
    canvas._view_moved()


def drag(canvas, a, b, mods=NO_MOD, button=LEFT, steps: int = 6) -> None:
    QTest.mousePress(canvas, button, mods, at(canvas, *a))
    for i in range(1, steps + 1):
        t = i / steps
        QTest.mouseMove(canvas, at(canvas, a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t))
    QTest.mouseRelease(canvas, button, mods, at(canvas, *b))


def click(canvas, x, y, mods=NO_MOD, button=LEFT) -> None:
    QTest.mouseClick(canvas, button, mods, at(canvas, x, y))


def selection(qtbot, w):
    settle(qtbot, w)
    return w.controller.selection()


@pytest.fixture
def sel_window(window, qtbot, tmp_path, coffee):
    """The main window with a 300 x 200 crop of coffee, at 200 %, centred."""
    open_image(qtbot, window, coffee[100:300, 150:450], tmp_path / "coffee.png")
    qtbot.waitUntil(lambda: window.canvas.image_size() is not None, timeout=10000)
    settle(qtbot, window)
    c = window.canvas
    c.set_zoom(ZOOM)
    look_at(c, 150, 100)
    window.activateWindow()
    c.setFocus()
    return window


def use(w, name):
    return w.canvas_tools.activate(name)


def test_rectangle_drag_selects_that_rectangle(sel_window, qtbot):
    w = sel_window
    use(w, "rect_select")
    drag(w.canvas, (20, 30), (120, 90))
    m = selection(qtbot, w)
    assert m is not None
    assert bbox(m) == (30, 90, 20, 120)
    assert m.sum() == pytest.approx(100 * 60, abs=1)
    assert w.controller.undo_stack.command(w.controller.undo_stack.count() - 1).text() \
        == "Rectangle Select"


def test_ellipse_area_and_history_title(sel_window, qtbot):
    w = sel_window
    use(w, "ellipse_select")
    drag(w.canvas, (50, 40), (150, 120))
    m = selection(qtbot, w)
    assert m.sum() == pytest.approx(np.pi * 50 * 40, rel=0.01)
    assert bbox(m) == (40, 120, 50, 150)
    assert m[80, 100] == 1.0 and m[41, 51] == 0.0  # inside the box, outside the ellipse
    stack = w.controller.undo_stack
    assert stack.command(stack.count() - 1).text() == "Ellipse Select"
    assert w.history_view.model().rowCount() == stack.count() + 1


def test_modifiers_add_subtract_intersect(sel_window, qtbot):
    w = sel_window
    use(w, "rect_select")
    drag(w.canvas, (20, 20), (100, 100))
    drag(w.canvas, (60, 60), (140, 140), SHIFT)  # add: two overlapping squares
    m = selection(qtbot, w)
    assert m.sum() == pytest.approx(2 * 80 * 80 - 40 * 40, abs=2)
    drag(w.canvas, (0, 0), (70, 70), ALT)  # subtract the top-left corner
    m = selection(qtbot, w)
    assert m[30, 30] == 0 and m[80, 80] == 1 and m[120, 120] == 1
    assert m.sum() == pytest.approx(2 * 80 * 80 - 40 * 40 - 50 * 50, abs=2)
    drag(w.canvas, (50, 50), (130, 130), SHIFT | ALT)  # intersect
    m = selection(qtbot, w)
    assert bbox(m) == (50, 130, 50, 130)
    # ([50, 100]² ∪ [60, 130]²) less the subtracted [50, 70]²
    assert m.sum() == pytest.approx(50 * 50 + 70 * 70 - 40 * 40 - 20 * 20, abs=2)


def test_mode_buttons_in_the_options_bar(sel_window, qtbot):
    w = sel_window
    tool = use(w, "rect_select")
    drag(w.canvas, (20, 20), (60, 60))
    tool.mode_buttons["add"].click()
    drag(w.canvas, (100, 100), (140, 140))  # no modifier: the button's mode
    m = selection(qtbot, w)
    assert m.sum() == pytest.approx(2 * 40 * 40, abs=1)
    assert w.canvas_tools.options_bar.isVisible()


def test_antialias_option_gives_soft_or_hard_edges(sel_window, qtbot):
    w = sel_window
    tool = use(w, "ellipse_select")
    drag(w.canvas, (50.5, 40.5), (150, 120))
    soft = selection(qtbot, w)
    assert np.any((soft > 0) & (soft < 1))
    tool.options_widget()
    tool.antialias_box.setChecked(False)
    w.selection_ui.none_action.trigger()
    assert selection(qtbot, w) is None
    drag(w.canvas, (50.5, 40.5), (150, 120))
    hard = selection(qtbot, w)
    assert set(np.unique(hard)) <= {0.0, 1.0}


def test_handles_move_and_scale_the_selection(sel_window, qtbot):
    w = sel_window
    use(w, "rect_select")
    drag(w.canvas, (20, 30), (80, 70))
    selection(qtbot, w)
    qtbot.waitUntil(lambda: w.canvas.ants.bbox() is not None, timeout=5000)
    drag(w.canvas, (50, 50), (80, 60))  # inside: move by (30, 10)
    m = selection(qtbot, w)
    assert bbox(m) == (40, 80, 50, 110)
    stack = w.controller.undo_stack
    assert stack.command(stack.count() - 1).text() == "Move Selection"
    qtbot.waitUntil(lambda: w.canvas.ants.bbox() == (50.0, 40.0, 110.0, 80.0), timeout=5000)
    drag(w.canvas, (110, 80), (170, 120))  # bottom-right handle: twice as large
    m = selection(qtbot, w)
    assert bbox((m >= 0.5).astype(np.float32)) == (40, 120, 50, 170)
    assert m.sum() == pytest.approx(120 * 80, rel=0.02)
    assert stack.command(stack.count() - 1).text() == "Scale Selection"


def test_click_outside_deselects(sel_window, qtbot):
    w = sel_window
    use(w, "rect_select")
    drag(w.canvas, (20, 30), (80, 70))
    assert selection(qtbot, w) is not None
    qtbot.waitUntil(lambda: w.canvas.ants.bbox() is not None, timeout=5000)
    click(w.canvas, 200, 150)
    assert selection(qtbot, w) is None


def test_freehand_lasso_triangle(sel_window, qtbot):
    w = sel_window
    use(w, "lasso")
    c = w.canvas
    pts = [(40, 40), (160, 40), (40, 160)]
    QTest.mousePress(c, LEFT, NO_MOD, at(c, *pts[0]))
    for a, b in zip(pts, pts[1:], strict=False):
        for i in range(1, 11):
            t = i / 10
            QTest.mouseMove(c, at(c, a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t))
    QTest.mouseRelease(c, LEFT, NO_MOD, at(c, *pts[-1]))
    m = selection(qtbot, w)
    assert m.sum() == pytest.approx(120 * 120 / 2, rel=0.02)
    assert m[60, 60] == 1 and m[150, 150] == 0
    stack = w.controller.undo_stack
    assert stack.command(stack.count() - 1).text() == "Lasso Select"


def test_polygonal_lasso_clicks_and_double_click(sel_window, qtbot):
    w = sel_window
    use(w, "polygon_lasso")
    c = w.canvas
    for p in [(30, 30), (130, 30), (130, 110)]:
        click(c, *p)
    QTest.mouseMove(c, at(c, 60, 100))
    QTest.mouseDClick(c, LEFT, NO_MOD, at(c, 30, 110))
    m = selection(qtbot, w)
    assert bbox(m) == (30, 110, 30, 130)
    assert m.sum() == pytest.approx(100 * 80, abs=2)


def test_polygonal_lasso_enter_closes_and_escape_cancels(sel_window, qtbot):
    w = sel_window
    tool = use(w, "polygon_lasso")
    c = w.canvas
    for p in [(30, 30), (130, 30), (30, 130)]:
        click(c, *p)
    QTest.keyClick(c, Qt.Key.Key_Return)
    m = selection(qtbot, w)
    assert m.sum() == pytest.approx(100 * 100 / 2, rel=0.02)
    for p in [(150, 20), (250, 20), (250, 150)]:
        click(c, *p)
    QTest.keyClick(c, Qt.Key.Key_Escape)
    assert tool.points == []
    np.testing.assert_array_equal(selection(qtbot, w), m)  # nothing changed


def test_magic_wand_selects_the_cup_area_contiguous_or_not(sel_window, qtbot, coffee):
    w = sel_window
    tool = use(w, "magic_wand")
    img = w.controller.current_image()
    click(w.canvas, 150.5, 100.5)
    m = selection(qtbot, w)
    assert m is not None and m[100, 150] == 1.0
    seed = img[100, 150].astype(int)
    inside = np.abs(img.astype(int) - seed).max(axis=2) <= 32
    # every fully selected pixel is within the tolerance of the clicked colour
    assert np.all(inside[m == 1.0])
    tool.options_widget()
    tool.contiguous_box.setChecked(False)
    click(w.canvas, 150.5, 100.5)
    m2 = selection(qtbot, w)
    assert m2.sum() >= m.sum()
    np.testing.assert_array_equal(m2 == 1.0, inside)


def test_color_range_selects_every_similar_pixel(sel_window, qtbot):
    w = sel_window
    tool = use(w, "color_select")
    tool.options_widget()
    tool.tolerance_box.setValue(20)
    img = w.controller.current_image()
    click(w.canvas, 10.5, 10.5)
    m = selection(qtbot, w)
    seed = img[10, 10].astype(int)
    near = np.abs(img.astype(int) - seed).max(axis=2) <= 20
    np.testing.assert_array_equal(m == 1.0, near)


def test_quick_mask_paints_and_erases_then_commits(sel_window, qtbot):
    w = sel_window
    tool = use(w, "quick_mask")
    qtbot.waitUntil(tool.ready, timeout=5000)
    tool.options_widget()
    tool.size_box.setValue(20)
    tool.hardness_box.setValue(100)
    drag(w.canvas, (40, 100), (240, 100), steps=20)  # a 20 px wide band
    drag(w.canvas, (140, 80), (140, 120), button=RIGHT)  # erase a gap in the middle
    assert tool.dirty
    QTest.keyClick(w.canvas, Qt.Key.Key_Q)  # leave: commit
    assert w.canvas_tools.current.name != "quick_mask"
    m = selection(qtbot, w)
    assert m is not None
    assert m[100, 60] == 1.0 and m[100, 220] == 1.0
    assert m[100, 140] == 0.0 and m[60, 100] == 0.0
    assert m.sum() == pytest.approx(200 * 20 + 20 * 20 / 4 * np.pi - 20 * 20, rel=0.06)
    stack = w.controller.undo_stack
    cmd = stack.command(stack.count() - 1)
    assert cmd.text() == "Quick Mask" and cmd.op == "select_mask"
    from editor.core.selection import mask_sha256

    assert cmd.params["sha256"] == mask_sha256(m)


def test_quick_mask_shows_red_over_the_painted_area(sel_window, qtbot):
    w = sel_window
    tool = use(w, "quick_mask")
    qtbot.waitUntil(tool.ready, timeout=5000)
    tool.options_widget()
    tool.size_box.setValue(30)
    drag(w.canvas, (60, 60), (100, 60))
    img = w.canvas.grab().toImage()
    painted, bare = at(w.canvas, 80, 60), at(w.canvas, 80, 150)
    before = w.controller.current_image()
    r_p, g_p = QImage.pixelColor(img, painted).red(), QImage.pixelColor(img, painted).green()
    # the overlay reddens the painted place, and only there
    assert r_p - g_p > int(before[60, 80, 0]) - int(before[60, 80, 1]) + 40
    c_b = QImage.pixelColor(img, bare)
    assert abs(c_b.red() - c_b.green() - (int(before[150, 80, 0]) - int(before[150, 80, 1]))) \
        < 25


def test_select_menu_all_none_invert_and_modify(sel_window, qtbot):
    w = sel_window
    ui = w.selection_ui
    ui.all_action.trigger()
    m = selection(qtbot, w)
    assert m is not None and m.min() == 1.0
    use(w, "rect_select")
    drag(w.canvas, (100, 50), (200, 150))
    selection(qtbot, w)
    ui.invert_action.trigger()
    m = selection(qtbot, w)
    assert m[100, 150] == 0 and m[10, 10] == 1
    ui.invert_action.trigger()
    ui.ask = lambda title, sentence, value: 10.0
    ui.modify_actions["select_grow"].trigger()
    m = selection(qtbot, w)
    assert bbox(m) == (40, 160, 90, 210)
    ui.modify_actions["select_shrink"].trigger()
    ui.modify_actions["select_border"].trigger()
    m = selection(qtbot, w)
    assert m[100, 150] == 0 and m[50, 150] == 1  # a band along the edge
    ui.modify_actions["select_feather"].trigger()
    m = selection(qtbot, w)
    assert np.any((m > 0.05) & (m < 0.95))
    titles = [w.controller.undo_stack.command(i).text()
              for i in range(w.controller.undo_stack.count())]
    assert titles[-4:] == ["Grow Selection 10 px", "Shrink Selection 10 px",
                           "Border Selection 10 px", "Feather Selection 10 px"]
    ui.none_action.trigger()
    assert selection(qtbot, w) is None


def test_select_menu_shortcuts_and_shortcuts_page(sel_window, qtbot):
    from editor.ui.shortcuts_dialog import collect_actions

    w = sel_window
    ui = w.selection_ui
    keys = {r.command: r.keys for r in collect_actions(w) if r.menu == "Select"}
    assert keys["All"] == "Ctrl+A" and keys["Deselect"] == "Ctrl+Shift+A"
    assert keys["Invert Selection"] == "Ctrl+Shift+I"
    assert {"Feather", "Grow", "Shrink", "Border", "Save Selection as PNG",
            "Load Selection from PNG"} <= set(keys)
    tools = {r.keys for r in collect_actions(w) if "Canvas Tools" in r.menu}
    assert {"M", "L", "W", "Q", "H"} <= tools
    QTest.keyClick(w.canvas, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert selection(qtbot, w) is not None
    QTest.keyClick(w.canvas, Qt.Key.Key_A,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert selection(qtbot, w) is None
    assert not ui.none_action.isEnabled()


def test_tool_keys_cycle(sel_window, qtbot):
    w = sel_window
    m = w.canvas_tools
    for key, name in [(Qt.Key.Key_M, "rect_select"), (Qt.Key.Key_M, "ellipse_select"),
                      (Qt.Key.Key_M, "rect_select"), (Qt.Key.Key_L, "lasso"),
                      (Qt.Key.Key_L, "polygon_lasso"), (Qt.Key.Key_W, "magic_wand"),
                      (Qt.Key.Key_Q, "quick_mask"), (Qt.Key.Key_Q, "magic_wand"),
                      (Qt.Key.Key_H, "pan")]:
        QTest.keyClick(w.canvas, key)
        assert m.current.name == name, key


def test_save_and_load_selection_png(sel_window, qtbot, tmp_path):
    w = sel_window
    ui = w.selection_ui
    use(w, "ellipse_select")
    drag(w.canvas, (50, 40), (150, 120))
    m = selection(qtbot, w)
    path = tmp_path / "sel.png"
    assert ui.save_png(str(path))
    ui.none_action.trigger()
    assert selection(qtbot, w) is None
    assert ui.load_png(str(path))
    back = selection(qtbot, w)
    np.testing.assert_allclose(back, m, atol=1 / 65535)
    stack = w.controller.undo_stack
    assert stack.command(stack.count() - 1).text() == "Load Selection"


def test_load_selection_errors_are_one_sentence(sel_window, qtbot, tmp_path):
    from PIL import Image

    w = sel_window
    ui = w.selection_ui
    wrong = tmp_path / "wrong.png"
    Image.fromarray(np.full((50, 60), 255, np.uint8)).save(wrong)
    assert not ui.load_png(str(wrong))
    assert w.last_error == "The mask wrong.png is 60×50 pixels but the image is 300×200."
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a png at all")
    assert not ui.load_png(str(junk))
    assert w.last_error.startswith("The mask junk.png cannot be read")
    assert w.last_error.count(".") >= 1 and "\n" not in w.last_error
    assert w.controller.selection() is None


def test_undo_redo_selection_steps_with_ctrl_z(sel_window, qtbot):
    w = sel_window
    use(w, "rect_select")
    drag(w.canvas, (20, 30), (120, 90))
    first = selection(qtbot, w).copy()
    use(w, "ellipse_select")
    drag(w.canvas, (150, 50), (250, 150), SHIFT)
    both = selection(qtbot, w).copy()
    pixels = w.controller.current_image().copy()
    QTest.keyClick(w.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(selection(qtbot, w), first)
    QTest.keyClick(w.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert selection(qtbot, w) is None
    QTest.keyClick(w.canvas, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    QTest.keyClick(w.canvas, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    np.testing.assert_array_equal(selection(qtbot, w), both)
    np.testing.assert_array_equal(w.controller.current_image(), pixels)  # pixels untouched


def ants_image(canvas) -> np.ndarray:
    """The canvas painted into a QImage, as an (H, W, 3) array."""
    img = QImage(canvas.size(), QImage.Format.Format_RGB32)
    canvas.render(img)
    ptr = img.constBits()
    a = np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)
    return a[:, :img.width(), 2::-1].copy()


def ant_pixels(a: np.ndarray) -> np.ndarray:
    """Pure black or pure white pixels (the ants; the coffee photo has almost none)."""
    return (a.max(axis=2) <= 2) | (a.min(axis=2) >= 253)


@pytest.mark.parametrize("zoom", [0.5, 1.0, 4.0])
def test_marching_ants_follow_the_zoom(sel_window, qtbot, zoom):
    w = sel_window
    c = w.canvas
    use(w, "pan")
    w.controller.select("select_rect", {"x": 100, "y": 60, "width": 80, "height": 50})
    selection(qtbot, w)
    qtbot.waitUntil(lambda: c.ants.pyramid is not None, timeout=5000)
    c.set_zoom(zoom)
    look_at(c, 140, 85)
    if zoom >= 2:
        qtbot.waitUntil(lambda: c.ants.exact is not None, timeout=5000)
    a = ants_image(c)
    ants = ant_pixels(a)
    # the left edge of the rectangle (x = 100) in widget pixels, and its rows
    left = c.to_widget(QPointF(100, 60))
    bottom = c.to_widget(QPointF(100, 110))
    xs = round(left.x())
    rows = slice(round(left.y()) + 3, round(bottom.y()) - 3)
    near = ants[rows, xs - 2:xs + 2].any(axis=1)
    assert near.mean() > 0.9  # the outline runs down the edge ...
    far = ants[rows, xs + 12:xs + 20]
    assert far.mean() < 0.05  # ... and not inside it
    if zoom >= 2:
        # exact: on the pixel boundary, within one screen pixel
        col = ants[rows, xs - 3:xs + 4].sum(axis=0)
        assert abs(int(np.argmax(col)) - 3) <= 1


def test_speckled_selection_paints_ants_from_the_raster(sel_window, qtbot):
    w = sel_window
    c = w.canvas
    use(w, "pan")
    rng = np.random.default_rng(2)
    speckle = rng.random((200, 300)) > 0.85  # ~6000 specks
    w.controller.set_selection(speckle.astype(np.float32), "Speckle")
    selection(qtbot, w)
    qtbot.waitUntil(lambda: c.ants.pyramid is not None, timeout=10000)
    c.set_zoom(1.0)
    look_at(c, 150, 100)
    assert c.ants.outline_for_view().raster is not None
    ants = ant_pixels(ants_image(c))
    # every inside pixel with an outside neighbour shows as an ant, nothing deep inside
    pad = np.pad(speckle, 1)
    edge = speckle & ~(pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:])
    tl = at(c, 0, 0)
    shown = ants[tl.y():tl.y() + 200, tl.x():tl.x() + 300]
    assert shown[edge].mean() > 0.95
    interior = speckle.copy()
    interior[edge] = False
    assert shown[interior].mean() < 0.05


def test_quick_mask_and_wand_replay_from_a_saved_recipe(sel_window, qtbot, tmp_path):
    """A session painted with the quick mask and a wand click, each followed by an edit
    under it, saved as a recipe: ``convolve apply --recipe`` gives the same pixels."""
    from editor.cli import main
    from editor.io import load_image, save_image

    w = sel_window
    c = w.controller
    original = c.current_image().copy()
    tool = use(w, "quick_mask")
    qtbot.waitUntil(tool.ready, timeout=5000)
    tool.set_size(30)
    drag(w.canvas, (40, 60), (220, 140), steps=20)
    use(w, "magic_wand")  # leaving quick mask commits it
    selection(qtbot, w)
    c.apply_op("invert", {})
    settle(qtbot, w)
    click(w.canvas, 250.5, 30.5, SHIFT)
    selection(qtbot, w)
    c.apply_op("gaussian_blur", {"sigma": 2.0})
    settle(qtbot, w)
    written = c.save_recipe(str(tmp_path / "session.json"))
    assert len(written) == 1  # the painted mask, beside the recipe
    save_image(tmp_path / "in.png", original)
    assert main(["apply", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"),
                 "--recipe", str(tmp_path / "session.json")]) == 0
    np.testing.assert_array_equal(load_image(tmp_path / "out.png").pixels,
                                  c.current_image())
