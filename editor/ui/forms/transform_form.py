"""The Transform form of the ``affine`` op: compose a matrix from simple controls.

Scale, rotation, shear, reflection and translation are composed into one 3x3
homogeneous matrix (:func:`editor.ops.geometry.compose_transform`), shown live, and
handed to ``affine`` as ``{"matrix": [9 floats], "interpolation": ...}`` so the image
is resampled once, however many controls were moved.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from editor.ops.geometry import compose_transform, decompose_transform
from editor.ops.params import Param
from editor.ops.registry import OpSpec
from editor.ui.forms import register_form
from editor.ui.forms.fields import NumberField, number_spin
from editor.ui.forms.param_form import ThrottledForm

#: The controls' specs (ranges, steps, units), read like any op parameter's.
COMPONENTS = {p.name: p for p in (
    Param("scale_x", "float", 1.0, lo=0.01, hi=10.0, step=0.01),
    Param("scale_y", "float", 1.0, lo=0.01, hi=10.0, step=0.01),
    Param("angle", "float", 0.0, lo=-360.0, hi=360.0, ui_lo=-45.0, ui_hi=45.0, step=0.1,
          unit="°", label="Rotation"),
    Param("shear_x", "float", 0.0, lo=-4.0, hi=4.0, step=0.01),
    Param("shear_y", "float", 0.0, lo=-4.0, hi=4.0, step=0.01),
    Param("dx", "float", 0.0, lo=-100_000.0, hi=100_000.0, step=1.0, unit="px"),
    Param("dy", "float", 0.0, lo=-100_000.0, hi=100_000.0, step=1.0, unit="px"),
)}
DEFAULTS = dict(scale_x=1.0, scale_y=1.0, angle=0.0, shear_x=0.0, shear_y=0.0,
                reflect_h=False, reflect_v=False, dx=0.0, dy=0.0)


@register_form("affine")
class TransformForm(ThrottledForm):
    """Scale / rotate / shear / reflect / translate, composed into one matrix."""


    def __init__(self, spec: OpSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self._size = (1, 1)  # (width, height) of the document: sets the pivot
        self._has_image = False

        def spin(name: str, decimals: int | None = None):
            s = number_spin(COMPONENTS[name])
            if decimals is not None:  # a decomposed matrix keeps its precision
                s.setDecimals(decimals)
            s.setObjectName(name)
            s.setPrefix(name[-1] + " ")  # "x 1.000": the row's label says what, this which
            s.setToolTip(COMPONENTS[name].label)
            s.valueChanged.connect(self._changed)
            s.editingFinished.connect(self._spin_finished)
            return s

        self.scale_x = spin("scale_x", 3)
        self.scale_y = spin("scale_y", 3)
        self.uniform = QCheckBox("x=y")
        self.uniform.setObjectName("uniform")
        self.uniform.setToolTip("Uniform: keep scale y equal to scale x")
        self.uniform.toggled.connect(self._uniform_toggled)
        self.scale_x.valueChanged.connect(self._follow_uniform)
        # the rotation's slider and spin box: steps from its spec, like every op's
        self.rotation = _AngleField(COMPONENTS["angle"], self)
        self.editors = {"angle": self.rotation}
        self.angle, self.angle_slider = self.rotation.spin, self.rotation.slider
        self.angle.setObjectName("angle")
        self.angle.setDecimals(2)  # a decomposed matrix keeps its precision
        self.angle_slider.setObjectName("angle_slider")
        self.rotation.widget.setToolTip("Counter-clockwise, degrees. The slider straightens "
                                        "(±45°, 0.1° a key press); type any angle in the box.")
        self.shear_x = spin("shear_x", 3)
        self.shear_x.setToolTip("x' = x + shear x · y")
        self.shear_y = spin("shear_y", 3)
        self.shear_y.setToolTip("y' = y + shear y · x")
        self.reflect_h = QCheckBox("left ↔ right")
        self.reflect_h.setObjectName("reflect_h")
        self.reflect_v = QCheckBox("top ↕ bottom")
        self.reflect_v.setObjectName("reflect_v")
        for box in (self.reflect_h, self.reflect_v):
            box.toggled.connect(self._changed_and_commit)
        self.dx = spin("dx")
        self.dy = spin("dy")
        self.interpolation = QComboBox()
        self.interpolation.setObjectName("interpolation")
        for choice in self.spec.param("interpolation").choices:
            self.interpolation.addItem(choice, choice)
        self.interpolation.currentIndexChanged.connect(self._changed_and_commit)

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.setVerticalSpacing(3)
        form.addRow("Scale", _row(self.scale_x, self.scale_y, self.uniform))
        form.addRow("Rotation", self.rotation.widget)
        form.addRow("Shear", _row(self.shear_x, self.shear_y))
        form.addRow("Reflect", _row(self.reflect_h, self.reflect_v))
        form.addRow("Translate", _row(self.dx, self.dy))

        # -- the matrix, live ------------------------------------------------------
        box = QGroupBox("Matrix: input → output pixel positions")
        grid = QGridLayout()
        grid.setContentsMargins(6, 3, 6, 3)
        grid.setVerticalSpacing(0)
        grid.setHorizontalSpacing(14)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.cells: list[QLabel] = []
        for i in range(9):
            cell = QLabel()
            cell.setFont(mono)
            cell.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            cell.setObjectName(f"m{i // 3}{i % 3}")
            cell.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(cell, i // 3, i % 3)
            self.cells.append(cell)
        frame = QFrame()
        frame.setFrameShape(QFrame.Shape.StyledPanel)
        frame.setLayout(grid)
        # the order of composition, as a tool tip: the box stays short on a laptop screen
        self.order = ("M = T · R · Sh · S · F about the pivot: reflect first, then scale, "
                      "shear, rotate; translate last.")
        box.setToolTip(self.order)
        self.pivot = QLabel()
        self.pivot.setObjectName("pivot")
        self.pivot.setEnabled(False)
        inner = QVBoxLayout(box)
        inner.setContentsMargins(6, 4, 6, 4)
        inner.setSpacing(2)
        inner.addWidget(frame)
        inner.addWidget(self.pivot)

        form.addRow("Interpolation", self.interpolation)  # Reset: the dock's button

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(form)
        layout.addWidget(box)

        self._set_components(DEFAULTS, self.spec.defaults()["interpolation"])

    # -- protocol -------------------------------------------------------------------
    def components(self) -> dict[str, Any]:
        """The control values as :func:`compose_transform` keyword arguments."""
        return dict(scale_x=self.scale_x.value(), scale_y=self.scale_y.value(),
                    angle=self.angle.value(), shear_x=self.shear_x.value(),
                    shear_y=self.shear_y.value(), reflect_h=self.reflect_h.isChecked(),
                    reflect_v=self.reflect_v.isChecked(), dx=self.dx.value(),
                    dy=self.dy.value())

    def matrix(self) -> np.ndarray:
        """The composed 3x3 matrix for the current controls and image size."""
        w, h = self._size
        return compose_transform(width=w, height=h, **self.components())

    def params(self) -> dict[str, Any]:
        """``{"matrix": [9 floats], "interpolation": str}`` for the ``affine`` op."""
        return {"matrix": [float(v) for v in self.matrix().ravel()],
                "interpolation": self.interpolation.currentData()}

    def set_params(self, params: dict[str, Any]) -> None:
        """Show ``params`` (a matrix is decomposed into the controls); emits nothing.

        The decomposition puts all shear in ``shear x`` and all reflection in
        ``left ↔ right``, which gives the same matrix; a perspective row is dropped.
        """
        comps = self.components()
        if params.get("matrix") is not None:
            w, h = self._size
            comps = decompose_transform(params["matrix"], width=w, height=h)
        self._set_components(comps, params.get("interpolation",
                                               self.interpolation.currentData()))

    def reset(self) -> None:
        """Back to the identity; emits ``paramsChanged`` once."""
        self._set_components(DEFAULTS, self.spec.defaults()["interpolation"])
        self.uniform.setChecked(False)
        self._timer.stop()
        self.paramsChanged.emit(self.params())

    def set_image(self, image: np.ndarray | None) -> None:
        """The document image: its centre is the pivot. Emits nothing."""
        self._has_image = image is not None
        if image is not None:
            self._size = (int(image.shape[1]), int(image.shape[0]))
        self._show_matrix()

    # -- internals ------------------------------------------------------------------
    def _set_components(self, comps: dict[str, Any], interpolation: str) -> None:
        widgets = (self.scale_x, self.scale_y, self.shear_x,
                   self.shear_y, self.reflect_h, self.reflect_v, self.dx, self.dy,
                   self.interpolation)
        for wdg in widgets:
            wdg.blockSignals(True)
        self.scale_x.setValue(comps["scale_x"])
        self.scale_y.setValue(comps["scale_y"])
        self.rotation.set_value(float(comps["angle"]))
        self.shear_x.setValue(comps["shear_x"])
        self.shear_y.setValue(comps["shear_y"])
        self.reflect_h.setChecked(bool(comps["reflect_h"]))
        self.reflect_v.setChecked(bool(comps["reflect_v"]))
        self.dx.setValue(comps["dx"])
        self.dy.setValue(comps["dy"])
        self.interpolation.setCurrentIndex(max(0, self.interpolation.findData(interpolation)))
        for wdg in widgets:
            wdg.blockSignals(False)
        self._show_matrix()

    def _show_matrix(self) -> None:
        m = self.matrix()
        for cell, v in zip(self.cells, m.ravel(), strict=True):
            cell.setText(f"{0.0 if abs(v) < 5e-7 else v:11.4f}")
        w, h = self._size
        det = float(np.linalg.det(m[:2, :2]))
        where = (f"pivot: image centre ({(w - 1) / 2:g}, {(h - 1) / 2:g})" if self._has_image
                 else "pivot: image centre (no image yet)")
        self.pivot.setText(f"{where}    det = {det:.4g}")

    def _uniform_toggled(self, on: bool) -> None:
        self.scale_y.setEnabled(not on)
        if on:
            self._follow_uniform(self.scale_x.value())
            self._commit()

    def _follow_uniform(self, value: float) -> None:
        if self.uniform.isChecked() and self.scale_y.value() != value:
            self.scale_y.setValue(value)  # its valueChanged runs _changed

    def _changed(self, *_: Any) -> None:
        self._edited = True
        self._show_matrix()
        super()._changed()

    def _spin_finished(self) -> None:
        # Qt also sends editingFinished when the focus merely leaves a box: only a value
        # typed or stepped since the last commit is committed (else a click in and out
        # would add an identity step, or re-commit one Ctrl+Z took back)
        if getattr(self, "_edited", False):
            self._edited = False
            self._commit()

    def _changed_and_commit(self, *_: Any) -> None:
        self._changed()
        self._commit()


def _wrap180(angle: float) -> float:
    return (angle + 180.0) % 360.0 - 180.0


class _AngleField(NumberField):
    """The rotation: 350° shows on the slider as -10° (the same turn)."""

    def _to_slider(self, v: float) -> int:
        return super()._to_slider(_wrap180(v))


def _row(*widgets: QWidget, stretch_first: bool = False) -> QWidget:
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    for i, w in enumerate(widgets):
        row.addWidget(w, 1 if (stretch_first and i == 0) else 0)
    if not stretch_first:
        row.addStretch(1)
    return box
