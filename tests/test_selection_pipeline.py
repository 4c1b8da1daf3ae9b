"""Selections through the commit pipeline: stored with each state, undone like edits,
honoured by every op, moved by geometry, and never lost to a running masked job."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from editor.core.context import OpContext
from editor.core.selection import blend
from editor.ops import get_op, run_op
from editor.ui.pipeline import COMMITTED, REFUSED
from tests.test_pipeline import gated_op as gated_op  # noqa: F401  (the fixture)
from tests.test_pipeline import make_controller, open_array, settle

pytestmark = pytest.mark.gui


@pytest.fixture
def photo(astronaut):
    return np.ascontiguousarray(astronaut[60:220, 120:360])


def soft_mask(shape, seed=0):
    """A feathered blob: zeros far outside, ones deep inside, fractions at the edge."""
    m = np.zeros(shape[:2], np.float32)
    m[40:110, 60:170] = 1.0
    m = ndimage.gaussian_filter(m, 4).astype(np.float32)
    m[m < 0.02] = 0.0
    return m


def test_masked_op_writes_only_inside(qtbot, tmp_path, monkeypatch, photo):
    from editor.core.histogram import Histogram, compute_histogram

    patched, original = [], Histogram.patched
    monkeypatch.setattr(Histogram, "patched",
                        lambda self, *a: patched.append(a) or original(self, *a))
    c = make_controller(qtbot, tmp_path, monkeypatch)
    doc = open_array(qtbot, c, photo)
    mask = soft_mask(photo.shape)
    c.set_selection(mask, "Paint Selection")
    settle(qtbot, c)
    assert doc.selection() is not None and np.array_equal(doc.selection(), mask)
    req = c.apply_op("gaussian_blur", {"sigma": 3.0})
    settle(qtbot, c)
    assert req.outcome == COMMITTED
    out = doc.image
    outside = mask == 0
    assert np.array_equal(out[outside], photo[outside])
    whole = run_op(get_op("gaussian_blur"), photo, {"sigma": 3.0})
    assert np.abs(out.astype(int) - blend(photo, whole, mask).astype(int)).max() <= 1
    assert not np.array_equal(out[mask == 1], photo[mask == 1])
    # the history keeps the edit as the box it changed, inside the selection's
    y0, y1, x0, x1 = doc.store.delta_box(req.state_id)
    assert not outside[y0:y1, x0:x1].all(axis=None) and (mask[:y0] == 0).all() \
        and (mask[y1:] == 0).all() and (mask[:, :x0] == 0).all() and (mask[:, x1:] == 0).all()
    # ... and its histogram is the base's with that box's counts swapped: exact
    assert len(patched) == 1 and patched[0][0].shape[:2] == (y1 - y0, x1 - x0)
    direct = compute_histogram(out)
    for channel, counts in direct.counts.items():
        np.testing.assert_array_equal(c.histogram_of(req.state_id).counts[channel], counts)
    # the edit keeps the selection it was made under; undo walks both back
    assert np.array_equal(doc.selection(), mask)
    c.undo()
    settle(qtbot, c)
    assert np.array_equal(doc.image, photo) and np.array_equal(doc.selection(), mask)
    c.undo()
    settle(qtbot, c)
    assert doc.selection() is None and doc.current_id == doc.base_id
    c.redo()
    c.redo()
    settle(qtbot, c)
    assert np.array_equal(doc.image, out)


def test_undo_to_a_spilled_selection_reads_it_off_the_gui_thread(qtbot, tmp_path,
                                                                 monkeypatch, photo):
    """The canvas's outline gets a spilled mask from the job lane; the GUI thread neither
    reads it nor writes the states that reading pushes out of the budget."""
    import threading

    from editor.core import history

    c = make_controller(qtbot, tmp_path, monkeypatch, history_budget=1, min_levels=1)
    doc = open_array(qtbot, c, photo)
    first = soft_mask(photo.shape)
    c.set_selection(first, "Paint Selection")
    settle(qtbot, c)
    c.set_selection(np.ascontiguousarray(first[::-1]), "Paint Selection")
    settle(qtbot, c)
    assert c.apply_op("invert").outcome is None
    settle(qtbot, c)
    first_id = next(i.mask for i in doc.states.values() if i.mask is not None)
    assert doc.store.flush(10) and doc.store.is_spilled(first_id)
    files = []
    for name in ("load", "save"):
        real = getattr(history.np, name)
        monkeypatch.setattr(history.np, name, lambda *a, real=real, name=name, **k: (
            files.append((name, threading.current_thread().name)), real(*a, **k))[1])
    shown = []
    c.selectionChanged.connect(shown.append)
    c.undo()  # the invert: same selection, nothing to announce
    c.undo()  # the second selection: back to the first mask, which is on disk
    assert not shown  # not read on the GUI thread: it arrives from the lane
    settle(qtbot, c)
    assert len(shown) == 1 and np.array_equal(shown[0], first)
    assert files and all(thread != threading.main_thread().name for _op, thread in files)
    assert np.array_equal(doc.selection(), first)
    c.selectionChanged.disconnect(shown.append)


def test_local_edits_kept_as_deltas_undo_and_redo_exactly_when_memory_is_short(
        qtbot, tmp_path, monkeypatch, photo):
    # a budget of one byte: every state but the newest leaves RAM (spilled, or a delta's
    # array dropped) and is rebuilt on the way back
    c = make_controller(qtbot, tmp_path, monkeypatch, history_budget=1, min_levels=1)
    doc = open_array(qtbot, c, photo)
    seen, edits = [photo], []
    for i, op in enumerate(["invert", "gaussian_blur", "invert", "posterize"]):
        mask = np.zeros(photo.shape[:2], np.float32)
        mask[10 + 20 * i:90 + 20 * i, 30 * i:100 + 30 * i] = 1.0
        c.set_selection(mask, "Rectangle Select")
        settle(qtbot, c)
        assert c.apply_op(op).outcome is None
        settle(qtbot, c)
        seen.append(doc.image.copy())
        edits.append(doc.current_id)
        assert doc.store.delta_box(doc.current_id) is not None
    # the edits' arrays were dropped, never written (the masks and the photo were)
    assert doc.store.flush(10)  # spill files are written off the GUI thread
    assert doc.store.is_spilled(doc.base_id)
    assert not any(doc.store.is_spilled(sid) for sid in edits)
    for expected in seen[-2::-1]:
        c.undo()  # the selection step
        c.undo()  # the edit
        settle(qtbot, c)
        assert np.array_equal(doc.image, expected)
    for expected in seen[1:]:
        c.redo()
        c.redo()
        settle(qtbot, c)
        assert np.array_equal(doc.image, expected)


def test_a_local_change_of_the_selection_is_kept_as_a_delta(qtbot, tmp_path, monkeypatch,
                                                             photo):
    c = make_controller(qtbot, tmp_path, monkeypatch)
    doc = open_array(qtbot, c, photo)
    c.select("select_ellipse", {"x": 20, "y": 10, "width": 120, "height": 90})
    settle(qtbot, c)
    first = doc.selection().copy()
    c.select("select_rect", {"x": 180, "y": 100, "width": 30, "height": 20, "mode": "add"})
    settle(qtbot, c)
    # the added rectangle is all that changed, and all the history keeps of the new mask
    assert doc.store.delta_box(doc.mask_id()) == (100, 120, 180, 210)
    both = doc.selection()
    assert np.array_equal(both[:100], first[:100]) and both[100:120, 180:210].min() == 1.0
    c.undo()
    settle(qtbot, c)
    assert np.array_equal(doc.selection(), first)
    c.redo()
    settle(qtbot, c)
    assert np.array_equal(doc.selection(), both)


def test_selection_step_is_an_undo_step_sharing_pixels(qtbot, tmp_path, monkeypatch, photo):
    c = make_controller(qtbot, tmp_path, monkeypatch)
    doc = open_array(qtbot, c, photo)
    seen = []
    c.selectionChanged.connect(seen.append)
    c.set_selection(soft_mask(photo.shape), "Ellipse Select")
    settle(qtbot, c)
    assert c.undo_stack.count() == 1 and c.undo_stack.text(0) == "Ellipse Select"
    state = doc.states[doc.current_id]
    assert state.selects and doc.pixels_id(doc.current_id) == doc.base_id
    assert doc.get(doc.current_id) is doc.get(doc.base_id)  # no copy of the pixels
    assert seen and seen[-1] is not None
    c.set_selection(None, "Select None")
    settle(qtbot, c)
    assert doc.selection() is None and seen[-1] is None
    c.undo()
    settle(qtbot, c)
    assert doc.selection() is not None and seen[-1] is not None


def test_geometry_moves_the_selection_and_says_so(qtbot, tmp_path, monkeypatch, photo):
    c = make_controller(qtbot, tmp_path, monkeypatch)
    doc = open_array(qtbot, c, photo)
    messages = []
    c.message.connect(messages.append)
    mask = np.zeros(photo.shape[:2], np.float32)
    mask[10:50, 20:60] = 1.0
    c.set_selection(mask, "Rectangle Select")
    c.apply_op("flip", {"axis": "horizontal"})
    settle(qtbot, c)
    assert np.array_equal(doc.image, photo[:, ::-1])  # the whole image, not the selection
    assert np.array_equal(doc.selection(), mask[:, ::-1])
    c.apply_op("resize", {"scale": 0.5})
    settle(qtbot, c)
    assert doc.selection().shape == doc.image.shape[:2]
    assert any("whole image" in m for m in messages)


def test_empty_selection_is_refused_in_one_sentence(qtbot, tmp_path, monkeypatch, photo):
    c = make_controller(qtbot, tmp_path, monkeypatch)
    doc = open_array(qtbot, c, photo)
    errors = []
    c.errorOccurred.connect(errors.append)
    c.set_selection(np.zeros(photo.shape[:2], np.float32), "Paint Selection")
    settle(qtbot, c)
    before = doc.current_id
    c.apply_op("invert")
    settle(qtbot, c)
    assert doc.current_id == before
    assert errors and "selection is empty" in errors[-1] and errors[-1].count(". ") == 0


def test_selection_captured_at_start_survives_a_change_meanwhile(
        qtbot, tmp_path, monkeypatch, photo, gated_op):
    """A masked AI job runs; the user changes the selection meanwhile: the job is
    rebased onto the new state (its selection included) and nothing is lost."""
    from tests import test_pipeline

    c = make_controller(qtbot, tmp_path, monkeypatch)
    doc = open_array(qtbot, c, photo)
    first = np.zeros(photo.shape[:2], np.float32)
    first[:, :100] = 1.0
    c.set_selection(first, "Rectangle Select")
    settle(qtbot, c)
    req = c.apply_op(gated_op)
    qtbot.waitUntil(test_pipeline.GATE.entered.is_set, timeout=10000)
    # a selection change is queued behind the job (one pipeline, in order)
    second = np.zeros(photo.shape[:2], np.float32)
    second[:, 100:] = 1.0
    sel = c.set_selection(second, "Rectangle Select")
    test_pipeline.GATE.open.set()
    settle(qtbot, c)
    assert req.outcome == COMMITTED and sel.outcome == COMMITTED
    out = doc.get(req.state_id)
    assert np.array_equal(out[:, 100:], photo[:, 100:])  # written under the first only
    assert not np.array_equal(out[:, :100], photo[:, :100])
    assert np.array_equal(doc.selection(), second) and np.array_equal(doc.image, out)


def test_fixed_pixels_for_another_selection_are_refused(qtbot, tmp_path, monkeypatch, photo):
    c = make_controller(qtbot, tmp_path, monkeypatch)
    doc = open_array(qtbot, c, photo)
    base = doc.current_id
    c.set_selection(soft_mask(photo.shape), "Ellipse Select")
    settle(qtbot, c)
    req = c.commit_image(255 - photo, "Send to canvas", base=base)
    settle(qtbot, c)
    assert req.outcome == REFUSED


def test_preview_is_confined_like_the_apply(photo):
    from editor.workers.render import ViewRequest, preview

    mask = soft_mask(photo.shape)
    h, w = photo.shape[:2]
    view = ViewRequest(viewport=(w, h), visible=(0, 0, w, h), zoom=1.0)
    res = preview(OpContext(), get_op("invert"), {}, 999, photo, view, mask)
    full = run_op(get_op("invert"), photo, {}, OpContext(selection=mask))
    shown = res.buffer[..., 2::-1]  # B, G, R, A bytes
    assert np.abs(shown.astype(int) - full.astype(int)).max() <= 1
    assert not np.array_equal(shown, 255 - photo)


def test_a_slider_drag_shrinks_each_state_s_selection_once(photo, monkeypatch):
    """The proxy of the mask is kept with the image's proxies (per state and region): a
    drag's later ticks reuse it, and another state's selection is never taken for it."""
    import cv2

    from editor.workers import render
    from editor.workers.render import PROXIES, ViewRequest, preview

    PROXIES.clear()
    shrunk = []
    resize = cv2.resize
    monkeypatch.setattr(render.cv2, "resize", lambda src, *a, **k: (
        shrunk.append(src.dtype) if src.dtype == np.float32 else None) or resize(src, *a, **k))
    h, w = photo.shape[:2]
    view = ViewRequest(viewport=(w // 2, h // 2), visible=(0, 0, w, h), zoom=0.5)
    mask = soft_mask(photo.shape)
    spec = get_op("invert")
    first = preview(OpContext(), spec, {}, 501, photo, view, mask)
    again = preview(OpContext(), spec, {}, 501, photo, view, mask)
    assert len(shrunk) == 1 and np.array_equal(first.buffer, again.buffer)
    # another state with another selection: its own mask, its own confinement
    other = np.ascontiguousarray(mask[::-1])
    flipped = preview(OpContext(), spec, {}, 502, photo, view, other)
    assert len(shrunk) == 2
    full = run_op(spec, photo, {}, OpContext(selection=other))
    small = cv2.resize(full, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    # confined by its own mask (blended at the proxy's size: a few levels at the edge)
    assert np.abs(flipped.buffer[..., 2::-1].astype(int) - small.astype(int)).mean() < 0.5
    assert np.abs(first.buffer[..., 2::-1].astype(int) - small.astype(int)).mean() > 3
    PROXIES.clear()


def test_intermediate_images_show_the_selection_like_the_result(qtbot, tmp_path, monkeypatch,
                                                                 photo):
    """An iterative op's progress images are confined to the selection on the canvas too."""
    from editor.core.context import null_context
    from editor.ops.registry import register_op, unregister_op

    @register_op("test_partial_invert", title="Partial invert", category="Test", heavy=True,
                 ai=True, preview=False)
    def partial_invert(image, *, ctx=None):
        """Invert, showing the inverted image as progress first."""
        ctx = ctx or null_context()
        ctx.emit_partial(255 - image)
        return 255 - image

    try:
        c = make_controller(qtbot, tmp_path, monkeypatch)
        doc = open_array(qtbot, c, photo)
        mask = soft_mask(photo.shape)
        c.set_selection(mask, "Paint Selection")
        shown = []
        c.apply_op("test_partial_invert", partial_preview=True, on_partial=shown.append)
        settle(qtbot, c)
        assert shown
        partial = shown[0].buffer[..., 2::-1]
        assert np.array_equal(partial[mask == 0], photo[mask == 0])
        assert np.array_equal(partial, doc.image)
    finally:
        unregister_op("test_partial_invert")


def test_a_local_edit_lands_as_its_box_without_comparing_the_images(qtbot, tmp_path,
                                                                   monkeypatch, photo):
    # the op hands back the selection's box (a Patch); the store keeps that box as the
    # state's delta instead of scanning both whole images for what changed
    import editor.core.history as history
    from editor.core.selection import bbox

    c = make_controller(qtbot, tmp_path, monkeypatch)
    doc = open_array(qtbot, c, photo)
    mask = soft_mask(photo.shape)
    c.set_selection(mask, "Paint Selection")
    settle(qtbot, c)

    def no_scan(*_):
        raise AssertionError("a local edit's box is known; nothing should scan for it")

    monkeypatch.setattr(history, "changed_box", no_scan)
    req = c.apply_op("gaussian_blur", {"sigma": 3.0})
    settle(qtbot, c)
    assert req.outcome == COMMITTED
    assert doc.store.delta_box(req.state_id) == bbox(mask)
    expected = run_op(get_op("gaussian_blur"), photo, {"sigma": 3.0},
                      OpContext(selection=mask))
    np.testing.assert_array_equal(doc.image, expected)
    c.undo()
    settle(qtbot, c)
    np.testing.assert_array_equal(doc.image, photo)
    c.redo()
    settle(qtbot, c)
    np.testing.assert_array_equal(doc.image, expected)
