"""The Classifier window: capture, train and use an image classifier (Teachable Machine
on the desktop).

Three columns: **Capture** (camera or video file, classes with hold-to-record,
import, thumbnails), **Train** (settings, augmentation preview, live curves,
per-class accuracy, confusion matrix) and **Use** (live probabilities, Grad-CAM,
canvas and folder classification, save/load/export, robustness report).

Threads: training, model loading, folder prediction and the robustness report
run on a worker :class:`~editor.workers.lanes.Lane`; live prediction runs on a
second lane where only the newest camera frame waits (latest frame wins), so
the view never lags behind the camera. torch is imported by those jobs, never
when this module is imported.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
from PySide6.QtCore import QCoreApplication, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from editor.core.context import OpError
from editor.teach.dataset import Dataset
from editor.ui.qimage import to_pixmap
from editor.ui.teach.camera import RESOLUTIONS, FrameSource, camera_names
from editor.ui.teach.widgets import (
    TEST_COLOR,
    TRAIN_COLOR,
    ConfusionMatrix,
    CurvePlot,
    ImageGridDialog,
    ProbabilityBars,
    ThumbnailModel,
    class_color,
    thumbnail_view,
)
from editor.workers.lanes import Job, Lane

VIDEO_ITEM = "Video file…"
NO_CAMERA_ITEM = "Camera off"


def default_projects_dir() -> Path:
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(docs or Path.home()) / "Convolve Classifiers"


class ClassCard(QFrame):
    """One class: name, count, hold-to-record, snap, import, thumbnails with delete."""

    renamed = Signal(str, str)

    def __init__(self, window: ClassifierWindow, name: str, index: int) -> None:
        super().__init__()
        self.window, self.name, self.index = window, name, index
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("classCard")
        color = class_color(index).name()
        self.setStyleSheet(f"#classCard {{ border-left: 5px solid {color}; }}")
        lay = QVBoxLayout(self)
        head = QHBoxLayout()
        self.name_edit = QLineEdit(name)
        self.name_edit.setToolTip("Class name (click to rename)")
        self.name_edit.editingFinished.connect(self._rename)
        self.count_label = QLabel()
        self.remove_button = QToolButton(text="✕")
        self.remove_button.setToolTip("Remove this class and its images")
        self.remove_button.clicked.connect(lambda: window.remove_class(self.name))
        head.addWidget(self.name_edit, 1)
        head.addWidget(self.count_label)
        head.addWidget(self.remove_button)
        lay.addLayout(head)
        row = QHBoxLayout()
        self.record_button = QPushButton("Hold to record")
        self.record_button.setToolTip("Records frames into this class while held down")
        self.record_button.pressed.connect(lambda: window.start_recording(self.name))
        self.record_button.released.connect(window.stop_recording)
        self.snap_button = QPushButton("Snap")
        self.snap_button.setToolTip("Add the current camera frame")
        self.snap_button.clicked.connect(lambda: window.snap(self.name))
        self.import_button = QPushButton("Import ▾")
        menu = QMenu(self.import_button)
        menu.addAction("Images…", lambda: window.import_files(self.name))
        menu.addAction("Folder…", lambda: window.import_folder(self.name))
        menu.addAction("Canvas image", lambda: window.add_canvas_image(self.name))
        self.import_button.setMenu(menu)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the selected thumbnails")
        self.delete_button.clicked.connect(self.delete_selected)
        for b in (self.record_button, self.snap_button, self.import_button, self.delete_button):
            row.addWidget(b)
        lay.addLayout(row)
        self.model = ThumbnailModel(56)
        self.view = thumbnail_view(self.model)
        self.view.setMinimumHeight(76)
        self.view.setMaximumHeight(150)
        lay.addWidget(self.view)
        self.refresh()

    def _rename(self) -> None:
        new = self.name_edit.text().strip()
        if new != self.name:
            self.window.rename_class(self.name, new)

    def refresh(self) -> None:
        paths = self.window.dataset.images(self.name)
        self.model.set_paths(paths)
        self.count_label.setText(f"{len(paths)} images")
        self.view.scrollToBottom()

    def delete_selected(self) -> None:
        rows = sorted({i.row() for i in self.view.selectedIndexes()})
        if not rows:
            self.window.status("Select thumbnails to delete first.")
            return
        for r in rows:
            self.window.dataset.delete_image(self.model.paths[r])
        self.refresh()
        self.window.dataset_changed()


class ClassifierWindow(QMainWindow):
    """Capture, train and use a classifier; works with or without the editor's window."""

    modelChanged = Signal()
    trainingFinished = Signal(object)   # TrainResult
    predicted = Signal(object)          # probabilities of the latest live frame

    def __init__(self, main_window=None, project: str | Path | None = None,
                 parent=None) -> None:
        super().__init__(parent)
        self.main_window = main_window
        self.setWindowTitle("Classifier — Convolve")
        self.resize(1500, 900)
        self.dataset: Dataset | None = None
        self.model = None
        self.result = None
        self.cards: list[ClassCard] = []
        self.source = FrameSource(self)
        self.source.frameReady.connect(self._on_frame)
        self.source.error.connect(self._camera_error)
        self.record_class: str | None = None
        self.record_timer = QTimer(self)
        self.record_timer.timeout.connect(self._record_tick)
        self.lane = self._make_lane("classifier", False)
        self.live_lane = self._make_lane("classifier-live", False)
        self._live_busy = False
        self._live_pending: np.ndarray | None = None
        self._live_times: list[float] = []
        self.live_fps = 0.0
        self._job: Job | None = None
        self._video_paths: dict[str, str] = {}
        self._build()
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
        split.addWidget(self._build_capture())
        split.addWidget(self._build_train())
        split.addWidget(self._build_use())
        split.setSizes([560, 520, 420])
        self.setCentralWidget(split)
        self.status_label = QLabel()
        self.statusBar().addWidget(self.status_label, 1)

    def _build_capture(self) -> QWidget:
        box = QGroupBox("1  Capture")
        lay = QVBoxLayout(box)
        form = QHBoxLayout()
        self.camera_combo = QComboBox()
        self.camera_combo.setToolTip("Camera, or a video file played as a camera")
        self.camera_combo.addItem(NO_CAMERA_ITEM)
        for name in camera_names():
            self.camera_combo.addItem(name)
        self.camera_combo.addItem(VIDEO_ITEM)
        self.camera_combo.activated.connect(self._camera_chosen)
        self.mirror_box = QCheckBox("Mirror")
        self.mirror_box.setChecked(True)
        self.mirror_box.toggled.connect(lambda on: setattr(self.source, "mirror", on))
        self.resolution_combo = QComboBox()
        self.resolution_combo.addItems(list(RESOLUTIONS))
        self.resolution_combo.currentTextChanged.connect(
            lambda t: setattr(self.source, "max_side", RESOLUTIONS[t]))
        self.rate_spin = QSpinBox()
        self.rate_spin.setRange(1, 30)
        self.rate_spin.setValue(10)
        self.rate_spin.setSuffix(" frames/s")
        self.rate_spin.setToolTip("Recording rate while a Hold to record button is down")
        form.addWidget(self.camera_combo, 1)
        form.addWidget(self.mirror_box)
        form.addWidget(self.resolution_combo)
        form.addWidget(self.rate_spin)
        lay.addLayout(form)
        self.view = QLabel("No camera.\nChoose a camera or a video file above,\n"
                           "or import images into a class.")
        self.view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.view.setMinimumSize(320, 240)
        self.view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.view.setStyleSheet("background: #202124; color: #e8eaed;")
        lay.addWidget(self.view, 2)
        self.cards_holder = QWidget()
        self.cards_layout = QVBoxLayout(self.cards_holder)
        self.cards_layout.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.cards_holder)
        lay.addWidget(scroll, 3)
        add = QPushButton("+ Add a class")
        add.clicked.connect(self.add_class)
        lay.addWidget(add)
        return box

    def _build_train(self) -> QWidget:
        box = QGroupBox("2  Train")
        lay = QVBoxLayout(box)
        row = QHBoxLayout()
        self.train_button = QPushButton("Train model")
        self.train_button.setDefault(True)
        self.train_button.clicked.connect(self.train)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_job)
        self.augment_button = QPushButton("Preview augmentation")
        self.augment_button.clicked.connect(self.preview_augmentation)
        row.addWidget(self.train_button, 1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.augment_button)
        lay.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("%p %")
        self.progress_label = QLabel(" ")
        lay.addWidget(self.progress)
        lay.addWidget(self.progress_label)

        adv = QGroupBox("Advanced")
        adv.setCheckable(True)
        adv.setChecked(False)
        form = QFormLayout()
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 1000)
        self.epochs_spin.setValue(30)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 1024)
        self.batch_spin.setValue(16)
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(5)
        self.lr_spin.setRange(0.00001, 1.0)
        self.lr_spin.setSingleStep(0.0005)
        self.lr_spin.setValue(0.001)
        self.test_spin = QSpinBox()
        self.test_spin.setRange(0, 50)
        self.test_spin.setValue(15)
        self.test_spin.setSuffix(" % held out")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.hidden_spin = QSpinBox()
        self.hidden_spin.setRange(0, 1024)
        self.hidden_spin.setSpecialValueText("none (logistic regression)")
        self.augment_spin = QSpinBox()
        self.augment_spin.setRange(0, 20)
        self.augment_spin.setSuffix(" copies per photo")
        self.finetune_box = QCheckBox("Fine-tune the last block")
        self.backbone_combo = QComboBox()
        self.backbone_combo.addItems(["auto", "efficientnet_lite0", "small_cnn"])
        form.addRow("Epochs", self.epochs_spin)
        form.addRow("Batch size", self.batch_spin)
        form.addRow("Learning rate", self.lr_spin)
        form.addRow("Test split", self.test_spin)
        form.addRow("Seed", self.seed_spin)
        form.addRow("Hidden units", self.hidden_spin)
        form.addRow("Augmentation", self.augment_spin)
        form.addRow("", self.finetune_box)
        form.addRow("Backbone", self.backbone_combo)
        inner = QWidget()
        inner.setLayout(form)
        adv_lay = QVBoxLayout(adv)
        adv_lay.addWidget(inner)
        adv.toggled.connect(inner.setVisible)
        inner.setVisible(False)
        lay.addWidget(adv)

        self.loss_plot = CurvePlot("Loss")
        self.acc_plot = CurvePlot("Accuracy", y_range=(0.0, 1.0))
        lay.addWidget(self.loss_plot, 2)
        lay.addWidget(self.acc_plot, 2)
        self.per_class_label = QLabel("Per-class accuracy appears after training.")
        self.per_class_label.setWordWrap(True)
        lay.addWidget(self.per_class_label)
        self.confusion = ConfusionMatrix()
        self.confusion.cellOpened.connect(self.show_confusion_cell)
        lay.addWidget(QLabel("Confusion matrix (rows: true, columns: predicted; click a cell)"))
        self.confusion.setMaximumHeight(200)
        lay.addWidget(self.confusion, 1)
        return box

    def _build_use(self) -> QWidget:
        box = QGroupBox("3  Use")
        lay = QVBoxLayout(box)
        self.model_label = QLabel("No model yet: capture two classes and press Train.")
        self.model_label.setWordWrap(True)
        lay.addWidget(self.model_label)
        row = QHBoxLayout()
        self.live_box = QCheckBox("Live prediction")
        self.live_box.setChecked(True)
        self.cam_box = QCheckBox("Grad-CAM")
        self.cam_box.setToolTip("Overlay where the model looks (halves the frame rate)")
        row.addWidget(self.live_box)
        row.addWidget(self.cam_box)
        row.addStretch(1)
        self.fps_label = QLabel("")
        row.addWidget(self.fps_label)
        lay.addLayout(row)
        self.bars = ProbabilityBars()
        lay.addWidget(self.bars)
        self.result_view = QLabel("Classify the canvas image to see it here\n"
                                  "with a Grad-CAM overlay of where the model looked.")
        self.result_view.setWordWrap(True)
        self.result_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.result_view.setMinimumSize(240, 200)
        self.result_view.setSizePolicy(QSizePolicy.Policy.Expanding,
                                       QSizePolicy.Policy.Expanding)
        lay.addWidget(self.result_view, 1)
        row = QHBoxLayout()
        canvas = QPushButton("Classify canvas image")
        canvas.clicked.connect(self.classify_canvas)
        folder = QPushButton("Classify folder…")
        folder.clicked.connect(self.classify_folder_dialog)
        row.addWidget(canvas)
        row.addWidget(folder)
        lay.addLayout(row)
        self.notes_label = QLabel("")
        self.notes_label.setWordWrap(True)
        self.notes_label.setStyleSheet("color: #b06000;")
        lay.addWidget(self.notes_label)
        return box

    # -- project and classes ---------------------------------------------------------
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
        self.project_label.setText(f"  Project: {self.dataset.root}")
        self._rebuild_cards()
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

    def _rebuild_cards(self) -> None:
        while self.cards_layout.count():  # cards and the trailing stretch
            item = self.cards_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().setParent(None)
                item.widget().deleteLater()
        self.cards = []
        for i, name in enumerate(self.dataset.class_names):
            card = ClassCard(self, name, i)
            self.cards.append(card)
            self.cards_layout.addWidget(card)
        self.cards_layout.addStretch(0)
        if self.model is None:
            self.bars.set_classes(self.dataset.class_names)

    def card(self, name: str) -> ClassCard:
        return next(c for c in self.cards if c.name == name)

    def add_class(self, name: str | None = None) -> None:
        try:
            self.dataset.add_class(name)
        except OpError as e:
            self.status(str(e))
            return
        self._rebuild_cards()

    def rename_class(self, old: str, new: str) -> None:
        try:
            self.dataset.rename_class(old, new)
        except OpError as e:
            self.status(str(e))
            self.card(old).name_edit.setText(old)
            return
        self._rebuild_cards()

    def remove_class(self, name: str, confirm: bool = True) -> None:
        n = len(self.dataset.images(name))
        if confirm and n and QMessageBox.question(
                self, "Remove class", f"Remove {name!r} and delete its {n} images?") \
                != QMessageBox.StandardButton.Yes:
            return
        self.dataset.remove_class(name)
        self._rebuild_cards()

    def dataset_changed(self) -> None:
        self.status(", ".join(f"{k}: {v}" for k, v in self.dataset.counts().items()))

    # -- capture ------------------------------------------------------------------------
    def _camera_chosen(self, index: int) -> None:
        text = self.camera_combo.itemText(index)
        if text == NO_CAMERA_ITEM:
            self.source.stop()
            self.view.setText("Camera off.")
        elif text in self._video_paths:
            self.open_video(self._video_paths[text])
        elif text == VIDEO_ITEM:
            path, _ = QFileDialog.getOpenFileName(self, "Play a video file as the camera", "",
                                                  "Videos (*.mp4 *.avi *.mov *.mkv *.webm)")
            if path:
                self.open_video(path)
        else:
            self.source.open_camera(index - 1)

    def open_video(self, path: str | Path, loop: bool = True) -> None:
        """Use a video file as the camera (tests and demos)."""
        self.source.open_video(str(path), loop)
        label = f"Video: {Path(path).name}"
        if self.camera_combo.findText(label) < 0:
            self.camera_combo.insertItem(self.camera_combo.count() - 1, label)
        self.camera_combo.setCurrentText(label)
        self._video_paths[label] = str(path)
        self.status(f"Playing {Path(path).name} as the camera")

    def _camera_error(self, message: str) -> None:
        self.view.setText(message)
        self.status(message)

    def _on_frame(self, rgb: np.ndarray) -> None:
        if self.cam_box.isChecked() and getattr(self, "_cam_overlay", None) is not None \
                and self._cam_overlay.shape == rgb.shape:
            shown = self._cam_overlay
        else:
            shown = rgb
        pm = to_pixmap(shown)
        self.view.setPixmap(pm.scaled(self.view.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                      Qt.TransformationMode.FastTransformation))
        if self.live_box.isChecked() and self.model is not None:
            self._predict_live(rgb)

    def start_recording(self, name: str) -> None:
        if self.source.latest is None:
            self.status("No camera frame to record: choose a camera or a video file.")
            return
        self.record_class = name
        self._record_tick()
        self.record_timer.start(int(1000 / self.rate_spin.value()))

    def stop_recording(self) -> None:
        self.record_timer.stop()
        if self.record_class is not None:
            self.card(self.record_class).refresh()
            self.dataset_changed()
        self.record_class = None

    def _record_tick(self) -> None:
        if self.record_class is None or self.source.latest is None:
            return
        self.dataset.add_image(self.record_class, self.source.latest)
        card = self.card(self.record_class)
        card.count_label.setText(f"{len(self.dataset.images(self.record_class))} images")

    def snap(self, name: str) -> None:
        if self.source.latest is None:
            self.status("No camera frame: choose a camera or a video file.")
            return
        self.dataset.add_image(name, self.source.latest)
        self.card(name).refresh()

    def import_files(self, name: str, paths: list[str] | None = None) -> None:
        if paths is None:
            paths, _ = QFileDialog.getOpenFileNames(
                self, f"Import images into {name}", "",
                "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp);;All files (*)")
        if paths:
            self._import(name, paths)

    def import_folder(self, name: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, f"Import a folder into {name}")
        if folder:
            self._import(name, [folder])

    def _import(self, name: str, paths) -> None:
        def work(ctx):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return self.dataset.import_files(name, paths, ctx)

        def done(result):
            added, skipped = result
            self.card(name).refresh()
            msg = f"Imported {len(added)} images into {name}"
            if skipped:
                msg += f"; skipped {len(skipped)} unreadable ({skipped[0]})"
            self.status(msg)

        self._submit(work, f"Importing into {name}", done)

    def add_canvas_image(self, name: str) -> None:
        image = self._canvas_image()
        if image is None:
            return
        from editor.core.image import as_rgb, to_uint8

        self.dataset.add_image(name, as_rgb(to_uint8(image)))
        self.card(name).refresh()

    def _canvas_image(self) -> np.ndarray | None:
        controller = getattr(self.main_window, "controller", None)
        image = controller.current_image() if controller is not None else None
        if image is None:
            self.status("Open an image in the editor first.")
        return image

    # -- training -----------------------------------------------------------------------
    def config(self):
        from editor.teach.train import TrainConfig

        return TrainConfig(epochs=self.epochs_spin.value(), batch_size=self.batch_spin.value(),
                           learning_rate=self.lr_spin.value(),
                           test_fraction=self.test_spin.value() / 100,
                           seed=self.seed_spin.value(), hidden=self.hidden_spin.value(),
                           backbone=self.backbone_combo.currentText(),
                           fine_tune=self.finetune_box.isChecked(),
                           augment_copies=self.augment_spin.value())

    def train(self) -> None:
        cfg = self.config()
        ds = self.dataset
        self.loss_plot.clear()
        self.acc_plot.clear()

        def work(ctx):
            from editor.teach.train import train

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return train(ds, cfg, ctx, on_epoch=ctx.emit_partial)

        self._submit(work, "Training", self._trained)

    def _trained(self, result) -> None:
        self.result = result
        self.set_model(result.model)
        ev = result.evaluation
        names = result.model.class_names
        where = "held-out" if ev.on_test_split else "training"
        parts = [f"<b>{n}</b> {a:.0%}" if a == a else f"<b>{n}</b> –"
                 for n, a in zip(names, ev.per_class, strict=True)]
        self.per_class_label.setText(f"Accuracy on {len(ev.paths)} {where} images: "
                                     f"<b>{ev.accuracy:.1%}</b> — " + ", ".join(parts))
        self.confusion.set_matrix(names, ev.confusion)
        notes = list(result.notes)
        if result.skipped:
            notes.append(f"skipped {len(result.skipped)} unreadable image(s): "
                         f"{result.skipped[0]}")
        self.notes_label.setText("\n".join(notes))
        self.status(f"Trained in {result.seconds:.1f} s: {ev.accuracy:.1%} on {where} images")
        self.trainingFinished.emit(result)

    def _epoch(self, stats) -> None:
        self.loss_plot.add_point("train", TRAIN_COLOR, stats.epoch, stats.train_loss)
        self.loss_plot.add_point("test", TEST_COLOR, stats.epoch, stats.test_loss)
        self.acc_plot.add_point("train", TRAIN_COLOR, stats.epoch, stats.train_acc)
        self.acc_plot.add_point("test", TEST_COLOR, stats.epoch, stats.test_acc)

    def show_confusion_cell(self, true: int, predicted: int) -> None:
        if self.result is None:
            return
        from editor.teach.images import UnreadableImage, read_rgb

        paths = self.result.evaluation.cell(true, predicted)
        names = self.result.model.class_names
        images, caps = [], []
        for p in paths[:40]:
            try:
                images.append(read_rgb(p, max_side=256))
                caps.append(Path(p).name)
            except UnreadableImage:
                continue
        title = f"True {names[true]}, predicted {names[predicted]} ({len(paths)} images)"
        self.cell_dialog = ImageGridDialog(title, images, caps, parent=self)
        self.cell_dialog.show()

    def preview_augmentation(self) -> None:
        from editor.teach.augment import preview_grid
        from editor.teach.images import UnreadableImage, read_rgb

        samples = []
        for name in self.dataset.class_names:
            imgs = self.dataset.images(name)
            for p in imgs[:: max(1, len(imgs) // 2)][:2]:
                try:
                    samples.append(read_rgb(p, max_side=512))
                except UnreadableImage:
                    pass
        if not samples:
            self.status("Add images to a class to preview augmentation.")
            return
        tiles = preview_grid(samples[:4], seed=self.seed_spin.value(), per_image=5,
                             config=self.config().augment, size=128)
        caps = (["original"] + [f"augmented {k}" for k in range(1, 6)]) * len(samples[:4])
        self.augment_dialog = ImageGridDialog("Augmentation preview (editor ops)", tiles,
                                              caps, columns=6, parent=self)
        self.augment_dialog.show()

    # -- model --------------------------------------------------------------------------
    def set_model(self, model) -> None:
        self.model = model
        self._cam_overlay = None
        names = model.class_names
        self.bars.set_classes(names)
        acc = (model.meta.get("metrics") or {}).get("test_accuracy")
        self.model_label.setText(
            f"Model: {', '.join(names)} — {model.backbone}"
            + (f", held-out accuracy {acc:.1%}" if isinstance(acc, float) else ""))
        self.modelChanged.emit()

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

        self._submit(work, "Loading model", self.set_model)

    def export_dialog(self) -> None:
        if self.model is None:
            self.status("Train or load a model first.")
            return
        path, filt = QFileDialog.getSaveFileName(
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

        self._submit(work, "Exporting", lambda out: self.status(f"Exported {out}"))

    # -- prediction -------------------------------------------------------------------------
    def _predict_live(self, rgb: np.ndarray) -> None:
        if self._live_busy:
            self._live_pending = rgb  # latest frame wins: older waiting frames are dropped
            return
        self._live_busy = True
        model, cam = self.model, self.cam_box.isChecked()

        def work(_ctx):
            if cam:
                from editor.teach.explain import gradcam, overlay

                small = rgb
                heat, idx, _p = gradcam(model, small)
                return model.predict(rgb), overlay(rgb, heat), rgb.shape
            return model.predict(rgb), None, rgb.shape

        self.live_lane.submit(Job(work, "live prediction", on_done=self._live_done,
                                  on_error=self._live_failed))

    def _live_done(self, result) -> None:
        probs, overlay, _shape = result
        self.bars.set_probabilities(probs)
        self._cam_overlay = overlay
        now = time.perf_counter()
        self._live_times = [t for t in self._live_times if now - t < 2.0] + [now]
        if len(self._live_times) > 1:
            self.live_fps = (len(self._live_times) - 1) / (self._live_times[-1]
                                                           - self._live_times[0])
            self.fps_label.setText(f"{self.live_fps:.1f} predictions/s")
        self.predicted.emit(probs)
        self._live_busy = False
        if self._live_pending is not None and self.model is not None:
            frame, self._live_pending = self._live_pending, None
            self._predict_live(frame)

    def _live_failed(self, message: str) -> None:
        self._live_busy = False
        self.status(message)

    def classify_canvas(self) -> None:
        image = self._canvas_image()
        if image is None or self.model is None:
            if self.model is None:
                self.status("Train or load a model first.")
            return
        self.classify_image(image)

    def classify_image(self, image: np.ndarray) -> None:
        """Predict one image and show it with its Grad-CAM overlay."""
        model = self.model

        def work(_ctx):
            from editor.core.image import as_rgb, to_uint8
            from editor.teach.explain import gradcam, overlay

            rgb = as_rgb(to_uint8(image))
            probs = model.predict(rgb)
            heat, idx, _p = gradcam(model, rgb)
            return probs, overlay(rgb, heat)

        def done(result):
            probs, shown = result
            self.bars.set_probabilities(probs)
            k = int(np.argmax(probs))
            self.result_view.setPixmap(to_pixmap(shown).scaled(
                self.result_view.size(), Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation))
            self.status(f"{model.class_names[k]} ({probs[k]:.0%}); Grad-CAM shows where the "
                        "model looked")
            self.last_overlay = shown
            self.last_probabilities = probs

        self._submit(work, "Classifying", done)

    def classify_folder_dialog(self) -> None:
        if self.model is None:
            self.status("Train or load a model first.")
            return
        folder = QFileDialog.getExistingDirectory(self, "Classify every image in a folder")
        if not folder:
            return
        out, _ = QFileDialog.getSaveFileName(self, "Write predictions to CSV",
                                             str(Path(folder) / "predictions.csv"), "CSV (*.csv)")
        if out:
            self.classify_folder(folder, out)

    def classify_folder(self, folder: str | Path, csv_path: str | Path) -> None:
        model = self.model

        def work(ctx):
            import csv

            from editor.teach.images import UnreadableImage, is_image_file, read_rgb

            files = sorted(f for f in Path(folder).rglob("*") if f.is_file()
                           and is_image_file(f))
            counts = dict.fromkeys(model.class_names, 0)
            with open(csv_path, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(["path", "predicted", "probability", *model.class_names])
                for i, f in enumerate(files):
                    ctx.report(i / max(1, len(files)), f.name)
                    try:
                        probs = model.predict(read_rgb(f, max_side=2 * model.size))
                    except UnreadableImage:
                        continue
                    k = int(probs.argmax())
                    counts[model.class_names[k]] += 1
                    w.writerow([str(f), model.class_names[k], f"{probs[k]:.5f}",
                                *(f"{p:.5f}" for p in probs)])
            return counts

        self._submit(work, "Classifying folder", lambda counts: self.status(
            f"Wrote {csv_path}: " + ", ".join(f"{k} {v}" for k, v in counts.items())))

    # -- robustness ---------------------------------------------------------------------
    def robustness_report(self) -> None:
        if self.model is None or self.result is None:
            self.status("Train a model first: the report uses its held-out images.")
            return
        model, result = self.model, self.result
        names = model.class_names
        paths = result.split[1] or result.split[0]

        def work(ctx):
            from editor.teach.robustness import robustness_report

            labels = [names.index(self.dataset.class_of(p)) for p in paths]
            return robustness_report(model, paths, labels, ctx=ctx)

        self._submit(work, "Robustness report", self.show_robustness)

    def show_robustness(self, report) -> None:
        from editor.ui.teach.robustness_view import RobustnessDialog

        self.robustness_dialog = RobustnessDialog(report, self)
        self.robustness_dialog.show()

    # -- jobs -------------------------------------------------------------------------------
    def _submit(self, fn, title: str, on_done) -> Job:
        job = Job(fn, title)
        job.on_progress = lambda fraction, message: self._job_progress(job, fraction, message)
        job.on_partial = self._job_partial
        job.on_done = lambda result: self._job_done(job, result, on_done)
        job.on_error = lambda message: self._job_failed(job, message)
        job.on_cancelled = lambda: self._job_cancelled(job)
        self._job = job
        self.cancel_button.setEnabled(True)
        self.train_button.setEnabled(False)
        self.progress.setValue(0)
        self.progress_label.setText(title + "…")
        return self.lane.submit(job)

    def cancel_job(self) -> None:
        if self._job is not None:
            self._job.cancel()

    def _job_progress(self, job, fraction: float, message: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        self.progress_label.setText(message or job.title)

    def _job_partial(self, value) -> None:
        if hasattr(value, "train_loss"):
            self._epoch(value)

    def _job_finished(self, job) -> None:
        if job is self._job:
            self._job = None
            self.cancel_button.setEnabled(False)
            self.train_button.setEnabled(True)

    def _job_done(self, job, result, on_done) -> None:
        self._job_finished(job)
        self.progress.setValue(1000)
        self.progress_label.setText(f"{job.title}: done")
        if on_done is not None:
            on_done(result)

    def _job_failed(self, job, message: str) -> None:
        self._job_finished(job)
        self.progress_label.setText(f"{job.title} failed")
        self.status(message)

    def _job_cancelled(self, job) -> None:
        self._job_finished(job)
        self.progress.setValue(0)
        self.progress_label.setText(f"{job.title}: cancelled")

    def busy(self) -> bool:
        return self._job is not None

    def status(self, text: str) -> None:
        self.status_label.setText(text)

    def closeEvent(self, event) -> None:  # noqa: N802
        self.source.stop()
        self.record_timer.stop()
        if self.main_window is None or getattr(self.main_window, "controller", None) is None:
            self.lane.stop()
            self.live_lane.stop()
        super().closeEvent(event)
