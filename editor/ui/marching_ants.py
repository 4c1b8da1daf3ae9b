"""Marching ants: the selection's outline, animated over the canvas at any zoom.

The outline is the selection's 0.5 contour, kept in **image coordinates** and
mapped to the widget when painted, so it follows zoom and pan for free. It is
computed off the GUI thread whenever the selection changes:

* a pyramid of outlines, one per halving of the mask (OpenCV contours of the
  mask area-averaged to that level and thresholded at 0.5, through pixel
  centres), down to a level whose longer side is at most ``MIN_SIDE``; the
  painter uses the coarsest level whose pixels are still no larger than a
  screen pixel, so a wand selection of a 12 MP photo fitted to the window
  draws a few thousand points, not a million;
* zoomed in (``EXACT_ZOOM`` and beyond), where half a pixel is visible, the
  visible part of the mask is traced again with marching squares (the exact
  0.5 iso-line: a hard edge lies on the pixel boundary) whenever the view
  settles.

Points reach the painter as ready ``QPolygonF`` objects (filled through their
buffer on the worker), each with its bounding box so only the visible ones
are drawn; painting is two cosmetic pens (white, then black dashes offset by
the animation phase). A view with more than ``POINT_BUDGET`` points (a
speckled mask: tens of thousands of specks) is drawn instead from the level's
boundary pixels, an 8-bit raster of dash phases turned into premultiplied
ARGB by one table lookup per frame, so painting costs the same whatever the
selection's shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
import shiboken6
from PySide6.QtCore import QObject, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPolygonF, QTransform

from editor.workers.lanes import Job

#: the coarsest level's longer side (px)
MIN_SIDE = 512
#: zoom from which the visible part is traced exactly (pixel edges)
EXACT_ZOOM = 2.0
#: animation step (ms) and dash length (screen px)
STEP_MS = 120
DASH = 4.0
#: most outline points drawn as lines in one paint; a busier view (a wand on
#: noise, a speckled mask) is drawn from the level's boundary raster instead
POINT_BUDGET = 12_000
#: most outlines drawn as lines in one paint (each is two dashed strokes)
POLY_BUDGET = 1_500
#: levels with more points than this keep only their raster (no polygons built)
VECTOR_MAX = 300_000
#: the exact trace is skipped for views with more points than this
EXACT_MAX = 60_000


def polygon(points: np.ndarray) -> QPolygonF:
    """A ``QPolygonF`` filled from an ``(n, 2)`` float array through its buffer."""
    poly = QPolygonF()
    n = len(points)
    poly.resize(n)
    if n:
        buf = shiboken6.VoidPtr(poly.data(), n * 16, True)
        np.frombuffer(buf, np.float64).reshape(-1, 2)[:] = points
    return poly


@dataclass
class Outline:
    """Closed outlines of one level in image coordinates, with their bounding boxes,
    and (for busy levels) the level's boundary pixels as a raster."""

    polys: list[QPolygonF] | None = field(default_factory=list)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # x0, y0, x1, y1
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    points: int = 0
    #: boundary pixels of the level: 1 + (x + y) % 8 (the dash phase), 0 elsewhere
    raster: np.ndarray | None = None
    scale: int = 1  # image pixels per raster pixel

    @classmethod
    def from_arrays(cls, arrays: list[np.ndarray], build: bool = True) -> Outline:
        """From ``(n, 2)`` point arrays; ``build=False``: boxes and counts only."""
        arrays = [a for a in arrays if len(a) >= 2]
        if not arrays:
            return cls()
        counts = np.fromiter(map(len, arrays), np.int64, len(arrays))
        return cls.from_points(np.concatenate(arrays).astype(np.float64, copy=False),
                               counts, build)

    @classmethod
    def from_points(cls, allp: np.ndarray, counts: np.ndarray, build: bool = True) -> Outline:
        """From all outlines' points end to end (``counts`` of each, every one >= 1)."""
        if counts.size == 0:
            return cls()
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        boxes = np.column_stack([np.minimum.reduceat(allp[:, 0], starts),
                                 np.minimum.reduceat(allp[:, 1], starts),
                                 np.maximum.reduceat(allp[:, 0], starts),
                                 np.maximum.reduceat(allp[:, 1], starts)])
        polys = None
        if build:
            polys = [polygon(allp[s:s + n]) for s, n in zip(starts.tolist(), counts.tolist(),
                                                             strict=True)]
        return cls(polys, boxes, counts, int(counts.sum()))

    def visible_index(self, rect: tuple[float, float, float, float]) -> np.ndarray:
        x0, y0, x1, y1 = rect
        b = self.boxes
        return np.flatnonzero((b[:, 2] >= x0) & (b[:, 0] <= x1) & (b[:, 3] >= y0)
                              & (b[:, 1] <= y1))

    def visible(self, rect: tuple[float, float, float, float]) -> list[QPolygonF]:
        if not self.polys:
            return []
        return [self.polys[i] for i in self.visible_index(rect)]


@dataclass
class OutlinePyramid:
    """Outlines of one selection: ``levels[k]`` traced on the mask halved k times."""

    levels: list[Outline]
    bbox: tuple[float, float, float, float] | None  # of the 0.5 region, image coords
    shape: tuple[int, int]


def _trace(binary: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """All contours of a level end to end, in image coordinates, and their lengths."""
    contours, _ = cv2.findContours(binary, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return np.zeros((0, 2)), np.zeros(0, np.int64)
    counts = np.fromiter(map(len, contours), np.int64, len(contours))
    # contour points are pixel indices of the level: their centres in image coords
    allp = np.concatenate(contours).reshape(-1, 2).astype(np.float64)
    allp += 0.5
    allp *= scale
    return allp, counts


_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def boundary_raster(binary: np.ndarray) -> np.ndarray:
    """Inside pixels with an outside 4-neighbour, valued ``1 + (x + y) % 8``."""
    edge = binary & ~cv2.erode(binary, _CROSS, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    h, w = binary.shape
    phase = ((np.arange(h, dtype=np.uint16)[:, None] + np.arange(w, dtype=np.uint16))
             % 8 + 1).astype(np.uint8)
    return np.where(edge.astype(bool), phase, np.uint8(0))


def _level(binary: np.ndarray, scale: int) -> Outline:
    allp, counts = _trace(binary, float(scale))
    total = int(counts.sum())
    out = Outline.from_points(allp, counts, build=total <= VECTOR_MAX)
    if total > POINT_BUDGET or counts.size > POLY_BUDGET:
        out.raster = boundary_raster(binary)
    out.scale = scale
    return out


def trace_pyramid(mask: np.ndarray, cancelled=lambda: False) -> OutlinePyramid | None:
    """Outline levels of ``mask`` (see the module docstring); None if nothing is selected."""
    inside = mask >= 0.5
    rows = np.flatnonzero(inside.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(inside[rows[0]:rows[-1] + 1].any(axis=0))
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    levels = [_level(inside.view(np.uint8), 1)]
    level = mask
    k = 0
    while max(level.shape) > MIN_SIDE:
        if cancelled():
            return None
        k += 1
        h, w = level.shape
        level = cv2.resize(level, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
        binary = np.ascontiguousarray((level >= 0.5).view(np.uint8))
        levels.append(_level(binary, 1 << k))
    return OutlinePyramid(levels, (float(x0), float(y0), float(x1), float(y1)), mask.shape)


def trace_exact(mask: np.ndarray, rect: tuple[int, int, int, int]) -> Outline:
    """The exact 0.5 iso-line of ``mask`` inside ``rect`` (x0, y0, x1, y1), image coords."""
    from skimage.measure import find_contours

    x0, y0, x1, y1 = rect
    h, w = mask.shape
    # one pixel of margin (and zero padding at the image border) closes the lines
    ax0, ay0, ax1, ay1 = max(0, x0 - 1), max(0, y0 - 1), min(w, x1 + 1), min(h, y1 + 1)
    crop = np.pad(mask[ay0:ay1, ax0:ax1], 1)
    lines = find_contours(crop, 0.5)
    # rows, cols of the padded crop's pixel centres -> x, y image coordinates
    return Outline.from_arrays([np.column_stack([c[:, 1] + ax0 - 0.5, c[:, 0] + ay0 - 0.5])
                                for c in lines])


class MarchingAnts(QObject):
    """Traces the selection on a lane and paints it as a canvas decoration."""

    def __init__(self, canvas, lane) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.lane = lane
        self.mask: np.ndarray | None = None
        self.pyramid: OutlinePyramid | None = None
        self.exact: tuple[tuple[int, int, int, int], Outline] | None = None
        #: image-space transform applied while a tool drags the selection (handles)
        self.preview: QTransform | None = None
        self.visible = True
        self.phase = 0
        self._gen = 0
        self._exact_gen = 0
        self._raster_cache: tuple | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(STEP_MS)
        self._timer.timeout.connect(self._step)
        canvas.decorations.append(self.paint)
        canvas.viewChanged.connect(self._view_changed)

    # -- the selection ------------------------------------------------------------------
    def set_mask(self, mask: np.ndarray | None) -> None:
        """A new selection (None: none); its outline follows when traced."""
        self._gen += 1
        self.mask = mask
        self.exact = None
        self.preview = None
        if mask is None:
            self.pyramid = None
            self._timer.stop()
            self.canvas.update()
            return
        gen = self._gen
        self.lane.submit(Job(lambda ctx: trace_pyramid(mask, ctx.cancelled),
                             "Selection outline",
                             on_done=lambda p: self._traced(gen, p)))

    def bbox(self) -> tuple[float, float, float, float] | None:
        """The selection's bounding box (its 0.5 region) in image coords, once traced."""
        return None if self.pyramid is None else self.pyramid.bbox

    def ready(self) -> bool:
        """The outline shown is the current selection's (tests wait for it)."""
        return self.mask is None or self.pyramid is not None

    def _traced(self, gen: int, pyramid: OutlinePyramid | None) -> None:
        if gen != self._gen:
            return
        self.pyramid = pyramid
        if pyramid is not None:
            self._timer.start()
            self._view_changed()
        else:
            self._timer.stop()
        self.canvas.update()

    def _view_changed(self) -> None:
        mask = self.mask
        if mask is None or self.pyramid is None or self.canvas.zoom < EXACT_ZOOM:
            return
        rect = self.canvas.visible_rect()
        if self.exact is not None and _contains(self.exact[0], rect):
            return
        level0 = self.pyramid.levels[0]
        if level0.counts[level0.visible_index(rect)].sum() > EXACT_MAX:
            return  # speckle: the level outline or raster is as good at this zoom
        # trace a little more than the view so small pans reuse it
        x0, y0, x1, y1 = rect
        mx, my = (x1 - x0) // 2, (y1 - y0) // 2
        h, w = mask.shape
        want = (max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my))
        self._exact_gen += 1
        gen, egen = self._gen, self._exact_gen

        def done(outline: Outline) -> None:
            if gen == self._gen and egen == self._exact_gen:
                self.exact = (want, outline)
                self.canvas.update()

        self.lane.submit(Job(lambda ctx: trace_exact(mask, want), "Selection outline",
                             on_done=done))

    def _step(self) -> None:
        if self.canvas.isVisible() and self.visible:
            self.phase = (self.phase + 1) % int(2 * DASH)
            self.canvas.update()

    # -- painting -----------------------------------------------------------------------
    def outline_for_view(self) -> Outline | None:
        """The outline the painter uses at the canvas's zoom."""
        pyr = self.pyramid
        if pyr is None:
            return None
        zoom = self.canvas.zoom
        if zoom >= EXACT_ZOOM and self.exact is not None \
                and _contains(self.exact[0], self.canvas.visible_rect()) \
                and self.preview is None:
            return self.exact[1]
        k = 0 if zoom >= 1 else min(len(pyr.levels) - 1, int(math.log2(1 / zoom)))
        return pyr.levels[k]

    def paint(self, p: QPainter, canvas) -> None:
        if not self.visible:
            return
        outline = self.outline_for_view()
        if outline is None:
            return
        # image -> widget: x' = (x - cx) * zoom + w / 2
        z = canvas.zoom
        to_widget = QTransform(z, 0, 0, z, canvas.width() / 2 - canvas.center.x() * z,
                               canvas.height() / 2 - canvas.center.y() * z)
        t = to_widget if self.preview is None else self.preview * to_widget
        inv, ok = t.inverted()
        if not ok:
            return
        view = inv.mapRect(QRectF(canvas.rect()))
        rect = (view.left() - 1, view.top() - 1, view.right() + 1, view.bottom() + 1)
        keep = outline.visible_index(rect)
        if keep.size == 0:
            return
        p.save()
        p.setTransform(t)
        if outline.polys is None or keep.size > POLY_BUDGET \
                or int(outline.counts[keep].sum()) > POINT_BUDGET:
            if outline.raster is not None:
                self._paint_raster(p, outline, view)
            p.restore()
            return
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        p.setBrush(Qt.BrushStyle.NoBrush)
        white = QPen(QColor(255, 255, 255), 0)  # width 0: cosmetic, one screen pixel
        black = QPen(QColor(0, 0, 0), 0)
        black.setDashPattern([DASH, DASH])
        black.setDashOffset(self.phase)
        polys = outline.polys
        for pen in (white, black):
            p.setPen(pen)
            for i in keep:
                p.drawPolygon(polys[i])
        p.restore()

    def _paint_raster(self, p: QPainter, outline: Outline, view: QRectF) -> None:
        """The level's boundary pixels, dashed by their ``(x + y)`` phase."""
        r, f = outline.raster, outline.scale
        h, w = r.shape
        x0 = max(0, int(view.left() // f) - 1)
        y0 = max(0, int(view.top() // f) - 1)
        x1 = min(w, int(view.right() // f) + 2)
        y1 = min(h, int(view.bottom() // f) + 2)
        if x1 <= x0 or y1 <= y0:
            return
        key = (id(r), x0, y0, x1, y1, self.phase)
        if self._raster_cache is None or self._raster_cache[0] != key:
            # premultiplied ARGB by one table lookup: Qt blends it without converting
            argb = np.ascontiguousarray(_phase_table(self.phase)[r[y0:y1, x0:x1]])
            img = QImage(argb.data, argb.shape[1], argb.shape[0], argb.strides[0],
                         QImage.Format.Format_ARGB32_Premultiplied)
            self._raster_cache = (key, img, argb)  # the image borrows argb
        img = self._raster_cache[1]
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        p.drawImage(QRectF(x0 * f, y0 * f, (x1 - x0) * f, (y1 - y0) * f), img,
                    QRectF(img.rect()))

    def shutdown(self) -> None:
        self._timer.stop()


def _phase_table(phase: int) -> np.ndarray:
    """Raster value -> ARGB: 0 transparent, 1..8 white or black by the dash phase."""
    table = np.zeros(256, np.uint32)
    for i in range(8):
        table[i + 1] = 0xFFFFFFFF if (i + phase) % 8 < 4 else 0xFF000000
    return table


def _contains(outer: tuple[int, int, int, int], inner: tuple[int, int, int, int]) -> bool:
    return (outer[0] <= inner[0] and outer[1] <= inner[1] and outer[2] >= inner[2]
            and outer[3] >= inner[3])

