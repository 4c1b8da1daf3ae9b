"""The Models dialog: every AI model (built in and the user's own), with Add… and Remove.

The same table as ``convolve models``, from :mod:`editor.ops.ai.model_store`:
name, kind, status, architecture, scale, size, licence, source, SHA-256 and
file. Adding a file recognises it (spandrel, or a detector another module
registered) and hashes it; both import torch or read hundreds of megabytes, so
they run on the controller's job lane, never on the GUI thread. Opened from
Help ▸ AI Models… and the AI dock's Models… button.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

WEIGHT_FILTER = "Model weights (*.pth *.pt *.ckpt *.safetensors *.bin);;All files (*)"


class ModelsDialog(QDialog):
    """Each model's name, kind, status, architecture, scale, size, licence, source, SHA-256."""

    COLUMNS = ("name", "kind", "status", "architecture", "scale", "size", "licence", "source",
               "sha256", "path")
    HEADERS = {"sha256": "SHA-256", "status": "Status", "scale": "Scale"}

    def __init__(self, parent: QWidget | None = None, controller: Any = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("AI models")
        self.resize(1100, 420)
        self.controller = controller
        self.entries: list = []
        self.busy = False
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(
            [self.HEADERS.get(c, c.capitalize()) for c in self.COLUMNS])
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.add_button = QPushButton("Add File…")
        self.add_button.setToolTip("A .pth / .safetensors super-resolution, restoration or "
                                   "inpainting model (ESRGAN, SwinIR, LaMa …)")
        self.add_button.clicked.connect(self.add_file_dialog)
        self.add_folder_button = QPushButton("Add Folder…")
        self.add_folder_button.setToolTip("A model folder (e.g. a diffusers folder)")
        self.add_folder_button.clicked.connect(self.add_folder_dialog)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Forget the model (its file stays on disk)")
        self.remove_button.setEnabled(False)
        self.remove_button.clicked.connect(self.remove_selected)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        for b in (self.add_button, self.add_folder_button, self.remove_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(QLabel("Your models stay where they are; the list keeps their path, "
                                "size and SHA-256. Use them with Upscale, Restore or Inpaint "
                                "(model = the name)."))
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.refresh()

    # -- work off the GUI thread ------------------------------------------------------------
    def _run(self, work, done, title: str) -> None:
        """``work(ctx)`` on the job lane (synchronously without a controller), then
        ``done(result)``; an error lands in the status line as its one sentence."""
        self._set_busy(True)

        def finished(result) -> None:
            self._set_busy(False)
            done(result)

        def failed(message: str) -> None:
            self._set_busy(False)
            self.say(message)

        c = self.controller
        if c is None or not hasattr(c, "job_lane"):
            from editor.core.context import OpError, null_context

            try:
                result = work(null_context())
            except OpError as e:
                failed(str(e))
            else:
                finished(result)
            return
        from editor.workers.lanes import Job

        c.job_lane.submit(Job(work, title, on_done=finished, on_error=failed))

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.add_button.setEnabled(not busy)
        self.add_folder_button.setEnabled(not busy)
        self._selection_changed()

    def refresh(self) -> None:
        """Re-read the store and fill the table."""
        def work(ctx):
            from editor.ops.ai import model_store

            return model_store.list_models()

        self._run(work, self._fill, "List AI models")

    def _fill(self, entries) -> None:
        self.entries = list(entries)
        self.table.setRowCount(len(self.entries))
        for r, e in enumerate(self.entries):
            for c, key in enumerate(self.COLUMNS):
                tip = ""
                if key == "status":
                    v = "ready" if e.ready else "missing"
                    if not e.ready:
                        tip = e.extra.get("install", "") if e.builtin else \
                            "the file is missing or changed; add it again"
                elif key == "size":
                    v = "—" if e.size is None else f"{e.size / 1e6:.1f} MB" \
                        if e.size >= 100_000 else f"{e.size / 1e3:.0f} KB"
                elif key == "sha256":
                    v, tip = ("—", "") if not e.sha256 else (e.sha256[:16] + "…", e.sha256)
                elif key == "scale":
                    v = f"×{e.scale}"
                elif key == "name":
                    v = e.name + ("" if e.builtin else "  (yours)")
                    tip = e.purpose
                else:
                    v = str(getattr(e, key) or "—")
                    tip = v if key in ("source", "path") else ""
                item = QTableWidgetItem(v)
                if tip:
                    item.setToolTip(tip)
                if key in ("size", "scale"):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        self._selection_changed()

    # -- actions ------------------------------------------------------------------------
    def selected(self):
        """The selected entry, or None."""
        rows = {i.row() for i in self.table.selectedItems()}
        return self.entries[rows.pop()] if len(rows) == 1 else None

    def _selection_changed(self) -> None:
        e = self.selected() if self.entries else None
        self.remove_button.setEnabled(not self.busy and e is not None and not e.builtin)

    def add_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add a model file", "", WEIGHT_FILTER)
        if path:
            self.add_path(path)

    def add_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Add a model folder")
        if path:
            self.add_path(path)

    def add_path(self, path: str) -> None:
        """Recognise, hash and record ``path``; then show it selected."""
        self.say(f"Reading {path}…")

        def work(ctx):
            from editor.ops.ai import model_store

            return model_store.add(path, progress=ctx.report)

        def added(entry) -> None:
            self.say(f"Added {entry.name}: {entry.purpose}.")
            self.refresh()
            for r, e in enumerate(self.entries):
                if e.name == entry.name:
                    self.table.selectRow(r)

        self._run(work, added, "Add AI model")

    def remove_selected(self) -> None:
        e = self.selected()
        if e is None or e.builtin:
            return

        def work(ctx):
            from editor.ops.ai import model_store

            model_store.remove(e.name)
            return e.name

        def removed(name) -> None:
            self.say(f"Removed {name}; its file is still at {e.path}.")
            self.refresh()

        self._run(work, removed, "Remove AI model")

    def say(self, text: str) -> None:
        self.status.setText(text)


def open_models_dialog(main_window) -> ModelsDialog:
    """Show the dialog (non-modal) for ``main_window``."""
    dlg = ModelsDialog(main_window, getattr(main_window, "controller", None))
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dlg.show()
    main_window.models_dialog = dlg
    return dlg


def install(main_window) -> None:
    """Add Help ▸ AI Models… (before About) to ``main_window``."""
    action = QAction("AI &Models…", main_window)
    action.setStatusTip("The AI models: built in and your own; add or remove one")
    action.triggered.connect(lambda: open_models_dialog(main_window))
    main_window.models_action = action
    for a in main_window.menuBar().actions():
        if a.menu() is not None and a.text().replace("&", "") == "Help":
            menu = a.menu()
            actions = menu.actions()
            menu.insertAction(actions[-1] if actions else None, action)
            return
