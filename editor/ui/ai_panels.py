"""The AI dock: Classify, Network view, FGSM, Deep Dream, Style transfer, Models.

A tool that edits (Grad-CAM overlay, FGSM, Deep Dream, Style transfer) hands its
registered op to ``controller.apply_op``: the commit pipeline runs it on the
image shown when it starts (progress, loss and Cancel in the status bar,
intermediate images on the canvas) and lands it as one undo step that recipes
replay. A tool that only reports (Classify, feature maps) runs through
``controller.analyse`` and leaves the image alone.
torch is never imported here: the ops import it on the worker thread.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from editor.ui.pipeline import EditRequest
from editor.ui.qimage import to_pixmap

log = logging.getLogger(__name__)
VGG16_LAYERS = ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3",
                "relu4_1", "relu4_2", "relu4_3", "relu5_1", "relu5_2", "relu5_3")
SHARED_STYLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "images",
                            "scream.jpg")




def _image_label(min_h: int = 120) -> QLabel:
    label = QLabel()
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setMinimumHeight(min_h)
    label.setStyleSheet("QLabel { background: #202020; color: #aaa; }")
    return label


class AIPanel(QWidget):
    """The AI dock's contents (a tab per tool)."""

    def __init__(self, controller: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.job = None
        self.last_extras: dict = {}
        self._device_known = False
        self.tabs = QTabWidget()
        self.classify_tab = ClassifyTab(self)
        self.network_tab = NetworkTab(self)
        self.fgsm_tab = FgsmTab(self)
        self.dream_tab = DreamTab(self)
        self.style_tab = StyleTab(self)
        for tab, title in ((self.classify_tab, "Classify"), (self.network_tab, "Network"),
                           (self.fgsm_tab, "FGSM"), (self.dream_tab, "Dream"),
                           (self.style_tab, "Style")):
            self.tabs.addTab(tab, title)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        bottom = QHBoxLayout()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.models_button = QPushButton("Models…")
        self.models_button.clicked.connect(self.show_models)
        self.force_cpu = QCheckBox("Force CPU")
        self.force_cpu.toggled.connect(self._force_cpu)
        bottom.addWidget(self.cancel_button)
        bottom.addWidget(self.force_cpu)
        bottom.addStretch(1)
        bottom.addWidget(self.models_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(self.status)
        layout.addLayout(bottom)

    # -- running ops ------------------------------------------------------------------
    def run_op(self, op_name: str, params: dict, title: str, on_result=None,
               commit: bool = True) -> Any:
        """Run a registered AI op on the image shown when it starts, off the GUI thread.

        ``commit``: the result is an edit, committed through the controller's
        commit pipeline (one undo step; intermediate images show on the canvas).
        Otherwise the op only reports (class scores, feature maps). Either way
        ``on_result(image, extras)`` updates the tab.
        """
        c = self.controller
        if c.current_image() is None:
            self.say("Open an image first.")
            return None
        if self.job is not None:
            self.say("An AI tool is already running; cancel it first.")
            return None
        self._detect_device_once()

        def done(out, extras) -> None:
            self._finished()
            self.last_extras = extras
            notes = "; ".join(extras.get("notes", []))
            if on_result is not None:
                on_result(out, extras)
            self.say(f"{title} done" + (f" ({notes})" if notes else "") + ".")

        def failed(msg: str) -> None:
            self._finished()
            self.say(msg)

        def cancelled() -> None:
            self._finished()
            self.say("Cancelled; the image is unchanged.")

        if commit:
            self.job = c.apply_op(op_name, dict(params), title, on_committed=done,
                                  on_error=failed, on_cancelled=cancelled,
                                  partial_preview=True)
        else:
            self.job = c.analyse(op_name, dict(params), title, on_done=done, on_error=failed)
        if self.job is not None:
            self.cancel_button.setEnabled(True)
            self.say(f"{title} running…")
        return self.job

    def _finished(self) -> None:
        self.job = None
        self.cancel_button.setEnabled(False)

    def cancel(self) -> None:
        """Stop the running tool at its next iteration; the image stays as it was."""
        job = self.job
        if job is None:
            return
        if isinstance(job, EditRequest):
            self.controller.pipeline.cancel(job)
        else:
            job.cancel()
        self._finished()
        self.say("Cancelled; the image is unchanged.")

    def say(self, text: str) -> None:
        self.status.setText(text)

    def _force_cpu(self, on: bool) -> None:
        from editor.ops.ai import models

        models.set_force_cpu(on)
        if self._device_known:
            self.update_device_label()

    def dock_visibility_changed(self, visible: bool) -> None:
        """Finding the device imports torch (a long import holding the GIL): do it when the user
        first looks at the AI dock, not while the window is coming up."""
        # the dock is reported visible for a moment while the window lays itself out,
        # so wait and ask again whether the user can really see the panel
        if visible and not self._device_known:
            QTimer.singleShot(800, self._detect_device_if_seen)

    def _detect_device_if_seen(self) -> None:
        if self.isVisible() and not self.visibleRegion().isEmpty():
            self._detect_device_once()

    def _detect_device_once(self) -> None:
        if not self._device_known:
            self._device_known = True
            self.update_device_label()

    def update_device_label(self) -> None:
        """Ask the model store for the device (imports torch, so off the GUI thread)."""
        c = self.controller

        def work(ctx):
            from editor.ops.ai.models import device_label

            return device_label()

        if hasattr(c, "run_background"):
            c.run_background(work, lambda text: c.set_device_label(text), "AI device")

    def show_models(self) -> QDialog:
        dlg = ModelsDialog(self)
        dlg.show()
        return dlg


class ClassifyTab(QWidget):
    """Top-5 ImageNet classes of the canvas image with probability bars."""

    def __init__(self, panel: AIPanel) -> None:
        super().__init__()
        self.panel = panel
        self.button = QPushButton("Classify image")
        self.button.clicked.connect(self.run)
        self.rows: list[tuple[QLabel, QProgressBar]] = []
        grid = QGridLayout()
        for i in range(5):
            label, bar = QLabel("—"), QProgressBar()
            bar.setRange(0, 1000)
            bar.setFormat("")
            grid.addWidget(label, i, 0)
            grid.addWidget(bar, i, 1)
            self.rows.append((label, bar))
        layout = QVBoxLayout(self)
        layout.addWidget(self.button)
        layout.addLayout(grid)
        layout.addStretch(1)

    def run(self) -> None:
        self.panel.run_op("classify", {"top": 5}, "Classify", self.show, commit=False)

    def show(self, _image, extras: dict) -> None:
        for (label, bar), (name, idx, p) in zip(self.rows, extras.get("scores", []), strict=False):
            label.setText(f"{name}  [{idx}]")
            bar.setValue(round(p * 1000))
            bar.setFormat(f"{p:.1%}")


def _spin(lo, hi, value, step=1, decimals=None, suffix=""):
    if decimals is None:
        w = QSpinBox()
    else:
        w = QDoubleSpinBox()
        w.setDecimals(decimals)
    w.setRange(lo, hi)
    w.setSingleStep(step)
    w.setValue(value)
    if suffix:
        w.setSuffix(suffix)
    return w


class NetworkTab(QWidget):
    """Activation maps of a layer, the first layer's filters, Grad-CAM."""

    def __init__(self, panel: AIPanel) -> None:
        super().__init__()
        self.panel = panel
        self.layer = QComboBox()
        self.layer.addItems(VGG16_LAYERS)
        self.layer.setCurrentText("relu3_1")
        self.channels = _spin(1, 64, 16)
        self.maps_button = QPushButton("Show activation maps")
        self.maps_button.clicked.connect(self.show_maps)
        self.filters_button = QPushButton("First-layer filters")
        self.filters_button.clicked.connect(self.show_filters)
        self.auto_class = QCheckBox("top class")
        self.auto_class.setChecked(True)
        self.class_index = _spin(0, 999, 281)
        self.alpha = _spin(0.0, 1.0, 0.5, 0.05, 2)
        self.cam_button = QPushButton("Grad-CAM overlay")
        self.cam_button.clicked.connect(self.gradcam)
        self.view = _image_label(200)
        self.caption = QLabel("")
        form = QFormLayout()
        form.addRow("Layer", self.layer)
        form.addRow("Maps", self.channels)
        row = QHBoxLayout()
        row.addWidget(self.auto_class)
        row.addWidget(self.class_index)
        form.addRow("Grad-CAM class", row)
        form.addRow("Overlay opacity", self.alpha)
        buttons = QHBoxLayout()
        for b in (self.maps_button, self.filters_button, self.cam_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.caption)

    def show_maps(self) -> None:
        params = {"layer": self.layer.currentText(), "channels": self.channels.value()}

        def shown(grid, extras):
            self.view.setPixmap(to_pixmap(grid, 420))
            self.caption.setText(f"{params['layer']}: {extras.get('layer_shape', ('?',))[0]} "
                                 f"maps; showing the {len(extras.get('channels', []))} "
                                 "most active")

        self.panel.run_op("feature_maps", params, "Feature maps", shown, commit=False)

    def show_filters(self) -> None:
        def work(ctx):
            from editor.ops.ai._util import grid
            from editor.ops.ai.vgg import first_layer_filters

            f = first_layer_filters("vgg16")
            f = f.repeat(8, axis=1).repeat(8, axis=2)  # 3x3 kernels, enlarged to see
            return (grid(f, pad=2) * 255).astype(np.uint8)

        def done(img):
            self.view.setPixmap(to_pixmap(img, 420))
            self.caption.setText("conv1_1: 64 learned 3x3 RGB filters (each stretched)")

        self.panel.controller.run_job(work, "First-layer filters", on_done=done,
                                      on_error=self.panel.say)

    def gradcam(self) -> None:
        params = {"class_index": None if self.auto_class.isChecked()
                  else self.class_index.value(), "alpha": self.alpha.value()}

        def shown(img, extras):
            self.view.setPixmap(to_pixmap(img, 420))
            label, idx, p = extras.get("class", ("?", -1, 0.0))
            self.caption.setText(f"Grad-CAM for {label} [{idx}] ({p:.0%})")

        self.panel.run_op("gradcam", params, "Grad-CAM", shown, commit=True)


class FgsmTab(QWidget):
    """FGSM / iterative attack: predictions before and after, perturbation, PSNR."""

    def __init__(self, panel: AIPanel) -> None:
        super().__init__()
        self.panel = panel
        self.epsilon = _spin(0.0, 32.0, 2.0, 0.5, 1, " /255")
        self.iterations = _spin(1, 200, 5)
        self.auto_target = QCheckBox("any other class")
        self.auto_target.setChecked(True)
        self.target = _spin(0, 999, 504)
        self.button = QPushButton("Attack")
        self.button.clicked.connect(self.run)
        self.before = QLabel("before: —")
        self.after = QLabel("after: —")
        self.psnr = QLabel("PSNR: —")
        self.perturbation = _image_label(160)
        form = QFormLayout()
        form.addRow("Epsilon", self.epsilon)
        form.addRow("Iterations", self.iterations)
        row = QHBoxLayout()
        row.addWidget(self.auto_target)
        row.addWidget(self.target)
        form.addRow("Target", row)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.button)
        for w in (self.before, self.after, self.psnr):
            layout.addWidget(w)
        layout.addWidget(QLabel("Perturbation (amplified):"))
        layout.addWidget(self.perturbation, 1)

    def params(self) -> dict:
        return {"epsilon": self.epsilon.value(), "iterations": self.iterations.value(),
                "target_class": None if self.auto_target.isChecked() else self.target.value()}

    def run(self) -> None:
        self.panel.run_op("fgsm", self.params(), "Adversarial attack", self.show)

    def show(self, _img, extras: dict) -> None:
        def fmt(rows):
            return ", ".join(f"{n} {p:.0%}" for n, _, p in rows[:2])

        self.before.setText(f"before: {fmt(extras['before'])}")
        self.after.setText(f"after: {fmt(extras['after'])}"
                           + ("" if extras["changed"] else "  (unchanged: raise epsilon)"))
        self.psnr.setText(f"PSNR: {extras['psnr']:.1f} dB")
        self.perturbation.setPixmap(to_pixmap(extras["perturbation"], 360))


class DreamTab(QWidget):
    """Deep Dream: the canvas updates after every octave."""

    def __init__(self, panel: AIPanel) -> None:
        super().__init__()
        self.panel = panel
        self.layer = QComboBox()
        self.layer.addItems(VGG16_LAYERS)
        self.layer.setCurrentText("relu4_3")
        self.octaves = _spin(1, 8, 3)
        self.octave_scale = _spin(1.1, 2.0, 1.4, 0.05, 2)
        self.steps = _spin(1, 200, 20)
        self.step_size = _spin(0.1, 10.0, 1.5, 0.1, 1, " /255")
        self.jitter = _spin(0, 64, 16)
        self.seed = _spin(0, 999999, 0)
        self.max_size = _spin(64, 4096, 512, 32)
        self.max_size.setSuffix(" px")
        self.button = QPushButton("Dream")
        self.button.clicked.connect(self.run)
        form = QFormLayout()
        for name, w in (("Layer", self.layer), ("Octaves", self.octaves),
                        ("Octave scale", self.octave_scale), ("Steps per octave", self.steps),
                        ("Step size", self.step_size), ("Jitter", self.jitter),
                        ("Seed", self.seed), ("Working size", self.max_size)):
            form.addRow(name, w)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.button)
        layout.addStretch(1)

    def params(self) -> dict:
        return {"layer": self.layer.currentText(), "octaves": self.octaves.value(),
                "octave_scale": self.octave_scale.value(), "steps": self.steps.value(),
                "step_size": self.step_size.value(), "jitter": self.jitter.value(),
                "seed": self.seed.value(), "max_size": self.max_size.value()}

    def run(self) -> None:
        self.panel.run_op("deep_dream", self.params(), "Deep Dream")


class StyleTab(QWidget):
    """Gatys style transfer; the style comes from a file or from the canvas image."""

    def __init__(self, panel: AIPanel) -> None:
        super().__init__()
        self.panel = panel
        self.style_image: np.ndarray | None = None
        self.path = QLineEdit()
        self.path.setPlaceholderText("style image file")
        if os.path.exists(SHARED_STYLE):
            self.path.setText(os.path.normpath(SHARED_STYLE))
        browse = QPushButton("File…")
        browse.clicked.connect(self.browse)
        snap = QPushButton("Use canvas image")
        snap.setToolTip("Take the image open now as the style; then open the photo to paint")
        snap.clicked.connect(self.use_canvas)
        self.thumb = _image_label(90)
        self.size = _spin(32, 2048, 384, 32)
        self.size.setSuffix(" px")
        self.steps = _spin(1, 1000, 80)
        self.style_weight = _spin(0.0, 1e9, 1e6, 1e5, 0)
        self.content_weight = _spin(0.0, 1000.0, 1.0, 0.1, 2)
        self.tv_weight = _spin(0.0, 1000.0, 0.0, 0.1, 2)
        self.optimizer = QComboBox()
        self.optimizer.addItems(["lbfgs", "adam"])
        self.init = QComboBox()
        self.init.addItems(["content", "noise"])
        self.seed = _spin(0, 999999, 0)
        self.button = QPushButton("Stylise")
        self.button.clicked.connect(self.run)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        row.addWidget(snap)
        form = QFormLayout()
        for name, w in (("Working size", self.size), ("Iterations", self.steps),
                        ("Style weight", self.style_weight),
                        ("Content weight", self.content_weight), ("TV weight", self.tv_weight),
                        ("Optimiser", self.optimizer), ("Start from", self.init),
                        ("Seed", self.seed)):
            form.addRow(name, w)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.thumb)
        layout.addLayout(form)
        layout.addWidget(self.button)
        layout.addStretch(1)
        self.path.editingFinished.connect(self._load_thumb)
        self._load_thumb()

    def browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Style image", "",
                                              "Images (*.png *.jpg *.jpeg *.webp *.tif *.bmp)")
        if path:
            self.path.setText(path)
            self._load_thumb()

    def use_canvas(self) -> None:
        image = self.panel.controller.current_image()
        if image is None:
            self.panel.say("Open the style image first.")
            return
        # a file keeps the recipe replayable: the op records a path, not pixels
        from PIL import Image

        from editor.core.image import as_rgb, to_uint8

        fd, path = tempfile.mkstemp(prefix="convolve_style_", suffix=".png")
        os.close(fd)
        Image.fromarray(as_rgb(to_uint8(image))).save(path)
        self.path.setText(path)
        self._load_thumb()
        self.panel.say("Style taken from the canvas; now open the photo to paint.")

    def _load_thumb(self) -> None:
        path = self.path.text().strip()
        if not path or not os.path.exists(path):
            self.thumb.setText("no style image")
            return
        try:
            from editor.ops.ai._util import read_image

            self.thumb.setPixmap(to_pixmap(read_image(path), 120))
        except Exception as e:  # noqa: BLE001  (shown, not raised)
            self.thumb.setText(str(e))

    def params(self) -> dict:
        return {"style": self.path.text().strip(), "size": self.size.value(),
                "steps": self.steps.value(), "style_weight": self.style_weight.value(),
                "content_weight": self.content_weight.value(),
                "tv_weight": self.tv_weight.value(),
                "optimizer": self.optimizer.currentText(), "init": self.init.currentText(),
                "seed": self.seed.value()}

    def run(self) -> None:
        self.panel.run_op("style_transfer", self.params(), "Style transfer")


class ModelsDialog(QDialog):
    """Each model's name, role, source, licence, size, SHA-256 and status."""

    COLUMNS = ("name", "status", "role", "source", "licence", "size", "sha256", "install")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("AI models")
        self.resize(980, 260)
        from editor.ops.ai.models import model_table

        self.rows = model_table()
        table = QTableWidget(len(self.rows), len(self.COLUMNS))
        table.setHorizontalHeaderLabels([c.capitalize() if c != "sha256" else "SHA-256"
                                         for c in self.COLUMNS])
        for r, row in enumerate(self.rows):
            for c, key in enumerate(self.COLUMNS):
                v = row.get(key)
                if key == "size":
                    v = "—" if v is None else f"{v / 1e6:.1f} MB"
                elif key == "sha256":
                    v = "—" if v is None else v[:16] + "…"
                elif key == "install" and row["status"] == "ready":
                    v = "installed"
                item = QTableWidgetItem(str(v))
                if key == "sha256" and row.get("sha256"):
                    item.setToolTip(row["sha256"])
                table.setItem(r, c, item)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table = table
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(table)
        layout.addWidget(QLabel("Missing? Run the command in the Install column; optional "
                                "torchvision models need internet."))
        layout.addWidget(buttons)


def install(main_window: Any) -> AIPanel:
    """Add the AI dock to ``main_window`` (uses its ``controller`` and ``add_panel``)."""
    panel = AIPanel(main_window.controller)
    settings = getattr(main_window, "settings", None)
    if settings is not None:
        panel.force_cpu.setChecked(str(settings.value("ai/force_cpu", "false")) == "true")
        panel.force_cpu.toggled.connect(
            lambda on: settings.setValue("ai/force_cpu", "true" if on else "false"))
    dock = main_window.add_panel("AI", panel, Qt.DockWidgetArea.RightDockWidgetArea)
    dock.visibilityChanged.connect(panel.dock_visibility_changed)
    main_window.ai_panel = panel
    return panel
