"""The image canvas: zoom, pan, pixel readout, live preview and before/after.

The canvas only paints. Display buffers arrive ready from the lanes (4 bytes
per pixel in Qt's native order, plus a pyramid of halved levels); painting
draws just the visible part of the level nearest the zoom, so a 12 MP photo
pans as smoothly as a small one and no pixel conversion runs on the GUI thread.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QWidget

from editor.ui.overlay_layer import OverlayLayer, OverlayStyle
from editor.ui.qimage import wrap_display
from editor.workers.render import PreviewResult, Rendered, ViewRequest

ZOOM_MIN, ZOOM_MAX = 0.01, 32.0
ZOOM_STEP = 1.25
BACKGROUND = QColor(38, 38, 40)
DIVIDER_GRAB = 8  # px either side of the split divider that start a divider drag
CLICK_SLOP = 3  # px a press may move and still count as a click


class _Levels:
    """QImages over a rendering's pyramid, with the arrays they borrow."""

    def __init__(self, levels: list[np.ndarray], alpha: bool, width: int, height: int) -> None:
        self.arrays = levels
        self.images = [wrap_display(a, alpha) for a in levels]
        self.alpha = alpha
        self.width, self.height = width, height


def _checker() -> QBrush:
    tile = QPixmap(16, 16)
    tile.fill(QColor(200, 200, 200))
    p = QPainter(tile)
    p.fillRect(0, 0, 8, 8, QColor(150, 150, 150))
    p.fillRect(8, 8, 8, 8, QColor(150, 150, 150))
    p.end()
    return QBrush(tile)


class Canvas(QWidget):
    """Paints the current state, an optional preview over it, and the original."""

    pixelHovered = Signal(int, int)  # image coordinates, (-1, -1) when outside
    pixelClicked = Signal(int, int)  # a left click (no drag) on the image, image coordinates
    zoomChanged = Signal(float)
    viewChanged = Signal()  # visible region or zoom changed (previews follow it)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setAcceptDrops(False)  # the main window takes file drops
        self.setMinimumSize(200, 150)
        self._current: _Levels | None = None
        self._original: _Levels | None = None
        self._preview: PreviewResult | None = None
        self._preview_img: QImage | None = None
        self.overlay_layer = OverlayLayer()  # a detector's geometry, drawn over the image
        self.zoom = 1.0
        self.center = QPointF(0, 0)  # image point at the widget centre
        self.fit_mode = True
        self.split = False
        self.split_pos = 0.5  # divider position as a fraction of the width
        self.show_before = False  # held key: the original everywhere
        self._drag: str | None = None  # "pan", "divider" or "tool" while a button is held
        self._tool_button = Qt.MouseButton.NoButton
        self._drag_start = QPointF()
        self._drag_center = QPointF()
        self._click_at: QPointF | None = None  # a left press that may end as a click
        self._space = False
        #: the active canvas tool (editor.ui.canvas_tools); None: pan and pick (H)
        self.tool = None
        #: painters run after the image and overlay, before the tool (marching ants)
        self.decorations: list = []
        #: the selection's outline (editor.ui.marching_ants.MarchingAnts), once installed
        self.ants = None
        self._checker = _checker()
        self._view_timer = QTimer(self)
        self._view_timer.setSingleShot(True)
        self._view_timer.setInterval(60)
        self._view_timer.timeout.connect(self.viewChanged)

    # -- content ------------------------------------------------------------------
    def set_rendered(self, r: Rendered | None) -> None:
        """Show a committed state (keeps zoom and pan unless the size changed)."""
        old = self._current
        self._current = None if r is None else _Levels(r.levels, r.alpha, r.width, r.height)
        if r is not None and (old is None or (old.width, old.height) != (r.width, r.height)):
            if old is None or self.fit_mode:
                self.fit()
            else:
                self._clamp()
        self.update()

    def set_original(self, r: Rendered | None) -> None:
        self._original = None if r is None else _Levels(r.levels, r.alpha, r.width, r.height)
        if r is not None and self._current is None:
            self.fit()
        self.update()

    def set_preview(self, result: PreviewResult | None) -> None:
        self._preview = result
        self._preview_img = None if result is None else wrap_display(result.buffer, result.alpha)
        self.update()

    # -- overlay (detector geometry over the image; never in its pixels) ---------------
    def set_overlay(self, overlay, style: OverlayStyle | None = None) -> None:
        """Draw ``overlay`` (an :class:`editor.ops.overlays.Overlay`, or None) over the image."""
        self.overlay_layer.set_overlay(overlay, style)
        self.update()

    def set_overlay_visible(self, on: bool) -> None:
        self.overlay_layer.visible = bool(on)
        self.update()

    def _paint_overlay(self, p: QPainter) -> None:
        if self.split and self._original is not None:
            # the overlay belongs to the edited image: only on the "after" side
            x = round(self.width() * self.split_pos)
            p.save()
            p.setClipRect(x, 0, self.width() - x, self.height())
            self.overlay_layer.paint(p, self)
            p.restore()
        else:
            self.overlay_layer.paint(p, self)

    def image_size(self) -> tuple[int, int] | None:
        c = self._current or self._original
        return None if c is None else (c.width, c.height)

    def has_preview(self) -> bool:
        return self._preview is not None

    # -- view ---------------------------------------------------------------------------
    def fit_zoom(self) -> float:
        size = self.image_size()
        if size is None:
            return 1.0
        w, h = size
        return max(ZOOM_MIN, min((self.width() - 16) / w, (self.height() - 16) / h))

    def fit(self) -> None:
        """Whole image in view (Ctrl+0)."""
        size = self.image_size()
        self.fit_mode = True
        if size is not None:
            self.zoom = self.fit_zoom()
            self.center = QPointF(size[0] / 2, size[1] / 2)
        self._view_moved()

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom keeping the image point under ``anchor`` (widget coords) in place."""
        zoom = min(ZOOM_MAX, max(ZOOM_MIN, zoom))
        anchor = anchor if anchor is not None else QPointF(self.width() / 2, self.height() / 2)
        before = self.to_image(anchor)
        self.zoom = zoom
        self.fit_mode = False
        after = self.to_image(anchor)
        self.center += before - after
        self._clamp()
        self._view_moved()

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom * ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom / ZOOM_STEP)

    def actual_size(self) -> None:
        """100 % (Ctrl+1)."""
        self.set_zoom(1.0)

    def to_image(self, pt: QPointF) -> QPointF:
        return QPointF((pt.x() - self.width() / 2) / self.zoom + self.center.x(),
                       (pt.y() - self.height() / 2) / self.zoom + self.center.y())

    def to_widget(self, pt: QPointF) -> QPointF:
        return QPointF((pt.x() - self.center.x()) * self.zoom + self.width() / 2,
                       (pt.y() - self.center.y()) * self.zoom + self.height() / 2)

    def visible_rect(self) -> tuple[int, int, int, int]:
        """Visible part of the image, ``(x0, y0, x1, y1)`` in image pixels."""
        size = self.image_size() or (1, 1)
        tl = self.to_image(QPointF(0, 0))
        br = self.to_image(QPointF(self.width(), self.height()))
        x0 = max(0, math.floor(tl.x()))
        y0 = max(0, math.floor(tl.y()))
        x1 = min(size[0], math.ceil(br.x()))
        y1 = min(size[1], math.ceil(br.y()))
        return (x0, y0, max(x0, x1), max(y0, y1))

    def view_request(self) -> ViewRequest | None:
        """What previews should compute (see :class:`ViewRequest`)."""
        if self.image_size() is None:
            return None
        return ViewRequest(self.visible_rect(), self.zoom, (self.width(), self.height()))

    def _clamp(self) -> None:
        size = self.image_size()
        if size is None:
            return
        w, h = size
        self.center = QPointF(min(max(self.center.x(), 0), w), min(max(self.center.y(), 0), h))

    def _view_moved(self) -> None:
        self.zoomChanged.emit(self.zoom)
        self._view_timer.start()
        self.update()

    # -- painting -------------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), BACKGROUND)
        if self._current is None and self._original is None:
            return
        before_all = self.show_before and self._original is not None
        if self._preview is not None and self._preview.region is None and not before_all:
            self._paint_replacement(p)
        elif before_all:
            self._paint_levels(p, self._original)
        elif self.split and self._original is not None:
            x = round(self.width() * self.split_pos)
            p.save()
            p.setClipRect(0, 0, x, self.height())
            self._paint_levels(p, self._original)
            p.restore()
            p.save()
            p.setClipRect(x, 0, self.width() - x, self.height())
            self._paint_current(p)
            p.restore()
            self._paint_divider(p, x)
        else:
            self._paint_current(p)
        replaced = self._preview is not None and self._preview.region is None
        if not before_all and not replaced:
            self._paint_overlay(p)
            for paint in self.decorations:
                paint(p, self)
            if self.tool is not None:
                p.save()
                self.tool.paint(p, self)
                p.restore()
        if before_all:
            self.label(p, QPointF(12, 12), "Original")
        p.end()

    def _paint_current(self, p: QPainter) -> None:
        pr, img = self._preview, self._preview_img
        if self._current is not None and not self._preview_covers_view():
            self._paint_levels(p, self._current)
        if pr is not None and img is not None and pr.region is not None:
            x0, y0, x1, y1 = pr.region
            target = QRectF(self.to_widget(QPointF(x0, y0)), self.to_widget(QPointF(x1, y1)))
            if abs(target.width() - img.width()) < 1 and abs(target.height() - img.height()) < 1:
                # the proxy was made at the screen's scale: a plain blit, under a pixel off,
                # costs the GUI thread 0.2 ms a slider tick where resampling it took 1.5-3
                p.drawImage(QPointF(round(target.left()), round(target.top())), img)
                return
            ratio = target.width() / max(1, img.width())
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, ratio < 3)
            p.drawImage(target, img, QRectF(0, 0, img.width(), img.height()))

    def _preview_covers_view(self) -> bool:
        """An opaque preview over all that is visible: the state under it need not be drawn
        (a slider tick's paint then scales one image, not two, on the GUI thread)."""
        pr = self._preview
        if pr is None or pr.region is None or pr.alpha or self._preview_img is None:
            return False
        x0, y0, x1, y1 = self.visible_rect()
        return pr.region[0] <= x0 and pr.region[1] <= y0 and pr.region[2] >= x1 \
            and pr.region[3] >= y1

    def _paint_levels(self, p: QPainter, lv: _Levels) -> None:
        w, h = lv.width, lv.height
        tl, br = self.to_widget(QPointF(0, 0)), self.to_widget(QPointF(w, h))
        image_rect = QRectF(tl, br)
        if lv.alpha:
            p.fillRect(image_rect.intersected(QRectF(self.rect())), self._checker)
        x0, y0, x1, y1 = self.visible_rect()
        if x1 <= x0 or y1 <= y0:
            return
        # the level whose resolution is just above the screen's: at most 2x downscale
        k = 0 if self.zoom >= 1 else min(len(lv.images) - 1, int(math.log2(1 / self.zoom)))
        img = lv.images[k]
        sx, sy = img.width() / w, img.height() / h
        source = QRectF(x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy)
        target = QRectF(self.to_widget(QPointF(x0, y0)), self.to_widget(QPointF(x1, y1)))
        # smooth when shrinking or mildly enlarging; crisp pixels when zoomed far in
        scale = self.zoom * (1 << k)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale != 1 and scale < 3)
        p.drawImage(target, img, source)

    def _paint_replacement(self, p: QPainter) -> None:
        """A geometry-changing preview, fitted to the view."""
        img = self._preview_img
        z = min((self.width() - 16) / img.width(), (self.height() - 16) / img.height())
        w, h = img.width() * z, img.height() * z
        target = QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)
        if self._preview.alpha:
            p.fillRect(target, self._checker)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        p.drawImage(target, img, QRectF(img.rect()))
        self.label(p, QPointF(12, 12), "Preview")

    def _paint_divider(self, p: QPainter, x: int) -> None:
        p.setPen(QPen(QColor(255, 255, 255, 220), 2))
        p.drawLine(x, 0, x, self.height())
        p.setBrush(QColor(255, 255, 255, 230))
        p.setPen(Qt.PenStyle.NoPen)
        p.drawEllipse(QPointF(x, self.height() / 2), 9, 9)
        self.label(p, QPointF(max(12, x - 80), 12), "Before")
        self.label(p, QPointF(x + 12, 12), "After")

    def label(self, p: QPainter, at: QPointF, text: str) -> None:
        """A small dark tag with ``text`` at widget point ``at`` (tools use it too)."""
        fm = p.fontMetrics()
        r = QRectF(at.x(), at.y(), fm.horizontalAdvance(text) + 12, fm.height() + 6)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 150))
        p.drawRoundedRect(r, 4, 4)
        p.setPen(QColor(235, 235, 235))
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, text)

    # -- input ------------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:  # noqa: N802
        if self.fit_mode:
            self.fit()
        else:
            self._view_moved()
        super().resizeEvent(event)

    def wheelEvent(self, event) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.set_zoom(self.zoom * ZOOM_STEP ** steps, event.position())
        event.accept()

    def _near_divider(self, x: float) -> bool:
        return self.split and abs(x - self.width() * self.split_pos) <= DIVIDER_GRAB

    # -- canvas tools -------------------------------------------------------------------
    def set_tool(self, tool) -> None:
        """Make ``tool`` (a :class:`~editor.ui.canvas_tools.base.CanvasTool`, already
        activated) receive the pointer; None: drag pans and clicks pick pixels."""
        if self._drag == "tool":
            self._drag = None
        self.tool = tool
        self._update_cursor(None)
        self.update()

    def _tool_takes(self, event) -> bool:
        return (self.tool is not None and not self._space
                and event.button() in self.tool.buttons
                and event.button() != Qt.MouseButton.MiddleButton)

    def _update_cursor(self, pos: QPointF | None) -> None:
        if self._drag == "pan" or self._drag == "divider":
            return
        if pos is not None and self._near_divider(pos.x()):
            self.setCursor(Qt.CursorShape.SplitHCursor)
        elif self._space:
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        elif self.tool is not None:
            self.setCursor(self.tool.pointer_cursor())
        else:
            self.setCursor(Qt.CursorShape.CrossCursor)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        pos = event.position()
        if event.button() == Qt.MouseButton.LeftButton and self._near_divider(pos.x()) \
                and not self._space:
            self._drag = "divider"
        elif self._drag is None and self._tool_takes(event):
            self._drag = "tool"
            self._tool_button = event.button()
            self.tool.press(self.to_image(pos), event)
        elif event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton) \
                and self._drag is None:
            self._drag = "pan"
            self._drag_start = pos
            # a left press that ends where it began is a click (eyedroppers), not a pan
            self._click_at = pos if event.button() == Qt.MouseButton.LeftButton \
                and not self._space and self.tool is None else None
            self._drag_center = QPointF(self.center)
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
        event.accept()

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        # Qt sends press, release, double-click, release: the tool sees the second
        # press as a double click (polygon lasso closes), other modes as a press
        if self.tool is not None and self._tool_takes(event) and self._drag is None:
            self._drag = "tool"
            self._tool_button = event.button()
            self.tool.double_click(self.to_image(event.position()), event)
            event.accept()
            return
        self.mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        pos = event.position()
        if self._drag == "divider":
            self.split_pos = min(0.98, max(0.02, pos.x() / max(1, self.width())))
            self.update()
        elif self._drag == "pan":
            delta = (pos - self._drag_start) / self.zoom
            self.center = self._drag_center - delta
            self.fit_mode = False
            self._clamp()
            self._view_moved()
        elif self._drag == "tool":
            self.tool.move(self.to_image(pos), event)
        else:
            if self.tool is not None and not self._space:
                self.tool.hover(self.to_image(pos), event)
            self._update_cursor(pos)
        pt = self.to_image(pos)
        size = self.image_size()
        if size and 0 <= pt.x() < size[0] and 0 <= pt.y() < size[1]:
            self.pixelHovered.emit(int(pt.x()), int(pt.y()))
        else:
            self.pixelHovered.emit(-1, -1)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self._drag == "tool":
            if event.button() == self._tool_button:
                self._drag = None
                if self.tool is not None:
                    self.tool.release(self.to_image(event.position()), event)
                self._update_cursor(event.position())
            event.accept()
            return
        click, self._click_at = self._click_at, None
        if click is not None and event.button() == Qt.MouseButton.LeftButton \
                and (event.position() - click).manhattanLength() <= CLICK_SLOP:
            pt = self.to_image(click)
            size = self.image_size()
            if size and 0 <= pt.x() < size[0] and 0 <= pt.y() < size[1]:
                self.pixelClicked.emit(int(pt.x()), int(pt.y()))
        self._drag = None
        self._update_cursor(event.position())
        event.accept()

    def leaveEvent(self, event) -> None:  # noqa: N802
        self.pixelHovered.emit(-1, -1)
        super().leaveEvent(event)

    def event(self, event) -> bool:
        # window shortcuts (Esc cancels jobs) win over key presses unless the focused
        # widget claims the key first: a tool with unfinished work claims Esc and Enter
        if event.type() == QEvent.Type.ShortcutOverride and self.tool is not None \
                and self.tool.claims_key(event):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if self.tool is not None and event.key() != Qt.Key.Key_Space \
                and self.tool.key_press(event):
            event.accept()
            return
        if event.isAutoRepeat():
            event.accept()
            return
        if event.key() == Qt.Key.Key_Space:
            self._space = True
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        elif event.key() == Qt.Key.Key_Backslash:
            self.show_before = True
            self.update()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def keyReleaseEvent(self, event) -> None:  # noqa: N802
        if self.tool is not None and event.key() != Qt.Key.Key_Space \
                and self.tool.key_release(event):
            event.accept()
            return
        if event.isAutoRepeat():
            event.accept()
            return
        if event.key() == Qt.Key.Key_Space:
            self._space = False
            self._update_cursor(None)
        elif event.key() == Qt.Key.Key_Backslash:
            self.show_before = False
            self.update()
        else:
            super().keyReleaseEvent(event)
            return
        event.accept()
