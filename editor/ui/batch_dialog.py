"""File ▸ Batch Process…: one recipe over many photos, in the background.

The dialog gathers what ``convolve batch`` takes (files or folders, the
current edit history or a saved recipe, output folder, naming pattern,
format) and runs :func:`editor.batch.run_batch` as one job on its own
:class:`~editor.workers.lanes.Lane`, so the editor stays usable while the
photos are processed by a local Dask cluster (or a cluster given by address).
While it runs the dialog shows progress, the rate and the time left, and
Cancel; at the end it lists the failures and the outputs, any of which opens
in the editor.

:func:`install` adds the menu action; it is the only hook the main window
needs. Dask is imported by the job, never at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from editor.io.formats import EXPORT_FORMATS, open_filter
from editor.workers.lanes import Job, Lane

DEFAULT_NAME = "{stem}_edit.{ext}"
EXISTING = (("Stop before starting", "refuse"), ("Overwrite it", "overwrite"),
            ("Skip that photo", "skip"))


def install(main_window) -> None:
    """Add File ▸ Batch Process… (after Apply Recipe…) to ``main_window``."""
    action = QAction("&Batch Process…", main_window)
    action.setStatusTip("Apply the current edits or a saved recipe to many photos")
    action.triggered.connect(lambda: open_batch_dialog(main_window))
    main_window.batch_action = action
    if hasattr(main_window, "add_file_action"):
        main_window.add_file_action(action)
        return
    menu = _file_menu(main_window)
    if menu is None:
        return
    after = getattr(main_window, "apply_recipe_action", None)
    actions = menu.actions()
    if after in actions and actions.index(after) + 1 < len(actions):
        menu.insertAction(actions[actions.index(after) + 1], action)
    else:
        menu.addAction(action)


def _file_menu(main_window):
    for a in main_window.menuBar().actions():
        if a.menu() is not None and a.text().replace("&", "") == "File":
            return a.menu()
    return None


def open_batch_dialog(main_window=None) -> BatchDialog:
    """Show the Batch Process dialog (one per main window)."""
    dlg = getattr(main_window, "batch_dialog", None) if main_window is not None else None
    if dlg is None:
        dlg = BatchDialog(main_window)
        if main_window is not None:
            main_window.batch_dialog = dlg
    dlg.refresh_history()
    dlg.show()
    dlg.raise_()
    dlg.activateWindow()
    return dlg


class BatchDialog(QDialog):
    """Settings page, then a progress page, then the summary (see module docstring)."""

    def __init__(self, main_window=None) -> None:
        super().__init__(main_window)
        self.main_window = main_window
        self.setWindowTitle("Batch Process")
        self.setObjectName("batchDialog")
        self.job: Job | None = None
        self.result = None
        self.error = ""
        self._edits_dir = None  # the current edits' recipe and masks while a batch reads them
        self.lane = self._make_lane()
        self.stack = QStackedWidget()
        self.stack.addWidget(self._build_settings())
        self.stack.addWidget(self._build_progress())
        lay = QVBoxLayout(self)
        lay.addWidget(self.stack)
        self.resize(620, 640)
        self._format_changed()

    # -- construction -----------------------------------------------------------------------
    def _make_lane(self) -> Lane:
        controller = getattr(self.main_window, "controller", None)
        if controller is not None and hasattr(controller, "make_lane"):
            return controller.make_lane("batch", False)
        lane = Lane("batch", latest_wins=False, parent=self)
        app = QCoreApplication.instance()
        if app is not None:  # a QThread destroyed while running aborts the process
            app.aboutToQuit.connect(lambda: lane.stop(5000))
        return lane

    def _build_settings(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)

        box = QGroupBox("Photos")
        v = QVBoxLayout(box)
        self.inputs = QListWidget()
        self.inputs.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.inputs.setMinimumHeight(110)
        v.addWidget(self.inputs)
        row = QHBoxLayout()
        for text, slot in (("Add Files…", self.add_files_dialog),
                           ("Add Folder…", self.add_folder_dialog),
                           ("Remove", self.remove_selected)):
            b = QPushButton(text)
            b.clicked.connect(slot)
            row.addWidget(b)
        row.addStretch(1)
        v.addLayout(row)
        form = QFormLayout()
        self.glob_edit = QLineEdit()
        self.glob_edit.setPlaceholderText("every image (e.g. *.jpg)")
        self.glob_edit.setToolTip("Which files of the folders to take; subfolders are searched")
        form.addRow("In folders, only", self.glob_edit)
        v.addLayout(form)
        col.addWidget(box)

        box = QGroupBox("Edits")
        v = QVBoxLayout(box)
        self.history_radio = QRadioButton("The current edit history")
        self.recipe_radio = QRadioButton("A saved recipe:")
        group = QButtonGroup(self)
        group.addButton(self.history_radio)
        group.addButton(self.recipe_radio)
        v.addWidget(self.history_radio)
        row = QHBoxLayout()
        row.addWidget(self.recipe_radio)
        self.recipe_edit = QLineEdit()
        self.recipe_edit.setPlaceholderText("look.recipe.json")
        self.recipe_edit.textEdited.connect(lambda _t: self.recipe_radio.setChecked(True))
        row.addWidget(self.recipe_edit, 1)
        b = QPushButton("Browse…")
        b.clicked.connect(self.recipe_dialog)
        row.addWidget(b)
        v.addLayout(row)
        col.addWidget(box)

        box = QGroupBox("Output")
        form = QFormLayout(box)
        row = QHBoxLayout()
        self.out_edit = QLineEdit()
        row.addWidget(self.out_edit, 1)
        b = QPushButton("Browse…")
        b.clicked.connect(self.output_dialog)
        row.addWidget(b)
        form.addRow("Folder", row)
        self.name_edit = QLineEdit(DEFAULT_NAME)
        self.name_edit.setToolTip("{stem} name without extension, {name} file name, {ext} "
                                  "extension, {n} number ({n:04d}), {dir} folder inside the "
                                  "input folder, {parent} folder name, {recipe} recipe name")
        form.addRow("Name", self.name_edit)
        self.format_combo = QComboBox()
        self.format_combo.addItem("Same as the photo", None)
        for name, spec in EXPORT_FORMATS.items():
            self.format_combo.addItem(spec["title"], name)
        self.format_combo.currentIndexChanged.connect(self._format_changed)
        self.quality_spin = QSpinBox()
        self.quality_spin.setRange(1, 100)
        self.quality_spin.setValue(90)
        row = QHBoxLayout()
        row.addWidget(self.format_combo)
        row.addWidget(QLabel("Quality"))
        row.addWidget(self.quality_spin)
        row.addStretch(1)
        form.addRow("Format", row)
        self.existing_combo = QComboBox()
        for text, value in EXISTING:
            self.existing_combo.addItem(text, value)
        form.addRow("If an output exists", self.existing_combo)
        self.resume_box = QCheckBox("Resume: skip the photos an earlier run of this recipe "
                                    "finished")
        form.addRow("", self.resume_box)
        col.addWidget(box)

        box = QGroupBox("Where")
        form = QFormLayout(box)
        from editor.batch.cluster import default_workers

        self.workers_spin = QSpinBox()
        self.workers_spin.setRange(1, 256)
        self.workers_spin.setValue(default_workers())
        self.workers_spin.setSuffix(" processes")
        form.addRow("This computer", self.workers_spin)
        self.cluster_box = QCheckBox("On a Dask cluster:")
        self.scheduler_edit = QLineEdit()
        self.scheduler_edit.setPlaceholderText("tcp://host:8786")
        self.scheduler_edit.setEnabled(False)
        self.cluster_box.toggled.connect(self.scheduler_edit.setEnabled)
        self.cluster_box.toggled.connect(lambda on: self.workers_spin.setEnabled(not on))
        form.addRow(self.cluster_box, self.scheduler_edit)
        col.addWidget(box)

        self.settings_message = QLabel("")
        self.settings_message.setWordWrap(True)
        self.settings_message.setObjectName("batchMessage")
        col.addWidget(self.settings_message)
        row = QHBoxLayout()
        row.addStretch(1)
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        row.addWidget(self.start_button)
        row.addWidget(close)
        col.addLayout(row)
        return page

    def _build_progress(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        self.title_label = QLabel("Processing…")
        self.title_label.setWordWrap(True)
        col.addWidget(self.title_label)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        col.addWidget(self.progress)
        self.status_label = QLabel("Starting the workers…")
        col.addWidget(self.status_label)
        self.failures_label = QLabel("Failures")
        col.addWidget(self.failures_label)
        self.failures = QListWidget()
        col.addWidget(self.failures, 1)
        self.outputs_label = QLabel("Outputs (double-click to open in the editor)")
        col.addWidget(self.outputs_label)
        self.outputs = QListWidget()
        self.outputs.itemDoubleClicked.connect(self.open_output)
        col.addWidget(self.outputs, 2)
        self.spacer = QWidget()  # holds the page together while the lists are hidden
        col.addWidget(self.spacer, 1)
        row = QHBoxLayout()
        self.open_button = QPushButton("Open in Editor")
        self.open_button.clicked.connect(lambda: self.open_output(self.outputs.currentItem()))
        self.folder_button = QPushButton("Show Folder")
        self.folder_button.clicked.connect(self.show_folder)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.again_button = QPushButton("New Batch…")
        self.again_button.clicked.connect(lambda: self.stack.setCurrentIndex(0))
        self.done_button = QPushButton("Close")
        self.done_button.clicked.connect(self.close)
        row.addWidget(self.open_button)
        row.addWidget(self.folder_button)
        row.addStretch(1)
        for b in (self.cancel_button, self.again_button, self.done_button):
            row.addWidget(b)
        col.addLayout(row)
        return page

    # -- inputs -------------------------------------------------------------------------------
    def add_paths(self, paths) -> None:
        """Add files or folders to the list (each once)."""
        have = {self.inputs.item(i).data(Qt.ItemDataRole.UserRole)
                for i in range(self.inputs.count())}
        for p in map(str, paths):
            if p in have:
                continue
            have.add(p)
            label = f"{p}{'/  (folder)' if Path(p).is_dir() else ''}"
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, p)
            self.inputs.addItem(item)

    def input_paths(self) -> list[str]:
        return [self.inputs.item(i).data(Qt.ItemDataRole.UserRole)
                for i in range(self.inputs.count())]

    def add_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add Photos", self._start_dir(),
                                                open_filter())
        self.add_paths(files)

    def add_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add Folder", self._start_dir())
        if folder:
            self.add_paths([folder])

    def remove_selected(self) -> None:
        for item in self.inputs.selectedItems():
            self.inputs.takeItem(self.inputs.row(item))

    def recipe_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Recipe", self._start_dir(),
                                              "Recipes (*.json)")
        if path:
            self.recipe_edit.setText(path)
            self.recipe_radio.setChecked(True)

    def output_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output Folder", self._start_dir())
        if folder:
            self.out_edit.setText(folder)

    def _start_dir(self) -> str:
        paths = self.input_paths()
        return str(Path(paths[0]).parent) if paths else ""

    def _document(self):
        controller = getattr(self.main_window, "controller", None)
        return getattr(controller, "document", None) if controller is not None else None

    def refresh_history(self) -> None:
        """Describe the current edit history (the default recipe when there is one)."""
        doc = self._document()
        steps = len(doc.recipe_steps()) if doc is not None else 0
        if steps:
            note = "" if doc.replayable() else "; painted and AI edits without an op are left out"
            self.history_radio.setText(f"The current edit history ({steps} step"
                                       f"{'s' if steps != 1 else ''}{note})")
            self.history_radio.setEnabled(True)
            if not self.recipe_radio.isChecked():
                self.history_radio.setChecked(True)
        else:
            self.history_radio.setText("The current edit history (no edits yet)")
            self.history_radio.setEnabled(False)
            self.recipe_radio.setChecked(True)

    def _format_changed(self, _index: int = 0) -> None:
        fmt = self.format_combo.currentData()
        self.quality_spin.setEnabled(fmt is None or "quality" in EXPORT_FORMATS[fmt]["options"])

    # -- running --------------------------------------------------------------------------------
    def recipe(self):
        """The recipe chosen (:class:`~editor.core.recipe.Recipe`); ValueError/OSError if bad."""
        from editor.core.recipe import Recipe

        if self.history_radio.isChecked():
            return self._current_edits()
        text = self.recipe_edit.text().strip()
        if not text:
            raise ValueError("Choose a saved recipe, or edit a photo first.")
        return Recipe.load(text)

    def _current_edits(self):
        """The edit history as a recipe saved in a folder of its own, with the PNGs of
        its painted selections beside it, where the batch's workers read them (a
        recipe held only in memory has nowhere to keep a painted mask)."""
        import tempfile

        from editor.core.recipe import Recipe

        if self._edits_dir is not None:
            self._edits_dir.cleanup()
        self._edits_dir = tempfile.TemporaryDirectory(prefix="convolve-edits-")
        path = Path(self._edits_dir.name) / "edits.recipe.json"
        self.main_window.controller.save_recipe(str(path))
        return Recipe.load(path)

    def settings(self) -> dict[str, Any]:
        """Everything :func:`editor.batch.make_plan` and :func:`run_batch` need."""
        from editor.batch import SaveOptions

        return {
            "inputs": self.input_paths(),
            "out_dir": self.out_edit.text().strip(),
            "pattern": self.name_edit.text().strip() or DEFAULT_NAME,
            "glob": self.glob_edit.text().strip() or None,
            "options": SaveOptions(format=self.format_combo.currentData(),
                                   quality=self.quality_spin.value()),
            "existing": self.existing_combo.currentData(),
            "resume": self.resume_box.isChecked(),
            "workers": self.workers_spin.value(),
            "scheduler": (self.scheduler_edit.text().strip() or None)
            if self.cluster_box.isChecked() else None,
        }

    def say(self, text: str) -> None:
        self.settings_message.setText(text)

    def start(self) -> Job | None:
        """Check the settings and start the batch job (None, with a message, if they are bad)."""
        if self.job is not None and not self.job.finished:
            return None
        s = self.settings()
        if not s["inputs"]:
            self.say("Add photos or a folder first.")
            return None
        if not s["out_dir"]:
            self.say("Choose the output folder.")
            return None
        if self.cluster_box.isChecked() and not s["scheduler"]:
            self.say("Give the Dask scheduler's address (tcp://host:8786).")
            return None
        try:
            recipe = self.recipe()
        except (ValueError, OSError) as e:
            self.say(_sentence(e))
            return None
        self.say("")
        recipe_name = Path(self.recipe_edit.text()).stem.split(".")[0] \
            if self.recipe_radio.isChecked() else "edits"

        def work(ctx):
            from editor.batch import make_plan, run_batch

            plan = make_plan(s["inputs"], s["out_dir"], pattern=s["pattern"], glob=s["glob"],
                             options=s["options"], recipe_name=recipe_name)
            return run_batch(plan, recipe, scheduler=s["scheduler"],
                             workers=None if s["scheduler"] else s["workers"],
                             resume=s["resume"], existing=s["existing"], ctx=ctx)

        self.result, self.error = None, ""
        self._show_running(len(recipe))
        self.job = Job(work, "Batch", on_done=self._done, on_error=self._failed,
                       on_progress=self._progress, on_cancelled=self._cancelled,
                       shows_progress=True)
        return self.lane.submit(self.job)

    def cancel(self) -> None:
        """Stop submitting photos; finished ones are kept (the summary follows)."""
        if self.job is not None and not self.job.finished:
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            self.status_label.setText("Cancelling: finishing the photos in progress…")

    def running(self) -> bool:
        return self.job is not None and not self.job.finished

    def _show_running(self, steps: int) -> None:
        self.stack.setCurrentIndex(1)
        self.title_label.setText(f"Applying {steps} edit{'s' if steps != 1 else ''}…")
        self.progress.setValue(0)
        self.status_label.setText("Starting the workers…")
        self.failures.clear()
        self.outputs.clear()
        for w in (self.failures_label, self.failures, self.outputs_label, self.outputs,
                  self.open_button, self.folder_button, self.again_button, self.done_button):
            w.setVisible(False)
        self.spacer.setVisible(True)
        self.cancel_button.setVisible(True)
        self.cancel_button.setEnabled(True)

    def _progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        if message:
            self.status_label.setText(message)

    def _finished_page(self) -> None:
        self.cancel_button.setVisible(False)
        for w in (self.again_button, self.done_button, self.folder_button):
            w.setVisible(True)

    def _done(self, result) -> None:
        self.result = result
        self._finished_page()
        self.progress.setValue(1000 if not result.cancelled else self.progress.value())
        head, _, manifest = result.summary().partition("; manifest ")
        head = head.replace("batch cancelled: ", "Cancelled: ").replace("batch: ", "Finished: ")
        self.title_label.setText(f"{head}.\nManifest: {manifest}")
        self.status_label.setText(f"Engine: {result.engine}.")
        fails = result.failures
        self.failures_label.setText(f"Failures ({len(fails)})")
        for row in fails:
            reason = row.error.removeprefix(Path(row.input).name + ": ")
            item = QListWidgetItem(f"{row.input}: {reason}")
            item.setData(Qt.ItemDataRole.UserRole, row.input)
            self.failures.addItem(item)
        for path in result.outputs:
            item = QListWidgetItem(path)
            item.setData(Qt.ItemDataRole.UserRole, path)
            self.outputs.addItem(item)
        for w in (self.failures_label, self.failures):
            w.setVisible(bool(fails))
        for w in (self.outputs_label, self.outputs, self.open_button):
            w.setVisible(self.outputs.count() > 0)
        self.spacer.setVisible(not fails and not self.outputs.count())
        if self.outputs.count():
            self.outputs.setCurrentRow(0)

    def _failed(self, message: str) -> None:
        self.error = message
        self.stack.setCurrentIndex(0)
        self.say(message)

    def _cancelled(self) -> None:
        self.stack.setCurrentIndex(0)
        self.say("The batch was cancelled before it started.")

    def open_output(self, item) -> None:
        """Open an output in the editor window."""
        if item is None or self.main_window is None:
            return
        self.main_window.open_path(item.data(Qt.ItemDataRole.UserRole))

    def show_folder(self) -> None:
        folder = self.settings()["out_dir"]
        if folder:
            QDesktopServices.openUrl(QUrl.fromLocalFile(folder))


def _sentence(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if text.endswith((".", "!", "?")) else text + "."
