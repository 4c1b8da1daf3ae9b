"""Convolve projects (.convolve): the work with its history, saved, reopened, undone."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Annotated

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from editor.core.recovery import LinearHistory, Step, pending_recoveries
from editor.io.project import ProjectError, load_project, save_project
from editor.ops import get_op, run_op
from editor.ops.registry import Range, register_op, unregister_op


def _history() -> LinearHistory:
    h = LinearHistory(1)
    h.push(Step(1, 2, "Invert", "invert", {}))
    h.push(Step(2, 3, "Gamma", "gamma", {"gamma": 1.6}))
    h.undo()
    return h


def test_a_project_round_trips_pixels_facts_and_history(tmp_path, astronaut):
    rgba = np.dstack([astronaut, astronaut[..., :1]]).astype(np.uint16) * 257
    path = save_project(tmp_path / "work", original=rgba, history=_history(),
                        pixels={3: rgba[::-1]}, source="/photos/a.png", format="PNG",
                        info={"bits": 16}, exif=b"Exif\x00\x00MM", icc_profile=b"\x00icc")
    assert path.name == "work.convolve"
    p = load_project(path)
    np.testing.assert_array_equal(p.original(), rgba)
    assert p.original().dtype == np.uint16 and p.original().shape[2] == 4
    np.testing.assert_array_equal(p.pixels(3), rgba[::-1])
    assert p.pixels(2) is None  # rebuilt from its recipe on opening
    assert p.history.recipe(2) == [("invert", {}), ("gamma", {"gamma": 1.6})]
    assert p.history.index == 1
    assert (p.source, p.format, p.exif, p.icc_profile) == \
        ("/photos/a.png", "PNG", b"Exif\x00\x00MM", b"\x00icc")
    assert not list(tmp_path.glob(".convolve-*.part"))  # written atomically


def test_only_projects_with_selection_steps_need_version_2(tmp_path, astronaut):
    """An older Convolve (reading version 1) still opens projects without selections,
    and refuses the others in one sentence instead of misreading a mask as pixels."""
    plain = save_project(tmp_path / "plain", original=astronaut, history=_history(), pixels={})
    h = _history()
    h.push(Step(2, 4, "Ellipse Select", "select_ellipse",
                {"x": 10, "y": 10, "width": 50, "height": 40}, selects=True))
    selecting = save_project(tmp_path / "sel", original=astronaut, history=h, pixels={})
    versions = {}
    for path in (plain, selecting):
        with zipfile.ZipFile(path) as z:
            versions[path.stem] = json.loads(z.read("project.json"))["version"]
    assert versions == {"plain": 1, "sel": 2}
    assert load_project(selecting).history.commands[-1].selects


def _bad(tmp_path, name, files: dict[str, bytes]) -> str:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as z:
        for member, data in files.items():
            z.writestr(member, data)
    with pytest.raises(ProjectError) as e:
        p = load_project(path)
        p.original()
    message = str(e.value)
    assert message.startswith(name) and message.endswith(".") and "\n" not in message
    return message


def _npy(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def test_damaged_or_hostile_projects_are_refused_in_one_sentence(tmp_path, monkeypatch):
    good = {"format": "convolve-project", "version": 1,
            "history": {"base": 1, "index": 0, "steps": []}, "stored": {}}
    (tmp_path / "text.convolve").write_text("not a zip")
    with pytest.raises(ProjectError, match="not a readable Convolve project"):
        load_project(tmp_path / "text.convolve")
    assert "no project.json" in _bad(tmp_path, "empty.convolve", {"x": b""})
    assert "newer Convolve" in _bad(tmp_path, "new.convolve", {
        "project.json": json.dumps(dict(good, version=99)).encode()})
    broken = dict(good, history={"base": 1, "index": 1, "steps": [
        {"before": 5, "after": 6, "title": "x", "op": "invert", "params": {}}]})
    assert "history is damaged" in _bad(tmp_path, "chain.convolve", {
        "project.json": json.dumps(broken).encode(), "original.npy": _npy(np.zeros((2, 2)))})
    assert "not an image" in _bad(tmp_path, "pickle.convolve", {
        "project.json": json.dumps(good).encode(),
        "original.npy": _npy(np.array([{"a": 1}], dtype=object))})
    monkeypatch.setenv("CONVOLVE_MAX_PIXELS", "100")
    assert "over the pixel limit" in _bad(tmp_path, "big.convolve", {
        "project.json": json.dumps(good).encode(),
        "original.npy": _npy(np.zeros((20, 20), np.uint8))})


# -- in the editor -----------------------------------------------------------------------

@pytest.fixture
def heavy_op():
    @register_op("test_heavy_add", title="Heavy add", category="Test", heavy=True)
    def heavy_add(image, *, by: Annotated[int, Range(0, 255)] = 20, ctx=None):
        """Add a constant (stands in for an expensive AI op whose pixels are stored)."""
        return (image.astype(np.int16) + by).clip(0, 255).astype(image.dtype)

    yield "test_heavy_add"
    unregister_op("test_heavy_add")


def _window(qtbot, tmp_path):
    from editor.ui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, load_registry=False, install_panels=False)
    w.load_registry(sync=True)
    qtbot.addWidget(w)
    return w


def _idle(qtbot, w, count=None):
    c = w.controller
    qtbot.waitUntil(lambda: c.document is not None and not c.busy()
                    and (count is None or c.undo_stack.count() == count), timeout=20000)


def test_save_reopen_and_undo_the_whole_history(qtbot, tmp_path, monkeypatch, coffee,
                                                heavy_op):
    monkeypatch.setenv("CONVOLVE_RECOVERY_DIR", str(tmp_path / "recovery"))
    photo = tmp_path / "cup.png"
    Image.fromarray(coffee[50:250, 100:400]).save(photo)
    w = _window(qtbot, tmp_path)
    w.open_path(str(photo))
    _idle(qtbot, w)
    c = w.controller
    for op, params in (("brightness", {"amount": 0.2}), (heavy_op, {"by": 30}),
                       ("gaussian_blur", {"sigma": 2.0}), ("invert", {})):
        c.apply_op(op, params)
    _idle(qtbot, w, 4)
    c.undo()  # saved with a redo step: it comes back too
    states = []
    for i in range(5):
        c.undo_stack.setIndex(i)
        states.append(c.document.image.copy())
    c.undo_stack.setIndex(3)
    assert c.document.dirty
    target = tmp_path / "cup"
    assert w.save_project(str(target), wait=True)
    project = tmp_path / "cup.convolve"
    assert project.exists() and not c.document.dirty
    assert "cup.convolve" in w.windowTitle()
    assert sorted(load_project(project).stored) == [3, 4]  # the heavy step and the current one

    w2 = _window(qtbot, tmp_path)
    w2.open_path(str(project))
    _idle(qtbot, w2, 4)
    c2 = w2.controller
    assert c2.undo_stack.index() == 3 and not c2.document.dirty
    assert [c2.undo_stack.text(i) for i in range(4)] == \
        ["Brightness", "Heavy add", "Gaussian blur", "Invert"]
    assert c2.document.path == str(photo) and c2.document.project_path == str(project)
    for i in range(5):  # every state, undo and redo alike, is the one that was saved
        c2.undo_stack.setIndex(i)
        np.testing.assert_array_equal(c2.document.image, states[i])
    c2.undo_stack.setIndex(3)
    assert c2.document.recipe_steps() == [("brightness", {"amount": 0.2}),
                                          (heavy_op, {"by": 30}),
                                          ("gaussian_blur", {"sigma": 2.0})]
    # an edit after reopening, then a crash: the restore has the project's steps too
    c2.apply_op("flip", {"axis": "vertical"})
    _idle(qtbot, w2, 4)
    w2.controller.io.writer.wait(10)
    c2.journal.abandon()
    unregister_op(heavy_op)  # gone after the crash: its stored pixels stand in for it
    (rec,) = pending_recoveries(tmp_path / "recovery")
    assert rec.plan().history.index == 4
    w3 = _window(qtbot, tmp_path)
    assert w3.offer_recovery(answer=lambda found: found) == 1
    _idle(qtbot, w3, 4)
    expected = run_op(get_op("flip"), states[3], {"axis": "vertical"})
    np.testing.assert_array_equal(w3.controller.document.image, expected)
    w3.controller.undo_stack.setIndex(2)
    np.testing.assert_array_equal(w3.controller.document.image, states[2])
    for win in (w, w2, w3):
        win._confirm = lambda doing: True


def test_closing_with_unsaved_edits_offers_save(qtbot, tmp_path, monkeypatch, coffee):
    """Save in the close prompt writes the project (with its history) and lets the close
    go on; Cancel keeps the window."""
    monkeypatch.setenv("CONVOLVE_RECOVERY_DIR", str(tmp_path / "recovery"))
    w = _window(qtbot, tmp_path)
    w.controller.open_array(np.ascontiguousarray(coffee[:100, :120]))
    _idle(qtbot, w)
    w.controller.apply_op("invert")
    _idle(qtbot, w, 1)
    w.controller.document.project_path = str(tmp_path / "kept.convolve")
    clicked = []

    def answer(button: str) -> None:
        box = next(b for b in QApplication.topLevelWidgets()
                   if isinstance(b, QMessageBox) and b.isVisible())
        assert [x.text() for x in box.buttons()].count("Save") == 1
        assert {"Export…", "Discard", "Cancel"} <= {x.text() for x in box.buttons()}
        target = next(x for x in box.buttons() if x.text() == button)
        clicked.append(button)
        target.click()

    QTimer.singleShot(100, lambda: answer("Cancel"))
    assert not w.maybe_discard("quit")
    QTimer.singleShot(100, lambda: answer("Save"))
    assert w.maybe_discard("quit")
    assert clicked == ["Cancel", "Save"]
    assert load_project(tmp_path / "kept.convolve").history.recipe() == [("invert", {})]
    assert not w.controller.document.dirty
