"""The generic operation form, generated from an op's parameter specs.

Each parameter gets a row: its label, and the field its kind registered in
:mod:`editor.ui.forms.fields` (slider and spin box, combo box, check box, file
picker, colour button, line edit), with the description as tooltip. A caller
may replace one parameter's field (``fields={"style": StylePicker}``) and keep
the generic rows for the rest. ``paramsChanged`` is throttled to one signal per
:data:`THROTTLE_MS` while the user drags (the last value is always delivered);
``paramsCommitted`` fires when an adjustment is finished.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QElapsedTimer, Qt, QTimer, Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

from editor.ops.registry import OpSpec, Param
from editor.ui.forms import register_form
from editor.ui.forms.fields import Field, NumberField, field_class
from editor.ui.richtext import rich_text

THROTTLE_MS = 30

#: Builds the field of one parameter: ``factory(param, form) -> Field``.
FieldFactory = Callable[[Param, "ThrottledForm"], Field]


def line_up_spins(editors: dict[str, Field]) -> None:
    """Give the number fields' spin boxes one width, so the sliders beside them end in
    one column."""
    spins = [e.spin for e in editors.values() if isinstance(e, NumberField)]
    width = max((sp.sizeHint().width() for sp in spins), default=0)
    for sp in spins:
        sp.setMinimumWidth(width)


class ThrottledForm(QWidget):
    """Base of every op form: ``paramsChanged`` throttled, ``paramsCommitted`` on release.

    Subclasses call :meth:`_changed` on every edit and :meth:`_commit` when the user
    lets go, keep their op's spec in ``self.spec``, and implement ``params()`` and
    ``set_params()``.
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

    def set_params(self, params: dict[str, Any]) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        """Back to the op's defaults; emits ``paramsChanged`` once."""
        self.set_params(self.spec.defaults())
        self._timer.stop()
        self.paramsChanged.emit(self.params())

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
    """Form for any registered op (see the module docstring).

    Parameters
    ----------
    spec : OpSpec
        The operation whose parameters get a row each.
    parent : QWidget, optional
    fields : dict, optional
        Field factory by parameter name, replacing the generic field of those
        parameters only (the label, tooltip and default still come from the spec).
    """

    def __init__(self, spec: OpSpec, parent: QWidget | None = None,
                 fields: dict[str, FieldFactory] | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.editors: dict[str, Field] = {}
        self.labels: dict[str, QLabel] = {}
        fields = fields or {}
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        layout.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.form_layout = layout
        for p in spec.params:
            editor = fields.get(p.name, field_class(p))(p, self)
            editor.set_value(p.default)
            label = QLabel(p.label)
            tip = rich_text(p.description + (f" ({p.unit})" if p.unit else ""))
            label.setToolTip(tip)
            label.setBuddy(editor.widget)
            editor.widget.setToolTip(tip)
            editor.widget.setObjectName(f"param_{p.name}")
            layout.addRow(label, editor.widget)
            self.editors[p.name] = editor
            self.labels[p.name] = label
        line_up_spins(self.editors)
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

    def set_image(self, image) -> None:
        """The generic form does not show the image."""


def register_fields(op_name: str, fields: dict[str, FieldFactory], doc: str) -> type:
    """Register for ``op_name`` the generic form with some parameters' fields replaced.

    ``fields`` maps parameter names to field factories (a class picker, a model
    picker); a caller's own ``fields=`` still replaces them in turn. Returns the
    registered form class.
    """
    replaced = fields

    class FieldsForm(ParamForm):
        __doc__ = doc

        def __init__(self, spec: OpSpec, parent: QWidget | None = None,
                     fields: dict[str, FieldFactory] | None = None) -> None:
            super().__init__(spec, parent, fields={**replaced, **(fields or {})})

    return register_form(op_name)(FieldsForm)
