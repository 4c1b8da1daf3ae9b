"""An ImageNet class picker: a combo box searchable by name that gives the op the index.

Grad-CAM's ``class_index`` and FGSM's ``target_class`` are ImageNet class indices
(0..999, or None for "auto"); a slider over bare indices asks the user to know
that 281 is a tabby. :class:`ImageNetClassField` lists the 1000 names with their
index ("tabby (281)"), completes what is typed anywhere in a name, takes a typed
name or index on Enter, and hands the op the index. Forms for those ops use it
wherever they appear (the Tools dock through :func:`register_form`, the AI dock
through the same field in its tabs).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QCompleter

from editor.ops.params import Param
from editor.ui.forms.fields import Field
from editor.ui.forms.param_form import ThrottledForm, register_fields

#: The first entry of an optional class: the op chooses (the top class, any other class).
AUTO_TEXT = {"class_index": "auto: the top class", "target_class": "auto: any other class"}


def imagenet_names() -> list[str]:
    """The 1000 ImageNet class names in index order (read without importing torch)."""
    from editor.ops.ai.efficientnet import _imagenet_categories

    return list(_imagenet_categories())


def class_text(index: int, name: str) -> str:
    """How a class reads in the picker: ``tabby (281)``."""
    return f"{name} ({index})"


class ImageNetClassField(Field):
    """Editable combo box over the ImageNet names; its value is the class index or None."""

    def __init__(self, param: Param, form: ThrottledForm) -> None:
        super().__init__(param, form)
        combo = QComboBox()
        combo.setEditable(True)
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        combo.setMaxVisibleItems(16)
        combo.setMinimumContentsLength(14)
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        if param.optional:
            combo.addItem(AUTO_TEXT.get(param.name, "auto"), None)
        for i, name in enumerate(imagenet_names()):
            combo.addItem(class_text(i, name), i)
        completer = QCompleter(combo.model(), combo)
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setMaxVisibleItems(12)
        combo.setCompleter(completer)
        completer.popup().setMinimumWidth(240)  # whole names, not "tiger cat (..."
        combo.lineEdit().setPlaceholderText("type a class name")
        combo.currentIndexChanged.connect(self._chosen)
        combo.lineEdit().editingFinished.connect(self._typed)
        self.combo = self.widget = combo

    def _chosen(self, _index: int) -> None:
        self.form._changed()
        self.form._commit()

    def _typed(self) -> None:
        """Enter on typed text: the class it names, or back to the current one."""
        combo = self.combo
        i = self.find(combo.currentText())
        if i >= 0 and i != combo.currentIndex():
            combo.setCurrentIndex(i)  # emits: _chosen
        else:
            combo.setEditText(combo.itemText(combo.currentIndex()))

    def find(self, text: str) -> int:
        """The entry ``text`` names: an entry's text, a class name, an index, or a part
        of one name only; -1 when none or several."""
        combo, text = self.combo, text.strip().lower()
        if not text:
            return -1
        texts = [combo.itemText(j).lower() for j in range(combo.count())]
        if text in texts:
            return texts.index(text)
        if text.isdigit():
            return combo.findData(int(text))
        names = [t.rsplit(" (", 1)[0] for t in texts]
        if text in names:
            return names.index(text)
        hits = [j for j, t in enumerate(texts) if text in t]
        return hits[0] if len(hits) == 1 else -1

    def value(self) -> Any:
        return self.combo.currentData()

    def set_value(self, value: Any) -> None:
        combo = self.combo
        combo.blockSignals(True)
        i = combo.findData(value) if value is not None else (0 if self.param.optional else -1)
        combo.setCurrentIndex(max(0, i))
        combo.blockSignals(False)


#: The class parameters of the AI ops, by name.
CLASS_FIELDS = {"class_index": ImageNetClassField, "target_class": ImageNetClassField}


GradCamForm = register_fields("gradcam", CLASS_FIELDS,
                              "Grad-CAM's form: the class to explain, searchable by name.")
FgsmForm = register_fields("fgsm", CLASS_FIELDS,
                           "FGSM's form: the target class, searchable by name.")
