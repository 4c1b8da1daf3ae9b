"""A model picker: the ``model`` parameter of Upscale, Restore and Inpaint as a combo box.

The ops take a model *name* (text, so recipes and the command line stay plain);
typing one is error-prone, so the forms list the names the model store has for
the op's kind ("esrgan-slim", "rdn-psnr", "bicubic" and "lanczos" too for Upscale,
each with a one-line hint shown under the box and as its tool tip). The box stays
editable: a name added later from the command line can be typed.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QVBoxLayout, QWidget

from editor.ops.params import Param
from editor.ui.forms.fields import Field
from editor.ui.forms.param_form import ThrottledForm, register_fields

#: Store kinds each op runs, and the names it offers first.
OP_KINDS = {"upscale": (("upscale",), ("esrgan-slim", "rdn-psnr", "bicubic", "lanczos")),
            "restore": (("restore",), ()),
            "inpaint_model": (("inpaint",), ())}

#: Tool tips of the fixed choices (the packaged networks differ in speed and quality).
HINTS = {"esrgan-slim": "ESRGAN-slim (packaged): fast, the default",
         "rdn-psnr": "RDN PSNR-small (packaged): best quality, about 6x slower",
         "bicubic": "bicubic interpolation (no network)",
         "lanczos": "Lanczos interpolation (no network)"}


def model_names(op: str) -> list[str]:
    """Names for ``op``'s picker: its fixed choices, then the user's models of its kinds."""
    from editor.ops.ai import model_store

    kinds, fixed = OP_KINDS[op]
    with model_store.without_hashes():
        entries = model_store.list_models()
    # the packaged ESRGAN-slim rows are one choice ("esrgan-slim" + the scale parameter)
    names = [e.name for e in entries if e.kind in kinds and not e.builtin]
    return list(fixed) + names


class ModelField(Field):
    """Editable combo box of model names, with the chosen one's hint under it (for the
    fixed choices: "best quality, about 6x slower"); its value is the name."""

    def __init__(self, param: Param, form: ThrottledForm, op: str = "upscale") -> None:
        super().__init__(param, form)
        combo = QComboBox()
        combo.setEditable(True)
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        combo.setMinimumContentsLength(16)
        combo.lineEdit().setPlaceholderText("add one in Help ▸ AI Models…")
        self.op = op
        self.combo = combo
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        self.hint.setEnabled(False)  # drawn dimmed: a remark, not a control
        self.widget = QWidget()
        column = QVBoxLayout(self.widget)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(combo)
        column.addWidget(self.hint)
        self.widget.setFocusProxy(combo)
        self.reload()
        combo.currentTextChanged.connect(self._show_hint)
        combo.currentTextChanged.connect(lambda _t: (form._changed(), form._commit()))

    def _show_hint(self, text: str) -> None:
        hint = HINTS.get(text.strip(), "")
        self.hint.setText(hint)
        self.hint.setVisible(bool(hint))

    def reload(self) -> None:
        """Re-read the store (after a model was added)."""
        current = self.combo.currentText() or self.param.default
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItems(model_names(self.op))
        for i in range(self.combo.count()):
            hint = HINTS.get(self.combo.itemText(i))
            if hint:
                self.combo.setItemData(i, hint, Qt.ItemDataRole.ToolTipRole)
        self.combo.setEditText(current)
        self.combo.blockSignals(False)
        self._show_hint(current)

    def value(self) -> Any:
        return self.combo.currentText().strip()

    def set_value(self, value: Any) -> None:
        self.combo.blockSignals(True)
        self.combo.setEditText(str(value or ""))
        self.combo.blockSignals(False)
        self._show_hint(str(value or ""))


def model_fields(op: str) -> dict:
    """``fields=`` for a form of ``op``: the model parameter as a :class:`ModelField`."""
    return {"model": lambda param, form: ModelField(param, form, op)}


def _form_for(op: str):
    return register_fields(op, model_fields(op), f"{op}'s form with the model picked from "
                           "the store.")


UpscaleForm = _form_for("upscale")
RestoreForm = _form_for("restore")
InpaintForm = _form_for("inpaint_model")
