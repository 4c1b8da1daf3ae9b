"""The Levels form for the ``levels`` op: triangles under the channel's histogram.

Input levels: the black, grey and white triangles under the histogram set
``in_low``, ``gamma`` and ``in_high`` (the grey one sits where the curve gives mid-grey:
at ``in_low + 0.5 ** gamma * (in_high - in_low)``, and keeps its place between the
other two when they move, as in GIMP and Photoshop). Output levels: two triangles
under a gradient set ``out_low`` and ``out_high`` (crossed, they invert). Numbers
beside them type the same values. Auto sets the input range to the 0.1 % and 99.9 %
points of the channel's histogram (Photoshop's Auto); the black, grey and white
eyedroppers, while on, set the input black point, gamma or white point from the
value of the pixel clicked on the canvas, so that pixel becomes black, mid-grey or
white. Every range comes from the op's spec.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from editor.ops.registry import OpSpec
from editor.ops.tone import percentile_range
from editor.ui.forms import register_form
from editor.ui.forms.tone_graph import (
    CHANNEL_COLORS,
    ToneForm,
    ToneGraph,
    eyedropper_button,
    picked_value,
)
from editor.ui.richtext import rich_text

#: Percentages of the histogram Auto clips at the dark and light end (Photoshop: 0.1 %).
AUTO_CLIP = (0.1, 99.9)
TRIANGLE = 11  # px, width of a triangle handle
GRAB = 10  # px from a triangle's tip that grabs it
_FILLS = {"black": QColor(10, 10, 10), "grey": QColor(128, 128, 128),
          "white": QColor(250, 250, 250)}


def grey_position(low: float, high: float, gamma: float) -> float:
    """Where the grey triangle sits: the input value the levels map sends to mid-grey."""
    return low + (high - low) * 0.5 ** gamma


def gamma_at(low: float, high: float, x: float) -> float | None:
    """The gamma that puts mid-grey at input ``x`` (None outside ``(low, high)``)."""
    if high <= low:
        return None
    p = (x - low) / (high - low)
    if not 0.0 < p < 1.0:
        return None
    return math.log(p) / math.log(0.5)


def _triangle(p: QPainter, x: float, top: float, fill: QColor) -> None:
    half = TRIANGLE / 2
    poly = QPolygonF([QPointF(x, top), QPointF(x - half, top + TRIANGLE),
                      QPointF(x + half, top + TRIANGLE)])
    p.setPen(QPen(QColor(150, 150, 150) if fill.lightness() < 128 else QColor(40, 40, 40), 1))
    p.setBrush(fill)
    p.drawPolygon(poly)


class _TriangleDrag:
    """Mouse handling of a strip of triangles (mixed into the two views).

    The view gives ``handles()`` (name -> value), ``to_px`` / ``to_value`` and
    ``move(name, x) -> bool`` (True when a value changed); this emits the view's
    ``changed`` while dragging and ``finished`` on release after a move.
    """

    _active: str | None = None
    _moved = False

    def nearest(self, x: float) -> str | None:
        """The triangle within :data:`GRAB` px of ``x``; stacked ones: the last drawn."""
        best, best_d = None, GRAB + 0.5
        for name, value in self.handles().items():
            d = abs(self.to_px(value) - x)
            if d <= best_d:  # on a tie the later one (drawn on top) wins
                best, best_d = name, d
        return best

    def mousePressEvent(self, event) -> None:  # noqa: N802  (Qt override)
        if event.button() == Qt.MouseButton.LeftButton:
            self._active = self.nearest(event.position().x())
            self._moved = False

    def mouseMoveEvent(self, event) -> None:  # noqa: N802  (Qt override)
        x = event.position().x()
        if self._active is None:
            self.setCursor(Qt.CursorShape.SizeHorCursor if self.nearest(x) is not None
                           else Qt.CursorShape.ArrowCursor)
        elif self.move(self._active, x):
            self._moved = True
            self.update()
            self.changed.emit()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802  (Qt override)
        if self._active is not None and self._moved:
            self.finished.emit()
        self._active = None


class LevelsInputView(_TriangleDrag, ToneGraph):
    """The histogram with black, grey and white input triangles below it."""

    changed = Signal()  # a triangle moved (while dragging too)
    finished = Signal()  # the drag ended

    STRIP = TRIANGLE + 4

    def __init__(self, gamma_range: tuple[float, float], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.low, self.high, self.gamma = 0.0, 255.0, 1.0
        self.gamma_range = gamma_range
        self.setMinimumSize(160, 90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)

    def sizeHint(self) -> QSize:  # noqa: N802  (Qt override)
        return QSize(300, 150)

    def plot_rect(self) -> QRectF:
        m = self.MARGIN
        return QRectF(m, 4, max(10.0, self.width() - 2 * m),
                      max(10.0, self.height() - 4 - self.STRIP - 2))

    def handles(self) -> dict[str, float]:
        return {"black": self.low, "grey": grey_position(self.low, self.high, self.gamma),
                "white": self.high}

    def paint_over(self, p: QPainter, r: QRectF) -> None:
        # the input range's limits, faint over the histogram
        p.setPen(QPen(QColor(255, 255, 255, 60), 1, Qt.PenStyle.DotLine))
        for v in (self.low, self.high):
            x = self.to_px(v)
            p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
        for name, value in self.handles().items():
            _triangle(p, self.to_px(value), r.bottom() + 2, _FILLS[name])

    def move(self, name: str, x: float) -> bool:
        v = self.clamp(self.to_value(x))
        if name == "black":
            new = (min(v, self.high - 1), self.high, self.gamma)
        elif name == "white":
            new = (self.low, max(v, self.low + 1), self.gamma)
        else:
            g = gamma_at(self.low, self.high, self.to_value(x))
            lo, hi = self.gamma_range
            g = self.gamma if g is None else round(min(hi, max(lo, g)), 2)
            new = (self.low, self.high, g)
        if new == (self.low, self.high, self.gamma):
            return False
        self.low, self.high, self.gamma = new
        return True


class LevelsOutputView(_TriangleDrag, ToneGraph):
    """A gradient with the output black and white triangles below it (no histogram)."""

    changed = Signal()
    finished = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.low, self.high = 0.0, 255.0
        self.setFixedHeight(14 + TRIANGLE + 6)
        self.setMinimumWidth(160)
        self.setMouseTracking(True)

    def plot_rect(self) -> QRectF:
        return QRectF(self.MARGIN, 2, max(10.0, self.width() - 2 * self.MARGIN), 12)

    def handles(self) -> dict[str, float]:
        return {"black": self.low, "white": self.high}

    def paintEvent(self, _event) -> None:  # noqa: N802  (Qt override)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        bar = self.plot_rect()
        g = QLinearGradient(bar.topLeft(), bar.topRight())
        end = QColor(255, 255, 255) if self.channel in ("all", "luminance") \
            else CHANNEL_COLORS[self.channel]
        g.setColorAt(0, QColor(0, 0, 0))
        g.setColorAt(1, end)
        p.fillRect(bar, g)
        p.setPen(QPen(QColor(70, 70, 75), 1))
        p.drawRect(bar)
        for name, value in self.handles().items():
            _triangle(p, self.to_px(value), bar.bottom() + 2, _FILLS[name])
        p.end()

    def move(self, name: str, x: float) -> bool:
        attr = "low" if name == "black" else "high"
        v = self.clamp(self.to_value(x))
        if v == getattr(self, attr):
            return False
        setattr(self, attr, v)
        return True


@register_form("levels")
class LevelsForm(ToneForm):
    """Input and output levels by triangles or numbers, Auto and three eyedroppers."""

    def __init__(self, spec: OpSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        gamma = spec.param("gamma")

        self.auto_button = QPushButton("Auto")
        self.auto_button.setObjectName("levels_auto")
        self.auto_button.setToolTip(
            f"Set the input black and white points to the {AUTO_CLIP[0]:g} % and "
            f"{AUTO_CLIP[1]:g} % points of the channel's histogram")
        self.droppers = {
            "black": eyedropper_button(_FILLS["black"], "Black point: while on, click the "
                                       "image; that pixel becomes black", "levels_pick_black"),
            "grey": eyedropper_button(_FILLS["grey"], "Grey point: while on, click the image; "
                                      "that pixel becomes mid-grey (sets gamma)",
                                      "levels_pick_grey"),
            "white": eyedropper_button(_FILLS["white"], "White point: while on, click the "
                                       "image; that pixel becomes white", "levels_pick_white"),
        }
        top = QHBoxLayout()
        top.addWidget(QLabel("Channel"))
        top.addWidget(self.channel_combo, 1)
        top.addWidget(self.auto_button)
        for b in self.droppers.values():
            top.addWidget(b)

        self.input_view = LevelsInputView((gamma.lo, gamma.hi))
        self.input_view.setObjectName("levels_input")
        self.input_view.setToolTip("Input levels: drag the black, grey and white triangles")
        self.input_view.lo, self.input_view.hi = spec.param("in_low").lo, spec.param("in_high").hi
        self.output_view = LevelsOutputView()
        self.output_view.lo, self.output_view.hi = (spec.param("out_low").lo,
                                                    spec.param("out_high").hi)
        self.output_view.setObjectName("levels_output")
        self.output_view.setToolTip("Drag the output black and white triangles")

        self.spins: dict[str, QDoubleSpinBox] = {}
        for name in ("in_low", "gamma", "in_high", "out_low", "out_high"):
            p = spec.param(name)
            sb = QDoubleSpinBox()
            sb.setObjectName(f"param_{name}")
            sb.setRange(p.lo, p.hi)
            step = p.step or 1.0
            sb.setSingleStep(step)
            sb.setDecimals(max(0, -math.floor(math.log10(step))) if step < 1 else 0)
            sb.setKeyboardTracking(False)
            sb.setToolTip(rich_text(f"{p.label}: {p.description}"))
            sb.setMinimumWidth(sb.fontMetrics().horizontalAdvance("255.00") + 30)
            sb.valueChanged.connect(lambda _v, n=name: self._spin_changed(n))
            sb.editingFinished.connect(self._commit)
            self.spins[name] = sb
        in_row = QHBoxLayout()
        in_row.addWidget(self.spins["in_low"])
        in_row.addStretch(1)
        in_row.addWidget(self.spins["gamma"])
        in_row.addStretch(1)
        in_row.addWidget(self.spins["in_high"])
        # the output numbers share the label's row: one row less on a laptop's dock
        out_row = QHBoxLayout()
        out_row.addWidget(self.spins["out_low"])
        out_row.addStretch(1)
        out_row.addWidget(QLabel("Output levels"))
        out_row.addStretch(1)
        out_row.addWidget(self.spins["out_high"])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.input_view, 1)
        layout.addLayout(in_row)
        layout.addSpacing(4)
        layout.addWidget(self.output_view)
        layout.addLayout(out_row)

        self.auto_button.clicked.connect(self.auto)
        for name, b in self.droppers.items():
            b.toggled.connect(lambda on, n=name: self._dropper_toggled(n, on))
        for view in (self.input_view, self.output_view):
            view.changed.connect(self._dragged)
            view.finished.connect(self._commit)
        self.set_params(spec.defaults())

    # -- protocol -------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return {"in_low": float(self.input_view.low), "in_high": float(self.input_view.high),
                "gamma": float(self.input_view.gamma), "out_low": float(self.output_view.low),
                "out_high": float(self.output_view.high),
                "channel": self.channel_combo.currentData()}

    def set_params(self, params: dict[str, Any]) -> None:
        iv, ov = self.input_view, self.output_view
        iv.low = float(params.get("in_low", iv.low))
        iv.high = float(params.get("in_high", iv.high))
        iv.gamma = float(params.get("gamma", iv.gamma))
        ov.low = float(params.get("out_low", ov.low))
        ov.high = float(params.get("out_high", ov.high))
        if "channel" in params:
            self.show_channel(params["channel"])
        self._show_numbers()
        iv.update()
        ov.update()

    def show_histogram(self, counts: np.ndarray, channel: str) -> None:
        self.input_view.set_histogram(counts, channel)
        self.output_view.channel = channel
        self.output_view.update()

    # -- Auto and eyedroppers ---------------------------------------------------------------
    def auto(self) -> None:
        """Input black and white at the histogram's 0.1 % and 99.9 % points."""
        if self._image is None:
            return
        lo, hi = percentile_range(self.input_view.counts, *AUTO_CLIP)
        if hi <= lo:  # a flat image: nothing to stretch
            return
        self.set_params({"in_low": float(lo), "in_high": float(hi)})
        self._changed()
        self._commit()

    def canvas_clicked(self, x: int, y: int) -> bool:
        """With an eyedropper on, set its point from the clicked pixel's value."""
        which = next((n for n, b in self.droppers.items() if b.isChecked()), None)
        if which is None:
            return False
        rule = {"black": "max", "white": "min", "grey": "luma"}[which]
        v = picked_value(self._image, x, y, self.channel(), rule)
        if v is None:
            return False
        iv = self.input_view
        if which == "black":
            new = {"in_low": float(min(round(v), iv.high - 1))}
        elif which == "white":
            new = {"in_high": float(max(round(v), iv.low + 1))}
        else:
            g = gamma_at(iv.low, iv.high, v)
            if g is None:
                return False  # at or outside the black/white points: no gamma does it
            lo, hi = iv.gamma_range
            new = {"gamma": round(min(hi, max(lo, g)), 2)}
        self.set_params(new)
        self._changed()
        self._commit()
        return True

    def canvas_hovered(self, x: int, y: int) -> None:
        self.input_view.set_marker(picked_value(self._image, x, y, self.channel(), "luma"))

    # -- editing --------------------------------------------------------------------------------
    def _dropper_toggled(self, name: str, on: bool) -> None:
        if on:  # one eyedropper at a time (all may be off)
            for n, b in self.droppers.items():
                if n != name and b.isChecked():
                    b.setChecked(False)

    def _dragged(self) -> None:
        self._show_numbers()
        self._changed()

    def _spin_changed(self, name: str) -> None:
        v = self.spins[name].value()
        iv, ov = self.input_view, self.output_view
        if name == "in_low":
            iv.low = min(v, iv.high - 1)
        elif name == "in_high":
            iv.high = max(v, iv.low + 1)
        elif name == "gamma":
            iv.gamma = v
        elif name == "out_low":
            ov.low = v
        else:
            ov.high = v
        self._show_numbers()  # a clamped value shows what is used
        iv.update()
        ov.update()
        self._changed()

    def _show_numbers(self) -> None:
        for name, value in self.params().items():
            sb = self.spins.get(name)
            if sb is not None and sb.value() != value:
                sb.blockSignals(True)
                sb.setValue(value)
                sb.blockSignals(False)
