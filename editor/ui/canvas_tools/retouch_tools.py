"""Clone stamp (S) and heal brush (J): brush strokes recorded as op parameters.

While the button is held the tool only records the stroke's path and draws it
(the brush outline, the path at the brush's width, the clone source's
crosshair): nothing is computed on the GUI thread. On release the whole stroke
is committed as ONE undo step through the pipeline: ``clone`` or ``heal``
(:mod:`editor.ops.brush`) with the path as ``points``, so recipes replay it.

Clone stamp: Alt-click (or Ctrl-click, as in GIMP) sets the source; the offset
from the first painted point to the source is then kept for every later
stroke (GIMP's "aligned" mode) until the next Alt-click. ``[`` and ``]``
change the brush size.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from editor.ui.canvas_tools import CanvasTool, register_tool
from editor.ui.canvas_tools.icons import painted_icon

#: ``[`` / ``]`` change the size by this factor (at least one pixel)
SIZE_STEP = 1.2
MAX_SIZE = 2000

HEAL_METHODS = (("Telea (thin areas)", "telea"), ("Navier–Stokes (thin areas)", "navier_stokes"),
                ("Exemplar (large areas)", "exemplar"))


def to_op_point(pos: QPointF) -> tuple[float, float]:
    """A canvas image point as brush-op coordinates (pixel centres at integers)."""
    return (round(pos.x() - 0.5, 2), round(pos.y() - 0.5, 2))


class BrushTool(CanvasTool):
    """A round brush whose stroke is committed on release (shared by clone and heal)."""

    op = ""
    step_title = ""
    size = 30
    hardness = 0.6
    opacity = 1.0
    stroke_color = QColor(255, 255, 255, 70)

    def __init__(self) -> None:
        super().__init__()
        self.stroke: list[QPointF] = []  # image coordinates of the stroke being drawn
        self.pending: dict[int, tuple[list[QPointF], float]] = {}  # committed, not landed
        self.pointer: QPointF | None = None
        self._listening = None
        self._layer: QImage | None = None  # the strokes drawn so far (see _stroke_layer)
        self._layer_key: tuple | None = None
        self._drawn: dict[int, int] = {}

    def activate(self, canvas, controller) -> None:
        super().activate(canvas, controller)
        if self._listening is not controller:
            controller.requestFinished.connect(self._finished)
            self._listening = controller

    def reset(self) -> None:
        self.stroke = []
        self.pending.clear()
        self._layer = None
        self.update()

    def deactivate(self) -> None:
        self.stroke = []
        self.pointer = None
        super().deactivate()

    # -- pointer -----------------------------------------------------------------------
    def can_paint(self, pos: QPointF, event) -> bool:
        """False to refuse a stroke starting here (the clone stamp without a source)."""
        return True

    def press(self, pos: QPointF, event) -> None:
        self.pointer = QPointF(pos)
        if not self.can_paint(pos, event):
            return
        self.stroke = [QPointF(pos)]
        self._layer = None  # a new stroke: the layer is rebuilt from what is shown
        self.update()

    def move(self, pos: QPointF, event) -> None:
        self.pointer = QPointF(pos)
        if self.stroke:
            last = self.stroke[-1]
            # one point per image pixel and per two screen pixels: enough for the path
            zoom = self.canvas.zoom if self.canvas is not None else 1.0
            if math.hypot(pos.x() - last.x(), pos.y() - last.y()) >= max(1.0, 2.0 / zoom):
                self.stroke.append(QPointF(pos))
        self.update()

    def release(self, pos: QPointF, event) -> None:
        if not self.stroke:
            return
        self.move(pos, event)
        stroke, self.stroke = self.stroke, []
        req = self.controller.apply_op(self.op, self.params([to_op_point(p) for p in stroke]),
                                       title=self.step_title)
        if req is not None and req.outcome is None:
            self.pending[id(req)] = (stroke, float(self.size))
        self.update()

    def hover(self, pos: QPointF, event) -> None:
        self.pointer = QPointF(pos)
        self.update()

    def params(self, points: list[tuple[float, float]]) -> dict:
        """The op's parameters for a stroke along ``points``."""
        raise NotImplementedError

    def _finished(self, req) -> None:
        if self.pending.pop(id(req), None) is not None:
            self._layer = None
            self.update()

    # -- keys ---------------------------------------------------------------------------
    def key_press(self, event) -> bool:
        if event.key() == Qt.Key.Key_BracketRight:
            self.set_size(max(self.size + 1, round(self.size * SIZE_STEP)))
            return True
        if event.key() == Qt.Key.Key_BracketLeft:
            self.set_size(min(self.size - 1, round(self.size / SIZE_STEP)))
            return True
        return False

    def set_size(self, size: int) -> None:
        self.size = int(min(max(1, size), MAX_SIZE))
        if self._options is not None:
            self.size_spin.blockSignals(True)
            self.size_spin.setValue(self.size)
            self.size_spin.blockSignals(False)
        self.update()

    # -- drawing --------------------------------------------------------------------------
    def paint(self, painter: QPainter, canvas) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        strokes = [(s, size) for s, size in self.pending.values()]
        if self.stroke:
            strokes.append((self.stroke, float(self.size)))
        if strokes:
            layer = self._stroke_layer(canvas, strokes)
            painter.save()
            painter.setOpacity(self.stroke_color.alphaF())
            painter.drawImage(0, 0, layer)
            painter.restore()
        if self.pointer is not None:
            c = canvas.to_widget(self.pointer)
            r = max(1.0, self.size * canvas.zoom / 2)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(QColor(0, 0, 0, 200), 3.0))
            painter.drawEllipse(c, r, r)
            painter.setPen(QPen(QColor(255, 255, 255), 1.0))
            painter.drawEllipse(c, r, r)
            if self.hardness < 1.0:  # the hard core, dashed
                pen = QPen(QColor(255, 255, 255, 150), 1.0)
                pen.setDashPattern([3.0, 3.0])
                painter.setPen(pen)
                painter.drawEllipse(c, r * self.hardness, r * self.hardness)

    def _stroke_layer(self, canvas, strokes: list[tuple[list[QPointF], float]]) -> QImage:
        """The strokes at the brush's width, drawn opaque into a widget-sized layer.

        The layer is kept while the view stays put, and each paint adds only the
        segments recorded since the last one, so a long stroke costs the same per
        mouse move as a short one (redrawing a 2000-point path with a 150 px round
        pen took ~50 ms; one more segment takes well under a millisecond).
        """
        dpr = canvas.devicePixelRatioF()
        key = (canvas.zoom, canvas.center.x(), canvas.center.y(), canvas.width(),
               canvas.height(), dpr, tuple(id(s) for s, _size in strokes[:-1]))
        if self._layer is None or key != self._layer_key:
            self._layer = QImage(round(canvas.width() * dpr), round(canvas.height() * dpr),
                                 QImage.Format.Format_ARGB32_Premultiplied)
            self._layer.setDevicePixelRatio(dpr)
            self._layer.fill(Qt.GlobalColor.transparent)
            self._layer_key = key
            self._drawn = {}
        colour = QColor(self.stroke_color)
        colour.setAlpha(255)  # overlaps stay one shade: the layer is blended once
        p = QPainter(self._layer)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for stroke, size in strokes:
            done = self._drawn.get(id(stroke), 0)
            if done >= len(stroke):
                continue
            pen = QPen(colour, max(1.0, size * canvas.zoom))
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            p.setPen(pen)
            if len(stroke) == 1:
                pt = canvas.to_widget(stroke[0])
                p.drawLine(pt, pt + QPointF(0.01, 0))
            for k in range(max(1, done), len(stroke)):
                p.drawLine(canvas.to_widget(stroke[k - 1]), canvas.to_widget(stroke[k]))
            self._drawn[id(stroke)] = len(stroke)
        p.end()
        return self._layer

    # -- options bar ----------------------------------------------------------------------
    def _brush_options(self, row: QHBoxLayout, opacity: bool) -> None:
        row.addWidget(QLabel("Size:"))
        self.size_spin = QSpinBox()
        self.size_spin.setObjectName(f"{self.name}_size")
        self.size_spin.setRange(1, MAX_SIZE)
        self.size_spin.setSuffix(" px")
        self.size_spin.setValue(self.size)
        self.size_spin.setToolTip("Brush diameter ([ and ] change it)")
        self.size_spin.valueChanged.connect(self.set_size)
        row.addWidget(self.size_spin)
        row.addWidget(QLabel("Hardness:"))
        self.hardness_spin = QSpinBox()
        self.hardness_spin.setObjectName(f"{self.name}_hardness")
        self.hardness_spin.setRange(0, 100)
        self.hardness_spin.setSuffix(" %")
        self.hardness_spin.setValue(round(self.hardness * 100))
        self.hardness_spin.valueChanged.connect(lambda v: self._set("hardness", v / 100))
        row.addWidget(self.hardness_spin)
        if opacity:
            row.addWidget(QLabel("Opacity:"))
            self.opacity_spin = QSpinBox()
            self.opacity_spin.setObjectName(f"{self.name}_opacity")
            self.opacity_spin.setRange(0, 100)
            self.opacity_spin.setSuffix(" %")
            self.opacity_spin.setValue(round(self.opacity * 100))
            self.opacity_spin.valueChanged.connect(lambda v: self._set("opacity", v / 100))
            row.addWidget(self.opacity_spin)

    def _set(self, attr: str, value: float) -> None:
        setattr(self, attr, value)
        self.update()


def _clone_icon():
    def draw(p: QPainter, pen: QPen) -> None:
        p.drawEllipse(QPointF(11, 20), 6, 6)
        p.drawLine(QPointF(20, 4), QPointF(20, 14))
        p.drawLine(QPointF(15, 9), QPointF(25, 9))
        p.drawRect(QRectF(17, 18, 10, 9))
    return painted_icon(draw)


def _heal_icon():
    def draw(p: QPainter, pen: QPen) -> None:
        p.save()
        p.translate(16, 16)
        p.rotate(-45)
        p.drawRoundedRect(QRectF(-12, -5, 24, 10), 4, 4)
        p.drawLine(QPointF(-4, -5), QPointF(-4, 5))
        p.drawLine(QPointF(4, -5), QPointF(4, 5))
        p.restore()
    return painted_icon(draw)


@register_tool
class CloneTool(BrushTool):
    """Clone stamp: Alt-click sets the source, painting copies from the offset."""

    name = "clone"
    title = "Clone Stamp"
    shortcut = "S"
    order = 60
    op = "clone"
    step_title = "Clone Stamp"
    tooltip = ("Alt-click (or Ctrl-click) sets the source; paint to copy from it "
               "(one undo step per stroke).")
    stroke_color = QColor(120, 200, 255, 80)

    def __init__(self) -> None:
        super().__init__()
        self.source: QPointF | None = None  # where the source was Alt-clicked
        self.offset: tuple[int, int] | None = None  # source - painted point, once painted

    def icon(self):
        return _clone_icon()

    def reset(self) -> None:
        self.source = None
        self.offset = None
        super().reset()

    def can_paint(self, pos: QPointF, event) -> bool:
        # Alt-click as in Photoshop; Ctrl-click as in GIMP (desktops that move windows
        # on Alt+drag never pass Alt-clicks on)
        if event.modifiers() & (Qt.KeyboardModifier.AltModifier
                                | Qt.KeyboardModifier.ControlModifier):
            self.source = QPointF(pos)
            self.offset = None  # fixed at the next stroke's first dab
            self.controller.message.emit("Clone source set: paint where it should be copied.")
            self.update()
            return False
        if self.source is None:
            self.controller.message.emit("Alt-click to set the clone source first.")
            return False
        if self.offset is None:
            self.offset = (round(self.source.x() - pos.x()), round(self.source.y() - pos.y()))
        return True

    def params(self, points):
        dx, dy = self.offset
        return {"points": points, "size": float(self.size), "hardness": self.hardness,
                "opacity": self.opacity, "dx": dx, "dy": dy}

    def source_point(self) -> QPointF | None:
        """Where the source crosshair is drawn: under the pointer plus the offset."""
        if self.offset is not None and self.pointer is not None:
            return self.pointer + QPointF(*self.offset)
        return self.source

    def paint(self, painter: QPainter, canvas) -> None:
        super().paint(painter, canvas)
        src = self.source_point()
        if src is None:
            return
        c = canvas.to_widget(src)
        r = max(1.0, self.size * canvas.zoom / 2)
        for pen in (QPen(QColor(0, 0, 0, 200), 3.0), QPen(QColor(120, 200, 255), 1.0)):
            painter.setPen(pen)
            painter.drawLine(c - QPointF(r + 6, 0), c + QPointF(r + 6, 0))
            painter.drawLine(c - QPointF(0, r + 6), c + QPointF(0, r + 6))
        pen = QPen(QColor(120, 200, 255), 1.0)
        pen.setDashPattern([4.0, 3.0])
        painter.setPen(pen)
        painter.drawEllipse(c, r, r)

    def create_options(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        self._brush_options(row, opacity=True)
        hint = QLabel("Alt- or Ctrl-click sets the source")
        hint.setStyleSheet("color: palette(mid);")
        row.addWidget(hint)
        return box


@register_tool
class HealTool(BrushTool):
    """Heal brush: paint over a blemish; it is filled from its surroundings."""

    name = "heal"
    title = "Heal Brush"
    shortcut = "J"
    order = 61
    op = "heal"
    step_title = "Heal"
    size = 20
    hardness = 0.8
    tooltip = "Paint over a blemish, a wire or a small object to fill it from around it."
    stroke_color = QColor(255, 90, 90, 90)

    def __init__(self) -> None:
        super().__init__()
        self.method = "telea"

    def icon(self):
        return _heal_icon()

    def params(self, points):
        return {"points": points, "size": float(self.size), "hardness": self.hardness,
                "method": self.method}

    def set_method(self, method: str) -> None:
        self.method = method
        if self._options is not None:
            i = [m for _t, m in HEAL_METHODS].index(method)
            self.method_box.setCurrentIndex(i)

    def create_options(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        self._brush_options(row, opacity=False)
        row.addWidget(QLabel("Fill:"))
        self.method_box = QComboBox()
        self.method_box.setObjectName("heal_method")
        for text, _m in HEAL_METHODS:
            self.method_box.addItem(text)
        self.method_box.setCurrentIndex([m for _t, m in HEAL_METHODS].index(self.method))
        self.method_box.currentIndexChanged.connect(
            lambda i: setattr(self, "method", HEAL_METHODS[i][1]))
        row.addWidget(self.method_box)
        return box
