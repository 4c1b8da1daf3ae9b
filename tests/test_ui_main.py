"""The main window end to end (offscreen): open, preview, apply, undo, export, recover."""

from __future__ import annotations

import time
from typing import Annotated

import numpy as np
import pytest
from conftest import make_main_window, settle
from PIL import Image
from PySide6.QtCore import QCoreApplication, QPoint, QPointF, Qt

from editor.core.context import OpError
from editor.core.histogram import compute_histogram
from editor.ops import get_op, run_op
from editor.ops.registry import Range, register_op, unregister_op

pytestmark = pytest.mark.gui


def open_and_wait(qtbot, w, path):
    before = w.controller.document
    w.open_path(str(path))
    qtbot.waitUntil(lambda: w.controller.document is not None
                    and w.controller.document is not before, timeout=10000)
    return w.controller.document


def canvas_pixels(w) -> np.ndarray:
    img = w.canvas.grab().toImage().convertToFormat(w.canvas.grab().toImage().Format.Format_RGB32)
    ptr = img.constBits()
    return np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine())[
        :, : img.width() * 4].copy()


def drag_slider(qtbot, form, name, values, release=True):
    """Drag parameter ``name``'s slider through ``values``; return once the form has sent
    the last value (its throttle holds back moves that come quicker than it allows)."""
    sent = []
    form.paramsChanged.connect(sent.append)
    slider = form.editors[name].slider
    slider.setSliderDown(True)
    for v in values:
        slider.setValue(v)
        QCoreApplication.processEvents()  # each move reaches the form as in a real drag
    if release:
        slider.setSliderDown(False)
    qtbot.waitUntil(lambda: bool(sent) and sent[-1] == form.params(), timeout=5000)
    form.paramsChanged.disconnect(sent.append)


@pytest.fixture
def temp_ops():
    names = []

    def add(name, func, **kw):
        register_op(name, title=name, category="Test", **kw)(func)
        names.append(name)

    yield add
    for n in names:
        unregister_op(n)


def test_welcome_state_then_open_shows_photo_and_histogram(qtbot, window, small_photo):
    w = window
    assert w.stack.currentWidget() is w.welcome
    assert w.welcome.sample_button.isEnabled()  # bundled sample exists
    doc = open_and_wait(qtbot, w, small_photo)
    assert w.stack.currentWidget() is w.canvas
    assert w.canvas.image_size() == (300, 200)
    expected = compute_histogram(np.asarray(Image.open(small_photo)))
    np.testing.assert_array_equal(w.histogram.view.histogram.counts["r"], expected.counts["r"])
    assert w.histogram.stat_labels[("g", "mean")].text() == f"{expected.stats['g'].mean:.1f}"
    assert doc.path == str(small_photo) and "coffee-small.png" in w.windowTitle()
    assert str(small_photo) in w.recent_files()


def test_slider_preview_changes_canvas_and_histogram_then_one_undo_step(
        qtbot, window, small_photo):
    w = window
    doc = open_and_wait(qtbot, w, small_photo)
    settle(qtbot, w)
    original = doc.image.copy()
    before_canvas = canvas_pixels(w)
    before_hist = w.histogram.view.histogram
    form = w.tools.select_op("brightness")
    slider = form.editors["amount"].slider
    drag_slider(qtbot, form, "amount", range(slider.value() + 6, slider.value() + 31, 6),
                release=False)
    qtbot.waitUntil(lambda: w.canvas.has_preview(), timeout=5000)
    settle(qtbot, w)
    # the preview moved the canvas and the histogram, but made no undo step
    assert np.abs(canvas_pixels(w).astype(int) - before_canvas).mean() > 5
    assert w.histogram.view.histogram is not before_hist
    assert w.histogram.view.histogram.stats["l"].mean > before_hist.stats["l"].mean + 20
    assert w.controller.undo_stack.count() == 0
    slider.setSliderDown(False)  # release: commit at full resolution
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == 1, timeout=5000)
    settle(qtbot, w)
    params = form.params()
    assert params["amount"] == pytest.approx(0.3)
    np.testing.assert_array_equal(doc.image, run_op(get_op("brightness"), original, params))
    # a second drag of the same tool merges into the same undo step
    drag_slider(qtbot, form, "amount", [slider.value() - 10])
    settle(qtbot, w)
    assert w.controller.undo_stack.count() == 1
    assert doc.recipe_steps() == [("brightness", {"amount": pytest.approx(0.2)})]
    np.testing.assert_array_equal(doc.image, run_op(get_op("brightness"), original,
                                                    form.params()))
    np.testing.assert_array_equal(w.histogram.view.histogram.counts["b"],
                                  compute_histogram(doc.image).counts["b"])
    w.controller.undo()
    settle(qtbot, w)
    np.testing.assert_array_equal(doc.image, original)
    assert not doc.dirty


def test_a_preview_made_at_the_screen_s_scale_reaches_the_canvas_pixel_for_pixel(
        qtbot, window, tmp_path, coffee):
    """At a fit zoom under 100 % the preview proxy is the view's size: it is blitted as
    computed, not resampled (a slider tick then costs the GUI thread a copy)."""
    from conftest import open_image

    w = window
    big = np.ascontiguousarray(np.concatenate([coffee, coffee[::-1]], axis=0))  # 800 x 600
    big = np.ascontiguousarray(np.concatenate([big, big[:, ::-1]], axis=1))[:, :1000]
    open_image(qtbot, w, big, tmp_path / "big.png")
    settle(qtbot, w)
    assert w.canvas.zoom < 1
    form = w.tools.select_op("brightness")
    slider = form.editors["amount"].slider
    drag_slider(qtbot, form, "amount", [slider.value() + 20], release=False)
    qtbot.waitUntil(lambda: w.canvas.has_preview(), timeout=5000)
    settle(qtbot, w)
    result = w.canvas._preview
    x0, y0, x1, y1 = result.region
    assert (x0, y0, x1, y1) == (0, 0, big.shape[1], big.shape[0])  # the whole photo shows
    corner = w.canvas.to_widget(QPointF(0, 0))
    tx, ty = round(corner.x()), round(corner.y())
    shown = canvas_pixels(w)
    shown = shown.reshape(shown.shape[0], -1, 4)
    ph, pw = result.buffer.shape[:2]
    np.testing.assert_array_equal(shown[ty:ty + ph, tx:tx + pw, :3], result.buffer[..., :3])
    slider.setSliderDown(False)
    settle(qtbot, w)


def test_a_jump_of_many_steps_renders_only_the_state_it_lands_on(qtbot, window, small_photo,
                                                                   monkeypatch):
    # QUndoStack.setIndex undoes step by step: rendering each state passed on the way
    # made the lane finish a render no one would see before starting the wanted one
    w = window
    doc = open_and_wait(qtbot, w, small_photo)
    c = w.controller
    for op, params in (("invert", {}), ("flip", {}), ("brightness", {"amount": 0.2})):
        c.apply_op(op, params)
        settle(qtbot, w)
    ids = [c.undo_stack.command(i).after for i in range(3)]
    rendered, submit = [], c.preview_lane.submit
    monkeypatch.setattr(c.preview_lane, "submit",
                        lambda job: rendered.append(doc.current_id) or submit(job))
    c._display.clear()  # nothing cached: every state passed on the way would render
    c.undo_stack.setIndex(0)
    settle(qtbot, w)
    assert rendered == [doc.base_id] and c.rendered.state_id == doc.current_id == doc.base_id
    c.undo_stack.setIndex(2)
    settle(qtbot, w)
    assert rendered == [doc.base_id, ids[1]] and c.rendered.state_id == ids[1]
    # nor is the selection of a state passed on the way sent to the canvas
    c.undo_stack.setIndex(3)
    c.select("select_rect", {"x": 10, "y": 10, "width": 50, "height": 40})
    c.apply_op("invert", {})
    c.select("select_none", {})
    settle(qtbot, w)
    masks = []
    c.selectionChanged.connect(masks.append)
    c.undo_stack.setIndex(1)  # passes the two states with the rectangle
    settle(qtbot, w)
    assert masks == [] and doc.selection(doc.current_id) is None
    c.undo_stack.setIndex(5)  # lands on one: its mask is sent once
    settle(qtbot, w)
    assert len(masks) == 1 and masks[0] is not None and masks[0][30, 30] == 1


def test_apply_undo_redo_and_history_jump(qtbot, window, small_photo):
    w = window
    doc = open_and_wait(qtbot, w, small_photo)
    original = doc.image.copy()
    w.tools.select_op("invert")
    w.tools.apply_button.click()
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == 1, timeout=5000)
    w.tools.select_op("flip")
    w.tools.apply_button.click()
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == 2, timeout=5000)
    settle(qtbot, w)
    inverted = 255 - original
    np.testing.assert_array_equal(doc.image, inverted[:, ::-1])
    names = [w.controller.undo_stack.text(i) for i in range(2)]
    assert names == ["Invert", "Flip"]
    w.undo_action.trigger()
    np.testing.assert_array_equal(doc.image, inverted)
    w.redo_action.trigger()
    np.testing.assert_array_equal(doc.image, inverted[:, ::-1])
    # click the "Original" row of the history dock
    view = w.history_view
    rect = view.visualRect(view.model().index(0, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: w.controller.undo_stack.index() == 0, timeout=2000)
    np.testing.assert_array_equal(doc.image, original)
    settle(qtbot, w)
    assert w.controller.rendered.state_id == doc.current_id  # the canvas followed
    rect = view.visualRect(view.model().index(2, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: w.controller.undo_stack.index() == 2, timeout=2000)
    np.testing.assert_array_equal(doc.image, inverted[:, ::-1])


def test_export_and_reopen_gives_the_same_pixels(qtbot, window, small_photo, tmp_path):
    from editor.io import load_image

    w = window
    doc = open_and_wait(qtbot, w, small_photo)
    w.controller.apply_op("invert")
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == 1, timeout=5000)
    assert doc.dirty
    out = tmp_path / "out.png"
    done = []
    w.controller.export(str(out), {"format": "PNG"}, on_done=done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=5000)
    assert not doc.dirty  # exported: nothing to lose on quit
    np.testing.assert_array_equal(load_image(out).pixels, doc.image)
    jpg = tmp_path / "out.jpg"
    w.controller.export(str(jpg), {"format": "JPEG", "quality": 95})
    qtbot.waitUntil(lambda: jpg.exists(), timeout=5000)
    from conftest import psnr

    assert psnr(load_image(jpg).pixels, doc.image) > 35  # JPEG q95 on a photo: ~40 dB
    reopened = open_and_wait(qtbot, w, out)
    np.testing.assert_array_equal(reopened.image, 255 - np.asarray(Image.open(small_photo)))


def test_bad_file_shows_one_sentence_and_keeps_the_document(qtbot, window, small_photo,
                                                            tmp_path):
    w = window
    doc = open_and_wait(qtbot, w, small_photo)
    w.controller.apply_op("invert")
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == 1, timeout=5000)
    state = doc.current_id
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a PNG")
    w.open_path(str(bad))
    qtbot.waitUntil(lambda: bool(w.last_error), timeout=5000)
    assert "broken.png" in w.last_error and "\n" not in w.last_error
    assert "Traceback" not in w.last_error
    assert w.statusBar().currentMessage() == w.last_error
    assert w.controller.document is doc and doc.current_id == state
    assert w.controller.undo_stack.count() == 1


@pytest.mark.parametrize("kind", ["rgb16", "rgba"])
def test_16_bit_and_alpha_round_trips(qtbot, window, coffee, tmp_path, kind):
    import cv2

    from editor.io import load_image

    w = window
    crop = np.ascontiguousarray(coffee[:120, :160])
    src = tmp_path / f"{kind}.png"
    if kind == "rgb16":
        pixels = crop.astype(np.uint16) * 257 + 3  # values no 8-bit image can hold
        cv2.imwrite(str(src), pixels[..., ::-1])
    else:
        alpha = np.tile(np.linspace(0, 255, 160).astype(np.uint8), (120, 1))
        pixels = np.dstack([crop, alpha])
        Image.fromarray(pixels, "RGBA").save(src)
    doc = open_and_wait(qtbot, w, src)
    np.testing.assert_array_equal(doc.image, pixels)
    w.controller.apply_op("invert")
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == 1, timeout=5000)
    expected = run_op(get_op("invert"), pixels, {})
    assert doc.image.dtype == pixels.dtype
    np.testing.assert_array_equal(doc.image, expected)
    if kind == "rgba":
        np.testing.assert_array_equal(doc.image[..., 3], pixels[..., 3])  # alpha untouched
    out = tmp_path / f"{kind}-out.png"
    w.controller.export(str(out), {"format": "PNG"})
    qtbot.waitUntil(lambda: out.exists() and not w.controller.busy(), timeout=5000)
    np.testing.assert_array_equal(load_image(out).pixels, expected)


def test_cancel_of_a_long_job_leaves_the_image_unchanged(qtbot, window, small_photo, temp_ops):
    steps = []

    def slow_test_op(image, *, ctx=None):
        """Sleep in steps, checking for Cancel."""
        for i in range(400):
            ctx.report(i / 400, "Working")
            steps.append(i)
            time.sleep(0.01)
        return 255 - image

    temp_ops("slow_test_op", slow_test_op, heavy=True)
    w = window
    doc = open_and_wait(qtbot, w, small_photo)
    original = doc.image.copy()
    w.controller.apply_op("slow_test_op")
    qtbot.waitUntil(lambda: w.cancel_button.isVisible() and w.progress.value() > 0,
                    timeout=5000)
    qtbot.mouseClick(w.cancel_button, Qt.MouseButton.LeftButton)
    done_at_cancel = len(steps)
    qtbot.waitUntil(lambda: not w.controller.busy(), timeout=3000)
    assert len(steps) - done_at_cancel <= 1  # stopped at its next check, not at the end
    assert not w.cancel_button.isVisible()
    assert "cancelled" in w.statusBar().currentMessage()
    assert w.controller.undo_stack.count() == 0
    np.testing.assert_array_equal(doc.image, original)


def test_failing_op_reports_why_and_changes_nothing(qtbot, window, small_photo, temp_ops):
    def failing_test_op(image, *, ctx=None):
        """Fail like an op with a bad input would."""
        raise OpError("The mask must be as large as the image")

    temp_ops("failing_test_op", failing_test_op)
    w = window
    doc = open_and_wait(qtbot, w, small_photo)
    state = doc.current_id
    w.controller.apply_op("failing_test_op")
    qtbot.waitUntil(lambda: bool(w.last_error), timeout=5000)
    assert w.last_error == "The mask must be as large as the image."
    assert doc.current_id == state and w.controller.undo_stack.count() == 0


def test_side_outputs_reach_status_bar_and_canvas(qtbot, window, small_photo, temp_ops):
    def corners_test_op(image, *, count: Annotated[int, Range(1, 50)] = 5, ctx=None):
        """Report fake corners as a side output."""
        ctx.extras["points"] = np.array([[10 + 5 * i, 20] for i in range(count)], float)
        return image.copy()

    temp_ops("corners_test_op", corners_test_op)
    w = window
    doc = open_and_wait(qtbot, w, small_photo)
    w.controller.apply_op("corners_test_op", {"count": 7})
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == 1, timeout=5000)
    assert "7 points" in w.statusBar().currentMessage()
    assert len(doc.extras["points"]) == 7
    # a bare point list (a detector burning its markers also writes one, for --points)
    # is data, not an overlay: only an Overlay is drawn (tests/test_ui_overlay.py)
    assert w.overlay.current() is None and w.canvas.overlay_layer.overlay is None


def test_zoom_pan_readout_and_split_view(qtbot, window, small_photo):
    w = window
    doc = open_and_wait(qtbot, w, small_photo)
    settle(qtbot, w)
    c = w.canvas
    w.actual_action.trigger()
    assert c.zoom == 1.0 and w.zoom_label.text() == "100 %"
    w.zoom_in_action.trigger()
    assert c.zoom == pytest.approx(1.25)
    w.fit_action.trigger()
    assert c.zoom == pytest.approx(c.fit_zoom())
    # wheel-style zoom keeps the point under the cursor
    anchor = QPointF(c.width() / 2 + 40, c.height() / 2 + 10)
    under = c.to_image(anchor)
    c.set_zoom(c.zoom * 2, anchor)
    after = c.to_image(anchor)
    assert (after.x(), after.y()) == pytest.approx((under.x(), under.y()))
    # pan by dragging
    center = QPoint(c.width() // 2, c.height() // 2)
    before = QPointF(c.center)
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=center)
    qtbot.mouseMove(c, center + QPoint(30, 0))
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=center + QPoint(30, 0))
    assert c.center.x() < before.x()
    # readout: x, y and the value under the cursor
    w.fit_action.trigger()
    c._pixel = None
    p = c.to_widget(QPointF(100.5, 50.5))
    qtbot.mouseMove(c, QPoint(int(p.x()), int(p.y())))
    v = doc.image[50, 100]
    assert w.pixel_label.text() == f"x 100  y 50   RGB {v[0]} {v[1]} {v[2]}"
    # before/after split: the left half shows the original after an edit
    w.controller.apply_op("invert")
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == 1, timeout=5000)
    settle(qtbot, w)
    edited = canvas_pixels(w)
    w.set_split(True)
    split = canvas_pixels(w)
    h, wd = split.shape[0], split.shape[1] // 4
    left = slice(wd // 4, wd // 2 - 20)
    right = slice(wd // 2 + 20, 3 * wd // 4)
    ys = slice(h // 2 - 40, h // 2 + 40)

    def cols(s):
        return slice(s.start * 4, s.stop * 4)

    assert np.abs(split[ys, cols(left)].astype(int) - edited[ys, cols(left)]).mean() > 30
    # the right half is the edit; clipping may shift smooth-scaling rounding by 1
    assert np.abs(split[ys, cols(right)].astype(int) - edited[ys, cols(right)]).max() <= 2


def test_search_filters_the_tools(qtbot, window):
    w = window
    w.tools.search.setText("bright")
    shown = w.tools.visible_ops()
    assert "brightness" in shown and "invert" not in shown and "flip" not in shown
    for name in shown:
        s = w.tools.specs[name]
        assert "bright" in f"{s.title} {s.name} {s.category} {s.summary}".lower()
    w.tools.search.setText("")
    assert len(w.tools.visible_ops()) == len(w.tools.specs)


def test_layout_and_recent_files_are_remembered(qtbot, tmp_path, monkeypatch, small_photo):
    monkeypatch.setenv("CONVOLVE_RECOVERY_DIR", str(tmp_path / "recovery"))
    w = make_main_window(qtbot, tmp_path)
    open_and_wait(qtbot, w, small_photo)
    w.history_dock.hide()
    w.close()
    w2 = make_main_window(qtbot, tmp_path)
    assert w2.recent_files()[0] == str(small_photo)
    assert w2.welcome.recent.count() == 1
    assert w2.history_dock.isHidden()
    assert any(a.text() == "coffee-small.png" for a in w2.recent_menu.actions())


def test_add_panel_lists_it_in_the_window_menu(qtbot, window):
    from PySide6.QtWidgets import QLabel

    dock = window.add_panel("AI Tools", QLabel("hello"))
    assert dock.objectName() == "panel_AI_Tools"
    assert dock.toggleViewAction() in window.window_menu.actions()


def test_dropping_a_file_on_the_window_opens_it(qtbot, window, small_photo):
    """A file dragged from a file manager: the drag is accepted, the drop opens it;
    a drag carrying no local file is refused."""
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    w = window
    pos = QPointF(w.rect().center())
    web = QMimeData()
    web.setUrls([QUrl("https://example.com/photo.png")])
    refused = QDragEnterEvent(pos, Qt.DropAction.CopyAction, web,
                              Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    refused.ignore()
    w.dragEnterEvent(refused)
    assert not refused.isAccepted()

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(small_photo))])
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter.ignore()
    w.dragEnterEvent(enter)
    assert enter.isAccepted()
    w.dropEvent(QDropEvent(pos, Qt.DropAction.CopyAction, mime,
                           Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    qtbot.waitUntil(lambda: w.controller.document is not None, timeout=10000)
    assert w.controller.document.path == str(small_photo)
    assert w.canvas.image_size() == (300, 200)
