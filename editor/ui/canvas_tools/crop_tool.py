"""Crop (C) and Straighten (C again): a crop frame with handles, and a horizon line.

Crop: drag a rectangle on the image, then resize it by its eight handles or move
it by dragging inside; the options bar picks an aspect ratio (free, the
image's own, 1:1, 4:3, 3:2, 16:9 or a custom W:H), swaps its orientation and
shows the size in pixels. Outside the frame the image is darkened and the
rule-of-thirds lines are drawn inside. Enter (or a double click inside the
frame) crops (``crop``, one undo step), Esc drops the frame.

Straighten: draw a line along something that should be level (a horizon) or
upright (a wall); on release the image is rotated to level it and cropped to the
largest rectangle without empty corners: one ``straighten`` step.

Image ▸ Crop to Selection (:func:`crop_to_selection`) crops to the bounding box
of the selection.

The frame lives in image coordinates (pixel edges: ``0..W``), snapped to whole
pixels, so it survives zoom and pan and commits exactly what it shows.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QToolButton,
    QWidget,
)

from editor.ui.canvas_tools import CanvasTool, register_tool
from editor.ui.canvas_tools.icons import painted_icon

#: aspect presets of the options bar: label -> (w, h); None = free, "original" = the image's
ASPECTS: tuple[tuple[str, Any], ...] = (
    ("Free", None), ("Original", "original"), ("1:1", (1, 1)), ("4:3", (4, 3)),
    ("3:2", (3, 2)), ("16:9", (16, 9)), ("Custom", "custom"),
)
#: how near (widget pixels) the pointer must be to grab a handle
GRAB = 8.0
HANDLE = 7.0
SHADE = QColor(0, 0, 0, 150)

# handles: which edges each one moves (left, top, right, bottom)
HANDLES: dict[str, tuple[bool, bool, bool, bool]] = {
    "tl": (True, True, False, False), "t": (False, True, False, False),
    "tr": (False, True, True, False), "r": (False, False, True, False),
    "br": (False, False, True, True), "b": (False, False, False, True),
    "bl": (True, False, False, True), "l": (True, False, False, False),
}
CURSORS = {"tl": Qt.CursorShape.SizeFDiagCursor, "br": Qt.CursorShape.SizeFDiagCursor,
           "tr": Qt.CursorShape.SizeBDiagCursor, "bl": Qt.CursorShape.SizeBDiagCursor,
           "t": Qt.CursorShape.SizeVerCursor, "b": Qt.CursorShape.SizeVerCursor,
           "l": Qt.CursorShape.SizeHorCursor, "r": Qt.CursorShape.SizeHorCursor}


# -- frame arithmetic (no widgets: tested directly) -----------------------------------------

def fit_corner(ax: float, ay: float, px: float, py: float, ratio: float | None,
               width: int, height: int) -> tuple[float, float, float, float]:
    """The frame from anchor corner ``(ax, ay)`` towards the pointer ``(px, py)``.

    Clamped to the image ``width`` x ``height``; with ``ratio`` (w / h) the
    frame keeps it, shrinking rather than leaving the image. Returns
    ``(x0, y0, x1, y1)`` with ``x0 <= x1`` and ``y0 <= y1``.
    """
    sx = 1.0 if px >= ax else -1.0
    sy = 1.0 if py >= ay else -1.0
    room_w = width - ax if sx > 0 else ax
    room_h = height - ay if sy > 0 else ay
    w = min(abs(px - ax), room_w)
    h = min(abs(py - ay), room_h)
    if ratio:
        # the larger of the two requests wins, then both shrink to fit the room
        w, h = max(w, h * ratio), max(h, w / ratio)
        k = min(1.0, room_w / w if w else 1.0, room_h / h if h else 1.0)
        w, h = w * k, h * k
    x1, y1 = ax + sx * w, ay + sy * h
    return min(ax, x1), min(ay, y1), max(ax, x1), max(ay, y1)


def fit_edge(rect: tuple[float, float, float, float], edge: str, pos: float,
             ratio: float | None, width: int, height: int) -> tuple[float, float, float, float]:
    """The frame with one edge (``"l"``, ``"t"``, ``"r"``, ``"b"``) dragged to ``pos``.

    With ``ratio`` the other dimension follows about the frame's centre line,
    shrinking if it would leave the image.
    """
    x0, y0, x1, y1 = rect
    if edge in "lr":
        if edge == "l":
            x0 = min(max(0.0, pos), x1)
        else:
            x1 = max(min(float(width), pos), x0)
        if ratio:
            cy = (y0 + y1) / 2
            h = (x1 - x0) / ratio
            h = min(h, 2 * cy, 2 * (height - cy))
            w = h * ratio
            if edge == "l":
                x0 = x1 - w
            else:
                x1 = x0 + w
            y0, y1 = cy - h / 2, cy + h / 2
    else:
        if edge == "t":
            y0 = min(max(0.0, pos), y1)
        else:
            y1 = max(min(float(height), pos), y0)
        if ratio:
            cx = (x0 + x1) / 2
            w = (y1 - y0) * ratio
            w = min(w, 2 * cx, 2 * (width - cx))
            h = w / ratio
            if edge == "t":
                y0 = y1 - h
            else:
                y1 = y0 + h
            x0, x1 = cx - w / 2, cx + w / 2
    return x0, y0, x1, y1


def crop_params(rect: tuple[float, float, float, float], width: int,
                height: int) -> dict[str, int] | None:
    """``crop`` op parameters for a frame (whole pixels inside the image), or None if empty."""
    x0, y0, x1, y1 = (round(v) for v in rect)
    x0, x1 = max(0, min(x0, width)), max(0, min(x1, width))
    y0, y1 = max(0, min(y0, height)), max(0, min(y1, height))
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0}


def level_angle(x0: float, y0: float, x1: float, y1: float) -> float:
    """The rotation (degrees, counter-clockwise) that makes the line level or upright.

    Image ``y`` points down, so a line rising to the right at 5° gives ``-5``.
    Lines nearer vertical than horizontal are made upright.

    Examples
    --------
    >>> round(level_angle(0, 0, 100, -100 * math.tan(math.radians(5))), 6)
    -5.0
    >>> round(level_angle(0, 0, 3, 100), 2)  # a wall whose top leans left
    -1.72
    """
    theta = math.degrees(math.atan2(-(y1 - y0), x1 - x0))  # as seen: CCW positive
    theta = (theta + 90.0) % 180.0 - 90.0  # a line has no direction: -90..90
    if theta > 45.0:
        theta -= 90.0
    elif theta < -45.0:
        theta += 90.0
    return -theta


def crop_to_selection(controller) -> bool:
    """Image ▸ Crop to Selection: crop to the selection's bounding box (one undo step)."""
    from editor.core.selection import bbox

    if controller.document is None:
        controller.message.emit("Open an image first.")
        return False
    mask = controller.selection()
    box = None if mask is None else bbox(mask)
    if box is None:
        controller.message.emit("Select an area first: Crop to Selection crops to it.")
        return False
    y0, y1, x0, x1 = box
    controller.apply_op("crop", {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0},
                        title="Crop to Selection")
    return True


# -- the tools --------------------------------------------------------------------------------

def _crop_icon():
    def draw(p: QPainter, pen: QPen) -> None:
        p.drawLine(QPointF(9, 3), QPointF(9, 23))
        p.drawLine(QPointF(9, 23), QPointF(29, 23))
        p.drawLine(QPointF(3, 9), QPointF(23, 9))
        p.drawLine(QPointF(23, 9), QPointF(23, 29))
    return painted_icon(draw)


def _straighten_icon():
    def draw(p: QPainter, pen: QPen) -> None:
        p.drawLine(QPointF(4, 22), QPointF(28, 14))
        thin = QPen(pen)
        thin.setWidthF(1.2)
        thin.setDashPattern([2.0, 2.0])
        p.setPen(thin)
        p.drawLine(QPointF(4, 18), QPointF(28, 18))
    return painted_icon(draw)


def _image_size(canvas) -> tuple[int, int] | None:
    return None if canvas is None else canvas.image_size()


@register_tool
class CropTool(CanvasTool):
    """The crop frame (see the module docstring)."""

    name = "crop"
    title = "Crop"
    shortcut = "C"
    order = 50
    tooltip = "Drag a frame, adjust it by its handles, Enter crops, Esc cancels."

    def __init__(self) -> None:
        super().__init__()
        self.rect: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1
        self._mode: str | None = None  # "new", "move" or a handle name while dragging
        self._anchor = QPointF()
        self._start = QPointF()
        self._start_rect: tuple[float, float, float, float] | None = None
        self._hover: str | None = None
        self.aspect: Any = None  # None (free), "original", "custom" or (w, h)
        self.custom = (5, 4)
        self.swapped = False
        self.thirds = True

    def icon(self):
        return _crop_icon()

    # -- state -----------------------------------------------------------------------------
    def reset(self) -> None:
        self.cancel()

    def deactivate(self) -> None:
        self.rect = None
        self._mode = None
        super().deactivate()

    def cancel(self) -> None:
        """Drop the frame (Esc)."""
        self.rect = None
        self._mode = None
        self._update_readout()
        self.update()

    def ratio(self) -> float | None:
        """The frame's width / height, or None for a free frame."""
        a = self.aspect
        if a is None:
            return None
        if a == "original":
            size = _image_size(self.canvas)
            if not size:
                return None
            w, h = size
        elif a == "custom":
            w, h = self.custom
        else:
            w, h = a
        if self.swapped:
            w, h = h, w
        return w / h if w > 0 and h > 0 else None

    def set_rect(self, rect: tuple[float, float, float, float] | None) -> None:
        """Place the frame (image pixels, snapped to whole pixels)."""
        if rect is not None:
            rect = tuple(float(round(v)) for v in rect)
        self.rect = rect
        self._update_readout()
        self.update()

    def commit(self) -> bool:
        """Crop to the frame (Enter): one undo step."""
        size = _image_size(self.canvas)
        if self.rect is None or size is None:
            return False
        params = crop_params(self.rect, *size)
        if params is None:
            return False
        self.controller.apply_op("crop", params, title="Crop")
        self.cancel()
        return True

    # -- pointer ---------------------------------------------------------------------------
    def _handle_at(self, pos: QPointF) -> str | None:
        if self.rect is None or self.canvas is None:
            return None
        best, dist = None, GRAB
        for name, pt in self._handle_points().items():
            w = self.canvas.to_widget(pt)
            p = self.canvas.to_widget(pos)
            d = max(abs(w.x() - p.x()), abs(w.y() - p.y()))
            if d <= dist:
                best, dist = name, d
        return best

    def _handle_points(self) -> dict[str, QPointF]:
        x0, y0, x1, y1 = self.rect
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        return {"tl": QPointF(x0, y0), "t": QPointF(cx, y0), "tr": QPointF(x1, y0),
                "r": QPointF(x1, cy), "br": QPointF(x1, y1), "b": QPointF(cx, y1),
                "bl": QPointF(x0, y1), "l": QPointF(x0, cy)}

    def _inside(self, pos: QPointF) -> bool:
        if self.rect is None:
            return False
        x0, y0, x1, y1 = self.rect
        return x0 <= pos.x() <= x1 and y0 <= pos.y() <= y1

    def press(self, pos: QPointF, event) -> None:
        size = _image_size(self.canvas)
        if size is None:
            return
        w, h = size
        handle = self._handle_at(pos)
        self._start = QPointF(pos)
        self._start_rect = self.rect
        if handle is not None:
            self._mode = handle
            x0, y0, x1, y1 = self.rect
            left, top, _right, _bottom = HANDLES[handle]
            # the corner opposite the one grabbed stays put
            self._anchor = QPointF(x1 if left else x0, y1 if top else y0)
        elif self._inside(pos):
            self._mode = "move"
        else:
            self._mode = "new"
            x = min(max(round(pos.x()), 0), w)
            y = min(max(round(pos.y()), 0), h)
            self._anchor = QPointF(x, y)
            self.set_rect((x, y, x, y))

    def move(self, pos: QPointF, event) -> None:
        size = _image_size(self.canvas)
        if size is None or self._mode is None:
            return
        w, h = size
        ratio = self.ratio()
        mode = self._mode
        if mode == "move" and self.rect is not None:
            x0, y0, x1, y1 = self._start_rect
            dx = min(max(pos.x() - self._start.x(), -x0), w - x1)
            dy = min(max(pos.y() - self._start.y(), -y0), h - y1)
            self.set_rect((x0 + dx, y0 + dy, x1 + dx, y1 + dy))
        elif mode == "new" or mode in ("tl", "tr", "br", "bl"):
            self.set_rect(fit_corner(self._anchor.x(), self._anchor.y(), pos.x(), pos.y(),
                                     ratio, w, h))
        elif mode in ("l", "r"):
            self.set_rect(fit_edge(self._start_rect, mode, pos.x(), ratio, w, h))
        elif mode in ("t", "b"):
            self.set_rect(fit_edge(self._start_rect, mode, pos.y(), ratio, w, h))

    def release(self, pos: QPointF, event) -> None:
        self.move(pos, event)
        self._mode = None
        if self.rect is not None and crop_params(self.rect, *(_image_size(self.canvas)
                                                               or (0, 0))) is None:
            self.cancel()  # a click without a drag leaves no frame

    def double_click(self, pos: QPointF, event) -> None:
        """A double click inside the frame crops, as in Photoshop and GIMP."""
        self._mode = None
        if self._inside(pos):
            self.commit()

    def hover(self, pos: QPointF, event) -> None:
        handle = self._handle_at(pos)
        self._hover = handle or ("move" if self._inside(pos) else None)

    def pointer_cursor(self):
        if self._hover in CURSORS:
            return CURSORS[self._hover]
        if self._hover == "move":
            return Qt.CursorShape.SizeAllCursor
        return self.cursor

    # -- keys ------------------------------------------------------------------------------
    _KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape)

    def claims_key(self, event) -> bool:
        return self.rect is not None and event.key() in self._KEYS

    def key_press(self, event) -> bool:
        if self.rect is None:
            return False
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.commit()
            return True
        if event.key() == Qt.Key.Key_Escape:
            self.cancel()
            return True
        return False

    # -- drawing ---------------------------------------------------------------------------
    def paint(self, painter: QPainter, canvas) -> None:
        size = canvas.image_size()
        if self.rect is None or size is None:
            return
        w, h = size
        x0, y0, x1, y1 = self.rect
        img = QRectF(canvas.to_widget(QPointF(0, 0)), canvas.to_widget(QPointF(w, h)))
        r = QRectF(canvas.to_widget(QPointF(x0, y0)), canvas.to_widget(QPointF(x1, y1)))
        # darken what the crop cuts away: four bands around the frame
        painter.fillRect(QRectF(img.left(), img.top(), img.width(), r.top() - img.top()), SHADE)
        painter.fillRect(QRectF(img.left(), r.bottom(), img.width(), img.bottom() - r.bottom()),
                         SHADE)
        painter.fillRect(QRectF(img.left(), r.top(), r.left() - img.left(), r.height()), SHADE)
        painter.fillRect(QRectF(r.right(), r.top(), img.right() - r.right(), r.height()), SHADE)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        if self.thirds and r.width() > 12 and r.height() > 12:
            painter.setPen(QPen(QColor(255, 255, 255, 110), 1.0))
            for k in (1, 2):
                x = r.left() + r.width() * k / 3
                y = r.top() + r.height() * k / 3
                painter.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
                painter.drawLine(QPointF(r.left(), y), QPointF(r.right(), y))
        painter.setPen(QPen(QColor(0, 0, 0, 160), 3.0))
        painter.drawRect(r)
        painter.setPen(QPen(QColor(255, 255, 255), 1.0))
        painter.drawRect(r)
        painter.setPen(QPen(QColor(20, 20, 20), 1.0))
        painter.setBrush(QColor(255, 255, 255))
        for pt in self._handle_points().values():
            c = canvas.to_widget(pt)
            painter.drawRect(QRectF(c.x() - HANDLE / 2, c.y() - HANDLE / 2, HANDLE, HANDLE))
        self._paint_size(painter, r)

    def _paint_size(self, painter: QPainter, r: QRectF) -> None:
        """The size readout under the frame (above its bottom edge near the window's)."""
        text = self.size_text()
        f = QFont()
        f.setPixelSize(12)
        painter.setFont(f)
        fm = painter.fontMetrics()
        at = QPointF(r.center().x() - (fm.horizontalAdvance(text) + 12) / 2, r.bottom() + 8)
        if self.canvas is not None and at.y() + fm.height() + 6 > self.canvas.height() - 4:
            at.setY(r.bottom() - fm.height() - 14)
        self.canvas.label(painter, at, text)

    def size_text(self) -> str:
        """``"W × H px"`` of the frame (empty without one)."""
        if self.rect is None:
            return ""
        x0, y0, x1, y1 = self.rect
        return f"{round(x1 - x0)} × {round(y1 - y0)} px"

    # -- options bar -----------------------------------------------------------------------
    def create_options(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Aspect:"))
        self.aspect_box = QComboBox()
        self.aspect_box.setObjectName("crop_aspect")
        for label, _value in ASPECTS:
            self.aspect_box.addItem(label)
        self.aspect_box.currentIndexChanged.connect(self._aspect_chosen)
        row.addWidget(self.aspect_box)
        self.custom_w = QSpinBox()
        self.custom_h = QSpinBox()
        for spin, v in ((self.custom_w, self.custom[0]), (self.custom_h, self.custom[1])):
            spin.setRange(1, 100_000)
            spin.setValue(v)
            spin.valueChanged.connect(self._custom_changed)
        self.custom_w.setObjectName("crop_custom_w")
        self.custom_h.setObjectName("crop_custom_h")
        self.custom_colon = QLabel(":")
        row.addWidget(self.custom_w)
        row.addWidget(self.custom_colon)
        row.addWidget(self.custom_h)
        self.swap_button = QToolButton()
        self.swap_button.setObjectName("crop_swap")
        self.swap_button.setText("⇄")
        self.swap_button.setToolTip("Swap the orientation (portrait ↔ landscape)")
        self.swap_button.clicked.connect(self.swap)
        row.addWidget(self.swap_button)
        self.thirds_box = QCheckBox("Rule of thirds")
        self.thirds_box.setChecked(self.thirds)
        self.thirds_box.toggled.connect(self._thirds_toggled)
        row.addWidget(self.thirds_box)
        self.readout = QLabel("")
        self.readout.setObjectName("crop_size")
        self.readout.setMinimumWidth(110)
        row.addWidget(self.readout)
        hint = QLabel("Enter crops · Esc cancels")
        hint.setStyleSheet("color: palette(mid);")
        row.addWidget(hint)
        self._show_custom()
        return box

    def set_aspect(self, label: str) -> None:
        """Choose an aspect preset by its label (``"16:9"``); the frame follows."""
        index = [a[0] for a in ASPECTS].index(label)
        if self._options is not None:
            self.aspect_box.setCurrentIndex(index)  # calls _aspect_chosen
        else:
            self._aspect_chosen(index)

    def _aspect_chosen(self, index: int) -> None:
        self.aspect = ASPECTS[index][1]
        self._show_custom()
        self._refit()

    def _custom_changed(self) -> None:
        self.custom = (self.custom_w.value(), self.custom_h.value())
        if self.aspect == "custom":
            self._refit()

    def _show_custom(self) -> None:
        if self._options is None and not hasattr(self, "custom_w"):
            return
        on = self.aspect == "custom"
        for w in (self.custom_w, self.custom_colon, self.custom_h):
            w.setVisible(on)

    def swap(self) -> None:
        """Swap the aspect's orientation (a free frame swaps its width and height)."""
        self.swapped = not self.swapped
        if self.aspect is None and self.rect is not None:
            size = _image_size(self.canvas)
            x0, y0, x1, y1 = self.rect
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            hw, hh = (y1 - y0) / 2, (x1 - x0) / 2
            if size:
                hw, hh = min(hw, cx, size[0] - cx), min(hh, cy, size[1] - cy)
            self.set_rect((cx - hw, cy - hh, cx + hw, cy + hh))
        else:
            self._refit()

    def _thirds_toggled(self, on: bool) -> None:
        self.thirds = bool(on)
        self.update()

    def _refit(self) -> None:
        """Give the frame the chosen ratio about its centre, as large as it fits."""
        ratio = self.ratio()
        size = _image_size(self.canvas)
        if self.rect is None or ratio is None or size is None:
            return
        x0, y0, x1, y1 = self.rect
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        area = max(1.0, (x1 - x0) * (y1 - y0))
        w = math.sqrt(area * ratio)
        h = w / ratio
        k = min(1.0, 2 * min(cx, size[0] - cx) / w, 2 * min(cy, size[1] - cy) / h)
        w, h = w * k, h * k
        self.set_rect((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))

    def _update_readout(self) -> None:
        if self._options is not None:
            self.readout.setText(self.size_text())


@register_tool
class StraightenTool(CanvasTool):
    """Draw a line along the horizon; on release the image is levelled and cropped."""

    name = "straighten"
    title = "Straighten"
    shortcut = "C"
    order = 51
    tooltip = "Draw a line along the horizon (or a wall); the image is levelled and cropped."

    def __init__(self) -> None:
        super().__init__()
        self.line: tuple[QPointF, QPointF] | None = None

    def icon(self):
        return _straighten_icon()

    def reset(self) -> None:
        self.line = None
        self.update()

    def press(self, pos: QPointF, event) -> None:
        self.line = (QPointF(pos), QPointF(pos))
        self.update()

    def move(self, pos: QPointF, event) -> None:
        if self.line is not None:
            self.line = (self.line[0], QPointF(pos))
            self.update()

    def release(self, pos: QPointF, event) -> None:
        if self.line is None:
            return
        a, b = self.line[0], QPointF(pos)
        self.line = None
        self.update()
        if self.canvas is None:
            return
        wa, wb = self.canvas.to_widget(a), self.canvas.to_widget(b)
        if math.hypot(wb.x() - wa.x(), wb.y() - wa.y()) < 8:
            return  # a click, not a line
        angle = round(level_angle(a.x(), a.y(), b.x(), b.y()), 2)
        if abs(angle) < 0.01:
            self.controller.message.emit("The line is already level.")
            return
        self.controller.apply_op("straighten", {"angle": angle}, title="Straighten")

    def claims_key(self, event) -> bool:
        return self.line is not None and event.key() == Qt.Key.Key_Escape

    def key_press(self, event) -> bool:
        if self.line is not None and event.key() == Qt.Key.Key_Escape:
            self.reset()
            return True
        return False

    def paint(self, painter: QPainter, canvas) -> None:
        if self.line is None:
            return
        a, b = canvas.to_widget(self.line[0]), canvas.to_widget(self.line[1])
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(QColor(0, 0, 0, 170), 3.0))
        painter.drawLine(a, b)
        painter.setPen(QPen(QColor(255, 220, 60), 1.5))
        painter.drawLine(a, b)
        angle = level_angle(self.line[0].x(), self.line[0].y(),
                            self.line[1].x(), self.line[1].y())
        f = QFont()
        f.setPixelSize(12)
        painter.setFont(f)
        canvas.label(painter, b + QPointF(10, -24), f"{-angle:+.1f}°")

    def create_options(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Draw a line along the horizon or a vertical edge: on release "
                             "the image is levelled and cropped to hide the empty corners."))
        return box
