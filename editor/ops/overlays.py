"""Detector results drawn over the image instead of into it (Qt-free geometry).

A feature detector run with ``output="overlay"`` (its default) returns its
input unchanged and puts one :class:`Overlay` in ``ctx.extras["overlay"]``:
corner points (:class:`PointsOverlay`), HOG cells with their orientation
histograms (:class:`CellsOverlay`) or an edge mask (:class:`MaskOverlay`). The
editor draws it on the canvas, toggles it, counts it and exports it, and the
histogram and pixels stay those of the image. ``output="burn"`` draws the
markers into the pixels instead (and publishes no overlay).

Coordinates
-----------
Geometry is stored in the pixels of the image the detector ran on. ``scale``
(image pixels per overlay pixel) and ``origin`` (the image position of the
overlay's top-left pixel edge) place it in the document: a continuous position
``u`` (pixel ``i`` covers ``[i, i + 1)``) lands at ``u * scale + origin``. A
full-resolution run has ``scale=1, origin=(0, 0)``; a live preview computed on
a downscaled crop is placed with :func:`place_extras`, so every consumer sees
image coordinates.

Examples
--------
>>> ov = PointsOverlay("harris", {}, np.array([[10.0, 20.0, 5.0]]))
>>> ov.summary()
'1 corner'
>>> ov.placed(2.0, (100.0, 0.0)).image_points()[:, :2].tolist()
[[120.5, 40.5]]
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np

from editor.core.context import OpContext

#: ``ctx.extras`` key of the overlay a detector publishes.
OVERLAY_KEY = "overlay"
#: The ``output`` choices every detector declares.
OUTPUTS = ("overlay", "burn")
#: Fraction of the strongest HOG bins drawn at full strength (skimage-like contrast).
HOG_TOP_PERCENTILE = 99.5


@dataclass(frozen=True, eq=False)
class Overlay:
    """Base of the overlay kinds: where the geometry sits and what made it.

    Attributes
    ----------
    op : str
        Registered name of the detector that made it.
    params : dict
        The parameters the detector ran with (bound values, full resolution
        unless the overlay comes from a preview).
    scale : float
        Image pixels per overlay pixel.
    origin : tuple of float
        Image position ``(x, y)`` of the overlay's top-left pixel edge.
    preview : bool
        Computed on a preview proxy (approximate positions and count).
    """

    kind: ClassVar[str] = ""
    noun: ClassVar[tuple[str, str]] = ("item", "items")

    op: str
    params: dict[str, Any]
    scale: float = field(default=1.0, kw_only=True)
    origin: tuple[float, float] = field(default=(0.0, 0.0), kw_only=True)
    preview: bool = field(default=False, kw_only=True)

    # -- placement ---------------------------------------------------------------
    def placed(self, scale: float, origin: tuple[float, float]) -> Overlay:
        """This overlay moved into a larger frame: ``u -> u * scale + origin``."""
        ox, oy = self.origin
        return replace(self, scale=self.scale * scale,
                       origin=(ox * scale + origin[0], oy * scale + origin[1]),
                       preview=self.preview or scale != 1.0)

    def to_image(self, xy: np.ndarray) -> np.ndarray:
        """Pixel-index positions ``(N, 2)`` of the overlay in image pixel indices."""
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        return (xy + 0.5) * self.scale + np.asarray(self.origin) - 0.5

    # -- counting and export -------------------------------------------------------
    def count(self) -> int:
        """How many items the overlay shows (corners, cells, edges)."""
        raise NotImplementedError

    def summary(self) -> str:
        """``"547 corners"``, ``"1 corner"`` (thousands separated)."""
        n = self.count()
        return f"{n:,} {self.noun[0] if n == 1 else self.noun[1]}"

    def table(self) -> tuple[list[str], np.ndarray]:
        """Column names and an ``(N, len(columns))`` array, in image coordinates."""
        raise NotImplementedError

    def to_csv(self) -> str:
        """The :meth:`table` as CSV text with a header row."""
        columns, rows = self.table()
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_number(v) for v in row] for row in rows.tolist())
        return buf.getvalue()

    def to_json(self) -> str:
        """The :meth:`table` as a JSON object: what made it, the columns and the rows."""
        columns, rows = self.table()
        doc = {"overlay": self.noun[1], "op": self.op,
               "params": {k: _plain(v) for k, v in self.params.items()},
               "count": self.count(), "columns": columns,
               "rows": [[_number(v) for v in row] for row in rows.tolist()]}
        doc.update(self._json_extra())
        return json.dumps(doc, indent=1) + "\n"

    def _json_extra(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, eq=False)
class PointsOverlay(Overlay):
    """Corner points: ``points`` is ``(N, 3)`` rows ``(x, y, score)``, strongest first."""

    kind: ClassVar[str] = "points"
    noun: ClassVar[tuple[str, str]] = ("corner", "corners")

    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))

    def count(self) -> int:
        return int(len(self.points))

    def image_points(self) -> np.ndarray:
        """``(N, 3)`` rows ``(x, y, score)`` in image pixel indices."""
        pts = np.asarray(self.points, np.float64).reshape(-1, 3)
        if self.scale == 1.0 and self.origin == (0.0, 0.0):
            return pts
        return np.column_stack([self.to_image(pts[:, :2]), pts[:, 2]])

    def table(self) -> tuple[list[str], np.ndarray]:
        return ["x", "y", "score"], self.image_points()


@dataclass(frozen=True, eq=False)
class CellsOverlay(Overlay):
    """HOG cells: ``hist`` is ``(rows, cols, bins)``, one histogram per ``cell``-square.

    Bin ``o`` covers unsigned gradient orientations ``[o, o + 1) * 180 / bins``
    degrees; its glyph is a line through the cell centre along the edge, i.e.
    perpendicular to the bin's mid-angle (as ``skimage.feature.hog`` draws).
    """

    kind: ClassVar[str] = "cells"
    noun: ClassVar[tuple[str, str]] = ("cell", "cells")

    hist: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 9), np.float32))
    cell: int = 8

    def count(self) -> int:
        return int(self.hist.shape[0] * self.hist.shape[1])

    @property
    def bins(self) -> int:
        return int(self.hist.shape[2])

    def bin_degrees(self) -> np.ndarray:
        """Mid-angle of each bin, degrees."""
        return (np.arange(self.bins) + 0.5) * 180.0 / self.bins

    def strengths(self) -> np.ndarray:
        """``hist`` divided by its 99.5th percentile and clipped to 0..1 (glyph strength)."""
        top = float(np.percentile(self.hist, HOG_TOP_PERCENTILE)) if self.hist.size else 0.0
        if top <= 0:
            return np.zeros_like(self.hist)
        return np.clip(self.hist / np.float32(top), 0.0, 1.0)

    def directions(self) -> np.ndarray:
        """``(bins, 2)`` unit vectors ``(dx, dy)`` of each bin's glyph line."""
        mid = np.pi * (np.arange(self.bins) + 0.5) / self.bins
        return np.column_stack([np.sin(mid), -np.cos(mid)])

    def cell_size(self) -> float:
        """Side of a cell in image pixels."""
        return self.cell * self.scale

    def table(self) -> tuple[list[str], np.ndarray]:
        rows, cols = self.hist.shape[:2]
        side = self.cell_size()
        cy, cx = np.mgrid[0:rows, 0:cols].astype(np.float64)
        # cell centres in continuous image coordinates (a cell spans [x, x + side))
        cx = (cx + 0.5) * side + self.origin[0]
        cy = (cy + 0.5) * side + self.origin[1]
        data = np.column_stack([cx.ravel(), cy.ravel(), np.full(rows * cols, side),
                                self.hist.reshape(rows * cols, -1).astype(np.float64)])
        return ["cx", "cy", "size"] + [f"bin{i}" for i in range(self.bins)], data

    def _json_extra(self) -> dict[str, Any]:
        return {"bin_degrees": [float(d) for d in self.bin_degrees()]}


@dataclass(frozen=True, eq=False)
class MaskOverlay(Overlay):
    """An edge map: ``mask`` is ``(H, W)`` ``uint8``, 255 on edge pixels.

    ``edges`` is the number of connected edges (8-neighbour chains), the count
    shown; ``pixels`` the number of edge pixels.
    """

    kind: ClassVar[str] = "mask"
    noun: ClassVar[tuple[str, str]] = ("edge", "edges")

    mask: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.uint8))
    edges: int = 0
    pixels: int = 0

    def count(self) -> int:
        return int(self.edges)

    def summary(self) -> str:
        return f"{super().summary()} ({self.pixels:,} px)"

    def table(self) -> tuple[list[str], np.ndarray]:
        import cv2

        _, labels = cv2.connectedComponents((self.mask > 0).astype(np.uint8), connectivity=8)
        ys, xs = np.nonzero(self.mask)
        xy = self.to_image(np.column_stack([xs, ys]))
        return ["x", "y", "edge"], np.column_stack([xy, labels[ys, xs].astype(np.float64)])


def mask_overlay(op: str, params: dict[str, Any], mask: np.ndarray) -> MaskOverlay:
    """A :class:`MaskOverlay` of a 0 / non-zero edge map, with its counts."""
    import cv2

    binary = cv2.compare(mask, 0, cv2.CMP_GT)  # 0 / 255 uint8; 8x np.where at 12 MP
    n, _ = cv2.connectedComponents(binary, connectivity=8)
    return MaskOverlay(op, dict(params), mask=binary, edges=max(0, int(n) - 1),
                       pixels=int(np.count_nonzero(binary)))


def publish(ctx: OpContext, overlay: Overlay) -> None:
    """Put ``overlay`` where the editor looks for it (``ctx.extras["overlay"]``)."""
    ctx.extras[OVERLAY_KEY] = overlay


def find_overlay(extras: dict[str, Any] | None) -> Overlay | None:
    """The overlay in a result's side outputs, if any."""
    value = (extras or {}).get(OVERLAY_KEY)
    return value if isinstance(value, Overlay) else None


def place_extras(extras: dict[str, Any], scale: float,
                 origin: tuple[float, float]) -> dict[str, Any]:
    """Side outputs of a proxy run with their geometry in image coordinates.

    ``scale`` is image pixels per proxy pixel, ``origin`` the image position of
    the proxy's top-left edge. The overlay is placed; a ``"points"`` list
    (``[[x, y, score], ...]``) is mapped the same way. Other entries pass as
    they are.
    """
    if scale == 1.0 and tuple(origin) == (0.0, 0.0):
        return dict(extras)
    out = dict(extras)
    ov = find_overlay(extras)
    if ov is not None:
        out[OVERLAY_KEY] = ov.placed(scale, origin)
    pts = extras.get("points")
    if pts is not None:
        arr = np.asarray(pts, np.float64)
        if arr.ndim == 2 and arr.shape[1] >= 2 and len(arr):
            arr = arr.copy()
            arr[:, :2] = (arr[:, :2] + 0.5) * scale + np.asarray(origin) - 0.5
            out["points"] = arr.tolist()
    return out


def confine_extras(extras: dict[str, Any], mask: np.ndarray,
                   origin: tuple[int, int] = (0, 0)) -> dict[str, Any]:
    """Side outputs of a run under a selection: only the points inside it.

    Parameters
    ----------
    extras : dict
        What the op published, in the pixels of the part it ran on.
    mask : ndarray
        The selection, in the frame of the whole image.
    origin : tuple of int
        ``(x, y)`` of the part's top-left pixel in the whole image (an op run
        on the selection's box); its geometry is moved there.

    Returns
    -------
    dict
        The extras with corner points (the overlay's and ``"points"``) where
        the selection is above zero; other entries as they are.
    """
    out = dict(extras)
    if tuple(origin) != (0, 0):
        ov = find_overlay(extras)
        if ov is not None:
            out[OVERLAY_KEY] = ov.placed(1.0, (float(origin[0]), float(origin[1])))
        pts = extras.get("points")
        if pts is not None and len(pts):
            arr = np.asarray(pts, np.float64).copy()
            arr[:, :2] += np.asarray(origin, np.float64)
            out["points"] = arr.tolist()
    h, w = mask.shape

    def inside(xy: np.ndarray) -> np.ndarray:
        col = np.clip(np.round(xy[:, 0]).astype(np.int64), 0, w - 1)
        row = np.clip(np.round(xy[:, 1]).astype(np.int64), 0, h - 1)
        return mask[row, col] > 0

    ov = find_overlay(out)
    if isinstance(ov, PointsOverlay) and ov.count():
        keep = inside(ov.image_points()[:, :2])
        out[OVERLAY_KEY] = replace(ov, points=np.asarray(ov.points)[keep])
    pts = out.get("points")
    if pts is not None and len(pts):
        arr = np.asarray(pts, np.float64)
        if arr.ndim == 2 and arr.shape[1] >= 2:
            out["points"] = [row for row, k in zip(pts, inside(arr), strict=True) if k]
    return out


def _number(v: float) -> int | float:
    """Whole numbers as ints (CSV/JSON stay short), others as floats."""
    f = float(v)
    return int(f) if f.is_integer() and abs(f) < 2**53 else f


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v
