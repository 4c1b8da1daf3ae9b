"""The forms of the diffusion ops (generate, img2img, inpaint_diffusion).

The generic form with three changes: the prompts get a few lines of text
instead of one, the model is picked from the model store's diffusion models
(editable, so a folder's path can be typed), and the ``model_sha256`` row is
hidden: :meth:`DiffusionForm.params` fills it in from the store, so the undo
step and the recipe record which weights made the picture.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QPlainTextEdit, QWidget

from editor.ops.params import Param
from editor.ops.registry import OpSpec
from editor.ui.forms import register_form
from editor.ui.forms.fields import Field
from editor.ui.forms.param_form import ParamForm, ThrottledForm

#: Steps, guidance and size the distilled and XL models are made for.
MODEL_DEFAULTS = {"Turbo": {"steps": 4, "guidance": 0.0},
                  "LCM": {"steps": 4, "guidance": 1.5, "scheduler": "lcm"},
                  "SDXL": {"width": 1024, "height": 1024}}


def diffusion_entries() -> list:
    """The store's diffusion models (none when the store cannot be read)."""
    from editor.ops.ai import diffusion, model_store

    try:
        with model_store.without_hashes():
            return diffusion.store_models()
    except (OSError, ValueError):
        return []


def store_sha256(name: str) -> str:
    """The SHA-256 the store recorded for model ``name`` ("" for a path or unknown name)."""
    for e in diffusion_entries():
        if e.name == name:
            return e.sha256 or ""
    return ""


class PromptField(Field):
    """A prompt: three lines of text that wrap."""

    def __init__(self, param: Param, form: ThrottledForm) -> None:
        super().__init__(param, form)
        edit = QPlainTextEdit()
        edit.setPlaceholderText("a lighthouse on a cliff at dusk, oil painting"
                                if param.name == "prompt" else "blurry, text, watermark")
        edit.setTabChangesFocus(True)
        line = edit.fontMetrics().lineSpacing()
        edit.setFixedHeight(line * (3 if param.name == "prompt" else 2) + 12)
        edit.textChanged.connect(form._changed)
        self.edit = self.widget = edit

    def value(self) -> Any:
        return " ".join(self.edit.toPlainText().split())

    def set_value(self, value: Any) -> None:
        self.edit.blockSignals(True)
        self.edit.setPlainText(str(value or ""))
        self.edit.blockSignals(False)


class DiffusionModelField(Field):
    """Editable combo box of the store's diffusion models (variant in the tooltip)."""

    def __init__(self, param: Param, form: ThrottledForm) -> None:
        super().__init__(param, form)
        combo = QComboBox()
        combo.setEditable(True)
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        combo.setMinimumContentsLength(16)
        combo.lineEdit().setPlaceholderText("convolve models --add DIR")
        self.combo = self.widget = combo
        self.variants: dict[str, str] = {}
        self.reload()
        combo.currentTextChanged.connect(lambda _t: (form._changed(), form._commit()))

    def reload(self) -> None:
        """Re-read the store (after a model was added)."""
        current = self.combo.currentText() or self.param.default
        entries = diffusion_entries()
        self.variants = {e.name: (e.extra or {}).get("variant", "") for e in entries}
        self.combo.blockSignals(True)
        self.combo.clear()
        for e in entries:
            self.combo.addItem(e.name)
            self.combo.setItemData(self.combo.count() - 1,
                                   f"{e.architecture}; {e.path}" + ("" if e.ready else
                                                                    " (missing)"),
                                   Qt.ItemDataRole.ToolTipRole)
        if not current and entries:
            current = entries[0].name
        self.combo.setEditText(current)
        self.combo.blockSignals(False)

    def value(self) -> Any:
        return self.combo.currentText().strip()

    def set_value(self, value: Any) -> None:
        if not value:
            return  # keep the first model of the store rather than an empty box
        self.combo.blockSignals(True)
        self.combo.setEditText(str(value))
        self.combo.blockSignals(False)


class DiffusionForm(ParamForm):
    """A diffusion op's form: prompt boxes, model picker, the SHA-256 filled in."""

    def __init__(self, spec: OpSpec, parent: QWidget | None = None,
                 fields: dict | None = None) -> None:
        own = {"prompt": PromptField, "negative_prompt": PromptField,
               "model": DiffusionModelField}
        super().__init__(spec, parent, fields={**own, **(fields or {})})
        if "model_sha256" in self.editors:
            self.form_layout.setRowVisible(self.editors["model_sha256"].widget, False)
        self.editors["model"].combo.currentTextChanged.connect(self._model_chosen)

    @property
    def model_field(self) -> DiffusionModelField:
        return self.editors["model"]

    def variant(self) -> str:
        """The chosen model's family (SD1, SD2, SDXL, Turbo, LCM; "" if unknown)."""
        return self.model_field.variants.get(self.model_field.value(), "")

    def _model_chosen(self, _name: str) -> None:
        # a Turbo model wants 1-4 steps and no guidance; SDXL 1024 px: offer that
        for key, value in MODEL_DEFAULTS.get(self.variant(), {}).items():
            if key in self.editors:
                self.editors[key].set_value(value)

    def params(self) -> dict[str, Any]:
        p = super().params()
        if "model_sha256" in p:
            p["model_sha256"] = store_sha256(p.get("model", ""))
        return p


for _op in ("generate", "img2img", "inpaint_diffusion"):
    register_form(_op)(DiffusionForm)
