"""The Classifier window: capture, train and use an image classifier (Teachable Machine
on the desktop).

Three columns, one module each: **Capture** (:mod:`.capture`: camera or video
file, classes with hold-to-record, import, thumbnails), **Train**
(:mod:`.train_panel`: settings, augmentation preview, live curves, per-class
accuracy, confusion matrix) and **Use** (:mod:`.use_panel`: live probabilities,
Grad-CAM, the canvas image, folders to CSV, send to canvas).

The window only composes them and owns what they share: the project (dataset),
the model and the last training result, the camera, and the jobs. Every job
carries its own typed callbacks (:class:`~editor.workers.lanes.Job`); the window
adds progress and Cancel in its status bar. Training, model loading, folder
prediction and the robustness report run on a worker lane; live prediction runs
on a second lane where only the newest camera frame waits. torch is imported by
those jobs, never when this module is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QSettings, QStandardPaths, Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSplitter,
    QWidget,
)

from editor.core.context import OpError
from editor.teach.dataset import Dataset
from editor.ui.richtext import count
from editor.ui.teach.camera import FrameSource
from editor.ui.teach.capture import CapturePanel
from editor.ui.teach.train_panel import TrainPanel
from editor.ui.teach.use_panel import UsePanel
from editor.workers.lanes import Job, Lane

#: where the window's geometry is remembered, and its size on a screen with room
GEOMETRY_KEY = "classifier/geometry"
DEFAULT_SIZE = (1500, 900)


def _settings_of(main_window) -> QSettings | None:
    """The editor's settings; standalone, the application's (none in a bare test app)."""
    settings = getattr(main_window, "settings", None)
    if settings is not None:
        return settings
    if QCoreApplication.organizationName():
        return QSettings()
    return None


def default_projects_dir() -> Path:
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(docs or Path.home()) / "Convolve Classifiers"


class ClassifierWindow(QMainWindow):
    """Capture, train and use a classifier; works with or without the editor's window.

    Attributes
    ----------
    capture, train_panel, use : CapturePanel, TrainPanel, UsePanel
        The three columns.
    dataset : Dataset
        The open project.
    model : TeachModel or None
        The trained or loaded model every panel uses.
    result : TrainResult or None
        The last training of this project (scores, split).
    """

    modelChanged = Signal()
    trainingFinished = Signal(object)   # TrainResult
    predicted = Signal(object)          # probabilities of the latest live frame
    busyChanged = Signal(bool)          # a job started (True) or the last one ended

    def __init__(self, main_window=None, project: str | Path | None = None,
                 parent=None, settings: QSettings | None = None) -> None:
        super().__init__(parent)
        self.main_window = main_window
        self.settings = settings if settings is not None else _settings_of(main_window)
        self.setWindowTitle("Classifier — Convolve")
        self.dataset: Dataset | None = None
        self.model = None
        self.result = None
        self._jobs: list[Job] = []
        self.source = FrameSource(self)
        self.lane = self._make_lane("classifier", False)
        self.live_lane = self._make_lane("classifier-live", False)
        self.capture = CapturePanel(self)
        self.train_panel = TrainPanel(self)
        self.use = UsePanel(self)
        self.source.frameReady.connect(self._on_frame)
        self._build()
        self.place_on_screen()
        self.open_project(project or self._fresh_project_dir(), create=True)

    # -- construction ----------------------------------------------------------------
    def _make_lane(self, name: str, latest_wins: bool) -> Lane:
        controller = getattr(self.main_window, "controller", None)
        if controller is not None and hasattr(controller, "make_lane"):
            return controller.make_lane(name, latest_wins)
        lane = Lane(name, latest_wins=latest_wins, parent=self)
        # a QThread destroyed while running aborts the process: stop it at exit
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(lambda: lane.stop(2000))
        return lane

    def _build(self) -> None:
        tb = self.addToolBar("Project")
        tb.setObjectName("classifierToolbar")
        tb.setMovable(False)
        for text, slot, key in (("New project…", self.new_project_dialog, None),
                                ("Open project…", self.open_project_dialog, None),
                                ("Save model…", self.save_model_dialog,
                                 QKeySequence.StandardKey.Save),
                                ("Load model…", self.load_model_dialog, None),
                                ("Export…", self.export_dialog, None),
                                ("Robustness report", self.robustness_report, None)):
            act = QAction(text, self)
            act.triggered.connect(slot)
            if key is not None:
                act.setShortcut(key)
            tb.addAction(act)
        self.project_label = QLabel()
        self.project_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        tb.addSeparator()
        tb.addWidget(self.project_label)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        for panel, stretch in ((self.capture, 4), (self.train_panel, 4), (self.use, 3)):
            split.addWidget(panel)
            split.setStretchFactor(split.count() - 1, stretch)
        split.setSizes([560, 520, 420])
        self.setCentralWidget(split)

        self.status_label = QLabel()
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.statusBar().addWidget(self.status_label, 1)
        self.job_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(180)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_job)
        for w in (self.job_label, self.progress, self.cancel_button):
            self.statusBar().addPermanentWidget(w)
        self._show_job_bar(False)

    # -- geometry -----------------------------------------------------------------------
    def place_on_screen(self) -> None:
        """Where the window was last closed, else sized to the screen's free area.

        The old fixed 1500 x 900 overflowed a 1280 x 720 laptop screen.
        """
        saved = self.settings.value(GEOMETRY_KEY) if self.settings is not None else None
        if saved is not None and self.restoreGeometry(saved):
            return  # Qt keeps a restored window on a screen that exists now
        host = self.main_window if isinstance(self.main_window, QWidget) else None
        screen = (host.screen() if host is not None else None) or \
            QGuiApplication.primaryScreen()
        if screen is None:
            self.resize(*DEFAULT_SIZE)
            return
        free = screen.availableGeometry()
        self.resize(min(DEFAULT_SIZE[0], round(free.width() * 0.96)),
                    min(DEFAULT_SIZE[1], round(free.height() * 0.94)))
        frame = self.frameGeometry()
        frame.moveCenter(free.center())
        self.move(frame.topLeft())

    def remember_geometry(self) -> None:
        if self.settings is not None:
            self.settings.setValue(GEOMETRY_KEY, self.saveGeometry())

    # -- project --------------------------------------------------------------------------
    def _fresh_project_dir(self) -> Path:
        base = default_projects_dir()
        n = 1
        while (base / f"Project {n}").exists():
            n += 1
        return base / f"Project {n}"

    def open_project(self, folder: str | Path, create: bool = False) -> None:
        try:
            self.dataset = Dataset.open_or_create(folder) if create else Dataset.open(folder)
        except OpError as e:
            self.status(str(e))
            return
        self.result = None  # scores and split belong to the previous project
        self.train_panel.clear_scores()
        self.project_label.setText(f"  Project: {self.dataset.root}")
        self.capture.rebuild_cards()
        self.status(f"Project {self.dataset.root.name}: "
                    + ", ".join(f"{k} {v}" for k, v in self.dataset.counts().items()))

    def new_project_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "New project: choose an empty folder",
                                                  str(default_projects_dir()))
        if folder:
            self.open_project(folder, create=True)

    def open_project_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a classifier project",
                                                  str(default_projects_dir()))
        if folder:
            self.open_project(folder)

    def classes_changed(self) -> None:
        """The dataset's classes changed: the bars follow until a model is loaded."""
        if self.model is None:
            self.use.show_classes(self.dataset.class_names)

    def canvas_image(self) -> np.ndarray | None:
        """The editor's current image (read-only), or None with a message."""
        controller = getattr(self.main_window, "controller", None)
        image = controller.current_image() if controller is not None else None
        if image is None:
            self.status("Open an image in the editor first.")
        return image

    # -- model ------------------------------------------------------------------------------
    def set_model(self, model) -> None:
        self.model = model
        self.use.show_model(model)
        self.modelChanged.emit()

    def set_trained(self, result) -> None:
        """A training finished: its model becomes the one in use."""
        self.result = result
        self.set_model(result.model)
        notes = list(result.notes)
        if result.skipped:
            notes.append(f"skipped {count(len(result.skipped), 'unreadable image')}: "
                         f"{result.skipped[0]}")
        self.use.show_notes(notes)
        self.trainingFinished.emit(result)

    def save_model_dialog(self) -> None:
        if self.model is None:
            self.status("Train or load a model first.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save model",
                                              str(self.dataset.root / "model.safetensors"),
                                              "Classifier (*.safetensors)")
        if path:
            self.save_model(path)

    def save_model(self, path: str | Path) -> Path:
        out = self.model.save(path)
        self.status(f"Model saved to {out}")
        return out

    def load_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load model", str(self.dataset.root),
                                              "Classifier (*.safetensors)")
        if path:
            self.load_model(path)

    def load_model(self, path: str | Path) -> None:
        def work(_ctx):
            from editor.teach.model import TeachModel

            return TeachModel.load(path)

        def done(model) -> None:
            self.set_model(model)
            self.status(f"Loaded {Path(path).name}: {', '.join(model.class_names)}")

        self.submit(work, "Loading model", on_done=done)

    def export_dialog(self) -> None:
        if self.model is None:
            self.status("Train or load a model first.")
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export model", str(self.dataset.root / "model.onnx"),
            "ONNX (*.onnx);;TorchScript (*.pt)")
        if path:
            self.export(path)

    def export(self, path: str | Path) -> None:
        model = self.model

        def work(_ctx):
            if str(path).endswith(".pt"):
                return model.export_torchscript(path)
            return model.export_onnx(path)

        self.submit(work, "Exporting", on_done=lambda out: self.status(f"Exported {out}"))

    # -- robustness -------------------------------------------------------------------------
    def robustness_report(self) -> None:
        if self.model is None or self.result is None:
            self.status("Train a model first: the report uses its held-out images.")
            return
        model, result, ds = self.model, self.result, self.dataset
        names = model.class_names
        paths = result.split[1] or result.split[0]

        def work(ctx):
            from editor.teach.robustness import robustness_report

            labels = [names.index(ds.class_of(p)) for p in paths]
            return robustness_report(model, paths, labels, ctx=ctx)

        self.submit(work, "Robustness report", on_done=self.show_robustness)

    def show_robustness(self, report) -> None:
        from editor.ui.teach.robustness_view import RobustnessDialog

        self.robustness_dialog = RobustnessDialog(report, self)
        self.robustness_dialog.show()

    # -- camera -----------------------------------------------------------------------------
    def _on_frame(self, rgb: np.ndarray) -> None:
        self.capture.show_frame(self.use.overlay_for(rgb))
        self.use.on_frame(rgb)

    # -- jobs -------------------------------------------------------------------------------
    def submit(self, fn: Callable[[Any], Any], title: str, *,
               on_done: Callable[[Any], None] | None = None,
               on_partial: Callable[[Any], None] | None = None) -> Job:
        """Run ``fn(ctx)`` on the window's lane with progress and Cancel in the status bar.

        ``on_done(result)`` and ``on_partial(value)`` run on the GUI thread; a failure
        shows its one sentence in the status bar.
        """
        job = Job(fn, title, on_partial=on_partial)
        job.on_started = lambda: self._job_started(job)
        job.on_progress = lambda fraction, message: self._job_progress(job, fraction, message)
        job.on_done = lambda result: self._job_done(job, result, on_done)
        job.on_error = lambda message: self._job_failed(job, message)
        job.on_cancelled = lambda: self._job_cancelled(job)
        self._jobs.append(job)
        if len(self._jobs) == 1:
            self.busyChanged.emit(True)
        self._show_job_bar(True)
        self.job_label.setText(title + "…")
        return self.lane.submit(job)

    def cancel_job(self) -> None:
        """Cancel the running job and the waiting ones."""
        for job in list(self._jobs):
            job.cancel()

    def busy(self) -> bool:
        return bool(self._jobs)

    def _show_job_bar(self, on: bool) -> None:
        for w in (self.job_label, self.progress, self.cancel_button):
            w.setVisible(on)
        if on:
            self.progress.setValue(0)

    def _job_started(self, job: Job) -> None:
        self.progress.setValue(0)
        self.job_label.setText(job.title + "…")

    def _job_progress(self, job: Job, fraction: float, message: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        self.job_label.setText(f"{job.title}: {message}" if message else job.title + "…")

    def _job_ended(self, job: Job) -> None:
        if job in self._jobs:
            self._jobs.remove(job)
        if not self._jobs:
            self._show_job_bar(False)
            self.busyChanged.emit(False)

    def _job_done(self, job: Job, result, on_done) -> None:
        self._job_ended(job)
        if on_done is not None:
            on_done(result)

    def _job_failed(self, job: Job, message: str) -> None:
        self._job_ended(job)
        self.status(message)

    def _job_cancelled(self, job: Job) -> None:
        self._job_ended(job)
        self.status(f"{job.title} cancelled.")

    def status(self, text: str) -> None:
        self.status_label.setText(text)

    def closeEvent(self, event) -> None:  # noqa: N802
        self.remember_geometry()
        self.source.stop()
        self.capture.stop()
        if self.main_window is None or getattr(self.main_window, "controller", None) is None:
            self.lane.stop()
            self.live_lane.stop()
        super().closeEvent(event)
