"""Menus, shortcuts and the input rules of the main window (offscreen).

Every shortcut is pressed as a key (through Qt's shortcut map, as a user would);
menu entries without one are triggered. A form entry must show its op's form in
the Tools dock; a one-shot entry must land as one undo step whose pixels are the
op's own result.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pytest
from conftest import settle
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QAction, QKeySequence, QWheelEvent
from PySide6.QtWidgets import QApplication, QMenu
from test_ui_main import open_and_wait as open_photo

from editor.ops import all_ops, categories, get_op, run_op
from editor.ops.registry import Kind, Range, register_op, unregister_op
from editor.ui.menus import ADJUSTMENTS, NOT_COMMANDS, TRANSFORM, key_text, plain_text

pytestmark = pytest.mark.gui


@pytest.fixture
def window(window, qtbot):
    w = window
    w.activateWindow()  # window shortcuts need the active window
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    return w


@pytest.fixture
def temp_ops():
    names = []

    def add(name, func, **kw):
        register_op(name, title=name, **kw)(func)
        names.append(name)

    yield add
    for n in names:
        unregister_op(n)


def open_and_wait(qtbot, w, path):
    doc = open_photo(qtbot, w, path)
    settle(qtbot, w)
    return doc


def press(qtbot, widget, action: QAction) -> None:
    """Press ``action``'s first shortcut as keys on ``widget``."""
    combo = action.shortcut()[0]
    qtbot.keyClick(widget, combo.key(), combo.keyboardModifiers())


def entries(w, *, form: bool):
    return [(e, a) for e, a, f in w.op_menus.entries if f == form]


def menu_actions(menu: QMenu) -> list[QAction]:
    """Every command under ``menu``, submenus walked (an independent walk)."""
    out = []
    for a in menu.actions():
        if a.menu() is not None:
            if not a.menu().property(NOT_COMMANDS):
                out += menu_actions(a.menu())
        elif not a.isSeparator():
            out.append(a)
    return out


# -- Ctrl+Z reaches the document ---------------------------------------------------------

def test_ctrl_z_after_typing_into_a_spin_box_undoes_the_step(qtbot, window, small_photo):
    w = window
    doc = open_and_wait(qtbot, w, small_photo)
    original = doc.image.copy()
    form = w.tools.select_op("gaussian_blur")
    spin = form.editors["sigma"].spin
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus, timeout=2000)
    spin.selectAll()
    qtbot.keyClicks(spin, "4")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.controller.undo_stack.index() == 1, timeout=10000)
    settle(qtbot, w)
    blurred = run_op(get_op("gaussian_blur"), original, {"sigma": 4.0})
    np.testing.assert_array_equal(doc.image, blurred)
    assert spin.hasFocus()
    qtbot.keyClick(spin, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert w.controller.undo_stack.index() == 0
    np.testing.assert_array_equal(doc.image, original)
    # redo from the same field, then undo again
    qtbot.keyClick(spin, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    assert w.controller.undo_stack.index() == 1
    qtbot.keyClick(spin, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert w.controller.undo_stack.index() == 0
    # the focus leaving the field is not an edit: the undone blur stays undone
    w.canvas.setFocus()
    qtbot.waitUntil(lambda: not spin.hasFocus(), timeout=2000)
    qtbot.wait(50)
    settle(qtbot, w)
    assert w.controller.undo_stack.index() == 0
    np.testing.assert_array_equal(doc.image, original)


def test_ctrl_z_in_a_line_edit_field_undoes_but_the_search_box_keeps_its_text_undo(
        qtbot, window, small_photo, temp_ops):
    def shift_points(image, *, points: Annotated[tuple, Kind("points")] = ((0.0, 0.0),),
                     ctx=None):
        """Shift by the first point."""
        dx = int(points[0][0]) if points else 0
        return np.roll(image, dx, axis=1)

    temp_ops("t_points", shift_points, category="Test")
    w = window
    w.load_registry(sync=True)
    doc = open_and_wait(qtbot, w, small_photo)
    original = doc.image.copy()
    form = w.tools.select_op("t_points")
    edit = form.editors["points"].edit
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, "7:0")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.controller.undo_stack.index() == 1, timeout=10000)
    settle(qtbot, w)
    np.testing.assert_array_equal(doc.image, np.roll(original, 7, axis=1))
    qtbot.keyClick(edit, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert w.controller.undo_stack.index() == 0
    # free text: Ctrl+Z in the search box edits the search, the document stays
    w.controller.redo()
    search = w.tools.search
    search.setFocus()
    qtbot.keyClicks(search, "blur")
    qtbot.keyClick(search, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert search.text() == "" and w.controller.undo_stack.index() == 1


# -- the wheel only where the focus is ---------------------------------------------------

def wheel(widget, steps: int = -1) -> None:
    """A synthetic wheel turn of ``steps`` notches (negative: towards the user)."""
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(pos, widget.mapToGlobal(pos), QPoint(0, 0), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_wheel_over_an_unfocused_field_scrolls_the_dock_instead(qtbot, window, small_photo):
    w = window
    open_and_wait(qtbot, w, small_photo)
    form = w.open_tool("affine")  # the Transform form: taller than its part of the dock
    w.tools.splitter.setSizes([500, 150])
    qtbot.waitUntil(lambda: w.tools.scroll.verticalScrollBar().maximum() > 0, timeout=2000)
    bar = w.tools.scroll.verticalScrollBar()
    w.canvas.setFocus()
    params = form.params()
    for name in ("dx", "angle", "angle_slider", "interpolation", "scale_x"):
        widget = getattr(form, name)
        assert widget.focusPolicy() == Qt.FocusPolicy.StrongFocus, name
        before = bar.value()
        wheel(widget, -1)
        assert form.params() == params, name  # unchanged
        assert bar.value() > before or bar.value() == bar.maximum(), name
        bar.setValue(0)
    settle(qtbot, w)
    assert not w.canvas.has_preview() and w.controller.undo_stack.count() == 0
    # focused, the wheel edits as usual
    form.dx.setFocus()
    qtbot.waitUntil(form.dx.hasFocus, timeout=2000)
    wheel(form.dx, 1)
    assert form.dx.value() == 1.0


def test_wheel_rule_holds_for_generated_fields(qtbot, window, small_photo):
    w = window
    open_and_wait(qtbot, w, small_photo)
    form = w.open_tool("unsharp_mask")
    w.canvas.setFocus()
    params = form.params()
    field = form.editors["radius"]
    for widget in (field.slider, field.spin):
        wheel(widget, 2)
        assert form.params() == params
    combo = w.open_tool("grayscale").editors["method"].widget
    w.canvas.setFocus()
    wheel(combo, -1)
    assert combo.currentIndex() == 0
    combo.setFocus()
    qtbot.waitUntil(combo.hasFocus, timeout=2000)
    wheel(combo, -1)
    assert combo.currentIndex() == 1


# -- menus and shortcuts ------------------------------------------------------------------

def test_every_form_shortcut_opens_its_form_in_the_tools_dock(qtbot, window, small_photo):
    w = window
    open_and_wait(qtbot, w, small_photo)
    keyed = [(e, a) for e, a in entries(w, form=True) if a.shortcuts()]
    names = {plain_text(a) for _e, a in keyed}
    assert {"Levels", "Curves", "Canvas Size", "Image Size"} <= names
    for entry, action in keyed:
        if not action.isEnabled():  # an op not registered in this build
            assert entry.op not in w.tools.specs
            continue
        w.tools.search.setText("zz-hide-everything")  # the dock must bring the op back
        w.tools_dock.hide()
        w.canvas.setFocus()
        press(qtbot, w.canvas, action)
        assert w.tools.spec is not None and w.tools.spec.name == entry.op, action.text()
        assert w.tools_dock.isVisible() and w.tools.form.isVisible()
        assert entry.op in w.tools.visible_ops()
        assert w.canvas.hasFocus()  # keys go on working on the image
    assert w.controller.undo_stack.count() == 0  # opening a form edits nothing


def test_every_one_shot_entry_lands_as_one_undo_step(qtbot, window, small_photo):
    w = window
    doc = open_and_wait(qtbot, w, small_photo)
    original = doc.image.copy()
    shots = entries(w, form=False)
    names = {plain_text(a) for _e, a in shots}
    assert {"Desaturate", "Invert", "Auto Tone", "Rotate 90° Clockwise", "Flip Horizontal",
            "Fourier Spectrum"} <= names
    for entry, action in shots:
        if action.shortcuts():
            w.canvas.setFocus()
            press(qtbot, w.canvas, action)
        else:
            action.trigger()
        qtbot.waitUntil(lambda: w.controller.undo_stack.index() == 1, timeout=10000)
        settle(qtbot, w)
        stack = w.controller.undo_stack
        assert stack.count() == 1 and stack.text(0) == plain_text(action)
        expected = run_op(get_op(entry.op), original, entry.params or {})
        np.testing.assert_array_equal(doc.image, expected, err_msg=action.text())
        w.controller.undo()
        np.testing.assert_array_equal(doc.image, original)
        stack.clear()
        w.controller.tools.restart()


def test_every_form_entry_opens_the_same_form_as_the_tools_dock(qtbot, window, small_photo):
    w = window
    open_and_wait(qtbot, w, small_photo)
    forms = entries(w, form=True)
    assert len(forms) >= 30
    for entry, action in forms:
        if entry.op not in w.tools.specs:
            assert not action.isEnabled()
            continue
        action.trigger()
        assert w.tools.spec.name == entry.op and w.tools.title.text() == w.tools.spec.title
    # every classical op is somewhere in the menus
    listed = {e.op for e, _a, _f in w.op_menus.entries}
    assert {s.name for s in all_ops()} <= listed


def test_menus_follow_the_registry(qtbot, window, temp_ops):
    w = window
    specs = all_ops()
    # an op not registered gives a disabled entry, and its shortcut does nothing
    w.op_menus.populate([s for s in specs if s.name != "curves"], categories())
    w.op_menus.set_document(True)
    curves = w.op_menus.action("Curves")
    assert not curves.isEnabled() and "not available" in curves.toolTip()
    w.op_menus.run(next(e for e in ADJUSTMENTS if e and e.op == "curves"), True)
    assert w.tools.spec is None
    # a new op appears by itself: in its category's submenu, or under Adjustments
    temp_ops("t_glow", lambda image, *, ctx=None: image, category="Glow")
    def tone(image, *, amount: Annotated[float, Range(0.0, 1.0)] = 0.5, ctx=None):
        """Do nothing, with a parameter."""
        return image

    temp_ops("t_tone", tone, category="Tone")
    w.load_registry(sync=True)
    filters = {a.text() for a in w.op_menus.filters_menu.actions()}
    assert "Glow" in filters
    glow = next(a.menu() for a in w.op_menus.filters_menu.actions() if a.text() == "Glow")
    assert [a.text() for a in glow.actions()] == ["t_glow"]  # no parameters: applies at once
    assert "t_tone" in {plain_text(a) for a in menu_actions(w.op_menus.adjustments_menu)}
    w.op_menus.set_document(False)
    assert not w.op_menus.action("Curves").isEnabled()  # no image open
    # the tables name registered ops (a typo would be a silently dead entry)
    optional = {"hue_saturation", "brightness_contrast"}  # other branches add these
    for entry in (*ADJUSTMENTS, *TRANSFORM):
        if entry is not None and entry.op not in optional:
            get_op(entry.op)


def test_ctrl_f_repeats_the_last_filter_with_its_parameters(qtbot, window, small_photo):
    w = window
    doc = open_and_wait(qtbot, w, small_photo)
    original = doc.image.copy()
    repeat = w.op_menus.repeat_action
    assert not repeat.isEnabled()
    form = w.open_tool("gaussian_blur")
    form.editors["sigma"].spin.setValue(3.0)
    form._commit()
    qtbot.waitUntil(lambda: w.controller.undo_stack.index() == 1, timeout=10000)
    w.tools.apply()
    settle(qtbot, w)
    # an adjustment in between is not a filter: Ctrl+F still repeats the blur
    w.controller.apply_op("invert")
    qtbot.waitUntil(lambda: w.controller.undo_stack.index() == 2, timeout=10000)
    settle(qtbot, w)
    assert repeat.isEnabled() and repeat.text() == "Repeat Gaussian blur"
    assert key_text(repeat) == "Ctrl+F"
    w.canvas.setFocus()
    press(qtbot, w.canvas, repeat)
    qtbot.waitUntil(lambda: w.controller.undo_stack.index() == 3, timeout=10000)
    settle(qtbot, w)
    blur = get_op("gaussian_blur")
    once = run_op(blur, original, {"sigma": 3.0})
    expected = run_op(blur, run_op(get_op("invert"), once, {}), {"sigma": 3.0})
    np.testing.assert_array_equal(doc.image, expected)
    assert doc.recipe_steps()[-1] == ("gaussian_blur", {"sigma": 3.0})


def test_shortcuts_in_tool_tips(qtbot, window):
    w = window
    tips = {}
    for i in range(w.tools.tree.topLevelItemCount()):
        top = w.tools.tree.topLevelItem(i)
        for j in range(top.childCount()):
            item = top.child(j)
            tips[item.data(0, Qt.ItemDataRole.UserRole)] = item.toolTip(0)
    assert tips["curves"].startswith("Curves (Ctrl+M)\n")
    assert tips["levels"].startswith("Levels (Ctrl+L)\n")
    assert tips["resize"].startswith("Resize (Ctrl+Alt+I)\n")
    assert tips["invert"].startswith("Invert (Ctrl+I)\n")
    assert "Desaturate (Ctrl+Shift+U) applies it at once." in tips["grayscale"]
    assert tips["gaussian_blur"].startswith("Gaussian blur\n")
    assert "(Ctrl+Return)" in w.tools.apply_button.toolTip()
    w.tools.select_op("curves")
    assert w.tools.title.toolTip().startswith("Curves (Ctrl+M)")


def test_shortcuts_page_lists_every_action(qtbot, window):
    w = window
    w.canvas.setFocus()
    press(qtbot, w.canvas, w.shortcuts_action)
    dialog = w.shortcuts_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=2000)
    listed = {id(r.action): r for r in dialog.rows}
    every = [a for top in w.menuBar().actions() if top.menu() is not None
             for a in menu_actions(top.menu()) if plain_text(a)]
    assert len(every) > 60
    for a in every:
        assert id(a) in listed, a.text()
        assert listed[id(a)].keys == ", ".join(
            k.toString(QKeySequence.SequenceFormat.NativeText) for k in a.shortcuts())
    for a in w.findChildren(QAction):
        if a.shortcuts() and plain_text(a):
            assert id(a) in listed, a.text()
    row = listed[id(w.op_menus.action("Curves"))]
    assert (row.command, row.keys, row.menu) == ("Curves", "Ctrl+M", "Image ▸ Adjustments")
    assert dialog.table.rowCount() == len(dialog.rows)
    # searchable by name or by key
    dialog.search.setText("curves")
    assert [r.command for r in dialog.visible_rows()] == ["Curves"]
    dialog.search.setText("ctrl+shift+u")
    assert [r.command for r in dialog.visible_rows()] == ["Desaturate"]
    dialog.search.setText("")
    dialog.only_keys.setChecked(True)
    assert all(r.keys for r in dialog.visible_rows())
    assert len(dialog.visible_rows()) == sum(1 for r in dialog.rows if r.keys) >= 20
    # read again each time it is shown: a command added since is on the page
    dialog.close()
    extra = w.menuBar().actions()[-1].menu().addAction("Late Command")
    extra.setShortcut(QKeySequence("Ctrl+Alt+Shift+J"))
    w.show_shortcuts()
    assert ("Late Command", "Ctrl+Alt+Shift+J", "Help") in {
        (r.command, r.keys, r.menu) for r in dialog.rows}


def test_recent_file_names_are_not_commands_on_the_shortcuts_page(qtbot, window,
                                                                   small_photo):
    w = window
    w.add_recent(str(small_photo))
    assert any(a.text() == small_photo.name for a in w.recent_menu.actions())
    w.show_shortcuts()
    commands = {r.command for r in w.shortcuts_dialog.rows}
    assert small_photo.name not in commands and "Clear List" not in commands
    assert "Open Sample Photo" in commands


def test_no_two_actions_share_a_shortcut(qtbot, tmp_path, monkeypatch):
    """Qt runs neither of two actions with the same key in one window (panels included)."""
    from PySide6.QtCore import QSettings

    from editor.ui.main_window import MainWindow

    monkeypatch.setenv("CONVOLVE_RECOVERY_DIR", str(tmp_path / "recovery"))
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, load_registry=False, install_panels=True)
    qtbot.addWidget(w)
    w.load_registry(sync=True)
    assert getattr(w, "classifier_action", None) is not None  # the panels did install
    seen = {}
    for a in w.findChildren(QAction):
        for s in a.shortcuts():
            key = s.toString()
            assert key not in seen, f"{key}: {seen.get(key)} and {a.text()}"
            seen[key] = a.text()
    assert len(seen) >= 25
    w.controller.shutdown()
