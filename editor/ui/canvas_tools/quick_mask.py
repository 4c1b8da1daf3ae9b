"""Quick mask (Q): paint the selection with a brush, shown as a red overlay.

Entering quick mask starts from the current selection (or nothing); the left
button paints the mask (selects), the right button or Alt erases it, with the
options bar's size, hardness and opacity (``[`` and ``]`` change the size).
A stroke never builds up past its opacity (each dab keeps the maximum), so
going over the same place twice in one stroke does not darken it. Leaving
quick mask (Q again, or another tool) commits the painted mask as one undo
step, "Quick Mask", recorded as ``select_mask`` with the mask's SHA-256 so a
recipe saved with its mask file replays it exactly.

Painting touches only the dab's box of the mask and of the overlay's 8-bit
pyramid (halved levels, as the canvas keeps for the image); the overlay is drawn
from the visible crop of the level nearest the zoom, so a 12 MP mask paints as
fast as a small one. Entering (copying the selection, building the pyramid)
and leaving (rounding the mask to 16 bits, its SHA-256) run on workers.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QWidget

from editor.ui.canvas_tools import CanvasTool, register_tool
from editor.ui.canvas_tools.icons import painted_icon
from editor.workers.lanes import Job

#: overlay colour and its alpha at a fully selected pixel
OVERLAY = (230, 30, 30)
OVERLAY_ALPHA = 0.5
#: dab spacing as a fraction of the brush size
SPACING = 0.15
#: the overlay's coarsest level (longer side, px)
MIN_SIDE = 512


def dab(size: float, hardness: float, cx: float, cy: float,
        shape: tuple[int, int]) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """A soft round dab centred at image point ``(cx, cy)``: its box and its alpha.

    Full strength within ``hardness × radius``, then a raised-cosine fall to 0
    at the radius; sampled at pixel centres. None when it misses the image.
    """
    r = max(0.5, size / 2.0)
    h, w = shape
    x0, x1 = max(0, math.floor(cx - r)), min(w, math.ceil(cx + r) + 1)
    y0, y1 = max(0, math.floor(cy - r)), min(h, math.ceil(cy + r) + 1)
    if x0 >= x1 or y0 >= y1:
        return None
    xs = np.arange(x0, x1, dtype=np.float32) + 0.5 - cx
    ys = np.arange(y0, y1, dtype=np.float32) + 0.5 - cy
    d = np.sqrt(ys[:, None] ** 2 + xs[None, :] ** 2)
    inner = r * min(max(hardness, 0.0), 1.0)
    if inner >= r:
        a = (d <= r).astype(np.float32)
    else:
        t = np.clip((d - inner) / (r - inner), 0.0, 1.0)
        a = (0.5 * (1.0 + np.cos(np.pi * t))).astype(np.float32)
    return (slice(y0, y1), slice(x0, x1)), a


def halve(a: np.ndarray) -> np.ndarray:
    """2x2 block means of a ``uint8`` array (odd sides padded with zeros)."""
    h, w = a.shape
    if h % 2 or w % 2:
        a = np.pad(a, ((0, h % 2), (0, w % 2)))
    s = (a[0::2, 0::2].astype(np.uint16) + a[1::2, 0::2] + a[0::2, 1::2] + a[1::2, 1::2] + 2)
    return (s >> 2).astype(np.uint8)


def overlay_levels(mask: np.ndarray) -> list[np.ndarray]:
    """The overlay's ``uint8`` strength and its halvings down to ``MIN_SIDE``."""
    levels = [np.empty(mask.shape, np.uint8)]
    np.multiply(mask, 255.0, out=levels[0], casting="unsafe")
    while max(levels[-1].shape) > MIN_SIDE:
        levels.append(halve(levels[-1]))
    return levels


def start_masks(selection: np.ndarray | None, shape: tuple[int, int]):
    """The quick mask to paint (a copy of the selection, or empty) and its overlay levels."""
    mask = np.zeros(shape, np.float32) if selection is None else selection.copy()
    return mask, overlay_levels(mask)


def _premultiplied() -> np.ndarray:
    """Strength 0..255 -> the overlay's premultiplied ARGB32 pixel (as a uint32)."""
    a = np.round(np.arange(256) * OVERLAY_ALPHA)
    r, g, b = (np.round(c * a / 255) for c in OVERLAY)
    return ((a.astype(np.uint32) << 24) | (r.astype(np.uint32) << 16)
            | (g.astype(np.uint32) << 8) | b.astype(np.uint32))


_PREMULTIPLIED = _premultiplied()


@register_tool
class QuickMaskTool(CanvasTool):
    name = "quick_mask"
    title = "Quick Mask"
    shortcut = "Q"
    order = 40
    toggles = True
    buttons = (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton)
    cursor = Qt.CursorShape.BlankCursor  # the brush outline is the cursor
    tooltip = ("Paint the selection: left button paints, right button or Alt erases; "
               "Q again makes it the selection.")

    def __init__(self) -> None:
        super().__init__()
        self.size = 40
        self.hardness = 50  # %
        self.opacity = 100  # %
        self.mask: np.ndarray | None = None
        self.levels: list[np.ndarray] = []  # uint8 overlay strength and its halvings
        self.dirty = False
        self.erasing = False
        self.last: QPointF | None = None
        self.hover_at: QPointF | None = None
        self._ants_visible = True
        self._cache: tuple | None = None
        self._version = 0
        self._gen = 0
        self._lane = None

    # -- life cycle ------------------------------------------------------------------------
    def activate(self, canvas, controller) -> None:
        super().activate(canvas, controller)
        ants = canvas.ants
        if ants is not None:
            self._ants_visible, ants.visible = ants.visible, False
        controller.selectionChanged.connect(self._selection_changed)
        self.start()

    def deactivate(self) -> None:
        canvas, controller = self.canvas, self.controller
        if canvas is not None:
            self.commit()
            if canvas.ants is not None:
                canvas.ants.visible = self._ants_visible
            try:
                controller.selectionChanged.disconnect(self._selection_changed)
            except (RuntimeError, TypeError):
                pass
            canvas.update()
        self.mask, self.levels = None, []
        super().deactivate()

    def reset(self) -> None:
        if self.active:
            self.start()

    def start(self) -> None:
        """Begin from the current selection (or an empty mask), prepared on a worker:
        copying a 12 MP mask and building its overlay takes longer than a frame."""
        c = self.controller
        img = c.current_image() if c is not None else None
        self.dirty = False
        self._cache = None
        self.mask, self.levels = None, []
        self._gen += 1
        if img is None:
            return
        if self._lane is None:
            self._lane = c.make_lane("quick mask", latest_wins=True)
        sel, shape, gen = c.selection(), img.shape[:2], self._gen

        def ready(result) -> None:
            if gen == self._gen and self.active:
                self.mask, self.levels = result
                self._version += 1
                self.update()

        self._lane.submit(Job(lambda _ctx: start_masks(sel, shape), "Quick mask",
                              on_done=ready))

    def ready(self) -> bool:
        """The mask can be painted (tests wait for it)."""
        return self.mask is not None

    def _selection_changed(self, _mask) -> None:
        if not self.dirty:  # undo/redo while nothing is painted: follow the selection
            self.start()

    def commit(self) -> None:
        """The painted mask becomes the selection (one undo step), if anything was painted.

        As ``controller.set_selection(mask, "Quick Mask", op="select_mask")``
        (rounded to its 16-bit form, its SHA-256 recorded, the journal keeping
        it), but the rounding and the SHA-256 run on the worker: on a 12 MP
        mask they take most of a second.
        """
        if not self.dirty or self.mask is None or self.controller is None:
            return
        from editor.ui.pipeline import EditRequest

        self.dirty = False
        mask, params = self.mask, {"sha256": ""}

        def compute(_ctx, _image):
            from editor.core.selection import mask_sha256, quantize

            m = quantize(mask)
            if not np.any(m > 0):
                return None  # painted away: no selection
            params["sha256"] = mask_sha256(m)  # read by the GUI thread at the commit
            return m

        self.controller.submit(EditRequest(self.title, compute, op="select_mask",
                                           params=params, selects=True,
                                           shows_progress=False, keep_pixels=True))

    # -- painting the mask --------------------------------------------------------------------
    def press(self, pos, event) -> None:
        if self.mask is None:
            return
        self.erasing = event.button() == Qt.MouseButton.RightButton or \
            bool(event.modifiers() & Qt.KeyboardModifier.AltModifier)
        self.last = QPointF(pos)
        self.stamp(pos)
        self.update()

    def move(self, pos, event) -> None:
        self.hover_at = QPointF(pos)
        if self.mask is None or self.last is None:
            return
        a, b = self.last, QPointF(pos)
        step = max(0.5, self.size * SPACING)
        n = max(1, int(math.hypot(b.x() - a.x(), b.y() - a.y()) / step))
        for i in range(1, n + 1):
            self.stamp(a + (b - a) * (i / n))
        self.last = b
        self.update()

    def release(self, pos, event) -> None:
        self.last = None

    def stamp(self, pos: QPointF) -> None:
        """One dab at ``pos`` (paint or erase) into the mask and the overlay buffer."""
        got = dab(self.size, self.hardness / 100.0, pos.x(), pos.y(), self.mask.shape)
        if got is None:
            return
        box, a = got
        a *= self.opacity / 100.0
        region = self.mask[box]
        if self.erasing:
            np.minimum(region, 1.0 - a, out=region)
        else:
            np.maximum(region, a, out=region)
        np.multiply(region, 255.0, out=self.levels[0][box], casting="unsafe")
        self._update_levels(box)
        self.dirty = True
        self._version += 1

    def _update_levels(self, box: tuple[slice, slice]) -> None:
        """Recompute the halvings over a dab's box (a few thousand pixels per level)."""
        y0, y1, x0, x1 = box[0].start, box[0].stop, box[1].start, box[1].stop
        for k in range(1, len(self.levels)):
            prev = self.levels[k - 1]
            y0, x0 = y0 & ~1, x0 & ~1
            y1, x1 = min(prev.shape[0], y1 + (y1 & 1)), min(prev.shape[1], x1 + (x1 & 1))
            small = halve(prev[y0:y1, x0:x1])
            y0, x0 = y0 // 2, x0 // 2
            y1, x1 = y0 + small.shape[0], x0 + small.shape[1]
            self.levels[k][y0:y1, x0:x1] = small

    def hover(self, pos, event) -> None:
        self.hover_at = QPointF(pos)
        self.update()

    # -- keys -----------------------------------------------------------------------------------
    def key_press(self, event) -> bool:
        if event.key() == Qt.Key.Key_BracketLeft:
            self.set_size(max(1, round(self.size / 1.25)))
        elif event.key() == Qt.Key.Key_BracketRight:
            self.set_size(min(2000, round(self.size * 1.25) + 1))
        else:
            return False
        return True

    def set_size(self, size: int) -> None:
        self.size = int(size)
        box = getattr(self, "size_box", None)
        if box is not None:
            box.setValue(self.size)
        self.update()

    # -- options --------------------------------------------------------------------------------
    def create_options(self) -> QWidget:
        w = QWidget()
        row = QHBoxLayout(w)
        row.setContentsMargins(0, 0, 0, 0)

        def spin(label: str, lo: int, hi: int, value: int, suffix: str, attr: str,
                 tip: str) -> QSpinBox:
            row.addWidget(QLabel(label))
            s = QSpinBox()
            s.setRange(lo, hi)
            s.setValue(value)
            s.setSuffix(suffix)
            s.setToolTip(tip)
            s.valueChanged.connect(lambda v: setattr(self, attr, v))
            row.addWidget(s)
            row.addSpacing(8)
            return s

        self.size_box = spin("Size:", 1, 2000, self.size, " px", "size",
                             "Brush diameter in image pixels ([ and ] change it)")
        self.hardness_box = spin("Hardness:", 0, 100, self.hardness, " %", "hardness",
                                 "Share of the radius painted at full strength")
        self.opacity_box = spin("Opacity:", 1, 100, self.opacity, " %", "opacity",
                                "Strength of a stroke")
        hint = QLabel("Left paints · right or Alt erases · Q applies")
        hint.setStyleSheet("color: #8a8a8a;")
        row.addWidget(hint)
        row.addStretch(1)
        return w

    def icon(self):
        def draw(p, pen):
            p.setBrush(QColor(230, 60, 60, 170))
            p.setPen(pen)
            p.drawRoundedRect(5, 5, 22, 22, 4, 4)
            p.setBrush(QColor(255, 255, 255))
            p.setPen(Qt.PenStyle.NoPen)
            p.drawEllipse(QPointF(16, 16), 6, 6)
        return painted_icon(draw)

    # -- drawing --------------------------------------------------------------------------------
    def overlay_image(self, canvas) -> tuple[QImage, QRectF] | None:
        """The red overlay of the visible part from the level nearest the zoom (at most
        2x larger than the screen, as the canvas draws the image) and its target.

        Drawn unsmoothed: a soft red wash shows no aliasing, and smoothing would
        cost more than the rest of the paint.
        """
        if not self.levels:
            return None
        x0, y0, x1, y1 = canvas.visible_rect()
        if x1 <= x0 or y1 <= y0:
            return None
        z = canvas.zoom
        k = 0 if z >= 1 else min(len(self.levels) - 1, int(math.log2(1 / z)))
        lv = self.levels[k]
        f = 1 << k
        kx0, ky0 = x0 // f, y0 // f
        kx1, ky1 = min(lv.shape[1], -(-x1 // f)), min(lv.shape[0], -(-y1 // f))
        target = QRectF(canvas.to_widget(QPointF(kx0 * f, ky0 * f)),
                        canvas.to_widget(QPointF(kx1 * f, ky1 * f)))
        key = (self._version, k, kx0, ky0, kx1, ky1)
        if self._cache is None or self._cache[0] != key:
            # premultiplied ARGB made here (one small table lookup per pixel): Qt then
            # blends it straight, instead of converting an indexed image every paint
            argb = np.ascontiguousarray(_PREMULTIPLIED[lv[ky0:ky1, kx0:kx1]])
            img = QImage(argb.data, argb.shape[1], argb.shape[0], argb.strides[0],
                         QImage.Format.Format_ARGB32_Premultiplied)
            self._cache = (key, img, argb)  # the image borrows argb
        return self._cache[1], target

    def paint(self, p: QPainter, canvas) -> None:
        got = self.overlay_image(canvas)
        if got is not None:
            img, target = got
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            p.drawImage(target, img, QRectF(img.rect()))
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        label = "Quick Mask — Q to apply"
        fm = p.fontMetrics()
        box = QRectF(12, canvas.height() - fm.height() - 18, fm.horizontalAdvance(label) + 14,
                     fm.height() + 6)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(150, 20, 20, 190))
        p.drawRoundedRect(box, 4, 4)
        p.setPen(QColor(255, 255, 255))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, label)
        if self.hover_at is not None:
            c = canvas.to_widget(self.hover_at)
            r = max(2.0, self.size / 2 * canvas.zoom)
            p.setBrush(Qt.BrushStyle.NoBrush)
            for color, width in ((QColor(0, 0, 0), 3), (QColor(255, 255, 255), 1)):
                p.setPen(QPen(color, width))
                p.drawEllipse(c, r, r)
