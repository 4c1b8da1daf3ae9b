"""The open tool's form follows the document: undo, redo and history jumps (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import settle
from PySide6.QtCore import Qt

from editor.ops import get_op, run_op

pytestmark = pytest.mark.gui


@pytest.fixture
def opened(photo_window):
    return photo_window


def apply_tool(qtbot, w, name, **params):
    form = w.tools.select_op(name)
    form.set_params(params)
    n = w.controller.undo_stack.count()
    w.tools.apply_button.click()
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == n + 1, timeout=10000)
    settle(qtbot, w)
    return form


def drag_to(field, value) -> None:
    """Drag ``field``'s slider to ``value`` and release it (a commit)."""
    field.slider.setSliderDown(True)
    field.slider.setValue(field.scale.position(value))
    field.slider.setSliderDown(False)


def shown_amount(w) -> float:
    return w.tools.form.params()["amount"]


def test_undo_redo_show_the_values_of_the_step_or_the_defaults(qtbot, opened):
    w = opened
    doc = w.controller.document
    original = doc.image.copy()
    apply_tool(qtbot, w, "brightness", amount=0.3)
    apply_tool(qtbot, w, "gaussian_blur", sigma=2.0)
    form = w.tools.select_op("brightness")
    assert shown_amount(w) == 0.0
    w.undo_action.trigger()  # back to the brightness step: its values show
    settle(qtbot, w)
    assert shown_amount(w) == pytest.approx(0.3)
    assert form.editors["amount"].slider.value() == form.editors["amount"].scale.position(0.3)
    w.undo_action.trigger()  # the opened image: defaults
    settle(qtbot, w)
    assert shown_amount(w) == 0.0
    assert not w.canvas.has_preview()
    w.redo_action.trigger()
    settle(qtbot, w)
    assert shown_amount(w) == pytest.approx(0.3)
    # moving the slider now edits that step (one step, not a second brightening on top)
    drag_to(form.editors["amount"], 0.5)
    settle(qtbot, w)
    assert doc.recipe_steps() == [("brightness", {"amount": pytest.approx(0.5)})]
    assert w.controller.undo_stack.count() == 1  # the blur was on the redo tail: gone
    np.testing.assert_array_equal(doc.image, run_op(get_op("brightness"), original,
                                                    {"amount": 0.5}))
    w.undo_action.trigger()
    settle(qtbot, w)
    np.testing.assert_array_equal(doc.image, original)
    assert shown_amount(w) == 0.0


def test_undo_of_the_open_adjustment_resets_the_form_and_drops_its_preview(qtbot, opened):
    w = opened
    doc = w.controller.document
    original = doc.image.copy()
    form = w.tools.select_op("brightness")
    drag_to(form.editors["amount"], 0.3)
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == 1, timeout=10000)
    settle(qtbot, w)
    w.undo_action.trigger()
    settle(qtbot, w)
    np.testing.assert_array_equal(doc.image, original)
    assert shown_amount(w) == 0.0
    assert not w.canvas.has_preview()  # the undone values are not revived as a preview
    w.redo_action.trigger()
    settle(qtbot, w)
    assert shown_amount(w) == pytest.approx(0.3)
    assert w.controller.undo_stack.count() == 1


def test_history_jump_and_another_tools_step(qtbot, opened):
    w = opened
    apply_tool(qtbot, w, "brightness", amount=-0.25)
    apply_tool(qtbot, w, "invert")
    w.tools.select_op("brightness")
    view = w.history_view
    rect = view.visualRect(view.model().index(1, 0))  # the brightness row
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: w.controller.undo_stack.index() == 1, timeout=2000)
    settle(qtbot, w)
    assert shown_amount(w) == pytest.approx(-0.25)
    w.redo_action.trigger()  # Invert made this state: the brightness form resets
    settle(qtbot, w)
    assert shown_amount(w) == 0.0
    session = w.controller.session
    assert session.base_id == w.controller.document.current_id and not session.has_step


def test_apply_keeps_the_values_for_another_application(qtbot, opened):
    """Apply is not a document move under the tool: the form keeps its values."""
    w = opened
    apply_tool(qtbot, w, "gaussian_blur", sigma=3.0)
    assert w.tools.form.params()["sigma"] == pytest.approx(3.0)


def test_step_of_reads_the_recipe_entry(qtbot, opened):
    w = opened
    c = w.controller
    assert c.step_of(c.document.current_id) is None  # the opened image
    apply_tool(qtbot, w, "brightness", amount=0.1)
    assert c.step_of(c.document.current_id) == ("brightness", {"amount": pytest.approx(0.1)})
