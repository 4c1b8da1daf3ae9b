"""One widget per parameter kind: the table the generic form builds its rows from.

:data:`FIELDS` maps a kind name (the same names as
:data:`editor.ops.params.PARAM_KINDS`) to a :class:`Field` class, the only
Qt-specific part of a parameter kind: numbers get a slider over the UI range
beside a spin box over the hard range (log-scaled where the parameter says
so), choices a combo box, booleans a check box, paths a line edit with a file
picker, colours a colour button, and points/matrix/kernel/text a line edit read
by the parameter's kind. A new kind registers its widget with
:func:`register_field`; a form can override one parameter's field (the AI
dock's style picker does) without touching the others. Sliders, spin boxes and
combo boxes take the mouse wheel only while they have the focus
(:func:`editor.ui.input_rules.guard_wheel`): unfocused, the wheel scrolls the form.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QWidget,
)

from editor.ops.params import Param, ParamError, SliderScale
from editor.ui.input_rules import guard_wheel
from editor.ui.richtext import rich_text

if TYPE_CHECKING:
    from editor.ui.forms.param_form import ThrottledForm


class Field:
    """Glue between one :class:`Param` and its widget(s).

    ``widget`` is what the form lays out; a field tells the form about edits with
    ``form._changed()`` (live preview) and ``form._commit()`` (adjustment done).
    """

    def __init__(self, param: Param, form: ThrottledForm) -> None:
        self.param = param
        self.form = form
        self.widget: QWidget

    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        """Show ``value`` without emitting anything."""
        raise NotImplementedError


#: Field class by kind name.
FIELDS: dict[str, type[Field]] = {}


def register_field(*kind_names: str) -> Callable[[type[Field]], type[Field]]:
    """Class decorator: ``cls`` edits parameters of these kinds."""

    def decorate(cls: type[Field]) -> type[Field]:
        for name in kind_names:
            FIELDS[name] = cls
        return cls

    return decorate


def field_class(param: Param) -> type[Field]:
    """The field for ``param``'s kind (a line edit read by the kind when none is registered)."""
    return FIELDS.get(param.kind, TextField)


def number_spin(param: Param, scale: SliderScale | None = None) -> QSpinBox | QDoubleSpinBox:
    """A spin box over ``param``'s hard range whose arrows step as its slider does.

    The one place a number's step, decimals and unit suffix are set from its spec
    (:meth:`Param.slider`), for the generic fields and the custom forms alike.
    """
    p = param
    scale = scale or p.slider()
    lo = p.lo if p.lo is not None else -1e9
    hi = p.hi if p.hi is not None else 1e9
    if p.kind == "int":
        spin = QSpinBox()
        spin.setRange(int(max(lo, -2**31 + 1)), int(min(hi, 2**31 - 1)))
        spin.setSingleStep(int(p.step or 1))
    else:
        spin = QDoubleSpinBox()
        if scale.log:
            # three significant digits at the bottom of the slider range
            decimals = min(6, max(0, 2 - math.floor(math.log10(scale.lo))))
        else:
            decimals = min(6, max(1, -math.floor(math.log10(scale.step) + 1e-9)))
        spin.setDecimals(decimals)
        spin.setRange(lo, hi)
        if not scale.log:
            spin.setSingleStep(scale.step)
    if scale.log:
        # arrow keys change the value by about a tenth of its size, at any magnitude
        spin.setStepType(QAbstractSpinBox.StepType.AdaptiveDecimalStepType)
    spin.setKeyboardTracking(False)
    if p.unit:
        spin.setSuffix(p.unit if p.unit == "°" else f" {p.unit}")
    return spin


def number_slider(scale: SliderScale) -> QSlider:
    """A slider over ``scale``'s positions: an arrow key moves one step of the parameter,
    Page Up/Down a tenth of the range."""
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(0, scale.steps)
    slider.setSingleStep(1)
    slider.setPageStep(max(1, round(scale.steps / 10)))
    return slider


@register_field("float", "int")
class NumberField(Field):
    """Slider over the UI range (linear or log) and spin box over the hard range."""

    def __init__(self, param: Param, form: ThrottledForm) -> None:
        super().__init__(param, form)
        p = param
        self.is_int = p.kind == "int"
        self.scale = p.slider()
        self.widget = QWidget()
        row = QHBoxLayout(self.widget)
        row.setContentsMargins(0, 0, 0, 0)
        self.slider = number_slider(self.scale)
        self.slider.setMinimumWidth(110)
        self.spin = number_spin(p, self.scale)
        self.spin.setMinimumWidth(78)
        self.auto = None
        if p.optional:
            self.auto = QCheckBox("auto")
            self.auto.toggled.connect(self._auto_toggled)
        row.addWidget(self.slider, 1)
        row.addWidget(self.spin)
        guard_wheel(self.slider, self.spin)  # an unfocused wheel scrolls the form instead
        if self.auto is not None:
            row.addWidget(self.auto)
        self.slider.valueChanged.connect(self._slider_moved)
        self.slider.sliderReleased.connect(form._commit)
        # a click on the groove or a key press moves without a drag: commit at once
        self.slider.actionTriggered.connect(self._slider_action)
        self.spin.valueChanged.connect(self._spin_changed)
        self.spin.editingFinished.connect(self._spin_finished)
        # typed or stepped since the last commit: Qt also sends editingFinished when
        # the focus merely leaves, which must not re-commit a value Ctrl+Z took back
        self._edited = False

    def _to_slider(self, v: float) -> int:
        return self.scale.position(v)

    def _from_slider(self, i: int) -> float:
        return self.scale.value(i)

    def _slider_moved(self, i: int) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(self._from_slider(i))
        self.spin.blockSignals(False)
        self.form._changed()

    def _slider_action(self, action: int) -> None:
        if not self.slider.isSliderDown():
            # the slider as context: a form closed meanwhile is not called
            QTimer.singleShot(0, self.slider, self.form._commit)

    def _spin_finished(self) -> None:
        if self._edited:
            self._edited = False
            self.form._commit()

    def _spin_changed(self, v: float) -> None:
        self._edited = True
        self.slider.blockSignals(True)
        self.slider.setValue(self._to_slider(v))
        self.slider.blockSignals(False)
        self.form._changed()

    def _auto_toggled(self, on: bool) -> None:
        self.slider.setEnabled(not on)
        self.spin.setEnabled(not on)
        self.form._changed()
        self.form._commit()

    def value(self) -> Any:
        if self.auto is not None and self.auto.isChecked():
            return None
        v = self.spin.value()
        return int(v) if self.is_int else float(v)

    def set_value(self, value: Any) -> None:
        for w in (self.slider, self.spin, self.auto):
            if w is not None:
                w.blockSignals(True)
        if self.auto is not None:
            self.auto.setChecked(value is None)
            self.slider.setEnabled(value is not None)
            self.spin.setEnabled(value is not None)
        if value is not None:
            self.spin.setValue(value)
            self.slider.setValue(self._to_slider(float(value)))
        for w in (self.slider, self.spin, self.auto):
            if w is not None:
                w.blockSignals(False)


def choice_text(choice: Any) -> str:
    """How a choice reads in a combo box: ``per_channel`` as "per channel", but names
    with digits (``relu3_1``, ``inception4c``) as they are."""
    text = str(choice)
    if any(ch.isdigit() for ch in text):
        return text
    return text.replace("_", " ")


@register_field("choice")
class ChoiceField(Field):
    def __init__(self, param: Param, form: ThrottledForm) -> None:
        super().__init__(param, form)
        self.widget = QComboBox()
        guard_wheel(self.widget)
        for c in param.choices:
            self.widget.addItem(choice_text(c), c)
        self.widget.currentIndexChanged.connect(lambda _i: (form._changed(), form._commit()))

    def value(self) -> Any:
        return self.widget.currentData()

    def set_value(self, value: Any) -> None:
        self.widget.blockSignals(True)
        i = self.widget.findData(value)
        self.widget.setCurrentIndex(max(0, i))
        self.widget.blockSignals(False)


@register_field("bool")
class BoolField(Field):
    def __init__(self, param: Param, form: ThrottledForm) -> None:
        super().__init__(param, form)
        self.widget = QCheckBox()
        self.widget.toggled.connect(lambda _b: (form._changed(), form._commit()))

    def value(self) -> Any:
        return self.widget.isChecked()

    def set_value(self, value: Any) -> None:
        self.widget.blockSignals(True)
        self.widget.setChecked(bool(value))
        self.widget.blockSignals(False)


@register_field("points", "stroke", "matrix", "kernel", "text")
class TextField(Field):
    """Line edit read and written by the parameter's kind; a bad entry turns red."""

    def __init__(self, param: Param, form: ThrottledForm) -> None:
        super().__init__(param, form)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(param.hint or param.type.syntax or param.kind)
        self._value = param.default
        self.edit.editingFinished.connect(self._finished)
        self.widget = self.edit

    def _finished(self) -> None:
        try:
            value = self.param.parse(self.edit.text())
            self.param.validate(value)
        except ParamError as e:
            self.edit.setStyleSheet("border: 1px solid #d05050;")
            self.edit.setToolTip(str(e))
            return
        self.edit.setStyleSheet("")
        self.edit.setToolTip(rich_text(self.param.description))
        self._value = value
        self.form._changed()
        self.form._commit()

    def value(self) -> Any:
        return self._value

    def set_value(self, value: Any) -> None:
        self._value = value
        self.edit.setText("" if value is None else self.param.format(value, spaced=True))


@register_field("path")
class PathField(TextField):
    """A file name with a "…" button that opens a file dialog."""

    def __init__(self, param: Param, form: ThrottledForm) -> None:
        super().__init__(param, form)
        self.widget = QWidget()
        row = QHBoxLayout(self.widget)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        browse = QPushButton("…")
        browse.setFixedWidth(30)
        browse.setToolTip("Choose a file")
        browse.clicked.connect(self._browse)
        row.addWidget(browse)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.form, f"Choose {self.param.label.lower()}",
                                              self.edit.text())
        if path:
            self.edit.setText(path)
            self._finished()


@register_field("color")
class ColorField(Field):
    def __init__(self, param: Param, form: ThrottledForm) -> None:
        super().__init__(param, form)
        self.widget = QPushButton()
        self.widget.setFixedWidth(64)
        self.widget.clicked.connect(self._pick)
        self._value = tuple(param.default or (0, 0, 0))
        self._paint()

    def _paint(self) -> None:
        r, g, b = self._value
        self.widget.setStyleSheet(f"background: rgb({r},{g},{b}); min-height: 18px;")

    def _pick(self) -> None:
        color = QColorDialog.getColor(QColor(*self._value), self.form, self.param.label)
        if color.isValid():
            self._value = (color.red(), color.green(), color.blue())
            self._paint()
            self.form._changed()
            self.form._commit()

    def value(self) -> Any:
        return self._value

    def set_value(self, value: Any) -> None:
        self._value = tuple(value) if value is not None else (0, 0, 0)
        self._paint()
