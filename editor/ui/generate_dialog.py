"""Generate… (text-to-image) and the AI dock's diffusion tabs (Img2img, Inpaint).

Generate… paints a new picture: it opens a blank document of the chosen size
(in this window when it has no image, else in a new window) and runs the
registered ``generate`` op on it through the commit pipeline, so the picture is
one undo step whose recipe records the prompt, the seed and the model's SHA-256,
with progress, previews and Cancel in the status bar like every AI tool.
Img2img and Inpaint work on the current image (Inpaint inside the selection).
torch and diffusers are imported by the ops on the worker thread, never here.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from editor.ui.ai_panels import OpFormBox, ToolTab

#: What a missing model looks like to someone who has not added one yet.
NO_MODEL = ("No diffusion model yet: add a Stable Diffusion folder you have with "
            "`convolve models --add DIR` (or AI ▸ Models…), or type its path.")


def _form_class():
    from editor.ui.forms.diffusion_form import DiffusionForm

    return DiffusionForm


class DiffusionBox(OpFormBox):
    """:class:`OpFormBox` with the diffusion form (prompt boxes, model picker)."""

    @property
    def form(self):
        if self._form is None:
            from editor.ops import get_op

            self._form = _form_class()(get_op(self.op_name), self, fields=self._fields)
            self._layout.addWidget(self._form)
        return self._form


def check_ready(params: dict) -> str:
    """One sentence saying what is missing before a run ("" when nothing is)."""
    if not params.get("prompt", "").strip():
        return "Write a prompt: it says what the picture should show."
    if not params.get("model", "").strip():
        return NO_MODEL
    return ""


class GenerateDialog(QDialog):
    """Prompt, negative prompt, model, steps, guidance, seed, sampler and size."""

    def __init__(self, window: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent or window)
        self.window_ = window
        self.setWindowTitle("Generate Image")
        self.setObjectName("generateDialog")
        self.box = DiffusionBox("generate")
        self.form = self.box.form
        self.seed_button = QPushButton("Random seed")
        self.seed_button.setToolTip("A new seed: a different picture for the same prompt")
        self.seed_button.clicked.connect(self.random_seed)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        buttons = QDialogButtonBox()
        self.generate_button = buttons.addButton("Generate",
                                                 QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        buttons.accepted.connect(self.generate)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(self.seed_button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.box)
        layout.addLayout(row)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        self.form.model_field.combo.currentTextChanged.connect(self._explain)
        self._explain()
        self.resize(520, self.sizeHint().height())

    def _explain(self, _text: str = "") -> None:
        if not self.form.model_field.combo.count() and not self.form.model_field.value():
            self.say(NO_MODEL)
            return
        variant = self.form.variant()
        self.say((f"{variant} model. " if variant else "")
                 + "On a CPU a 512 x 512 picture takes minutes: the first progress message "
                 "says how long; Cancel stops it between steps.")

    def say(self, text: str) -> None:
        self.note.setText(text)

    def random_seed(self) -> None:
        self.form.editors["seed"].set_value(random.randrange(0, 100000))

    def params(self) -> dict:
        return self.form.params()

    def generate(self) -> Any:
        """Open a blank document of the chosen size and generate into it."""
        params = self.params()
        problem = check_ready(params)
        if problem:
            self.say(problem)
            return None
        w, h = params["width"] // 8 * 8, params["height"] // 8 * 8
        target = self.window_
        if target.controller.document is not None:
            target = target.new_window()  # a new picture: a new document beside this one
        c = target.controller
        self.last_target = target

        def start() -> None:
            self.request = c.apply_op("generate", params, "Generate", partial_preview=True)

        c.open_array(np.zeros((h, w, 3), np.uint8), on_done=start)
        self.accept()
        return target


class DiffusionTab(ToolTab):
    """A diffusion op on the current image, from the AI dock.

    :attr:`OP` stays empty so :class:`ToolTab` makes no generic form; the box is
    the diffusion form of :attr:`OP_NAME`.
    """

    OP_NAME = TITLE = ""

    def __init__(self, panel) -> None:
        super().__init__(panel)
        self.box = DiffusionBox(self.OP_NAME)
        self.body.insertWidget(0, self.box)
        self.body.addStretch(1)

    def run(self) -> None:
        params = self.params()
        problem = check_ready(params)
        if problem:
            self.panel.say(problem)
            return
        self.panel.run_op(self.OP_NAME, params, self.TITLE)


class Img2ImgTab(DiffusionTab):
    """Image to image: repaint the photo after a prompt, keeping its layout."""

    OP_NAME, ACTION, TITLE = "img2img", "Repaint", "Image to image"


class InpaintTab(DiffusionTab):
    """Inpaint: paint the prompt inside the selection (the whole image without one)."""

    OP_NAME, ACTION, TITLE = "inpaint_diffusion", "Inpaint selection", "Inpaint"


def diffusion_tabs(panel) -> list[tuple[QWidget, str]]:
    """The AI dock's diffusion tabs and their titles."""
    return [(Img2ImgTab(panel), "Img2img"), (InpaintTab(panel), "Inpaint")]


def show_generate(window: Any) -> GenerateDialog:
    """File ▸ Generate Image… / the AI dock's Generate… button."""
    dlg = GenerateDialog(window)
    dlg.show()
    return dlg
