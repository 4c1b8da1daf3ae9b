"""The Capture panel of the Classifier window: camera or video, and one card per class.

A card holds the class name, its count, hold-to-record, snap, import and the
thumbnails. The panel reads and writes the window's dataset and uses the
window's frame source (shared with the Use panel's live prediction); long
imports run as the window's jobs.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from editor.core.context import OpError
from editor.ui.richtext import count
from editor.ui.teach.camera import RESOLUTIONS, camera_names
from editor.ui.teach.widgets import ImageView, ThumbnailModel, class_color, thumbnail_view

if TYPE_CHECKING:
    from editor.ui.teach.window import ClassifierWindow

VIDEO_ITEM = "Video file…"
NO_CAMERA_ITEM = "Camera off"
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp);;All files (*)"


class ClassCard(QFrame):
    """One class: name, count, hold-to-record, snap, import, thumbnails with delete."""

    renamed = Signal(str, str)

    def __init__(self, panel: CapturePanel, name: str, index: int) -> None:
        super().__init__()
        self.panel, self.name, self.index = panel, name, index
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
        self.remove_button.clicked.connect(lambda: panel.remove_class(self.name))
        head.addWidget(self.name_edit, 1)
        head.addWidget(self.count_label)
        head.addWidget(self.remove_button)
        lay.addLayout(head)
        row = QHBoxLayout()
        self.record_button = QPushButton("Hold to record")
        self.record_button.setToolTip("Records frames into this class while held down")
        self.record_button.pressed.connect(lambda: panel.start_recording(self.name))
        self.record_button.released.connect(panel.stop_recording)
        self.snap_button = QPushButton("Snap")
        self.snap_button.setToolTip("Add the current camera frame")
        self.snap_button.clicked.connect(lambda: panel.snap(self.name))
        self.import_button = QPushButton("Import ▾")
        menu = QMenu(self.import_button)
        menu.addAction("Images…", lambda: panel.import_files(self.name))
        menu.addAction("Folder…", lambda: panel.import_folder(self.name))
        menu.addAction("Canvas image", lambda: panel.add_canvas_image(self.name))
        self.import_button.setMenu(menu)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the selected thumbnails")
        self.delete_button.clicked.connect(self.delete_selected)
        for b in (self.record_button, self.snap_button, self.import_button, self.delete_button):
            row.addWidget(b)
        lay.addLayout(row)
        self.model = ThumbnailModel(56)
        self.view = thumbnail_view(self.model)
        lay.addWidget(self.view)
        self.refresh()

    def _rename(self) -> None:
        new = self.name_edit.text().strip()
        if new != self.name:
            self.panel.rename_class(self.name, new)

    def refresh(self) -> None:
        paths = self.panel.host.dataset.images(self.name)
        self.model.set_paths(paths)
        self.count_label.setText(count(len(paths), "image"))
        self.view.scrollToBottom()  # the newest thumbnails, at the end of the strip

    def delete_selected(self) -> None:
        rows = sorted({i.row() for i in self.view.selectedIndexes()})
        if not rows:
            self.panel.host.status("Select thumbnails to delete first.")
            return
        for r in rows:
            self.panel.host.dataset.delete_image(self.model.paths[r])
        self.refresh()
        self.panel.dataset_changed()


class CapturePanel(QGroupBox):
    """Camera/video source, recording and the class cards (column 1 of the window)."""

    def __init__(self, host: ClassifierWindow) -> None:
        super().__init__("1  Capture")
        self.host = host
        self.source = host.source
        self.cards: list[ClassCard] = []
        self.record_class: str | None = None
        self.record_timer = QTimer(self)
        self.record_timer.timeout.connect(self._record_tick)
        self._video_paths: dict[str, str] = {}
        self.source.error.connect(self._camera_error)
        self._build()

    def _build(self) -> None:
        lay = QVBoxLayout(self)
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
        self.view = ImageView("No camera.\nChoose a camera or a video file above,\n"
                              "or import images into a class.", dark=True)
        self.view.setMinimumSize(320, 120)
        lay.addWidget(self.view, 2)
        self._compact_view(True)
        self.cards_holder = QWidget()
        self.cards_layout = QVBoxLayout(self.cards_holder)
        self.cards_layout.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.cards_holder)
        scroll.setMinimumHeight(170)
        lay.addWidget(scroll, 3)
        add = QPushButton("+ Add a class")
        add.clicked.connect(lambda: self.add_class())
        lay.addWidget(add)

    # -- classes ------------------------------------------------------------------------
    def rebuild_cards(self) -> None:
        """One card per class of the dataset (after opening a project or renaming)."""
        while self.cards_layout.count():  # cards and the trailing stretch
            item = self.cards_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().setParent(None)
                item.widget().deleteLater()
        self.cards = []
        for i, name in enumerate(self.host.dataset.class_names):
            card = ClassCard(self, name, i)
            self.cards.append(card)
            self.cards_layout.addWidget(card)
        self.cards_layout.addStretch(1)
        self.host.classes_changed()

    def card(self, name: str) -> ClassCard:
        return next(c for c in self.cards if c.name == name)

    def add_class(self, name: str | None = None) -> None:
        try:
            self.host.dataset.add_class(name)
        except OpError as e:
            self.host.status(str(e))
            return
        self.rebuild_cards()

    def rename_class(self, old: str, new: str) -> None:
        try:
            self.host.dataset.rename_class(old, new)
        except OpError as e:
            self.host.status(str(e))
            self.card(old).name_edit.setText(old)
            return
        self.rebuild_cards()

    def remove_class(self, name: str, confirm: bool = True) -> None:
        n = len(self.host.dataset.images(name))
        if confirm and n and QMessageBox.question(
                self, "Remove class", f"Remove {name!r} and delete its {count(n, 'image')}?") \
                != QMessageBox.StandardButton.Yes:
            return
        self.host.dataset.remove_class(name)
        self.rebuild_cards()

    def dataset_changed(self) -> None:
        self.host.status(", ".join(f"{k}: {v}" for k, v in self.host.dataset.counts().items()))

    # -- camera -------------------------------------------------------------------------
    def _camera_chosen(self, index: int) -> None:
        text = self.camera_combo.itemText(index)
        if text == NO_CAMERA_ITEM:
            self.source.stop()
            self.view.setText("Camera off.")
            self._compact_view(True)
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
        self.host.status(f"Playing {Path(path).name} as the camera")

    def _camera_error(self, message: str) -> None:
        self.view.setText(message)
        self._compact_view(True)
        self.host.status(message)

    def show_frame(self, rgb: np.ndarray) -> None:
        self._compact_view(False)
        self.view.set_image(rgb)

    def _compact_view(self, compact: bool) -> None:
        # with no camera the view is a short note, and the class cards get the room
        self.view.setMaximumHeight(140 if compact else 16777215)

    # -- recording ----------------------------------------------------------------------
    def start_recording(self, name: str) -> None:
        if self.source.latest is None:
            self.host.status("No camera frame to record: choose a camera or a video file.")
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
        ds = self.host.dataset
        ds.add_image(self.record_class, self.source.latest)
        self.card(self.record_class).count_label.setText(
            count(len(ds.images(self.record_class)), "image"))

    def snap(self, name: str) -> None:
        if self.source.latest is None:
            self.host.status("No camera frame: choose a camera or a video file.")
            return
        self.host.dataset.add_image(name, self.source.latest)
        self.card(name).refresh()

    # -- import -------------------------------------------------------------------------
    def import_files(self, name: str, paths: list[str] | None = None) -> None:
        if paths is None:
            paths, _ = QFileDialog.getOpenFileNames(self, f"Import images into {name}", "",
                                                    IMAGE_FILTER)
        if paths:
            self._import(name, paths)

    def import_folder(self, name: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, f"Import a folder into {name}")
        if folder:
            self._import(name, [folder])

    def _import(self, name: str, paths) -> None:
        ds = self.host.dataset

        def work(ctx):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return ds.import_files(name, paths, ctx)

        def done(result) -> None:
            added, skipped = result
            self.card(name).refresh()
            msg = f"Imported {count(len(added), 'image')} into {name}"
            if skipped:
                msg += f"; skipped {len(skipped)} unreadable ({skipped[0]})"
            self.host.status(msg)

        self.host.submit(work, f"Importing into {name}", on_done=done)

    def add_canvas_image(self, name: str) -> None:
        image = self.host.canvas_image()
        if image is None:
            return
        from editor.core.image import as_rgb, to_uint8

        self.host.dataset.add_image(name, as_rgb(to_uint8(image)))
        self.card(name).refresh()

    def stop(self) -> None:
        self.record_timer.stop()
