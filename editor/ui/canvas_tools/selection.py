"""Selection tools: rectangle and ellipse (M), lassos (L), magic wand (W), colour range.

Every tool commits through ``controller.select(op, params, title)``: one undo
step named after the tool ("Ellipse Select"), replayable from the recipe. The
mode a shape meets the current selection with comes from the modifiers held
at the press (Shift adds, Alt or Ctrl subtracts, Shift with either intersects,
as in GIMP), else from the mode buttons of the options bar.

Rectangle and ellipse also show **handles** on the selection's bounding box:
dragging a side or corner handle scales the selection about the opposite side,
dragging the centre handle (or Ctrl+Alt+drag inside the selection, GIMP's keys)
moves it (``select_transform``, "Move Selection" / "Scale Selection"); a click
without a drag deselects.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPolygonF, QTransform
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QToolButton,
    QWidget,
)

from editor.ui.canvas_tools import CanvasTool, register_tool
from editor.ui.canvas_tools.icons import dashed, painted_icon

MODES = ("replace", "add", "subtract", "intersect")
MODE_LABELS = {"replace": ("Replace", "new selection"),
               "add": ("Add", "Shift"),
               "subtract": ("Subtract", "Alt or Ctrl"),
               "intersect": ("Intersect", "Shift+Alt or Shift+Ctrl")}
#: widget px a press may move and still be a click
CLICK_SLOP = 3
#: handle half-size and grab distance (widget px)
HANDLE = 4
GRAB = 7


def mode_from_modifiers(mods, default: str = "replace") -> str:
    """The combine mode the held modifiers ask for (GIMP's keys; Alt as Photoshop's)."""
    shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
    sub = bool(mods & (Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.ControlModifier))
    if shift and sub:
        return "intersect"
    if shift:
        return "add"
    if sub:
        return "subtract"
    return default


def ants_pens(phase: float = 0.0) -> tuple[QPen, QPen]:
    """White under black dashes: visible on any image (rubber bands, outlines)."""
    white = QPen(QColor(255, 255, 255), 1)
    black = QPen(QColor(0, 0, 0), 1)
    black.setDashPattern([4.0, 4.0])
    black.setDashOffset(phase)
    return white, black


def draw_ants(p: QPainter, draw) -> None:
    """Call ``draw()`` twice, with the white and the dashed black pen."""
    p.setBrush(Qt.BrushStyle.NoBrush)
    for pen in ants_pens():
        p.setPen(pen)
        draw()


class SelectTool(CanvasTool):
    """Shared by the selection tools: mode buttons, antialias, committing."""

    order = 10
    antialias_option = True

    def __init__(self) -> None:
        super().__init__()
        self.mode = "replace"  # the options bar's mode
        self.antialias = True
        self.pending: QPainterPath | None = None  # the committed shape until it lands
        self._request = None

    # -- options ----------------------------------------------------------------------
    def create_options(self) -> QWidget:
        w = QWidget()
        # the chosen mode must read at a glance (Fusion's checked tool button barely shows)
        w.setStyleSheet("QToolButton { padding: 2px 8px; }"
                        "QToolButton:checked { background: #3a6ea5; color: white;"
                        " border: 1px solid #5b8fc7; border-radius: 3px; }")
        row = QHBoxLayout(w)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        row.addWidget(QLabel("Mode:"))
        self.mode_group = QButtonGroup(w)
        self.mode_group.setExclusive(True)
        self.mode_buttons: dict[str, QToolButton] = {}
        for m in MODES:
            text, keys = MODE_LABELS[m]
            b = QToolButton()
            b.setObjectName(f"mode_{m}")
            b.setText(text)
            b.setCheckable(True)
            b.setToolTip(f"{text} ({keys})")
            b.setChecked(m == self.mode)
            b.toggled.connect(lambda on, m=m: on and setattr(self, "mode", m))
            self.mode_group.addButton(b)
            self.mode_buttons[m] = b
            row.addWidget(b)
        if self.antialias_option:
            row.addSpacing(10)
            self.antialias_box = QCheckBox("Antialiasing")
            self.antialias_box.setChecked(self.antialias)
            self.antialias_box.setToolTip("Soft edge pixels: each gets the fraction of its "
                                          "area inside the shape")
            self.antialias_box.toggled.connect(lambda on: setattr(self, "antialias", on))
            row.addWidget(self.antialias_box)
        self.add_options(row)
        row.addStretch(1)
        return w

    def add_options(self, row: QHBoxLayout) -> None:
        """More options after the mode buttons (subclasses)."""

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.options_widget()
        self.mode_buttons[mode].setChecked(True)

    # -- committing ---------------------------------------------------------------------
    def commit(self, op: str, params: dict, title: str, shape: QPainterPath | None = None):
        """Change the selection with ``op`` (one undo step titled ``title``)."""
        if self.controller is None or self.controller.document is None:
            return None
        req = self.controller.select(op, params, title)
        if req is not None and shape is not None:
            self.pending, self._request = shape, req
            self.controller.requestFinished.connect(self._finished)
        self.update()
        return req

    def _finished(self, req) -> None:
        if req is self._request:
            self.controller.requestFinished.disconnect(self._finished)
            self.pending, self._request = None, None
            self.update()

    def paint_pending(self, p: QPainter, canvas) -> None:
        if self.pending is not None and self.pending.elementCount():
            t = image_to_widget(canvas)
            path = t.map(self.pending)
            draw_ants(p, lambda: p.drawPath(path))

    def deactivate(self) -> None:
        if self._request is not None:
            try:
                self.controller.requestFinished.disconnect(self._finished)
            except (RuntimeError, TypeError):
                pass
        self.pending, self._request = None, None
        super().deactivate()

    def reset(self) -> None:
        self.pending = None

    def image_size(self) -> tuple[int, int] | None:
        return None if self.canvas is None else self.canvas.image_size()


def image_to_widget(canvas) -> QTransform:
    z = canvas.zoom
    return QTransform(z, 0, 0, z, canvas.width() / 2 - canvas.center.x() * z,
                      canvas.height() / 2 - canvas.center.y() * z)


# -- rectangle and ellipse ---------------------------------------------------------------

class ShapeSelectTool(SelectTool):
    """Drag a box; handles move and scale the selection (see the module docstring)."""

    shortcut = "M"
    op = "select_rect"

    def __init__(self) -> None:
        super().__init__()
        self.drag: str | None = None  # "new", "move", or a handle: "n", "se", ...
        self.start = QPointF()
        self.now = QPointF()
        self.press_widget = QPointF()
        self.drag_mode = "replace"
        self.box: tuple[float, float, float, float] | None = None  # handles' bbox at press

    def shape_path(self, rect: QRectF) -> QPainterPath:
        path = QPainterPath()
        path.addRect(rect)
        return path

    def _rect(self) -> QRectF:
        return QRectF(self.start, self.now).normalized()

    # handles on the selection's bounding box (from the traced outline)
    def selection_box(self) -> tuple[float, float, float, float] | None:
        ants = getattr(self.canvas, "ants", None) if self.canvas is not None else None
        if ants is None or ants.mask is None or not ants.ready():
            return None
        return ants.bbox()

    def handles(self) -> dict[str, QPointF]:
        """Handle name -> widget position (none without a selection)."""
        box = self.selection_box()
        if box is None or self.canvas is None:
            return {}
        x0, y0, x1, y1 = box
        xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
        pts = {"nw": (x0, y0), "n": (xm, y0), "ne": (x1, y0), "e": (x1, ym),
               "se": (x1, y1), "s": (xm, y1), "sw": (x0, y1), "w": (x0, ym),
               "move": (xm, ym)}
        return {k: self.canvas.to_widget(QPointF(*v)) for k, v in pts.items()}

    def handle_at(self, widget_pos: QPointF) -> str | None:
        best, dist = None, GRAB
        for name, hp in self.handles().items():
            d = max(abs(hp.x() - widget_pos.x()), abs(hp.y() - widget_pos.y()))
            if d <= dist:
                best, dist = name, d
        return best

    def inside_selection(self, pos: QPointF) -> bool:
        ants = getattr(self.canvas, "ants", None)
        mask = None if ants is None else ants.mask
        if mask is None:
            return False
        col, row = math.floor(pos.x()), math.floor(pos.y())
        return 0 <= row < mask.shape[0] and 0 <= col < mask.shape[1] and mask[row, col] >= 0.5

    def press(self, pos, event) -> None:
        if self.canvas is None or self.canvas.image_size() is None:
            return
        self.start = self.now = QPointF(pos)
        self.press_widget = event.position()
        mods = event.modifiers()
        handle = self.handle_at(event.position())
        plain = mode_from_modifiers(mods, "") == ""
        ctrl_alt = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
        if handle is not None and plain:
            self.drag, self.box = handle, self.selection_box()
        elif (mods & ctrl_alt) == ctrl_alt and self.inside_selection(pos):
            # GIMP's Ctrl+Alt drag moves the selection from anywhere inside it
            self.drag, self.box = "move", self.selection_box()
        else:
            self.drag = "new"
            self.drag_mode = mode_from_modifiers(mods, self.mode)
        self.update()

    def move(self, pos, event) -> None:
        if self.drag is None:
            return
        self.now = QPointF(pos)
        ants = getattr(self.canvas, "ants", None)
        if self.drag != "new" and ants is not None:
            ants.preview = self._transform_matrix()
        self.update()

    def release(self, pos, event) -> None:
        if self.drag is None:
            return
        self.now = QPointF(pos)
        drag, self.drag = self.drag, None
        ants = getattr(self.canvas, "ants", None)
        if ants is not None:
            ants.preview = None
        moved = (event.position() - self.press_widget).manhattanLength() > CLICK_SLOP
        if drag == "new":
            if not moved:
                # a click: GIMP and Photoshop deselect
                if self.drag_mode == "replace" and self.controller.has_selection():
                    self.commit("select_none", {}, "Select None")
                self.update()
                return
            r = self._rect()
            self.commit(self.op, {"x": r.x(), "y": r.y(), "width": r.width(),
                                  "height": r.height(), "mode": self.drag_mode,
                                  "antialias": self.antialias},
                        self.title, self.shape_path(r))
        elif moved:
            params = self._transform_params(drag)
            title = "Move Selection" if drag == "move" else "Scale Selection"
            if params is not None:
                self.commit("select_transform", params, title)
        self.update()

    def _transform_params(self, drag: str) -> dict | None:
        box = self.box
        if box is None:
            return None
        d = self.now - self.start
        if drag == "move":
            # whole pixels keep a crisp selection crisp
            return {"dx": float(round(d.x())), "dy": float(round(d.y())),
                    "scale_x": 1.0, "scale_y": 1.0, "cx": 0.0, "cy": 0.0}
        x0, y0, x1, y1 = box
        w, h = max(1e-6, x1 - x0), max(1e-6, y1 - y0)
        sx = sy = 1.0
        cx, cy = x0, y0
        if "e" in drag:
            sx, cx = (x1 + d.x() - x0) / w, x0
        if "w" in drag:
            sx, cx = (x1 - (x0 + d.x())) / w, x1
        if "s" in drag:
            sy, cy = (y1 + d.y() - y0) / h, y0
        if "n" in drag:
            sy, cy = (y1 - (y0 + d.y())) / h, y1
        if abs(sx) < 1e-3 or abs(sy) < 1e-3:
            return None
        return {"dx": 0.0, "dy": 0.0, "scale_x": sx, "scale_y": sy, "cx": cx, "cy": cy}

    def _transform_matrix(self) -> QTransform | None:
        p = self._transform_params(self.drag) if self.drag not in (None, "new") else None
        if p is None:
            return None
        sx, sy, cx, cy = p["scale_x"], p["scale_y"], p["cx"], p["cy"]
        # x' = cx + (x - cx) * sx + dx
        return QTransform(sx, 0, 0, sy, cx - cx * sx + p["dx"], cy - cy * sy + p["dy"])

    def hover(self, pos, event) -> None:
        if self.canvas is None:
            return
        handle = self.handle_at(event.position())
        cursors = {"n": Qt.CursorShape.SizeVerCursor, "s": Qt.CursorShape.SizeVerCursor,
                   "e": Qt.CursorShape.SizeHorCursor, "w": Qt.CursorShape.SizeHorCursor,
                   "nw": Qt.CursorShape.SizeFDiagCursor, "se": Qt.CursorShape.SizeFDiagCursor,
                   "ne": Qt.CursorShape.SizeBDiagCursor, "sw": Qt.CursorShape.SizeBDiagCursor}
        cursors["move"] = Qt.CursorShape.SizeAllCursor
        if handle is not None:
            self._cursor = cursors[handle]
        else:
            self._cursor = self.cursor

    def pointer_cursor(self):
        return getattr(self, "_cursor", self.cursor)

    def claims_key(self, event) -> bool:
        return event.key() == Qt.Key.Key_Escape and self.drag is not None

    def key_press(self, event) -> bool:
        if event.key() == Qt.Key.Key_Escape and self.drag is not None:
            self.drag = None
            ants = getattr(self.canvas, "ants", None)
            if ants is not None:
                ants.preview = None
            self.update()
            return True
        return False

    def paint(self, p: QPainter, canvas) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.paint_pending(p, canvas)
        if self.drag == "new":
            r = self._rect()
            path = image_to_widget(canvas).map(self.shape_path(r))
            draw_ants(p, lambda: p.drawPath(path))
            self._size_label(p, canvas, r)
            return
        if self.pending is not None:
            return
        hs = self.handles()
        if not hs:
            return
        if self.drag is not None:  # moving: handles follow the transformed box
            t = self._transform_matrix()
            if t is not None:
                box = self.box
                r = t.mapRect(QRectF(QPointF(box[0], box[1]), QPointF(box[2], box[3])))
                tl, br = canvas.to_widget(r.topLeft()), canvas.to_widget(r.bottomRight())
                p.setPen(QPen(QColor(255, 255, 255, 160), 1, Qt.PenStyle.DashLine))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(QRectF(tl, br))
            return
        p.setPen(QPen(QColor(0, 0, 0), 1))
        p.setBrush(QColor(255, 255, 255))
        centre = hs.pop("move")
        for hp in hs.values():
            p.drawRect(QRectF(hp.x() - HANDLE, hp.y() - HANDLE, 2 * HANDLE, 2 * HANDLE))
        # the move handle: a circle with a cross
        p.drawEllipse(centre, HANDLE + 2, HANDLE + 2)
        p.drawLine(centre - QPointF(HANDLE, 0), centre + QPointF(HANDLE, 0))
        p.drawLine(centre - QPointF(0, HANDLE), centre + QPointF(0, HANDLE))

    def _size_label(self, p: QPainter, canvas, r: QRectF) -> None:
        canvas.label(p, canvas.to_widget(r.bottomRight()) + QPointF(8, 8),
                     f"{r.width():.0f} × {r.height():.0f}")


@register_tool
class RectSelectTool(ShapeSelectTool):
    name = "rect_select"
    title = "Rectangle Select"
    order = 10
    op = "select_rect"
    tooltip = "Drag a rectangle; Shift adds, Alt subtracts, Shift+Alt intersects."

    def icon(self):
        return painted_icon(lambda p, pen: (p.setPen(dashed(pen)), p.drawRect(6, 8, 20, 16)))


@register_tool
class EllipseSelectTool(ShapeSelectTool):
    name = "ellipse_select"
    title = "Ellipse Select"
    order = 11
    op = "select_ellipse"
    tooltip = "Drag the box of an ellipse; Shift adds, Alt subtracts, Shift+Alt intersects."

    def shape_path(self, rect: QRectF) -> QPainterPath:
        path = QPainterPath()
        path.addEllipse(rect)
        return path

    def icon(self):
        return painted_icon(lambda p, pen: (p.setPen(dashed(pen)),
                                            p.drawEllipse(5, 8, 22, 16)))


# -- lassos ----------------------------------------------------------------------------------

class LassoBase(SelectTool):
    shortcut = "L"
    op = "select_polygon"

    def __init__(self) -> None:
        super().__init__()
        self.points: list[QPointF] = []
        self.hover_at: QPointF | None = None
        self.drag_mode = "replace"

    def close(self) -> None:
        """Commit the polygon (three points or more), else drop it."""
        pts, self.points, self.hover_at = self.points, [], None
        if len(pts) >= 3:
            path = QPainterPath()
            path.addPolygon(QPolygonF(pts))
            path.closeSubpath()
            self.commit(self.op, {"points": [(round(q.x(), 3), round(q.y(), 3)) for q in pts],
                                  "mode": self.drag_mode, "antialias": self.antialias},
                        self.title, path)
        self.update()

    def cancel(self) -> None:
        self.points, self.hover_at = [], None
        self.update()

    def deactivate(self) -> None:
        self.cancel()
        super().deactivate()

    def reset(self) -> None:
        self.points, self.hover_at = [], None
        super().reset()

    def claims_key(self, event) -> bool:
        return bool(self.points) and event.key() in (
            Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Backspace)

    def key_press(self, event) -> bool:
        if not self.points:
            return False
        k = event.key()
        if k == Qt.Key.Key_Escape:
            self.cancel()
        elif k in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.close()
        elif k == Qt.Key.Key_Backspace:
            self.points.pop()
            self.update()
        else:
            return False
        return True

    def paint(self, p: QPainter, canvas) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.paint_pending(p, canvas)
        if not self.points:
            return
        pts = [canvas.to_widget(q) for q in self.points]
        if self.hover_at is not None:
            pts.append(canvas.to_widget(self.hover_at))
        poly = QPolygonF(pts)
        draw_ants(p, lambda: p.drawPolyline(poly))
        if self.hover_at is not None and len(self.points) >= 2:
            # the closing edge, faint
            p.setPen(QPen(QColor(255, 255, 255, 90), 1, Qt.PenStyle.DashLine))
            p.drawLine(pts[-1], pts[0])


@register_tool
class LassoTool(LassoBase):
    """Freehand lasso: drag around the area; releasing closes it."""

    name = "lasso"
    title = "Lasso Select"
    order = 20
    tooltip = "Drag around an area; releasing closes the outline."

    def press(self, pos, event) -> None:
        self.drag_mode = mode_from_modifiers(event.modifiers(), self.mode)
        self.points = [QPointF(pos)]
        self._last = event.position()
        self.update()

    def move(self, pos, event) -> None:
        if not self.points:
            return
        # a point every 2 screen pixels: smooth at any zoom, not one per mouse event
        if (event.position() - self._last).manhattanLength() >= 2:
            self.points.append(QPointF(pos))
            self._last = event.position()
            self.update()

    def release(self, pos, event) -> None:
        if self.points:
            self.points.append(QPointF(pos))
            self.close()

    def icon(self):
        def draw(p, pen):
            path = QPainterPath(QPointF(8, 20))
            path.cubicTo(2, 6, 28, 2, 26, 16)
            path.cubicTo(25, 24, 14, 24, 12, 21)
            p.setPen(dashed(pen))
            p.drawPath(path)
            p.setPen(pen)
            p.drawLine(QPointF(12, 21), QPointF(10, 29))
        return painted_icon(draw)


@register_tool
class PolygonLassoTool(LassoBase):
    """Polygonal lasso: click the corners; double-click, Enter or the first point closes."""

    name = "polygon_lasso"
    title = "Polygonal Lasso"
    order = 21
    tooltip = ("Click the corners; double-click, Enter or a click on the first point closes; "
               "Backspace removes the last point, Esc cancels.")

    def press(self, pos, event) -> None:
        if not self.points:
            self.drag_mode = mode_from_modifiers(event.modifiers(), self.mode)
        elif len(self.points) >= 3:
            first = self.canvas.to_widget(self.points[0])
            if (first - event.position()).manhattanLength() <= GRAB:
                self.close()
                return
        self.points.append(QPointF(pos))
        self.update()

    def double_click(self, pos, event) -> None:
        # a double click's first press placed its point already (when the system sent it)
        last = self.canvas.to_widget(self.points[-1]) if self.points else None
        if last is None or (last - event.position()).manhattanLength() > GRAB:
            self.points.append(QPointF(pos))
        self.close()

    def hover(self, pos, event) -> None:
        if self.points:
            self.hover_at = QPointF(pos)
            self.update()

    def icon(self):
        def draw(p, pen):
            p.setPen(dashed(pen))
            p.drawPolygon(QPolygonF([QPointF(5, 24), QPointF(10, 6), QPointF(27, 11),
                                     QPointF(20, 26)]))
        return painted_icon(draw)


# -- clicks: magic wand and colour range ----------------------------------------------------------

class ClickSelectTool(SelectTool):
    """Selects from the clicked pixel (on release, if the pointer stayed)."""

    def __init__(self) -> None:
        super().__init__()
        self.tolerance = 32
        self._press: QPointF | None = None
        self._press_widget = QPointF()
        self.click_mode = "replace"

    def add_options(self, row: QHBoxLayout) -> None:
        row.addSpacing(10)
        row.addWidget(QLabel("Tolerance:"))
        self.tolerance_box = QSpinBox()
        self.tolerance_box.setRange(0, 255)
        self.tolerance_box.setValue(self.tolerance)
        self.tolerance_box.setToolTip("Largest difference from the clicked colour selected, "
                                      "in levels 0–255 per channel")
        self.tolerance_box.valueChanged.connect(lambda v: setattr(self, "tolerance", v))
        row.addWidget(self.tolerance_box)

    def press(self, pos, event) -> None:
        self._press, self._press_widget = QPointF(pos), event.position()
        self.click_mode = mode_from_modifiers(event.modifiers(), self.mode)

    def release(self, pos, event) -> None:
        at, self._press = self._press, None
        if at is None or (event.position() - self._press_widget).manhattanLength() > CLICK_SLOP:
            return
        size = self.image_size()
        if size is None or not (0 <= at.x() < size[0] and 0 <= at.y() < size[1]):
            return
        self.clicked(at)

    def clicked(self, at: QPointF) -> None:
        raise NotImplementedError


@register_tool
class MagicWandTool(ClickSelectTool):
    name = "magic_wand"
    title = "Magic Wand"
    shortcut = "W"
    order = 30
    tooltip = "Click a colour: the area of similar colour around it is selected."

    def __init__(self) -> None:
        super().__init__()
        self.contiguous = True

    def add_options(self, row: QHBoxLayout) -> None:
        super().add_options(row)
        self.contiguous_box = QCheckBox("Contiguous")
        self.contiguous_box.setChecked(self.contiguous)
        self.contiguous_box.setToolTip("Only the area connected to the clicked pixel; "
                                       "off: every pixel of a similar colour")
        self.contiguous_box.toggled.connect(lambda on: setattr(self, "contiguous", on))
        row.addWidget(self.contiguous_box)

    def clicked(self, at: QPointF) -> None:
        self.commit("select_wand", {"x": at.x(), "y": at.y(), "tolerance": self.tolerance,
                                    "contiguous": self.contiguous, "mode": self.click_mode,
                                    "antialias": self.antialias}, self.title)

    def icon(self):
        def draw(p, pen):
            p.drawLine(QPointF(6, 27), QPointF(19, 14))
            for a in range(0, 360, 45):
                r = math.radians(a)
                p.drawLine(QPointF(22 + 3 * math.cos(r), 10 + 3 * math.sin(r)),
                           QPointF(22 + 6 * math.cos(r), 10 + 6 * math.sin(r)))
        return painted_icon(draw)


@register_tool
class ColorSelectTool(ClickSelectTool):
    name = "color_select"
    title = "Select by Color"
    order = 31
    antialias_option = False
    tooltip = "Click a colour: every pixel of a similar colour in the image is selected."

    def clicked(self, at: QPointF) -> None:
        value = self.controller.pixel_at(int(at.x()), int(at.y()))
        if value is None:
            return
        img = self.controller.current_image()
        scale = 257 if img is not None and img.dtype.itemsize == 2 else 1
        rgb = [round(v / scale) for v in value[:3]] if len(value) >= 3 else \
            [round(value[0] / scale)] * 3
        self.commit("select_color", {"color": tuple(rgb), "tolerance": self.tolerance,
                                     "mode": self.click_mode}, self.title)

    def icon(self):
        def draw(p, pen):
            for i, c in enumerate((QColor(220, 80, 80), QColor(80, 200, 90),
                                   QColor(80, 120, 230))):
                p.setBrush(c)
                p.setPen(Qt.PenStyle.NoPen)
                p.drawEllipse(QPointF(11 + 10 * (i % 2), 11 + 9 * (i // 2)), 6, 6)
            p.setPen(dashed(pen))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(3, 3, 26, 26)
        return painted_icon(draw)
