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
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QSize, Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from editor.ui.pipeline import EditRequest
from editor.ui.qimage import to_pixmap
from editor.ui.richtext import count
from editor.ui.teach.widgets import ImageView

log = logging.getLogger(__name__)
#: the Style tab's default painting, bundled (public domain; see resources/LICENSE-images.md)
DEFAULT_STYLE = os.path.join(os.path.dirname(__file__), "..", "..", "resources",
                             "style-scream.jpg")




def _image_label(min_h: int = 120) -> QLabel:
    label = QLabel()
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setMinimumHeight(min_h)
    label.setStyleSheet("QLabel { background: #202020; color: #aaa; }")
    return label


class _TabScroll(QScrollArea):
    """A tab in a frameless scroll area: on a short screen the dock scrolls instead of
    making the window taller than the screen. It asks for the tab's full width, so
    only the height ever scrolls."""

    def setWidget(self, widget: QWidget) -> None:  # noqa: N802  (Qt override)
        super().setWidget(widget)
        widget.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802  (Qt override)
        # a form built later (when the tab is first seen) widens the content: a scroll
        # area does not pass that on by itself, so ask the dock to lay out again
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()
        return super().eventFilter(watched, event)

    def minimumSizeHint(self) -> QSize:  # noqa: N802  (Qt override)
        inner = self.widget().minimumSizeHint()
        return QSize(inner.width() + self.verticalScrollBar().sizeHint().width(), 80)


class ToolTab(QWidget):
    """One AI tool's tab: settings and results scroll in ``body``; the buttons in
    ``actions`` stay at the bottom, in reach however short the screen.

    A tab for one op sets :attr:`OP` (its form, from the registry, heads the body)
    and :attr:`ACTION` (the text of the button that calls :meth:`run`).
    """

    OP = ""
    ACTION = ""

    def __init__(self, panel: AIPanel) -> None:
        super().__init__()
        self.panel = panel
        content = QWidget()
        self.body = QVBoxLayout(content)
        self.body.setContentsMargins(0, 0, 4, 0)
        self.scroll = _TabScroll()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(content)
        # let the tab page's own background show through, as in a tab without scrolling
        self.scroll.viewport().setAutoFillBackground(False)
        content.setAutoFillBackground(False)
        self.actions = QHBoxLayout()
        outer = QVBoxLayout(self)
        outer.addWidget(self.scroll, 1)
        outer.addLayout(self.actions)
        self.box = OpFormBox(self.OP, self.fields()) if self.OP else None
        if self.box is not None:
            self.body.addWidget(self.box)
        if self.ACTION:
            self.button = QPushButton(self.ACTION)
            self.button.clicked.connect(self.run)
            self.actions.addWidget(self.button)
            self.actions.addStretch(1)

    def fields(self) -> dict[str, Any]:
        """Fields that replace the generic ones of single parameters (none here)."""
        return {}

    @property
    def form(self):
        """The op's :class:`~editor.ui.forms.param_form.ParamForm`."""
        return self.box.form

    def params(self) -> dict:
        return self.box.params()

    def run(self) -> None:
        raise NotImplementedError


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
        self.fast_style_tab = FastStyleTab(self)
        self.upscale_tab = UpscaleTab(self)
        for tab, title in ((self.classify_tab, "Classify"), (self.network_tab, "Network"),
                           (self.fgsm_tab, "FGSM"), (self.dream_tab, "Dream"),
                           (self.style_tab, "Style"), (self.fast_style_tab, "Fast style"),
                           (self.upscale_tab, "Upscale")):
            self.tabs.addTab(tab, title)
        from editor.ui.generate_dialog import diffusion_tabs  # needs ToolTab, defined above

        for tab, title in diffusion_tabs(self):
            self.tabs.addTab(tab, title)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.hide()  # no empty line of space under the tabs until there is news
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
        self.generate_button = QPushButton("Generate…")
        self.generate_button.setToolTip("Paint a new picture from a text prompt with a "
                                        "local diffusion model")
        self.generate_button.clicked.connect(self.show_generate)
        bottom.addWidget(self.generate_button)
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
        self.status.setVisible(bool(text))

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

    def show_generate(self) -> QDialog:
        """The Generate Image dialog (text-to-image into a new document)."""
        from editor.ui.generate_dialog import show_generate

        return show_generate(getattr(self, "main_window", None) or self.window())

    def show_models(self) -> QDialog:
        from editor.ui.models_dialog import ModelsDialog

        dlg = ModelsDialog(self, self.controller)
        dlg.show()
        return dlg


class OpFormBox(QWidget):
    """A registered op's generic form (:class:`ParamForm`), built when first needed.

    Building it reads the op registry, which the window imports off the GUI thread
    at start-up; the AI dock sits behind the Tools tab then, so the form is made
    when the tab is first shown (or a caller asks for it), not while the window
    comes up. ``fields`` replaces single parameters' fields (the style picker).
    """

    def __init__(self, op_name: str, fields: dict[str, Any] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.op_name = op_name
        self._fields = fields or {}
        self._form = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    @property
    def form(self):
        """The :class:`~editor.ui.forms.param_form.ParamForm` (built on first use)."""
        if self._form is None:
            from editor.ops import get_op
            from editor.ui.forms import form_class_for

            # the op's own form where it has one (the layer picker that follows the
            # network, the class picker), as in the Tools dock
            self._form = form_class_for(self.op_name)(get_op(self.op_name), self,
                                                      fields=self._fields)
            self._layout.addWidget(self._form)
        return self._form

    def showEvent(self, event) -> None:  # noqa: N802  (Qt override)
        self.form  # noqa: B018  (builds it)
        super().showEvent(event)

    def params(self) -> dict:
        return self.form.params()


def _class_name(label: str, index: int) -> str:
    """An ImageNet class as every AI tab writes it: ``tabby (281)``."""
    return f"{label} ({index})"


def _class_field(param, form):
    """The ImageNet class picker (imported when a form is built, not at start-up)."""
    from editor.ui.forms.class_field import ImageNetClassField

    return ImageNetClassField(param, form)


class ClassifyTab(ToolTab):
    """Top ImageNet classes of the canvas image with probability bars."""

    OP, ACTION = "classify", "Classify image"

    def __init__(self, panel: AIPanel) -> None:
        super().__init__(panel)
        self.rows: list[tuple[QLabel, QProgressBar]] = []
        self.grid = QGridLayout()
        self.grid.setColumnStretch(1, 1)
        self._ensure_rows(5)
        self.body.addLayout(self.grid)
        self.body.addStretch(1)

    def _ensure_rows(self, n: int) -> None:
        while len(self.rows) < n:
            label, bar = QLabel("—"), QProgressBar()
            bar.setRange(0, 1000)
            bar.setFormat("")
            i = len(self.rows)
            self.grid.addWidget(label, i, 0)
            self.grid.addWidget(bar, i, 1)
            self.rows.append((label, bar))
        for i, (label, bar) in enumerate(self.rows):
            label.setVisible(i < n)
            bar.setVisible(i < n)

    def run(self) -> None:
        self.panel.run_op("classify", self.box.params(), "Classify", self.show, commit=False)

    def show(self, _image, extras: dict) -> None:
        scores = extras.get("scores", [])
        self._ensure_rows(len(scores))
        for (label, bar), (name, idx, p) in zip(self.rows, scores, strict=False):
            label.setText(_class_name(name, idx))
            bar.setValue(round(p * 1000))
            bar.setFormat(f"{p:.1%}")


class _ResultView(ImageView):
    """The picture, scaled to the room left: it asks for little, so the scroll area
    (which sizes a tab with word-wrapped text by its preferred height) does not
    scroll it out of a short dock; it grows into any room there is."""

    def sizeHint(self) -> QSize:  # noqa: N802  (Qt override)
        return QSize(300, 120)


class NetworkTab(ToolTab):
    """What the network sees: activation maps of a layer, the first layer's filters, or
    Grad-CAM, one at a time, so the picture gets the dock's height."""

    MODES = (("Activation maps", "maps"), ("First-layer filters", "filters"),
             ("Grad-CAM: where the classifier looks", "gradcam"))

    def __init__(self, panel: AIPanel) -> None:
        super().__init__(panel)
        self.maps_box = OpFormBox("feature_maps")
        self.cam_box = OpFormBox("gradcam", {"class_index": _class_field})
        self.filters_note = QLabel("The 64 learned 3×3 RGB filters of VGG16's first "
                                   "convolution, each stretched to its own range.")
        self.filters_note.setWordWrap(True)
        self.mode = QComboBox()
        self.mode.setObjectName("networkMode")
        for text, key in self.MODES:
            self.mode.addItem(text, key)
        self.maps_button = QPushButton("Show activation maps")
        self.maps_button.clicked.connect(self.show_maps)
        self.filters_button = QPushButton("Show filters")
        self.filters_button.clicked.connect(self.show_filters)
        self.cam_button = QPushButton("Grad-CAM overlay")
        self.cam_button.clicked.connect(self.gradcam)
        for b in (self.maps_button, self.filters_button, self.cam_button):
            self.actions.addWidget(b)
        self.actions.addStretch(1)
        self.view = _ResultView("The maps, filters or heat map appear here.", framed=True)
        self.view.setMinimumHeight(110)  # scaled to fit: the whole grid shows at 720 px
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(QLabel("Show"))
        row.addWidget(self.mode, 1)
        self.body.addLayout(row)
        for w in (self.maps_box, self.filters_note, self.cam_box):
            self.body.addWidget(w)
        self.body.addWidget(self.view, 1)
        self.body.addWidget(self.caption)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self._mode_changed()

    def _mode_changed(self, _index: int = 0) -> None:
        key = self.mode.currentData()
        for w, k in ((self.maps_box, "maps"), (self.maps_button, "maps"),
                     (self.filters_note, "filters"), (self.filters_button, "filters"),
                     (self.cam_box, "gradcam"), (self.cam_button, "gradcam")):
            w.setVisible(k == key)

    def _show(self, image: np.ndarray, caption: str) -> None:
        self.view.set_image(image)
        self.caption.setText(caption)
        self.scroll.ensureWidgetVisible(self.view)

    def show_maps(self) -> None:
        params = self.maps_box.params()

        def shown(grid, extras):
            self._show(grid, f"{params['layer']}: {extras.get('layer_shape', ('?',))[0]} "
                             f"maps; the {count(len(extras.get('channels', [])), 'map')} "
                             "shown are the most active")

        self.panel.run_op("feature_maps", params, "Feature maps", shown, commit=False)

    def show_filters(self) -> None:
        def work(ctx):
            from editor.ops.ai._util import grid
            from editor.ops.ai.vgg import first_layer_filters

            f = first_layer_filters("vgg16")
            f = f.repeat(8, axis=1).repeat(8, axis=2)  # 3x3 kernels, enlarged to see
            return (grid(f, pad=2) * 255).astype(np.uint8)

        def done(img):
            self._show(img, "conv1_1: 64 learned 3x3 RGB filters (each stretched)")

        self.panel.controller.run_job(work, "First-layer filters", on_done=done,
                                      on_error=self.panel.say)

    def gradcam(self) -> None:
        chosen = self.cam_box.params().get("class_index") is not None

        def shown(img, extras):
            label, idx, p = extras.get("class", ("?", -1, 0.0))
            which = "the chosen class" if chosen else "Classify's top class"
            self._show(img, f"Grad-CAM explains {_class_name(label, idx)}, {which}: "
                            f"{p:.1%} as Classify reports it.")

        self.panel.run_op("gradcam", self.cam_box.params(), "Grad-CAM", shown, commit=True)


class FgsmTab(ToolTab):
    """FGSM / iterative attack: predictions before and after, perturbation, PSNR."""

    OP, ACTION = "fgsm", "Attack"

    def __init__(self, panel: AIPanel) -> None:
        super().__init__(panel)
        self.goal = QLabel("")
        self.before = QLabel("before: —")
        self.after = QLabel("after: —")
        self.psnr = QLabel("PSNR: —")
        for w in (self.goal, self.before, self.after):
            w.setWordWrap(True)
        self.perturbation = _image_label(140)
        for w in (self.goal, self.before, self.after, self.psnr):
            self.body.addWidget(w)
        self.body.addWidget(QLabel("Perturbation (amplified):"))
        self.body.addWidget(self.perturbation, 1)

    def run(self) -> None:
        self.panel.run_op("fgsm", self.params(), "Adversarial attack", self.show)

    def fields(self) -> dict[str, Any]:
        return {"target_class": _class_field}

    def show(self, _img, extras: dict) -> None:
        def fmt(rows):
            return ", ".join(f"{_class_name(n, i)} {p:.1%}" for n, i, p in rows[:2])

        target = self.params().get("target_class")
        name, idx, _p = extras["before"][0]
        if target is None:
            self.goal.setText(f"Pushed away from {_class_name(name, idx)}, the class "
                              "Classify puts first.")
        else:
            from editor.ui.forms.class_field import imagenet_names

            self.goal.setText(f"Pulled towards {_class_name(imagenet_names()[target], target)}.")
        self.before.setText(f"before: {fmt(extras['before'])}")
        self.after.setText(f"after: {fmt(extras['after'])}"
                           + ("" if extras["changed"] else "  (unchanged: raise epsilon)"))
        self.psnr.setText(f"PSNR: {extras['psnr']:.1f} dB")
        self.perturbation.setPixmap(to_pixmap(extras["perturbation"], 360))


class DreamTab(ToolTab):
    """Deep Dream: the canvas updates after every octave."""

    OP, ACTION = "deep_dream", "Dream"

    def __init__(self, panel: AIPanel) -> None:
        super().__init__(panel)
        self.body.addStretch(1)

    def run(self) -> None:
        self.panel.run_op("deep_dream", self.params(), "Deep Dream")


class StyleTab(ToolTab):
    """Gatys style transfer; the style comes from a file or from the canvas image."""

    OP, ACTION = "style_transfer", "Stylise"

    def __init__(self, panel: AIPanel) -> None:
        super().__init__(panel)
        self.body.addStretch(1)

    def fields(self) -> dict[str, Any]:
        return {"style": self._style_field}

    def _style_field(self, param, form):
        from editor.ui.forms.style_field import StyleImageField

        return StyleImageField(param, form, current_image=self.panel.controller.current_image,
                               say=self.panel.say, fallback=DEFAULT_STYLE)

    @property
    def style_field(self):
        """The style picker (file name, picker buttons, thumbnail)."""
        return self.form.editors["style"]

    def run(self) -> None:
        self.panel.run_op("style_transfer", self.params(), "Style transfer")


class FastStyleTab(StyleTab):
    """Fast style transfer: one of 26 styles, or a painting's (file or canvas image)."""

    OP, ACTION = "fast_style", "Stylise"

    def fields(self) -> dict[str, Any]:
        return {"painting": self._painting_field}

    def _painting_field(self, param, form):
        field = self._style_field(param, form)
        # the painting counts only for "from-painting": greyed out for the 26 styles
        style = form.editors["style"]  # built first: it is declared first

        def sync(*_args) -> None:
            field.widget.setEnabled(style.value() == "from-painting")

        style.widget.currentIndexChanged.connect(sync)
        set_style = style.set_value  # set_params blocks the combo's signals: follow it too

        def set_value(value) -> None:
            set_style(value)
            sync()

        style.set_value = set_value
        sync()
        return field

    @property
    def style_field(self):
        return self.form.editors["painting"]

    def run(self) -> None:
        self.panel.run_op("fast_style", self.params(), "Fast style")


class UpscaleTab(ToolTab):
    """Super-resolution: ESRGAN-slim, bicubic/Lanczos, or a model of the store."""

    OP, ACTION = "upscale", "Upscale"

    def __init__(self, panel: AIPanel) -> None:
        super().__init__(panel)
        self.body.addStretch(1)

    def fields(self) -> dict[str, Any]:
        return {"model": self._model_field}

    def _model_field(self, param, form):
        # imported when the form is built (first sight of the tab), not at start-up:
        # the forms package reads the op registry
        from editor.ui.forms.model_field import ModelField

        return ModelField(param, form, "upscale")

    def run(self) -> None:
        self.panel.run_op("upscale", self.params(), "Upscale")


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
    panel.main_window = main_window  # Generate… opens documents there (the dock may float)
    return panel
