"""Painting a detector's overlay over the canvas, in image coordinates at any zoom.

The canvas asks :class:`OverlayLayer` to paint after the image; the layer reads
the canvas's view (centre, zoom, size) and draws

* points as crosses or circles of a fixed screen size, outlined for contrast;
* HOG cells as one line glyph per orientation bin, brighter for stronger
  bins, while the cells are large enough on screen to read, and as the same
  glyphs rasterised (like the edge mask) when they are not;
* edge masks as a coloured raster: a pyramid of max-pooled levels, so a
  one-pixel edge stays visible when a 12 MP image is fitted to the window.

Only the visible part is drawn, and a raster crop is cached until the view,
the overlay or the style changes; painting never touches the image's pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen

#: Most markers drawn in one paint (the strongest, since detectors sort by score).
MAX_MARKERS = 20_000
#: Most glyph lines drawn as vectors; beyond it the raster glyphs are painted.
MAX_GLYPH_LINES = 60_000
#: Cells narrower than this on screen are painted as raster glyphs.
MIN_GLYPH_CELL_PX = 6.0
#: Glyph strengths are drawn in this many opacity steps (one pen each).
GLYPH_LEVELS = 8
#: Bins weaker than this (of the 99.5th percentile) are not drawn: over a photo
#: they add only a haze of faint stars in flat regions.
MIN_GLYPH_STRENGTH = 0.15
#: Coarsest raster level side (as the canvas's own pyramid).
MIN_LEVEL_SIDE = 256

SHAPES = ("cross", "circle")


@dataclass(frozen=True)
class OverlayStyle:
    """How an overlay kind is drawn.

    ``size`` is in screen pixels: the marker's width for points, the line width
    for glyphs and edges. ``opacity`` scales the colour's alpha.
    """

    color: tuple[int, int, int] = (255, 64, 64)
    size: float = 9.0
    shape: str = "cross"
    opacity: float = 1.0

    def qcolor(self, alpha: float = 1.0) -> QColor:
        r, g, b = self.color
        return QColor(r, g, b, max(0, min(255, round(255 * self.opacity * alpha))))


#: Starting styles by overlay kind (``Overlay.kind``).
DEFAULT_STYLES = {
    "points": OverlayStyle((255, 64, 64), 9.0, "cross"),
    "cells": OverlayStyle((120, 220, 255), 1.5, "cross"),
    "mask": OverlayStyle((80, 255, 120), 1.0, "cross", 0.95),
}


class _Raster:
    """Max-pooled pyramid of an 8-bit alpha image and the last crop wrapped for painting."""

    def __init__(self, alpha: np.ndarray) -> None:
        self.levels = [np.ascontiguousarray(alpha, np.uint8)]
        while max(self.levels[-1].shape) > 2 * MIN_LEVEL_SIDE:
            a = self.levels[-1]
            h, w = a.shape
            if h % 2 or w % 2:
                a = np.pad(a, ((0, h % 2), (0, w % 2)))
            # max, not mean: a one-pixel edge must survive every halving (strided
            # maxima: 25x faster than a reshaped .max over two axes at 12 MP)
            self.levels.append(np.maximum(np.maximum(a[0::2, 0::2], a[1::2, 0::2]),
                                          np.maximum(a[0::2, 1::2], a[1::2, 1::2])))
        self._key: tuple | None = None
        self._image: QImage | None = None
        self._buffer: np.ndarray | None = None

    def image(self, k: int, crop: tuple[int, int, int, int], size: tuple[int, int] | None,
              color: QColor, widen: int, binary: bool) -> QImage:
        """The crop ``(x0, y0, x1, y1)`` of level ``k`` as an indexed image in ``color``.

        With ``size`` the crop is first resampled to those screen pixels: while
        shrinking, area averaging turns a one-pixel edge into partial coverage,
        so a ``binary`` raster is thresholded back to full strength (crisp,
        opaque lines) and an intensity raster is boosted by the shrink factor.
        ``widen`` then thickens lines to that many screen pixels.
        """
        key = (k, crop, size, color.rgba(), widen, binary)
        if key != self._key:
            x0, y0, x1, y1 = crop
            part = self.levels[k][y0:y1, x0:x1]
            if size is not None and size != (part.shape[1], part.shape[0]):
                shrink = part.shape[1] / max(1, size[0])
                part = cv2.resize(part, size, interpolation=cv2.INTER_AREA)
                if binary:
                    part = cv2.threshold(part, 0, 255, cv2.THRESH_BINARY)[1]
                elif shrink > 1:
                    part = cv2.convertScaleAbs(part, alpha=shrink)
            part = np.ascontiguousarray(part)
            if widen > 1:
                part = cv2.dilate(part, np.ones((widen, widen), np.uint8))
            img = QImage(part.data, part.shape[1], part.shape[0], part.strides[0],
                         QImage.Format.Format_Indexed8)
            r, g, b, a = color.red(), color.green(), color.blue(), color.alpha()
            img.setColorTable([QColor(r, g, b, a * i // 255).rgba() for i in range(256)])
            self._key, self._image, self._buffer = key, img, part  # the image borrows part
        return self._image


class OverlayLayer:
    """One overlay (an :class:`editor.ops.overlays.Overlay`), its style and visibility."""

    def __init__(self) -> None:
        self.overlay = None
        self.style = OverlayStyle()
        self.visible = True
        self._raster: _Raster | None = None
        self._strengths: np.ndarray | None = None

    def set_overlay(self, overlay, style: OverlayStyle | None = None) -> None:
        if overlay is not self.overlay:
            self._raster = None
            self._strengths = None
        self.overlay = overlay
        if style is not None:
            self.style = style

    def showing(self) -> bool:
        return self.visible and self.overlay is not None and self.overlay.count() > 0

    # -- painting -------------------------------------------------------------------
    def paint(self, p: QPainter, canvas) -> None:
        """Draw the overlay over ``canvas`` (a :class:`~editor.ui.canvas.Canvas`)."""
        if not self.showing():
            return
        p.save()
        try:
            kind = self.overlay.kind
            if kind == "points":
                self._paint_points(p, canvas)
            elif kind == "cells":
                self._paint_cells(p, canvas)
            elif kind == "mask":
                self._paint_raster(p, canvas, lambda: self.overlay.mask)
        finally:
            p.restore()

    @staticmethod
    def _view(canvas) -> tuple[float, float, float]:
        """``(zoom, x offset, y offset)``: widget = image * zoom + offset."""
        z = canvas.zoom
        return z, canvas.width() / 2 - canvas.center.x() * z, \
            canvas.height() / 2 - canvas.center.y() * z

    def _paint_points(self, p: QPainter, canvas) -> None:
        z, ox, oy = self._view(canvas)
        pts = self.overlay.image_points()
        wx = (pts[:, 0] + 0.5) * z + ox
        wy = (pts[:, 1] + 0.5) * z + oy
        s = self.style
        r = max(1.0, s.size / 2)
        inside = (wx > -r) & (wx < canvas.width() + r) & (wy > -r) & (wy < canvas.height() + r)
        wx, wy = wx[inside][:MAX_MARKERS], wy[inside][:MAX_MARKERS]
        if not len(wx):
            return
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setBrush(Qt.BrushStyle.NoBrush)
        width = max(1.0, s.size / 7)
        outline = QPen(QColor(0, 0, 0, round(200 * s.opacity)), width + 2)
        pen = QPen(s.qcolor(), width)
        if s.shape == "circle":
            centres = [QPointF(x, y) for x, y in zip(wx.tolist(), wy.tolist(), strict=True)]
            for pen_ in (outline, pen):
                p.setPen(pen_)
                for c in centres:
                    p.drawEllipse(c, r, r)
            return
        lines = [QLineF(x - r, y, x + r, y) for x, y in zip(wx.tolist(), wy.tolist(), strict=True)]
        lines += [QLineF(x, y - r, x, y + r) for x, y in zip(wx.tolist(), wy.tolist(),
                                                           strict=True)]
        for pen_ in (outline, pen):
            p.setPen(pen_)
            p.drawLines(lines)

    def _paint_cells(self, p: QPainter, canvas) -> None:
        ov = self.overlay
        z, ox, oy = self._view(canvas)
        side = ov.cell_size()
        rows, cols, bins = ov.hist.shape
        x0, y0, x1, y1 = canvas.visible_rect()
        c0 = max(0, math.floor((x0 - ov.origin[0]) / side))
        c1 = min(cols, math.ceil((x1 - ov.origin[0]) / side))
        r0 = max(0, math.floor((y0 - ov.origin[1]) / side))
        r1 = min(rows, math.ceil((y1 - ov.origin[1]) / side))
        if c1 <= c0 or r1 <= r0:
            return
        if side * z < MIN_GLYPH_CELL_PX or (r1 - r0) * (c1 - c0) * bins > MAX_GLYPH_LINES:
            self._paint_raster(p, canvas, self._glyph_alpha)
            return
        strength = self._glyph_strengths()[r0:r1, c0:c1]  # (r, c, bins)
        cy, cx = np.mgrid[r0:r1, c0:c1].astype(np.float64)
        # cell centres on screen, then every bin's line through them
        wx = ((cx + 0.5) * side + ov.origin[0]) * z + ox
        wy = ((cy + 0.5) * side + ov.origin[1]) * z + oy
        half = max(0.5, (ov.cell // 2 - 1)) * ov.scale * z  # skimage's glyph radius
        d = ov.directions() * half  # (bins, 2)
        level = np.ceil(strength * GLYPH_LEVELS).astype(np.int32)  # 0 = not drawn
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for q in range(1, GLYPH_LEVELS + 1):
            rr, cc, bb = np.nonzero(level == q)
            if not len(rr):
                continue
            x, y = wx[rr, cc], wy[rr, cc]
            dx, dy = d[bb, 0], d[bb, 1]
            ends = np.column_stack([x - dx, y - dy, x + dx, y + dy]).tolist()
            pen = QPen(self.style.qcolor(q / GLYPH_LEVELS), self.style.size)
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            p.setPen(pen)
            p.drawLines([QLineF(*e) for e in ends])

    def _glyph_strengths(self) -> np.ndarray:
        if self._strengths is None:
            s = self.overlay.strengths().astype(np.float32)
            s[s < MIN_GLYPH_STRENGTH] = 0
            self._strengths = s
        return self._strengths

    def _glyph_alpha(self) -> np.ndarray:
        """The cells' glyphs rasterised at the overlay's resolution, strength as alpha."""
        from editor.ops.features import hog_glyphs

        ov = self.overlay
        glyphs = hog_glyphs(self._glyph_strengths(), ov.cell)
        return cv2.convertScaleAbs(glyphs, alpha=255.0)  # glyphs >= 0: rounds, saturates

    def _paint_raster(self, p: QPainter, canvas, make_alpha) -> None:
        ov = self.overlay
        if self._raster is None:
            self._raster = _Raster(make_alpha())
        raster = self._raster
        z, ox, oy = self._view(canvas)
        ze = z * ov.scale  # screen pixels per overlay pixel
        k = 0 if ze >= 1 else min(len(raster.levels) - 1, int(math.log2(1 / ze)))
        level = raster.levels[k]
        f = ov.scale * (1 << k)  # image pixels per level pixel
        x0, y0, x1, y1 = canvas.visible_rect()
        cx0 = max(0, math.floor((x0 - ov.origin[0]) / f))
        cy0 = max(0, math.floor((y0 - ov.origin[1]) / f))
        cx1 = min(level.shape[1], math.ceil((x1 - ov.origin[0]) / f))
        cy1 = min(level.shape[0], math.ceil((y1 - ov.origin[1]) / f))
        if cx1 <= cx0 or cy1 <= cy0:
            return
        px = ze * (1 << k)  # screen pixels per level pixel (1..2 unless zoomed in)
        tl = QPointF((cx0 * f + ov.origin[0]) * z + ox, (cy0 * f + ov.origin[1]) * z + oy)
        br = QPointF((cx1 * f + ov.origin[0]) * z + ox, (cy1 * f + ov.origin[1]) * z + oy)
        target = QRectF(tl, br)
        binary = ov.kind == "mask"
        if px < 2:
            # resample to the screen's own pixels here: Qt's smooth scaling would
            # blend a one-pixel edge into the photo at half strength
            size = (max(1, round(target.width())), max(1, round(target.height())))
            widen = max(1, round(self.style.size))
        else:
            size, widen = None, 1  # level pixels are big on screen: draw them crisp
        img = raster.image(k, (cx0, cy0, cx1, cy1), size, self.style.qcolor(), widen, binary)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        p.drawImage(QRectF(tl, br), img, QRectF(0, 0, img.width(), img.height()))
