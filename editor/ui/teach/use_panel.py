"""The Use panel of the Classifier window: live probabilities, Grad-CAM, the canvas
image, folders to CSV, and sending the Grad-CAM overlay to the editor's canvas.

Live prediction runs on the window's second lane where only the newest camera
frame waits (latest frame wins), so the view never lags behind the camera.

"Send to canvas" is an edit like any other: it goes through the editor's commit
pipeline (:mod:`editor.ui.pipeline`) as an :class:`~editor.ui.pipeline.EditRequest`
whose ``compute`` recomputes the overlay from the base pixels the pipeline
hands it. So it is one undo step, and if the image changed since "Classify canvas
image" the overlay is made from the image shown then, never pasted stale.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
)

from editor.ui.teach.widgets import ImageView, ProbabilityBars
from editor.workers.lanes import Job

if TYPE_CHECKING:
    from editor.ui.teach.window import ClassifierWindow

GRADCAM_TITLE = "Classifier Grad-CAM"


class UsePanel(QGroupBox):
    """Column 3 of the window: what the model says, and where it looked."""

    def __init__(self, host: ClassifierWindow) -> None:
        super().__init__("3  Use")
        self.host = host
        #: Grad-CAM of the latest predicted frame, laid over every new frame
        self.cam_heat: np.ndarray | None = None
        #: the latest frame shown with it
        self.cam_overlay: np.ndarray | None = None
        self.live_fps = 0.0
        self._live_busy = False
        self._live_pending: np.ndarray | None = None
        self._live_times: list[float] = []
        self.last_overlay: np.ndarray | None = None
        self.last_probabilities: np.ndarray | None = None
        self._explained: tuple[object, int] | None = None  # (model, class) of the canvas
        self.send_request = None
        self._build()

    def _build(self) -> None:
        lay = QVBoxLayout(self)
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
        self.result_view = ImageView("Classify the canvas image to see it here with a "
                                     "Grad-CAM overlay of where the model looked.",
                                     framed=True)
        self.result_view.setMinimumSize(240, 180)
        lay.addWidget(self.result_view, 1)
        row = QHBoxLayout()
        self.classify_button = QPushButton("Classify canvas image")
        self.classify_button.setToolTip("Classify the editor's image and show its Grad-CAM")
        self.classify_button.clicked.connect(self.classify_canvas)
        self.send_button = QPushButton("Send to canvas")
        self.send_button.setToolTip("Put the Grad-CAM overlay onto the editor's image as one "
                                    "undo step")
        self.send_button.setEnabled(False)
        self.send_button.clicked.connect(self.send_to_canvas)
        row.addWidget(self.classify_button, 1)
        row.addWidget(self.send_button)
        lay.addLayout(row)
        self.folder_button = QPushButton("Classify folder to CSV…")
        self.folder_button.setToolTip("Classify every image in a folder and write the "
                                      "predictions as CSV (as `convolve predict --csv`)")
        self.folder_button.clicked.connect(self.classify_folder_dialog)
        lay.addWidget(self.folder_button)
        self.notes_label = QLabel("")
        self.notes_label.setWordWrap(True)
        self.notes_label.setStyleSheet("color: #b06000;")
        self.notes_label.setVisible(False)
        lay.addWidget(self.notes_label)

    # -- model ------------------------------------------------------------------------------
    def show_classes(self, names: list[str]) -> None:
        self.bars.set_classes(names)

    def show_model(self, model) -> None:
        self.cam_heat = self.cam_overlay = None
        self._explained = None
        self.send_button.setEnabled(False)
        self.bars.set_classes(model.class_names)
        acc = (model.meta.get("metrics") or {}).get("test_accuracy")
        self.model_label.setText(
            f"Model: {', '.join(model.class_names)} — {model.backbone}"
            + (f", held-out accuracy {acc:.1%}" if isinstance(acc, float) else ""))

    def show_notes(self, notes: list[str]) -> None:
        self.notes_label.setText("\n".join(notes))
        self.notes_label.setVisible(bool(notes))

    # -- live -------------------------------------------------------------------------------
    def overlay_for(self, rgb: np.ndarray) -> np.ndarray:
        """The frame to show: the current frame, with the latest Grad-CAM laid over it.

        The heat map comes from the latest prediction (a frame or two behind at
        most); the picture is always the frame just captured, so the view follows
        the camera at its own rate instead of freezing on the predicted frame.
        """
        heat = self.cam_heat
        if self.cam_box.isChecked() and heat is not None and heat.shape == rgb.shape[:2]:
            from editor.teach.explain import overlay

            self.cam_overlay = overlay(rgb, heat)
            return self.cam_overlay
        return rgb

    def on_frame(self, rgb: np.ndarray) -> None:
        if self.live_box.isChecked() and self.host.model is not None:
            self._predict_live(rgb)

    def _predict_live(self, rgb: np.ndarray) -> None:
        if self._live_busy:
            self._live_pending = rgb  # latest frame wins: older waiting frames are dropped
            return
        self._live_busy = True
        model, cam = self.host.model, self.cam_box.isChecked()

        def work(_ctx):
            probs = model.predict(rgb)
            if cam:  # the heat map only: the GUI lays it over each new frame
                from editor.teach.explain import gradcam

                heat, _k, _p = gradcam(model, rgb, class_index=int(np.argmax(probs)))
                return probs, heat
            return probs, None

        self.host.live_lane.submit(Job(work, "live prediction", on_done=self._live_done,
                                       on_error=self._live_failed))

    def _live_done(self, result) -> None:
        probs, heat = result
        self.bars.set_probabilities(probs)
        self.cam_heat = heat
        now = time.perf_counter()
        self._live_times = [t for t in self._live_times if now - t < 2.0] + [now]
        if len(self._live_times) > 1:
            self.live_fps = (len(self._live_times) - 1) / (self._live_times[-1]
                                                           - self._live_times[0])
            self.fps_label.setText(f"{self.live_fps:.1f} predictions/s")
        self.host.predicted.emit(probs)
        self._live_busy = False
        if self._live_pending is not None and self.host.model is not None:
            frame, self._live_pending = self._live_pending, None
            self._predict_live(frame)

    def _live_failed(self, message: str) -> None:
        self._live_busy = False
        self.host.status(message)

    # -- the canvas image -------------------------------------------------------------------
    def classify_canvas(self) -> None:
        if self.host.model is None:
            self.host.status("Train or load a model first.")
            return
        image = self.host.canvas_image()
        if image is not None:
            self.classify_image(image, from_canvas=True)

    def classify_image(self, image: np.ndarray, from_canvas: bool = False) -> None:
        """Predict one image and show it with the Grad-CAM overlay of the predicted class."""
        model = self.host.model

        def work(_ctx):
            from editor.teach.predict import explain_image

            return explain_image(model, image)

        def done(result) -> None:
            probs, k, shown = result
            self.bars.set_probabilities(probs)
            self.result_view.set_image(shown)
            self.last_overlay, self.last_probabilities = shown, probs
            can_send = from_canvas and model is self.host.model
            self._explained = (model, k) if can_send else None
            self.send_button.setEnabled(can_send)
            self.host.status(f"{model.class_names[k]} ({probs[k]:.0%}); Grad-CAM shows where "
                             "the model looked"
                             + ("; Send to canvas puts it on the image." if can_send else "."))

        self.host.submit(work, "Classifying", on_done=done)

    def send_to_canvas(self):
        """Put the Grad-CAM overlay onto the editor's image as one undo step.

        Returns the :class:`~editor.ui.pipeline.EditRequest` (None when there is
        nothing to send or no image in the editor).
        """
        controller = getattr(self.host.main_window, "controller", None)
        if controller is None:
            self.host.status("Open the Classifier from the editor to send to its canvas.")
            return None
        if self._explained is None or self._explained[0] is not self.host.model:
            self.host.status("Classify the canvas image first.")
            return None
        from editor.ui.pipeline import EditRequest

        model, k = self._explained
        name = model.class_names[k]

        def compute(_ctx, base: np.ndarray) -> np.ndarray:
            # from the base the pipeline hands over, so a changed image is never overwritten
            # with an overlay of the old one
            from editor.teach.predict import explain_image

            return explain_image(model, base, k)[2]

        self.send_request = controller.submit(EditRequest(
            title=GRADCAM_TITLE, compute=compute, keep_pixels=True,
            on_committed=lambda _img, _extras: self.host.status(
                f"Grad-CAM of {name} is on the canvas (one undo step)."),
            on_error=self.host.status))
        return self.send_request

    # -- folders ----------------------------------------------------------------------------
    def classify_folder_dialog(self) -> None:
        if self.host.model is None:
            self.host.status("Train or load a model first.")
            return
        folder = QFileDialog.getExistingDirectory(self, "Classify every image in a folder")
        if not folder:
            return
        out, _ = QFileDialog.getSaveFileName(self, "Write predictions to CSV",
                                             str(Path(folder) / "predictions.csv"), "CSV (*.csv)")
        if out:
            self.classify_folder(folder, out)

    def classify_folder(self, folder: str | Path, csv_path: str | Path) -> None:
        """Classify every image under ``folder`` into ``csv_path`` (as ``convolve predict``)."""
        model = self.host.model

        def work(ctx):
            from editor.teach.predict import image_files, predict_files, write_csv

            found = predict_files(model, image_files([folder]), ctx)
            write_csv(found, csv_path)
            return found

        def done(found) -> None:
            text = f"Wrote {csv_path}: " + ", ".join(f"{k} {v}"
                                                     for k, v in found.counts().items())
            if found.skipped:
                text += f"; skipped {len(found.skipped)} unreadable ({found.skipped[0]})"
            self.host.status(text)

        self.host.submit(work, "Classifying folder", on_done=done)
