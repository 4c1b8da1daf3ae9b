"""The generic operation form, generated from an op's parameter specs.

Numbers get a slider over the UI range beside a spin box over the hard range
(with the unit), choices a combo box, booleans a check box, paths a file
picker, colours a colour button, and points/matrix/kernel/text a line edit
parsed by the parameter itself. ``paramsChanged`` is throttled to one signal
per :data:`THROTTLE_MS` while the user drags (the last value is always
delivered); ``paramsCommitted`` fires when an adjustment is finished.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QElapsedTimer, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSpinBox,
    QWidget,
)

from editor.ops.registry import OpSpec, Param, ParamError

THROTTLE_MS = 30
SLIDER_STEPS_MAX = 10_000


def _fmt_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        if value and isinstance(value[0], (list, tuple)):
            return "; ".join(", ".join(_fmt_value(v) for v in row) for row in value)
        if value and isinstance(value[0], (int, float)) and not isinstance(value[0], bool):
            return ", ".join(_fmt_value(v) for v in value)
        return ", ".join(":".join(_fmt_value(v) for v in p) if isinstance(p, (list, tuple))
                         else str(p) for p in value)
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


class _Editor:
    """Glue between one Param and its widget(s)."""

    def __init__(self, param: Param, form: ParamForm) -> None:
        self.param = param
        self.form = form
        self.widget: QWidget

    def value(self) -> Any:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        raise NotImplementedError


class _NumberEditor(_Editor):
    def __init__(self, param: Param, form: ParamForm) -> None:
        super().__init__(param, form)
        p = param
        self.is_int = p.kind == "int"
        lo = p.lo if p.lo is not None else -1e9
        hi = p.hi if p.hi is not None else 1e9
        self.ui_lo = p.ui_lo if p.ui_lo is not None else lo
        self.ui_hi = p.ui_hi if p.ui_hi is not None else hi
        step = p.step or (1 if self.is_int else (self.ui_hi - self.ui_lo) / 1000 or 0.01)
        self.step = step
        self.steps = int(min(SLIDER_STEPS_MAX, max(1, round((self.ui_hi - self.ui_lo) / step))))
        self.widget = QWidget()
        row = QHBoxLayout(self.widget)
        row.setContentsMargins(0, 0, 0, 0)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, self.steps)
        self.slider.setMinimumWidth(110)
        if self.is_int:
            self.spin = QSpinBox()
            self.spin.setRange(int(max(lo, -2**31 + 1)), int(min(hi, 2**31 - 1)))
        else:
            self.spin = QDoubleSpinBox()
            decimals = min(4, max(1, -math.floor(math.log10(step)) if step > 0 else 2))
            self.spin.setDecimals(decimals)
            self.spin.setRange(lo, hi)
            self.spin.setSingleStep(step)
        self.spin.setKeyboardTracking(False)
        self.spin.setMinimumWidth(78)
        if p.unit:
            self.spin.setSuffix(f" {p.unit}")
        self.auto = None
        if p.optional:
            self.auto = QCheckBox("auto")
            self.auto.toggled.connect(self._auto_toggled)
        row.addWidget(self.slider, 1)
        row.addWidget(self.spin)
        if self.auto is not None:
            row.addWidget(self.auto)
        self.slider.valueChanged.connect(self._slider_moved)
        self.slider.sliderReleased.connect(form._commit)
        # a click on the groove or a key press moves without a drag: commit at once
        self.slider.actionTriggered.connect(self._slider_action)
        self.spin.valueChanged.connect(self._spin_changed)
        self.spin.editingFinished.connect(form._commit)

    def _to_slider(self, v: float) -> int:
        span = self.ui_hi - self.ui_lo
        return 0 if span <= 0 else round((min(max(v, self.ui_lo), self.ui_hi) - self.ui_lo)
                                         / span * self.steps)

    def _from_slider(self, i: int) -> float:
        v = self.ui_lo + (self.ui_hi - self.ui_lo) * i / self.steps
        return int(round(v)) if self.is_int else round(v / self.step) * self.step

    def _slider_moved(self, i: int) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(self._from_slider(i))
        self.spin.blockSignals(False)
        self.form._changed()

    def _slider_action(self, action: int) -> None:
        if not self.slider.isSliderDown():
            QTimer.singleShot(0, self.form._commit)

    def _spin_changed(self, v: float) -> None:
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


class _ChoiceEditor(_Editor):
    def __init__(self, param: Param, form: ParamForm) -> None:
        super().__init__(param, form)
        self.widget = QComboBox()
        for c in param.choices:
            self.widget.addItem(str(c).replace("_", " "), c)
        self.widget.currentIndexChanged.connect(lambda _i: (form._changed(), form._commit()))

    def value(self) -> Any:
        return self.widget.currentData()

    def set_value(self, value: Any) -> None:
        self.widget.blockSignals(True)
        i = self.widget.findData(value)
        self.widget.setCurrentIndex(max(0, i))
        self.widget.blockSignals(False)


class _BoolEditor(_Editor):
    def __init__(self, param: Param, form: ParamForm) -> None:
        super().__init__(param, form)
        self.widget = QCheckBox()
        self.widget.toggled.connect(lambda _b: (form._changed(), form._commit()))

    def value(self) -> Any:
        return self.widget.isChecked()

    def set_value(self, value: Any) -> None:
        self.widget.blockSignals(True)
        self.widget.setChecked(bool(value))
        self.widget.blockSignals(False)


class _TextEditor(_Editor):
    """Line edit parsed by ``Param.parse`` (points, matrix, kernel, text, path)."""

    def __init__(self, param: Param, form: ParamForm) -> None:
        super().__init__(param, form)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(param.hint or param.kind)
        self._value = param.default
        self.edit.editingFinished.connect(self._finished)
        self.widget = self.edit
        if param.kind == "path":
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
        path, _ = QFileDialog.getOpenFileName(self.form, f"Choose {self.param.name}",
                                              self.edit.text())
        if path:
            self.edit.setText(path)
            self._finished()

    def _finished(self) -> None:
        try:
            value = self.param.parse(self.edit.text())
            self.param.validate(value)
        except ParamError as e:
            self.edit.setStyleSheet("border: 1px solid #d05050;")
            self.edit.setToolTip(str(e))
            return
        self.edit.setStyleSheet("")
        self.edit.setToolTip(self.param.description)
        self._value = value
        self.form._changed()
        self.form._commit()

    def value(self) -> Any:
        return self._value

    def set_value(self, value: Any) -> None:
        self._value = value
        self.edit.setText(_fmt_value(value))


class _ColorEditor(_Editor):
    def __init__(self, param: Param, form: ParamForm) -> None:
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
        color = QColorDialog.getColor(QColor(*self._value), self.form, self.param.name)
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


_EDITORS = {"float": _NumberEditor, "int": _NumberEditor, "choice": _ChoiceEditor,
            "bool": _BoolEditor, "color": _ColorEditor}


class ThrottledForm(QWidget):
    """Base of every op form: ``paramsChanged`` throttled, ``paramsCommitted`` on release.

    Subclasses call :meth:`_changed` on every edit and :meth:`_commit` when the user
    lets go, and implement ``params()``.
    """

    paramsChanged = Signal(dict)
    paramsCommitted = Signal(dict)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._emit_changed)
        self._clock = QElapsedTimer()

    def params(self) -> dict[str, Any]:
        raise NotImplementedError

    def _changed(self) -> None:
        # throttle, not debounce: a change after a quiet spell is sent at once
        # (no added latency); changes within THROTTLE_MS of the last signal
        # wait for the timer, which reads the values when it fires, so the
        # latest one is always delivered
        if self._timer.isActive():
            return
        since = self._clock.elapsed() if self._clock.isValid() else THROTTLE_MS
        if since >= THROTTLE_MS:
            self._emit_changed()
        else:
            self._timer.start(THROTTLE_MS - since)

    def _emit_changed(self) -> None:
        self._clock.start()
        self.paramsChanged.emit(self.params())

    def _commit(self) -> None:
        if self._timer.isActive():
            self._timer.stop()
            self.paramsChanged.emit(self.params())
        self.paramsCommitted.emit(self.params())


class ParamForm(ThrottledForm):
    """Form for any registered op (see the module docstring)."""

    def __init__(self, spec: OpSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.editors: dict[str, _Editor] = {}
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        layout.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        for p in spec.params:
            editor = _EDITORS.get(p.kind, _TextEditor)(p, self)
            editor.set_value(p.default)
            label = QLabel(p.name.replace("_", " ").capitalize())
            tip = p.description + (f" ({p.unit})" if p.unit else "")
            label.setToolTip(tip)
            editor.widget.setToolTip(tip)
            editor.widget.setObjectName(f"param_{p.name}")
            layout.addRow(label, editor.widget)
            self.editors[p.name] = editor
        if not spec.params:
            note = QLabel("No settings: press Apply.")
            note.setEnabled(False)
            layout.addRow(note)

    # -- protocol -------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """Current values by parameter name."""
        return {name: ed.value() for name, ed in self.editors.items()}

    def set_params(self, params: dict[str, Any]) -> None:
        """Show ``params`` (unknown names are ignored); emits nothing."""
        for name, value in params.items():
            if name in self.editors:
                self.editors[name].set_value(value)

    def reset(self) -> None:
        """Back to the defaults; emits ``paramsChanged`` once."""
        self.set_params(self.spec.defaults())
        self._timer.stop()
        self.paramsChanged.emit(self.params())

    def set_image(self, image) -> None:
        """The generic form does not show the image."""

