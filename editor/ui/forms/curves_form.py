"""The Curves editor for the ``curves`` op: a curve you drag over the channel's histogram.

Click the graph to add a point, drag a point to move it, drag it off the graph or
double-click it to delete it (the two end points stay); arrow keys nudge the selected
point and Delete removes it. The channel box picks what the curve acts on (RGB, one
of R, G, B, or luminance) and the histogram behind the graph follows it. Presets set
a linear, S-shaped or inverted curve; the eyedropper, while on, turns a click on the
canvas into a point at that pixel's value. The form only edits the op's ``points``
and ``channel``: preview, commit, undo, recipes and the command line's ``0:0, 64:40,
255:255`` are the op's own, and the curve drawn is :func:`editor.ops.tone.curve_values`,
the one the op applies.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QAction, QColor, QLinearGradient, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from editor.ops.params import ParamError
from editor.ops.registry import OpSpec
from editor.ops.tone import curve_values
from editor.ui.forms import register_form
from editor.ui.forms.tone_graph import (
    CHANNEL_COLORS,
    ToneForm,
    ToneGraph,
    eyedropper_button,
    picked_value,
)

#: (label, points as fractions of the points' range): the presets' curves.
PRESETS = (("Linear", ((0.0, 0.0), (1.0, 1.0))),
           ("S-curve", ((0.0, 0.0), (0.25, 0.1725), (0.75, 0.8275), (1.0, 1.0))),
           ("Invert", ((0.0, 1.0), (1.0, 0.0))))
HIT_RADIUS = 9  # px around a point that grab it
DELETE_DISTANCE = 24  # px outside the graph at which a dragged point is deleted


class CurveView(ToneGraph):
    """A square graph of the curve through editable points (``lo..hi`` both ways)."""

    edited = Signal()  # the points changed (while dragging too)
    finished = Signal()  # an edit is complete (release, double-click, key)
    selectionChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list[list[float]] = []
        self.selected: int | None = None
        self.hidden: int | None = None  # index of a point dragged off (deleted on release)
        self._drag = False
        self._moved = False
        self._grab = QPointF()  # pointer - point at the press, so a point never jumps
        #: a line of text drawn in the graph's corner (the point's or pointer's values)
        self.readout = ""
        # the square grows with the room the dock gives and shrinks to this before
        # the form scrolls (a laptop's dock is short)
        self.setMinimumSize(150, 150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    # -- model --------------------------------------------------------------------
    def set_points(self, points) -> None:
        self.points = sorted([float(x), float(y)] for x, y in points)
        self.selected = None
        self.hidden = None
        self.update()

    def shown_points(self) -> list[tuple[float, float]]:
        """The points the curve goes through now (a point being dragged off is left out)."""
        return [(x, y) for i, (x, y) in enumerate(self.points) if i != self.hidden]

    def curve(self, xs: np.ndarray) -> np.ndarray:
        return np.clip(curve_values(self.shown_points(), xs), self.lo, self.hi)

    def add_point(self, x: float, y: float) -> int:
        """Insert ``(x, y)`` (rounded, clipped) or move the point already at that x."""
        x, y = self.clamp(x), self.clamp(y)
        for i, p in enumerate(self.points):
            if p[0] == x:
                p[1] = y
                return i
        self.points.append([x, y])
        self.points.sort()
        return next(i for i, p in enumerate(self.points) if p[0] == x)

    def remove_point(self, i: int) -> bool:
        """Delete point ``i`` unless it is an end point."""
        if 0 < i < len(self.points) - 1:
            del self.points[i]
            self.selected = None
            self.selectionChanged.emit()
            self.update()
            return True
        return False

    def _move(self, i: int, x: float, y: float) -> None:
        """Move point ``i`` within its neighbours (x keeps the points' order)."""
        lo = self.points[i - 1][0] + 1 if i > 0 else self.lo
        hi = self.points[i + 1][0] - 1 if i < len(self.points) - 1 else self.hi
        self.points[i] = [float(min(hi, max(lo, round(x)))), self.clamp(y)]

    # -- geometry ---------------------------------------------------------------------
    def sizeHint(self) -> QSize:  # noqa: N802  (Qt override)
        return QSize(300, 300)

    def set_readout(self, text: str) -> None:
        if text != self.readout:
            self.readout = text
            self.update()

    def plot_rect(self) -> QRectF:
        m = self.MARGIN + 6  # room for the gradient bars below and left
        side = max(10.0, min(self.width(), self.height()) - m - self.MARGIN)
        left = m + max(0.0, (self.width() - m - self.MARGIN - side) / 2)
        return QRectF(left, self.MARGIN, side, side)

    def to_widget(self, x: float, y: float) -> QPointF:
        r = self.plot_rect()
        span = self.hi - self.lo
        return QPointF(r.left() + (x - self.lo) / span * r.width(),
                       r.bottom() - (y - self.lo) / span * r.height())

    def to_values(self, pos: QPointF) -> tuple[float, float]:
        r = self.plot_rect()
        span = self.hi - self.lo
        return (self.lo + (pos.x() - r.left()) / r.width() * span,
                self.lo + (r.bottom() - pos.y()) / r.height() * span)

    def hit(self, pos: QPointF) -> int | None:
        """The point within :data:`HIT_RADIUS` of ``pos`` (nearest), if any."""
        best, best_d = None, HIT_RADIUS ** 2
        for i, (x, y) in enumerate(self.points):
            c = self.to_widget(x, y)
            d = (c.x() - pos.x()) ** 2 + (c.y() - pos.y()) ** 2
            if d <= best_d:
                best, best_d = i, d
        return best

    def _far_outside(self, pos: QPointF) -> bool:
        r = self.plot_rect().adjusted(-DELETE_DISTANCE, -DELETE_DISTANCE,
                                      DELETE_DISTANCE, DELETE_DISTANCE)
        return not r.contains(pos)

    # -- painting ---------------------------------------------------------------------
    def paint_grid(self, p: QPainter, r: QRectF) -> None:
        p.setPen(QPen(QColor(255, 255, 255, 28), 1))
        for i in (1, 2, 3):
            x = r.left() + r.width() * i / 4
            y = r.top() + r.height() * i / 4
            p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
            p.drawLine(QPointF(r.left(), y), QPointF(r.right(), y))
        p.setPen(QPen(QColor(255, 255, 255, 45), 1, Qt.PenStyle.DashLine))
        p.drawLine(r.bottomLeft(), r.topRight())
        # input (below) and output (left) gradients, black to white
        below = QRectF(r.left(), r.bottom() + 3, r.width(), 5)
        g = QLinearGradient(below.topLeft(), below.topRight())
        g.setColorAt(0, QColor(0, 0, 0))
        g.setColorAt(1, QColor(255, 255, 255))
        p.fillRect(below, g)
        left = QRectF(r.left() - 8, r.top(), 5, r.height())
        g = QLinearGradient(left.bottomLeft(), left.topLeft())
        g.setColorAt(0, QColor(0, 0, 0))
        g.setColorAt(1, QColor(255, 255, 255))
        p.fillRect(left, g)

    def paint_over(self, p: QPainter, r: QRectF) -> None:
        xs = np.linspace(self.lo, self.hi, max(64, int(r.width())))
        ys = self.curve(xs)
        path = QPainterPath(self.to_widget(float(xs[0]), float(ys[0])))
        for x, y in zip(xs[1:], ys[1:], strict=True):
            path.lineTo(self.to_widget(float(x), float(y)))
        color = QColor(CHANNEL_COLORS.get(self.channel, CHANNEL_COLORS["all"]))
        p.setClipRect(r.adjusted(-1, -1, 1, 1))
        p.setPen(QPen(color.lighter(115), 2))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPath(path)
        p.setClipping(False)
        for i, (x, y) in enumerate(self.points):
            if i == self.hidden:
                continue
            c = self.to_widget(x, y)
            chosen = i == self.selected
            p.setPen(QPen(QColor(20, 20, 22), 1.5))
            p.setBrush(QColor(255, 255, 255) if chosen else QColor(200, 200, 200))
            side = 9 if chosen else 7
            p.drawRect(QRectF(c.x() - side / 2, c.y() - side / 2, side, side))
        if self.readout:
            font = p.font()
            font.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))
            p.setFont(font)
            fm = p.fontMetrics()
            w, h = fm.horizontalAdvance(self.readout) + 10, fm.height() + 4
            # the corner the curve leaves free: top-left for a rising curve, else
            # bottom-right (a falling one starts top-left)
            rising = self.curve(np.array([self.lo + 0.2 * (self.hi - self.lo)]))[0] \
                < self.lo + 0.6 * (self.hi - self.lo)
            box = QRectF(r.left() + 4, r.top() + 4, w, h) if rising else \
                QRectF(r.right() - 4 - w, r.bottom() - 4 - h, w, h)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(0, 0, 0, 150))
            p.drawRoundedRect(box, 3, 3)
            p.setPen(QColor(230, 230, 230))
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, self.readout)

    # -- input --------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:  # noqa: N802  (Qt override)
        if event.button() != Qt.MouseButton.LeftButton:
            return
        pos = event.position()
        i = self.hit(pos)
        self._moved = False
        if i is None:
            if not self.plot_rect().contains(pos):
                return
            i = self.add_point(*self.to_values(pos))
            self._moved = True
            self.edited.emit()
        self.selected = i
        c = self.to_widget(*self.points[i])
        self._grab = pos - c
        self._drag = True
        self.selectionChanged.emit()
        self.update()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802  (Qt override)
        pos = event.position()
        if not self._drag or self.selected is None:
            self.setCursor(Qt.CursorShape.SizeAllCursor if self.hit(pos) is not None
                           else Qt.CursorShape.CrossCursor)
            return
        i = self.selected
        end = i in (0, len(self.points) - 1)
        if not end and self._far_outside(pos):
            if self.hidden != i:
                self.hidden = i
                self._moved = True
                self.update()
                self.edited.emit()
            return
        back = self.hidden is not None  # dragged back onto the graph: the point returns
        self.hidden = None
        before = list(self.points[i])
        self._move(i, *self.to_values(pos - self._grab))
        if self.points[i] != before or back:
            self._moved = True
            self.update()
            self.edited.emit()
            self.selectionChanged.emit()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802  (Qt override)
        if event.button() != Qt.MouseButton.LeftButton or not self._drag:
            return
        self._drag = False
        if self.hidden is not None:
            i, self.hidden = self.hidden, None
            self.remove_point(i)
        if self._moved:
            self.finished.emit()
        self.update()

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802  (Qt override)
        i = self.hit(event.position())
        self._drag = False
        if i is not None and self.remove_point(i):
            self.edited.emit()
            self.finished.emit()

    def keyPressEvent(self, event) -> None:  # noqa: N802  (Qt override)
        i = self.selected
        key = event.key()
        if i is None:
            super().keyPressEvent(event)
            return
        if key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            if self.remove_point(i):
                self.edited.emit()
                self.finished.emit()
            return
        step = 10 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1
        dx, dy = {Qt.Key.Key_Left: (-step, 0), Qt.Key.Key_Right: (step, 0),
                  Qt.Key.Key_Up: (0, step), Qt.Key.Key_Down: (0, -step)}.get(key, (0, 0))
        if not (dx or dy):
            super().keyPressEvent(event)
            return
        before = list(self.points[i])
        self._move(i, before[0] + dx, before[1] + dy)
        if self.points[i] != before:
            self.update()
            self.edited.emit()
            self.finished.emit()
            self.selectionChanged.emit()

    def leaveEvent(self, event) -> None:  # noqa: N802  (Qt override)
        self.unsetCursor()
        super().leaveEvent(event)


@register_form("curves")
class CurvesForm(ToneForm):
    """Channel, presets and eyedropper around a :class:`CurveView`; the points as text."""

    def __init__(self, spec: OpSpec, parent: QWidget | None = None) -> None:
        super().__init__(spec, parent)
        self._points_param = spec.param("points")
        self.pick_button = eyedropper_button(
            None, "Eyedropper: while on, click the image to put a point at that pixel's "
            "value (its luma for RGB)", "curves_eyedropper")
        # presets in a menu (GIMP's and Photoshop's Preset list) keep the graph's row
        # count low, so the graph has the height a laptop's dock can give
        self.presets_button = QToolButton()
        self.presets_button.setText("Presets")
        self.presets_button.setObjectName("curves_presets")
        self.presets_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.presets_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.presets_button.setStyleSheet("QToolButton { padding: 4px 8px; border: 1px solid "
                                          "#46464b; border-radius: 4px; background: #38383c; }")
        menu = QMenu(self.presets_button)
        self.preset_actions: dict[str, QAction] = {}
        for label, fractions in PRESETS:
            action = menu.addAction(label)
            action.triggered.connect(lambda _=False, f=fractions: self.apply_preset(
                self.preset_points(f)))
            self.preset_actions[label] = action
        self.presets_button.setMenu(menu)
        top = QHBoxLayout()
        top.addWidget(QLabel("Channel"))
        top.addWidget(self.channel_combo, 1)
        top.addWidget(self.presets_button)
        top.addWidget(self.pick_button)

        self.view = CurveView()
        self.view.lo, self.view.hi = self._points_param.lo, self._points_param.hi
        self.view.setObjectName("curve_view")
        self.view.setToolTip("Click to add a point, drag to move it; drag it off the graph "
                             "or double-click it to delete it")

        self.text = QLineEdit()
        self.text.setObjectName("param_points")
        self.text.setToolTip("The points as x:y pairs (what the command line takes); "
                             "press Enter to apply")
        self.text.setPlaceholderText(self._points_param.hint)
        text_row = QHBoxLayout()
        text_row.addWidget(QLabel("Points"))
        text_row.addWidget(self.text, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addLayout(text_row)

        self.view.edited.connect(self._edited)
        self.view.finished.connect(self._commit)
        self.view.selectionChanged.connect(self._show_readout)
        self.text.editingFinished.connect(self._text_edited)
        self.set_params(spec.defaults())

    # -- protocol -------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return {"points": tuple(self.view.shown_points()),
                "channel": self.channel_combo.currentData()}

    def set_params(self, params: dict[str, Any]) -> None:
        if "points" in params:
            self.view.set_points(params["points"])
        if "channel" in params:
            self.show_channel(params["channel"])
        self._show_text()
        self._show_readout()

    def show_histogram(self, counts: np.ndarray, channel: str) -> None:
        self.view.set_histogram(counts, channel)

    # -- canvas (the Tools dock forwards the canvas's pointer) ----------------------------------
    def canvas_clicked(self, x: int, y: int) -> bool:
        """With the eyedropper on, put a point on the curve at the pixel's value."""
        if not self.pick_button.isChecked():
            return False
        v = picked_value(self._image, x, y, self.channel(), "luma")
        if v is None:
            return False
        self.view.selected = self.view.add_point(v, float(self.view.curve(np.array([v]))[0]))
        self.view.update()
        self._edited()
        self._commit()
        return True

    def canvas_hovered(self, x: int, y: int) -> None:
        """Mark the value of the pixel under the pointer on the graph."""
        self.view.set_marker(picked_value(self._image, x, y, self.channel(), "luma"))
        self._show_readout()

    # -- editing ------------------------------------------------------------------------------
    def preset_points(self, fractions) -> list[tuple[float, float]]:
        """A preset's points in the op's units (whole levels over the points' range)."""
        lo, hi = self._points_param.lo, self._points_param.hi
        return [(float(round(lo + fx * (hi - lo))), float(round(lo + fy * (hi - lo))))
                for fx, fy in fractions]

    def apply_preset(self, points) -> None:
        self.view.set_points(points)
        self._edited()
        self._commit()

    def _edited(self) -> None:
        self._show_text()
        self._show_readout()
        self._changed()

    def _show_text(self) -> None:
        self.text.setStyleSheet("")
        self.text.setText(self._points_param.format(self.view.shown_points(), spaced=True))

    def _text_edited(self) -> None:
        try:
            points = self._points_param.validate(self._points_param.parse(self.text.text()))
            curve_values(points, np.zeros(1))  # two distinct x at least
        except ParamError as e:
            self.text.setStyleSheet("border: 1px solid #d05050;")
            self.text.setToolTip(str(e))
            return
        if sorted(points) == sorted(self.view.shown_points()):
            return
        self.text.setToolTip("The points as x:y pairs (what the command line takes)")
        self.view.set_points(points)
        self._edited()
        self._commit()

    def _show_readout(self) -> None:
        v = self.view
        if v.selected is not None and v.selected < len(v.points) and v.hidden is None:
            x, y = v.points[v.selected]
            v.set_readout(f"In {x:.0f}  →  Out {y:.0f}")
        elif v.marker is not None:
            out = float(v.curve(np.array([v.marker]))[0])
            v.set_readout(f"Pixel {v.marker:.0f}  →  {out:.0f}")
        else:
            v.set_readout("")
