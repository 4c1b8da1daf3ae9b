"""Errors a user cannot miss: the message bar and the Export dialog (issue 13)."""

from __future__ import annotations

import pytest
from conftest import wait_until_idle
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog

from editor.core.context import OpError
from editor.ops.registry import register_op, unregister_op
from editor.ui.export_dialog import ExportDialog, target_problem

pytestmark = pytest.mark.gui


@pytest.fixture
def opened(photo_window):
    return photo_window


def idle(qtbot, w):
    c = w.controller
    wait_until_idle(qtbot, lambda: c.job_lane.busy() or c.apply_lane.busy()
                    or c.pipeline.busy())


def test_a_failed_open_shows_a_non_modal_bar_until_dismissed(qtbot, opened, tmp_path):
    w = opened
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a PNG")
    w.open_path(str(bad))
    qtbot.waitUntil(lambda: w.message_bar.isVisible(), timeout=5000)
    bar = w.message_bar
    assert "broken.png" in bar.text() and "\n" not in bar.text()
    assert QApplication.activeModalWidget() is None  # the window stays usable
    # over the top of the central area, across its width
    assert bar.parent() is w.centralWidget() and bar.y() < 20
    assert bar.width() > w.centralWidget().width() * 0.8
    # the same sentence again counts instead of stacking
    w.controller.report_error(bar.text())
    assert bar.label.text().endswith("(×2)")
    qtbot.mouseClick(bar.close_button, Qt.MouseButton.LeftButton)
    assert not bar.isVisible() and bar.text() == ""


def test_a_failed_job_reaches_the_bar(qtbot, opened):
    def failing_bar_op(image, *, ctx=None):
        """Fail like an op with a bad input would."""
        raise OpError("The mask must be as large as the image")

    register_op("failing_bar_op", title="Failing", category="Test")(failing_bar_op)
    try:
        opened.controller.apply_op("failing_bar_op")
        qtbot.waitUntil(lambda: opened.message_bar.isVisible(), timeout=5000)
        assert opened.message_bar.text() == "The mask must be as large as the image."
    finally:
        unregister_op("failing_bar_op")


def test_export_to_a_missing_folder_keeps_the_dialog_and_its_settings(qtbot, opened, tmp_path):
    w = opened
    dlg = ExportDialog(str(tmp_path / "nowhere" / "x.jpg"), {}, w, export=w.controller.export)
    qtbot.addWidget(dlg)
    dlg.quality.setValue(42)
    dlg.progressive.setChecked(True)
    dlg.show()
    dlg.save_button.click()
    assert dlg.isVisible() and dlg.result() != QDialog.DialogCode.Accepted
    assert dlg.error.isVisible()
    assert "nowhere" in dlg.error.text() and "does not exist" in dlg.error.text()
    assert dlg.quality.value() == 42 and dlg.progressive.isChecked()
    out = tmp_path / "x.jpg"
    dlg.path_edit.setText(str(out))
    dlg.save_button.click()
    qtbot.waitUntil(lambda: dlg.result() == QDialog.DialogCode.Accepted, timeout=10000)
    assert out.exists() and not dlg.isVisible()
    assert dlg.options()["quality"] == 42


def test_an_export_failing_in_the_worker_keeps_the_dialog(qtbot, opened, tmp_path,
                                                         monkeypatch):
    import editor.io

    def refuse(path, *a, **kw):
        raise editor.io.SaveError("x.png: cannot write (disk full)")

    monkeypatch.setattr(editor.io, "save_image", refuse)
    w = opened
    dlg = ExportDialog(str(tmp_path / "x.png"), {}, w, export=w.controller.export)
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.save_button.click()
    assert not dlg.save_button.isEnabled()  # while it runs
    qtbot.waitUntil(lambda: dlg.error.isVisible(), timeout=10000)
    assert "disk full" in dlg.error.text()
    assert dlg.isVisible() and dlg.save_button.isEnabled()
    assert "disk full" in w.message_bar.text()


def test_the_menus_export_dialog_stays_open_on_a_bad_folder(qtbot, opened, tmp_path):
    w = opened
    idle(qtbot, w)
    seen = []
    out = tmp_path / "made.png"

    def drive():
        dlg = QApplication.activeModalWidget()
        assert isinstance(dlg, ExportDialog)
        dlg.path_edit.setText(str(tmp_path / "missing" / "made.png"))
        dlg.save_button.click()
        seen.append((dlg.isVisible(), dlg.error.text()))
        dlg.path_edit.setText(str(out))
        dlg.save_button.click()  # written, then the dialog closes itself

    QTimer.singleShot(100, drive)
    w.export_dialog()
    assert seen and seen[0][0] and "does not exist" in seen[0][1]
    assert out.exists()
    assert not w.controller.document.dirty  # exec() returned once the file was written
    assert w.settings.value("exportDir") == str(tmp_path)


@pytest.mark.parametrize("case", ["empty", "folder", "missing", "fine"])
def test_target_problem(tmp_path, case):
    path = {"empty": "", "folder": str(tmp_path), "missing": str(tmp_path / "a" / "b.png"),
            "fine": str(tmp_path / "b.png")}[case]
    problem = target_problem(path)
    assert bool(problem) == (case != "fine")
    assert problem.count(".") <= 2 and "\n" not in problem
