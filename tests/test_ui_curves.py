"""The Curves editor (editor/ui/forms/curves_form.py) driven by the mouse, on real photos.

The form on its own: add, drag, delete by dragging off and by double-click, presets,
channel, text. In the real window: the committed image is what the ``curves`` op makes
of the original with the form's points, and the eyedropper takes a canvas click.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_form, settle
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from test_ui_main import open_and_wait

from editor.ops import get_op
from editor.ops.color import luma
from editor.ui.forms.curves_form import PRESETS, CurvesForm
from editor.ui.forms.tone_graph import channel_histogram

pytestmark = pytest.mark.gui

LEFT = Qt.MouseButton.LeftButton


@pytest.fixture
def form(qtbot, coffee):
    return make_form(qtbot, "curves", (340, 520), coffee)


def at(view, x: float, y: float) -> QPoint:
    """Widget position of curve value ``(x, y)``."""
    p = view.to_widget(x, y)
    return QPoint(round(p.x()), round(p.y()))


def drag(qtbot, view, start: QPoint, path: list[QPoint]) -> None:
    qtbot.mousePress(view, LEFT, pos=start)
    for p in path:
        qtbot.mouseMove(view, p)
    qtbot.mouseRelease(view, LEFT, pos=path[-1])


def points_of(params) -> list[tuple[float, float]]:
    return [tuple(p) for p in params["points"]]


def test_registered_for_curves_with_the_ops_choices(form):
    assert isinstance(form, CurvesForm)
    assert form.params() == {"points": ((0.0, 0.0), (255.0, 255.0)), "channel": "all"}
    assert form.params() == get_op("curves").defaults()  # a no-op commits no step
    choices = [form.channel_combo.itemData(i) for i in range(form.channel_combo.count())]
    assert choices == list(get_op("curves").param("channel").choices)
    assert "luminance" in choices
    assert [form.channel_combo.itemText(i) for i in range(len(choices))] == \
        ["RGB", "Red", "Green", "Blue", "Luminance"]
    points = get_op("curves").param("points")
    assert (form.view.lo, form.view.hi) == (points.lo, points.hi)  # the graph's range


def test_click_adds_a_point_and_drag_moves_it_live(qtbot, form):
    view = form.view
    changed, committed = [], []
    form.paramsChanged.connect(changed.append)
    form.paramsCommitted.connect(committed.append)
    qtbot.mouseClick(view, LEFT, pos=at(view, 64, 128))
    pts = points_of(form.params())
    assert len(pts) == 3
    x, y = pts[1]
    assert abs(x - 64) <= 1 and abs(y - 128) <= 1  # one pixel is under one level here
    assert len(committed) == 1 and points_of(committed[-1]) == pts
    # drag it down in steps: previews while moving, one commit on release
    n_changed = len(changed)
    drag(qtbot, view, at(view, x, y), [at(view, x, y - 20 * k) for k in range(1, 4)])
    qtbot.waitUntil(lambda: points_of(changed[-1]) == points_of(form.params()), timeout=2000)
    assert len(changed) > n_changed
    x2, y2 = points_of(form.params())[1]
    assert abs(x2 - x) <= 1 and abs(y2 - (y - 60)) <= 1
    assert len(committed) == 2 and committed[-1] == form.params()
    assert form.text.text() == get_op("curves").param("points").format(
        points_of(form.params()), spaced=True)


def test_drag_off_and_double_click_delete_but_end_points_stay(qtbot, form):
    view = form.view
    for x, y in ((64, 50), (128, 140), (192, 230)):
        qtbot.mouseClick(view, LEFT, pos=at(view, x, y))
    assert len(form.params()["points"]) == 5
    # drag the middle point off the left of the graph: gone while off, deleted on release
    mid = at(view, *points_of(form.params())[2])
    outside = QPoint(-40, mid.y())
    qtbot.mousePress(view, LEFT, pos=mid)
    qtbot.mouseMove(view, outside)
    assert len(form.params()["points"]) == 4  # the preview already lacks it
    qtbot.mouseRelease(view, LEFT, pos=outside)
    assert [round(x) for x, _ in points_of(form.params())] == [0, 64, 192, 255]
    # double-click deletes
    qtbot.mouseDClick(view, LEFT, pos=at(view, *points_of(form.params())[1]))
    assert [round(x) for x, _ in points_of(form.params())] == [0, 192, 255]
    # the end points stay, whatever one does to them
    qtbot.mouseDClick(view, LEFT, pos=at(view, 0, 0))
    drag(qtbot, view, at(view, 255, 255), [QPoint(view.width() + 60, -60)])
    pts = points_of(form.params())
    assert len(pts) == 3 and pts[0] == (0.0, 0.0) and pts[-1][0] == 255.0
    # a point dragged off and back is kept
    p = at(view, *pts[1])
    drag(qtbot, view, p, [QPoint(-60, p.y()), p])
    assert len(form.params()["points"]) == 3


def test_points_cannot_pass_their_neighbours(qtbot, form):
    view = form.view
    qtbot.mouseClick(view, LEFT, pos=at(view, 100, 100))
    qtbot.mouseClick(view, LEFT, pos=at(view, 150, 150))
    first = at(view, *points_of(form.params())[1])
    drag(qtbot, view, first, [at(view, 200, 100), at(view, 240, 100)])
    xs = [x for x, _ in points_of(form.params())]
    assert xs == sorted(xs) and len(set(xs)) == 4  # stopped before its neighbour


def test_presets_set_their_curves_and_the_op_follows(qtbot, form, coffee):
    committed = []
    form.paramsCommitted.connect(committed.append)
    form.preset_actions["S-curve"].trigger()
    s_curve = [(0, 0), (64, 44), (191, 211), (255, 255)]  # symmetric about mid-grey
    assert points_of(committed[-1]) == s_curve
    assert form.preset_points(dict(PRESETS)["S-curve"]) == s_curve
    form.preset_actions["Invert"].trigger()
    np.testing.assert_array_equal(get_op("curves")(coffee, **form.params()), 255 - coffee)
    form.preset_actions["Linear"].trigger()
    assert form.params() == get_op("curves").defaults()


def test_channel_switch_shows_that_channels_histogram(qtbot, form, coffee):
    with qtbot.waitSignal(form.paramsCommitted, timeout=1000) as sig:
        form.channel_combo.setCurrentIndex(form.channel_combo.findData("r"))
    assert sig.args[0]["channel"] == "r"
    np.testing.assert_array_equal(form.view.counts, np.bincount(coffee[..., 0].ravel(),
                                                                minlength=256))
    form.channel_combo.setCurrentIndex(form.channel_combo.findData("luminance"))
    np.testing.assert_array_equal(form.view.counts,
                                  np.bincount(luma(coffee).ravel(), minlength=256))
    form.channel_combo.setCurrentIndex(form.channel_combo.findData("all"))
    np.testing.assert_array_equal(form.view.counts, np.bincount(coffee.ravel(), minlength=256))


def test_text_field_reads_the_command_line_form(qtbot, form):
    form.text.setText("0:0, 64:40, 255:255")
    with qtbot.waitSignal(form.paramsCommitted, timeout=1000):
        form.text.editingFinished.emit()
    assert points_of(form.params()) == [(0, 0), (64, 40), (255, 255)]
    form.text.setText("0:0, 0:40")  # two points at one x: refused, the curve kept
    form.text.editingFinished.emit()
    assert "red" in form.text.styleSheet() or "d05050" in form.text.styleSheet()
    assert points_of(form.params()) == [(0, 0), (64, 40), (255, 255)]


# -- in the real window ----------------------------------------------------------------

@pytest.fixture
def photo_file(tmp_path, astronaut):
    path = tmp_path / "astronaut-crop.png"
    Image.fromarray(np.ascontiguousarray(astronaut[40:260, 120:420])).save(path)
    return path


def open_with_tool(qtbot, w, path, op: str):
    """Open ``path`` in ``w``, let it settle and pick ``op`` in the Tools dock; returns
    the document, a copy of its opened pixels and the op's form."""
    doc = open_and_wait(qtbot, w, path)
    settle(qtbot, w)
    return doc, doc.image.copy(), w.tools.select_op(op)


def one_step_settled(qtbot, w) -> None:
    """Wait until the session is one undo step with no apply running, then settle."""
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == 1
                    and not w.controller.apply_lane.busy(), timeout=5000)
    settle(qtbot, w)


def canvas_point(canvas, x: int, y: int) -> QPoint:
    p = canvas.to_widget(QPointF(x + 0.5, y + 0.5))
    return QPoint(round(p.x()), round(p.y()))


def test_mouse_edits_commit_what_the_curves_op_makes(qtbot, window, photo_file):
    w = window
    doc, original, form = open_with_tool(qtbot, w, photo_file, "curves")
    assert isinstance(form, CurvesForm)
    view = form.view
    qtbot.waitUntil(lambda: view.width() > 100, timeout=2000)
    np.testing.assert_array_equal(view.counts, channel_histogram(original, "all"))
    drag(qtbot, view, at(view, 96, 96), [at(view, 96, 120), at(view, 96, 150)])
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == 1, timeout=5000)
    settle(qtbot, w)
    expected = get_op("curves")(original, **form.params())
    np.testing.assert_array_equal(doc.image, expected)
    assert doc.image.mean() > original.mean() + 10
    # the histogram behind the curve is still the input's, not the brightened result's
    np.testing.assert_array_equal(view.counts, channel_histogram(original, "all"))
    # on luminance: one merged step, the image as the op makes it
    form.channel_combo.setCurrentIndex(form.channel_combo.findData("luminance"))
    one_step_settled(qtbot, w)
    np.testing.assert_array_equal(doc.image, get_op("curves")(original, **form.params()))
    w.undo_action.trigger()
    np.testing.assert_array_equal(doc.image, original)


def test_eyedropper_puts_a_point_at_the_clicked_pixels_value(qtbot, window, photo_file):
    w = window
    doc, original, form = open_with_tool(qtbot, w, photo_file, "curves")
    form.preset_actions["S-curve"].trigger()  # a step of the session: the image changes
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == 1, timeout=5000)
    settle(qtbot, w)
    assert not np.array_equal(doc.image, original)
    x, y = 150, 60
    # off: a click on the canvas is a click (pan), nothing else
    qtbot.mouseClick(w.canvas, LEFT, pos=canvas_point(w.canvas, x, y))
    assert len(form.params()["points"]) == 4
    form.pick_button.click()
    assert form.pick_button.isChecked()
    qtbot.mouseClick(w.canvas, LEFT, pos=canvas_point(w.canvas, x, y))
    pts = points_of(form.params())
    assert len(pts) == 5
    # the value of the pixel *before* the adjustment (the curve's input), not after
    value = float(original[y, x] @ np.array([0.299, 0.587, 0.114]))
    added = [p for p in pts if p not in form.preset_points(dict(PRESETS)["S-curve"])]
    assert added and added[0][0] == round(value)
    assert form.view.selected == pts.index(added[0])
    # drag that point up: the commit is the op with the new points, on the original
    view = form.view
    start = at(view, *added[0])
    drag(qtbot, view, start, [start + QPoint(0, -25)])
    qtbot.waitUntil(lambda: not w.controller.apply_lane.busy(), timeout=5000)
    settle(qtbot, w)
    assert w.controller.undo_stack.count() == 1
    np.testing.assert_array_equal(doc.image, get_op("curves")(original, **form.params()))
    # hovering the canvas marks the pixel's value on the graph
    qtbot.mouseMove(w.canvas, canvas_point(w.canvas, 10, 10))
    assert form.view.marker == pytest.approx(float(original[10, 10] @ [0.299, 0.587, 0.114]))


def test_a_grayscale_image_offers_no_colour_channels(qtbot, form, coffee):
    form.channel_combo.setCurrentIndex(form.channel_combo.findData("g"))
    gray = np.ascontiguousarray(coffee[..., 1])
    with qtbot.assertNotEmitted(form.paramsCommitted):
        form.set_image(gray)
    model = form.channel_combo.model()
    enabled = {form.channel_combo.itemData(i): model.item(i).isEnabled()
               for i in range(form.channel_combo.count())}
    assert enabled == {"all": True, "r": False, "g": False, "b": False, "luminance": True}
    assert form.params()["channel"] == "all"  # what the op accepts for a gray image
    get_op("curves")(gray, **form.params())
    np.testing.assert_array_equal(form.view.counts, np.bincount(gray.ravel(), minlength=256))
    form.set_image(coffee)
    assert all(model.item(i).isEnabled() for i in range(form.channel_combo.count()))


def test_keys_nudge_and_delete_the_selected_point(qtbot, form):
    view = form.view
    qtbot.mouseClick(view, LEFT, pos=at(view, 100, 100))
    x, y = points_of(form.params())[1]
    with qtbot.waitSignal(form.paramsCommitted, timeout=1000):
        qtbot.keyClick(view, Qt.Key.Key_Up)
    assert points_of(form.params())[1] == (x, y + 1)
    qtbot.keyClick(view, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert points_of(form.params())[1] == (x + 10, y + 1)
    with qtbot.waitSignal(form.paramsCommitted, timeout=1000):
        qtbot.keyClick(view, Qt.Key.Key_Delete)
    assert len(form.params()["points"]) == 2
