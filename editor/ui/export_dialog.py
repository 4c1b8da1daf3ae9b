"""Export options dialog, built from ``editor.io.formats.EXPORT_FORMATS``.

Given an ``export`` function (the controller's), the dialog writes the file
itself and stays open until it is written: a folder that does not exist, a
folder that cannot be written or a failed encode shows its sentence in the
dialog, with every setting kept, instead of closing and leaving a line in the
status bar.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)


def export_formats() -> dict[str, dict[str, Any]]:
    from editor.io.formats import EXPORT_FORMATS

    return EXPORT_FORMATS


class ExportDialog(QDialog):
    """File name, format and the options that format understands.

    ``options()`` returns keywords for :func:`editor.io.save_image`. With
    ``export(path, options, on_done=...) -> Job | None`` the dialog runs the export
    when Save is pressed and closes once the file is written (see the module doc);
    without it, it closes at once and the caller exports.
    """

    def __init__(self, path: str, image_info: dict | None = None,
                 parent: QWidget | None = None,
                 export: Callable[..., Any] | None = None) -> None:
        super().__init__(parent)
        self._export = export
        self.job = None
        self.setWindowTitle("Export As")
        self.setMinimumWidth(460)
        self.formats = export_formats()
        self.info = image_info or {}
        self._background = (255, 255, 255)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        row = QHBoxLayout()
        self.path_edit = QLineEdit(path)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        form.addRow("File", row)
        self.format_box = QComboBox()
        for name, spec in self.formats.items():
            self.format_box.addItem(spec.get("title", name), name)
        form.addRow("Format", self.format_box)
        self.quality = QSlider(Qt.Orientation.Horizontal)
        self.quality.setRange(1, 100)
        self.quality.setValue(90)
        self.quality_spin = QSpinBox()
        self.quality_spin.setRange(1, 100)
        self.quality_spin.setValue(90)
        self.quality.valueChanged.connect(self.quality_spin.setValue)
        self.quality_spin.valueChanged.connect(self.quality.setValue)
        qrow = QHBoxLayout()
        qrow.addWidget(self.quality, 1)
        qrow.addWidget(self.quality_spin)
        self.quality_row = QWidget()
        self.quality_row.setLayout(qrow)
        qrow.setContentsMargins(0, 0, 0, 0)
        form.addRow("Quality", self.quality_row)
        self.progressive = QCheckBox("Progressive (loads coarse-to-fine on the web)")
        form.addRow("", self.progressive)
        self.lossless = QCheckBox("Lossless")
        form.addRow("", self.lossless)
        self.strip = QCheckBox("Strip metadata (EXIF, colour profile)")
        form.addRow("", self.strip)
        self.background = QPushButton()
        self.background.setFixedWidth(64)
        self.background.clicked.connect(self._pick_background)
        form.addRow("Background", self.background)
        layout.addLayout(form)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #c8a048;")
        layout.addWidget(self.note)
        self.error = QLabel("")
        self.error.setObjectName("exportError")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setStyleSheet("color: #ff7b72;")
        self.error.setVisible(False)
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        layout.addWidget(buttons)
        self._rows = {"quality": self.quality_row, "progressive": self.progressive,
                      "lossless": self.lossless, "strip_metadata": self.strip,
                      "background": self.background}
        self._labels = {k: form.labelForField(w) for k, w in self._rows.items()}
        self.format_box.currentIndexChanged.connect(self._format_changed)
        self.path_edit.textChanged.connect(self._path_changed)
        self._paint_background()
        self._path_changed(path)
        self._format_changed()

    # -- saving ---------------------------------------------------------------------------
    def accept(self) -> None:
        """Save: check the target, then export (the dialog stays open until it is written)."""
        problem = target_problem(self.path())
        if problem:
            self.show_error(problem)
            return
        if self._export is None:
            super().accept()
            return
        self.show_error("")
        job = self._export(self.path(), self.options(), on_done=self._written)
        if job is None:
            self.show_error("There is no image to export.")
            return
        self.job = job
        # the controller's own callbacks still run (status bar, message bar); the
        # dialog learns the outcome too. Both run on the GUI thread, after this returns.
        failed, cancelled = job.on_error, job.on_cancelled
        job.on_error = lambda msg: (failed and failed(msg), self._failed(msg))
        job.on_cancelled = lambda: (cancelled and cancelled(), self._failed(
            "The export was cancelled; nothing was written."))
        self._set_busy(True)

    def _written(self, _warnings: list[str]) -> None:
        self.job = None
        self._set_busy(False)
        super().accept()

    def _failed(self, message: str) -> None:
        self.job = None
        self._set_busy(False)
        self.show_error(message)

    def _set_busy(self, busy: bool) -> None:
        self.save_button.setEnabled(not busy)
        self.save_button.setText("Exporting…" if busy else "Save")

    def reject(self) -> None:
        if self.job is not None:
            self.job.cancel()  # its cancellation is reported by the controller
            self.job = None
        super().reject()

    def show_error(self, text: str) -> None:
        """One sentence under the settings ("" hides it)."""
        self.error.setText(text)
        self.error.setVisible(bool(text))

    def format_name(self) -> str:
        return self.format_box.currentData()

    def path(self) -> str:
        return os.path.expanduser(self.path_edit.text().strip())

    def options(self) -> dict[str, Any]:
        """Keywords for ``save_image`` (only those the format understands)."""
        spec = self.formats[self.format_name()]
        opts: dict[str, Any] = {"format": self.format_name()}
        allowed = set(spec.get("options", []))
        if "quality" in allowed:
            opts["quality"] = self.quality.value()
        if "progressive" in allowed:
            opts["progressive"] = self.progressive.isChecked()
        if "lossless" in allowed:
            opts["lossless"] = self.lossless.isChecked()
        if "strip_metadata" in allowed:
            opts["strip_metadata"] = self.strip.isChecked()
        if "background" in allowed:
            opts["background"] = self._background
        return opts

    def _format_changed(self) -> None:
        spec = self.formats[self.format_name()]
        allowed = set(spec.get("options", []))
        for key, w in self._rows.items():
            w.setVisible(key in allowed)
            lab = self._labels.get(key)
            if lab is not None:
                lab.setVisible(key in allowed)
        notes = []
        if self.info.get("alpha") and not spec.get("alpha"):
            notes.append(f"{spec.get('title', self.format_name())} cannot hold transparency: "
                         "it will be composited on the background colour.")
        if self.info.get("bits16") and not spec.get("bits16"):
            notes.append("This image has 16 bits per channel; this format keeps 8.")
        self.note.setText(" ".join(notes))
        self.note.setVisible(bool(notes))
        # keep the file extension in step with the format
        p = Path(self.path())
        exts = spec.get("extensions", [])
        if exts and p.name and p.suffix.lower() not in exts:
            self.path_edit.blockSignals(True)
            self.path_edit.setText(str(p.with_suffix(exts[0])))
            self.path_edit.blockSignals(False)

    def _path_changed(self, text: str) -> None:
        ext = Path(text).suffix.lower()
        for i in range(self.format_box.count()):
            if ext in self.formats[self.format_box.itemData(i)].get("extensions", []):
                if i != self.format_box.currentIndex():
                    self.format_box.setCurrentIndex(i)
                return

    def _browse(self) -> None:
        from editor.io.formats import save_filter

        path, _ = QFileDialog.getSaveFileName(self, "Export As", self.path(), save_filter())
        if path:
            self.path_edit.setText(path)

    def _pick_background(self) -> None:
        c = QColorDialog.getColor(QColor(*self._background), self, "Background")
        if c.isValid():
            self._background = (c.red(), c.green(), c.blue())
            self._paint_background()

    def _paint_background(self) -> None:
        r, g, b = self._background
        self.background.setStyleSheet(f"background: rgb({r},{g},{b}); min-height: 18px;")


def target_problem(path: str) -> str:
    """Why ``path`` cannot be written, as one sentence, or "" when it can be tried."""
    if not path:
        return "Type a file name, or choose one with Browse…."
    p = Path(path).expanduser()
    if p.is_dir():
        return f"{p} is a folder: add a file name to it."
    folder = p.parent
    if not folder.is_dir():
        return (f"The folder {folder} does not exist: choose another folder, or create "
                "it first.")
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"The folder {folder} cannot be written to: choose another folder."
    return ""
