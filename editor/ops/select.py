"""Selection operations: shapes, magic wand, colour range, feather, grow, shrink (no Qt).

Every function here is a *selection op* (``register_op(..., selects=True)``):
it takes the image and the current selection (``ctx.selection``, a ``float32``
mask or ``None``) and returns the new selection, or ``None`` for *nothing
selected* (every tool then works on the whole image, as in GIMP). Run them
with :func:`editor.ops.registry.run_select`; recipes and the History dock record
them as steps of their own.

Coordinates are image pixels as floats: pixel ``(i, j)`` covers the square
``[j, j + 1) × [i, i + 1)``, so ``select_rect(x=10, y=20, width=5, height=5)``
selects exactly the 25 pixels from column 10 and row 20. Antialiased shapes
give each edge pixel the fraction of its area inside the shape: exactly for
rectangles; for polygons and ellipses exactly along each row and from 16
sub-rows down each column (an ellipse's spans are its exact chords).

New shapes meet the existing selection by ``mode`` (the Shift, Alt and
Shift+Alt modifiers): ``replace``; ``add`` (the maximum); ``subtract``
(``min(old, 1 − new)``); ``intersect`` (the minimum). A result that selects
nothing is ``None`` (no selection), as GIMP's is.

Examples
--------
>>> import numpy as np
>>> from editor.ops.registry import get_op, run_select
>>> img = np.zeros((8, 8), np.uint8)
>>> m = run_select(get_op("select_rect"), img, {"x": 1.5, "y": 2, "width": 2, "height": 1})
>>> m[2, :5].tolist()
[0.0, 0.5, 1.0, 0.5, 0.0]
>>> run_select(get_op("select_invert"), img, {}, m)[2, :5].tolist()
[1.0, 0.5, 0.0, 0.5, 1.0]
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import cv2
import numpy as np

from editor.core.context import OpContext, OpError
from editor.core.image import max_value
from editor.core.selection import SelectionError, bbox, mask_from_image, mask_sha256
from editor.ops.registry import Kind, Label, Range, register_op

Mode = Literal["replace", "add", "subtract", "intersect"]
#: a position or length in image pixels
Px = Annotated[float, Range(-1e6, 1e6, unit="px")]

#: sub-rows sampled per pixel row by the antialiased polygon rasteriser
SUBROWS = 16
#: the smallest blur (px) a feather runs at on its averaged-down mask
FEATHER_STEP = 4.0


def FEATHER_VARIANCE(f: int) -> float:  # noqa: N802
    """Variance (in small pixels²) that averaging down by ``f`` (a box of ``f``) and
    scaling back up linearly (a triangle of two small pixels) add to the blur."""
    return (1 - 1 / (f * f)) / 12.0 + 1 / 6.0


#: where the soft colour falloff ends, as a multiple of the tolerance (GIMP's 1.5)
FALLOFF = 1.5


# -- combining ------------------------------------------------------------------------------

def combine(old: np.ndarray | None, new: np.ndarray | None, mode: str) -> np.ndarray | None:
    """The selection after ``new`` meets ``old`` by ``mode``.

    Parameters
    ----------
    old, new : ndarray or None
        ``float32`` masks; ``None`` selects nothing.
    mode : {"replace", "add", "subtract", "intersect"}
        How they meet.

    Returns
    -------
    ndarray or None
        The combined mask, or ``None`` when it selects nothing.
    """
    if mode == "replace" or (mode == "add" and old is None):
        out = new
    elif old is None or (new is None and mode == "intersect"):
        out = None
    elif new is None:  # adding or subtracting nothing
        out = old
    elif mode == "add":
        out = np.maximum(old, new)
    elif mode == "subtract":
        out = np.minimum(old, 1.0 - new)
    elif mode == "intersect":
        out = np.minimum(old, new)
    else:
        raise ValueError(f"unknown selection mode {mode!r}")
    if out is None or not np.any(out > 0):
        return None
    return out.astype(np.float32, copy=False)


def _placed(shape: tuple[int, int], box: tuple[int, int, int, int],
            part: np.ndarray) -> np.ndarray:
    """A full-size mask with ``part`` at rows ``y0:y1``, columns ``x0:x1``."""
    out = np.zeros(shape, np.float32)
    y0, y1, x0, x1 = box
    out[y0:y1, x0:x1] = part
    return out


# -- rasterising shapes ---------------------------------------------------------------------

def _axis_coverage(lo: float, hi: float, n: int, antialias: bool) -> tuple[int, np.ndarray]:
    """First index and coverage of pixels ``[i, i + 1)`` by the interval ``[lo, hi)``."""
    if antialias:
        i0, i1 = max(0, math.floor(lo)), min(n, math.ceil(hi))
        edges = np.arange(i0, i1 + 1, dtype=np.float64)
        cov = np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0, 1)
    else:  # a pixel is in when its centre is
        i0, i1 = max(0, math.ceil(lo - 0.5)), min(n, math.ceil(hi - 0.5))
        cov = np.ones(max(0, i1 - i0))
    return i0, cov.astype(np.float32)


def rect_mask(shape: tuple[int, int], x: float, y: float, width: float, height: float,
              antialias: bool = True) -> np.ndarray:
    """The rectangle ``[x, x + width) × [y, y + height)`` as a mask of ``shape``.

    Parameters
    ----------
    shape : tuple
        ``(H, W)``.
    x, y, width, height : float
        Image coordinates (a negative size extends left or up).
    antialias : bool
        Edge pixels get the fraction of their area inside (else: in when
        their centre is).
    """
    h, w = shape
    x0, x1 = sorted((float(x), float(x) + float(width)))
    y0, y1 = sorted((float(y), float(y) + float(height)))
    out = np.zeros((h, w), np.float32)
    c0, cols = _axis_coverage(x0, x1, w, antialias)
    r0, rows = _axis_coverage(y0, y1, h, antialias)
    if cols.size and rows.size:
        out[r0:r0 + rows.size, c0:c0 + cols.size] = rows[:, None] * cols[None, :]
    return out


def polygon_mask(shape: tuple[int, int], points, antialias: bool = True) -> np.ndarray:
    """A closed polygon (even-odd fill) as a mask of ``shape``.

    Each row's coverage is exact horizontally (the area of every span is added
    to the pixels it crosses) and sampled at :data:`SUBROWS` sub-rows
    vertically; without antialiasing a pixel is in when its centre is. Only the
    polygon's bounding box is rasterised.

    Parameters
    ----------
    shape : tuple
        ``(H, W)``.
    points : sequence of (x, y)
        Vertices in image coordinates; the last joins the first.
    antialias : bool
        Soft edges (area coverage) or hard ones.
    """
    h, w = shape
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if len(pts) < 3 or not np.all(np.isfinite(pts)):
        return np.zeros((h, w), np.float32)
    sub = SUBROWS if antialias else 1
    r0, r1 = _row_range(pts[:, 1].min(), pts[:, 1].max(), h)
    # the sub-rows crossed by each edge: y = (k + 0.5) / sub for k in [ka, kb)
    xa, ya = pts[:, 0], pts[:, 1]
    xb, yb = np.roll(xa, -1), np.roll(ya, -1)
    lo, hi = np.minimum(ya, yb), np.maximum(ya, yb)
    ka = np.maximum(np.ceil(lo * sub - 0.5), r0 * sub).astype(np.int64)
    kb = np.minimum(np.ceil(hi * sub - 0.5), r1 * sub).astype(np.int64)
    counts = np.maximum(kb - ka, 0)
    total = int(counts.sum())
    edge = np.repeat(np.arange(len(pts)), counts)
    k = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) + ka[edge]
    yk = (k + 0.5) / sub
    t = (yk - ya[edge]) / (yb[edge] - ya[edge])  # edges crossed are never horizontal
    xk = xa[edge] + t * (xb[edge] - xa[edge])
    order = np.lexsort((xk, k))
    k, xk = k[order], xk[order]
    # even-odd: each sub-row crosses an even number of edges; pair them in order
    return spans_mask(shape, k[0::2], xk[0::2], xk[1::2], sub, antialias)


def _row_range(top: float, bottom: float, h: int) -> tuple[int, int]:
    return max(0, math.floor(top)), min(h, max(0, math.ceil(bottom)))


def spans_mask(shape: tuple[int, int], k: np.ndarray, starts: np.ndarray, ends: np.ndarray,
               sub: int, antialias: bool) -> np.ndarray:
    """Rasterise horizontal spans ``[start, end)`` on sub-rows ``k`` (``sub`` per row).

    With ``antialias`` each span adds its exact overlap with every pixel of its
    row, weighted ``1 / sub``; without, a pixel is in when its centre is.
    Only the spans' bounding box is touched.
    """
    h, w = shape
    out = np.zeros((h, w), np.float32)
    keep = (k >= 0) & (k < h * sub) & (ends > starts)
    k, starts, ends = k[keep], starts[keep], ends[keep]
    if k.size == 0:
        return out
    r0, r1 = int(k.min()) // sub, int(k.max()) // sub + 1
    x0 = max(0, math.floor(starts.min()))
    x1 = min(w, math.ceil(ends.max()))
    if x1 <= x0:
        return out
    rows = k // sub - r0
    bw = x1 - x0
    at_rows, at_cols, amount = [], [], []
    for xs, sign in ((starts, 1.0), (ends, -1.0)):
        xs = np.clip(xs - x0, 0, bw)
        if antialias:
            # a span edge at x adds (1 - frac) to its pixel and frac to the next; the
            # fraction is rounded to 1/65536 so every sum below is exact in float32
            # (inside is exactly 1, outside exactly 0)
            f = np.floor(xs)
            frac = np.round((xs - f) * 65536.0) / (65536.0 * sub)
            col = f.astype(np.int64)
            at_rows += [rows, rows]
            at_cols += [col, col + 1]
            amount += [sign * (1.0 / sub - frac), sign * frac]
        else:
            at_rows.append(rows)
            at_cols.append(np.ceil(xs - 0.5).astype(np.int64))
            amount.append(np.full(xs.shape, sign))
    r, c, v = np.concatenate(at_rows), np.concatenate(at_cols), np.concatenate(amount)
    keep = c < bw  # past the box's last column: changes nothing inside it
    # sum the entries per pixel (np.add.at is slow), then one running sum per row
    flat, inverse = np.unique(r[keep] * bw + c[keep], return_inverse=True)
    view = out[r0:r1, x0:x1]
    view[flat // bw, flat % bw] = np.bincount(inverse, v[keep]).astype(np.float32)
    np.cumsum(view, axis=1, out=view)
    return out


def ellipse_mask(shape: tuple[int, int], x: float, y: float, width: float, height: float,
                 antialias: bool = True) -> np.ndarray:
    """The ellipse inscribed in the box ``(x, y, width, height)`` as a mask of ``shape``.

    Each sub-row's span is the ellipse's exact chord there (no polygon), so a
    hard edge holds exactly the pixels whose centres are inside.
    """
    h, _w = shape
    rx, ry = abs(width) / 2.0, abs(height) / 2.0
    if rx == 0 or ry == 0:
        return np.zeros(shape, np.float32)
    cx, cy = min(x, x + width) + rx, min(y, y + height) + ry
    sub = SUBROWS if antialias else 1
    ka = max(math.ceil((cy - ry) * sub - 0.5), 0)
    kb = min(math.ceil((cy + ry) * sub - 0.5), h * sub)
    k = np.arange(ka, max(ka, kb), dtype=np.int64)
    t = ((k + 0.5) / sub - cy) / ry
    half = rx * np.sqrt(np.clip(1.0 - t * t, 0.0, None))
    return spans_mask(shape, k, cx - half, cx + half, sub, antialias)


# -- colour distance --------------------------------------------------------------------------

def _levels(image: np.ndarray, tolerance: float) -> float:
    """``tolerance`` in 0..255 levels, in the image's own units."""
    return float(tolerance) * max_value(image.dtype) / 255.0


def color_distance(image: np.ndarray, color) -> np.ndarray:
    """Per pixel, the largest channel difference from ``color`` (GIMP's *composite*).

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` or ``(H, W, C)``, any integer dtype.
    color : sequence of numbers
        One value per channel, in the image's units.

    Returns
    -------
    ndarray
        ``(H, W)`` distances in the image's dtype (``uint8`` or ``uint16``).
    """
    if image.ndim == 2:
        return cv2.absdiff(image, np.full_like(image, color[0]))
    if image.strides[1] != image.itemsize * image.shape[2]:  # e.g. RGB of RGBA: repack
        image = np.ascontiguousarray(image)
    scalar = tuple(float(c) for c in color) + (0.0,) * (4 - len(color))
    planes = cv2.split(cv2.absdiff(image, scalar))  # one pass, then the channels' maximum
    dist = planes[0]
    for plane in planes[1:]:
        dist = cv2.max(dist, plane)
    return dist


def soft_threshold(dist: np.ndarray, tol: float, antialias: bool = True) -> np.ndarray:
    """Selection strength from a colour distance.

    ``1`` up to ``tol``; with ``antialias`` a linear falloff to ``0`` at
    :data:`FALLOFF` ``× tol`` (GIMP's antialiased colour selection), else ``0``.
    Distances are integers, so this is one table lookup per pixel.
    """
    levels = np.arange(65536 if dist.dtype == np.uint16 else 256, dtype=np.float32)
    if not antialias or tol <= 0:
        table = (levels <= tol).astype(np.float32)
    else:
        end = np.float32(FALLOFF * tol)
        # (end - d) / (end - tol), clipped: 1 inside the tolerance, 0 past the falloff
        table = np.clip((end - levels) * np.float32(1.0 / (end - tol)), 0.0, 1.0)
    if dist.dtype == np.uint8:
        return cv2.LUT(dist, table)
    return table[dist]


def _reach(tol: float, antialias: bool) -> int:
    """The largest integer distance :func:`soft_threshold` gives above zero."""
    if not antialias or tol <= 0:
        return math.floor(tol)
    return math.ceil(FALLOFF * tol) - 1


def _flood(image: np.ndarray, seed: tuple[int, int], reach: int):
    """The 4-connected pixels around ``seed`` (row, col) whose channels all lie within
    ``reach`` of the seed's, and their box ``(y0, y1, x0, x1)``; ``None`` when
    :func:`cv2.floodFill` cannot read this image (it takes 8-bit gray or RGB).

    The fill visits only the region, so a small click on a large image is cheap.
    """
    if image.dtype != np.uint8 or (image.ndim == 3 and image.shape[2] != 3):
        return None
    h, w = image.shape[:2]
    region = np.zeros((h + 2, w + 2), np.uint8)
    src = image if image.flags.writeable else image.copy()  # an "output" to OpenCV
    diff = (reach,) * 3
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
    _n, _img, _mask, (x, y, rw, rh) = cv2.floodFill(src, region, (seed[1], seed[0]), 0,
                                                     diff, diff, flags)
    return region[1 + y:1 + y + rh, 1 + x:1 + x + rw] != 0, (y, y + rh, x, x + rw)


def _component(inside: np.ndarray, seed: tuple[int, int]) -> np.ndarray:
    """Boolean mask of the 4-connected part of ``inside`` holding ``seed`` (row, col)."""
    h, w = inside.shape
    region = np.zeros((h + 2, w + 2), np.uint8)
    # floodFill treats a non-zero mask pixel as a wall: walls where not inside
    region[1:-1, 1:-1] = inside == 0
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | (2 << 8)
    cv2.floodFill(region[1:-1, 1:-1].copy(), region, (seed[1], seed[0]), 0, 0, 0, flags)
    return region[1:-1, 1:-1] == 2


# -- selection ops ------------------------------------------------------------------------------

@register_op("select_all", title="Select All", category="Select", selects=True)
def select_all(image: np.ndarray, *, ctx: OpContext) -> np.ndarray:
    """Select the whole image.

    Returns
    -------
    ndarray
        A mask of ones.
    """
    return np.ones(image.shape[:2], np.float32)


@register_op("select_none", title="Select None", category="Select", selects=True)
def select_none(image: np.ndarray, *, ctx: OpContext) -> None:
    """Deselect: no selection, so every tool works on the whole image.

    Returns
    -------
    None
    """
    return None


@register_op("select_invert", title="Invert Selection", category="Select", selects=True)
def select_invert(image: np.ndarray, *, ctx: OpContext) -> np.ndarray | None:
    """Select what was not selected (with nothing selected, everything).

    Returns
    -------
    ndarray or None
        ``1 − m``; ``None`` when that selects nothing.
    """
    old = ctx.selection
    if old is None:
        return np.ones(image.shape[:2], np.float32)
    return combine(None, 1.0 - old, "replace")


@register_op("select_rect", title="Rectangle Select", category="Select", selects=True)
def select_rect(image: np.ndarray, *,
                x: Px = 0.0,
                y: Px = 0.0,
                width: Px = 0.0,
                height: Px = 0.0,
                mode: Mode = "replace", antialias: bool = True,
                ctx: OpContext) -> np.ndarray | None:
    """Select a rectangle.

    Parameters
    ----------
    x, y : float
        Top-left corner in image coordinates (pixel ``(0, 0)`` covers
        ``[0, 1) × [0, 1)``).
    width, height : float
        Size in pixels; negative sizes extend left or up.
    mode : {"replace", "add", "subtract", "intersect"}
        How the rectangle meets the current selection.
    antialias : bool
        Edge pixels get the fraction of their area inside.

    Returns
    -------
    ndarray or None
        The new selection.
    """
    new = rect_mask(image.shape[:2], x, y, width, height, antialias)
    return combine(ctx.selection, new, mode)


@register_op("select_ellipse", title="Ellipse Select", category="Select", selects=True)
def select_ellipse(image: np.ndarray, *,
                   x: Px = 0.0,
                   y: Px = 0.0,
                   width: Px = 0.0,
                   height: Px = 0.0,
                   mode: Mode = "replace", antialias: bool = True,
                   ctx: OpContext) -> np.ndarray | None:
    """Select the ellipse inscribed in a box.

    Parameters
    ----------
    x, y : float
        Top-left corner of the box in image coordinates.
    width, height : float
        Size of the box in pixels.
    mode : {"replace", "add", "subtract", "intersect"}
        How the ellipse meets the current selection.
    antialias : bool
        Edge pixels get the fraction of their area inside.

    Returns
    -------
    ndarray or None
        The new selection.
    """
    new = ellipse_mask(image.shape[:2], x, y, width, height, antialias)
    return combine(ctx.selection, new, mode)


@register_op("select_polygon", title="Lasso Select", category="Select", selects=True)
def select_polygon(image: np.ndarray, *,
                   points: Annotated[list, Kind("points", "x:y pairs, e.g. 0:0,100:0,50:80")]
                   = (),
                   mode: Mode = "replace", antialias: bool = True,
                   ctx: OpContext) -> np.ndarray | None:
    """Select inside a closed polygon (lasso: freehand or clicked points).

    Parameters
    ----------
    points : list of (x, y)
        Vertices in image coordinates; the last joins the first. Where the
        outline crosses itself, the even-odd rule decides what is inside.
    mode : {"replace", "add", "subtract", "intersect"}
        How the polygon meets the current selection.
    antialias : bool
        Edge pixels get the fraction of their area inside.

    Returns
    -------
    ndarray or None
        The new selection.
    """
    new = polygon_mask(image.shape[:2], points, antialias)
    return combine(ctx.selection, new, mode)


def _seed(image: np.ndarray, x: float, y: float) -> tuple[int, int]:
    row, col = math.floor(y), math.floor(x)
    if not (0 <= row < image.shape[0] and 0 <= col < image.shape[1]):
        raise OpError(f"The point {x:g}, {y:g} is outside the image: click inside it.")
    return row, col


@register_op("select_wand", title="Magic Wand", category="Select", selects=True)
def select_wand(image: np.ndarray, *,
                x: Px = 0.0,
                y: Px = 0.0,
                tolerance: Annotated[float, Range(0, 255)] = 32.0,
                contiguous: bool = True, mode: Mode = "replace", antialias: bool = True,
                ctx: OpContext) -> np.ndarray | None:
    """Select the pixels of a colour like the one clicked (magic wand).

    A pixel matches when none of its channels (alpha included) differs from
    the clicked pixel's by more than ``tolerance`` (GIMP's *composite*
    criterion).

    Parameters
    ----------
    x, y : float
        The clicked point in image coordinates.
    tolerance : float
        Largest channel difference selected, in 0..255 levels (scaled to
        65535 for 16-bit images).
    contiguous : bool
        Only the matching area connected to the clicked pixel (4-connected,
        a flood fill); otherwise every matching pixel in the image.
    mode : {"replace", "add", "subtract", "intersect"}
        How the area meets the current selection.
    antialias : bool
        Soft edge: pixels up to 1.5 × the tolerance away are partly selected.

    Returns
    -------
    ndarray or None
        The new selection.
    """
    row, col = _seed(image, x, y)
    seed = [int(v) for v in np.atleast_1d(image[row, col])]
    tol = _levels(image, tolerance)
    if contiguous:
        found = _flood(image, (row, col), _reach(tol, antialias))
        if found is not None:
            inside, (y0, y1, x0, x1) = found
            part = soft_threshold(color_distance(image[y0:y1, x0:x1], seed), tol, antialias)
            new = np.zeros(image.shape[:2], np.float32)
            # only the filled pixels (a masked copy is ~7x a boolean assignment)
            cv2.copyTo(part, inside.view(np.uint8), new[y0:y1, x0:x1])
            return combine(ctx.selection, new, mode)
    new = soft_threshold(color_distance(image, seed), tol, antialias)
    if contiguous:
        np.multiply(new, _component(new > 0, (row, col)), out=new)
    return combine(ctx.selection, new, mode)


@register_op("select_color", title="Select by Color", category="Select", selects=True)
def select_color(image: np.ndarray, *,
                 color: Annotated[tuple, Kind("color")] = (255, 255, 255),
                 tolerance: Annotated[float, Range(0, 255)] = 32.0,
                 mode: Mode = "replace", ctx: OpContext) -> np.ndarray | None:
    """Select every pixel of a colour range, with a soft edge.

    Parameters
    ----------
    color : tuple of int
        ``(r, g, b)`` in 0..255 (scaled for 16-bit images; a gray image
        compares its gray level with the colour's luminance). Alpha is not
        compared.
    tolerance : float
        Largest channel difference fully selected, in 0..255 levels; pixels up
        to 1.5 × as far are partly selected.
    mode : {"replace", "add", "subtract", "intersect"}
        How the range meets the current selection.

    Returns
    -------
    ndarray or None
        The new selection.
    """
    scale = max_value(image.dtype) / 255.0
    if image.ndim == 2:
        gray = float(np.dot(color, (0.2126, 0.7152, 0.0722)))
        target, planes = [round(gray * scale)], image
    else:
        target, planes = [round(c * scale) for c in color], image[..., :3]
    dist = color_distance(planes, target)
    return combine(ctx.selection, soft_threshold(dist, _levels(image, tolerance)), mode)


def _radius(pixels: float) -> int:
    return int(round(pixels))


def disc(radius: int) -> np.ndarray:
    """A ``uint8`` disc footprint (``x² + y² ≤ r²``) of side ``2r + 1``."""
    r = int(radius)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return (xx * xx + yy * yy <= r * r).astype(np.uint8)


def morph(mask: np.ndarray, radius: int, grow: bool) -> np.ndarray:
    """Grey dilation (``grow``) or erosion of a soft mask by a disc of ``radius``.

    Edge pixels count as repeated outward, so a selection touching the image's
    border stays there. Only the selection's box plus the radius is computed
    when growing.
    """
    if radius <= 0:
        return mask.copy()
    h, w = mask.shape
    op = cv2.dilate if grow else cv2.erode
    if grow:
        rows = np.flatnonzero(np.any(mask > 0, axis=1))
        if rows.size == 0:
            return mask.copy()
        cols = np.flatnonzero(np.any(mask > 0, axis=0))
        y0, y1 = max(0, rows[0] - radius), min(h, rows[-1] + 1 + radius)
        x0, x1 = max(0, cols[0] - radius), min(w, cols[-1] + 1 + radius)
        out = np.zeros_like(mask)
        # the box holds every pixel within reach; outside it, replicated edges
        # only matter where the box meets the image's border, where they are real
        py0, py1 = max(0, y0 - radius), min(h, y1 + radius)
        px0, px1 = max(0, x0 - radius), min(w, x1 + radius)
        part = op(mask[py0:py1, px0:px1], disc(radius), borderType=cv2.BORDER_REPLICATE)
        out[y0:y1, x0:x1] = part[y0 - py0:y1 - py0, x0 - px0:x1 - px0]
        return out
    return op(mask, disc(radius), borderType=cv2.BORDER_REPLICATE)


def _current(ctx: OpContext, what: str) -> np.ndarray:
    if ctx.selection is None:
        raise OpError(f"Nothing is selected to {what}: make a selection first.")
    return ctx.selection


@register_op("select_grow", title="Grow Selection", category="Select", selects=True)
def select_grow(image: np.ndarray, *,
                pixels: Annotated[float, Range(0, 1000, ui=(0, 100), unit="px")] = 5.0,
                ctx: OpContext) -> np.ndarray | None:
    """Grow the selection outwards (grey dilation with a disc, soft edges kept).

    Parameters
    ----------
    pixels : float
        How far, in pixels (rounded to whole pixels).

    Returns
    -------
    ndarray or None
        The grown selection.
    """
    return combine(None, morph(_current(ctx, "grow"), _radius(pixels), True), "add")


@register_op("select_shrink", title="Shrink Selection", category="Select", selects=True)
def select_shrink(image: np.ndarray, *,
                  pixels: Annotated[float, Range(0, 1000, ui=(0, 100), unit="px")] = 5.0,
                  ctx: OpContext) -> np.ndarray | None:
    """Shrink the selection inwards (grey erosion with a disc, soft edges kept).

    The image's border does not count as an edge: a selection that touches it
    stays there.

    Parameters
    ----------
    pixels : float
        How far, in pixels (rounded to whole pixels).

    Returns
    -------
    ndarray or None
        The shrunk selection; ``None`` when nothing is left.
    """
    return combine(None, morph(_current(ctx, "shrink"), _radius(pixels), False), "add")


@register_op("select_border", title="Border Selection", category="Select", selects=True)
def select_border(image: np.ndarray, *,
                  pixels: Annotated[float, Range(0, 1000, ui=(1, 100), unit="px")] = 5.0,
                  ctx: OpContext) -> np.ndarray | None:
    """Select a band along the selection's edge: grown minus shrunk.

    Parameters
    ----------
    pixels : float
        How far the band reaches on each side of the edge (it is about twice
        as wide).

    Returns
    -------
    ndarray or None
        The band; ``None`` when the selection has no edge (all or nothing).
    """
    m = _current(ctx, "border")
    r = _radius(pixels)
    band = morph(m, r, True) - morph(m, r, False)
    return combine(None, np.clip(band, 0.0, 1.0), "add")


def gaussian_mask(mask: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of a soft mask, fast at any radius.

    Only the selection's box plus four sigmas is blurred (the mask is zero
    elsewhere). Above ``sigma = 8`` the box is averaged down by an integer
    factor (so the blur there is still at least 4 px), blurred, and scaled
    back up linearly: a mask's edge is smooth at that scale, so the result
    stays within about 0.5 % of :func:`cv2.GaussianBlur` at full size (checked in
    the tests) at a fraction of its cost. Image borders reflect, like
    ``cv2.GaussianBlur``'s default.

    Parameters
    ----------
    mask : ndarray
        ``float32`` ``(H, W)``.
    sigma : float
        Standard deviation in pixels.
    """
    if sigma <= 0:
        return mask.copy()
    reach = int(math.ceil(4 * sigma)) + 2
    box = bbox(mask, reach)
    if box is None:
        return mask.copy()
    y0, y1, x0, x1 = box
    part = mask[y0:y1, x0:x1]
    f = int(sigma // FEATHER_STEP) if sigma > 2 * FEATHER_STEP else 1
    if f <= 1:
        part = cv2.GaussianBlur(part, (0, 0), sigma)
    else:
        # reflect at full resolution, as the blur does at the image's border (inside
        # the image the box's outer band is zero, and reflects as zeros), to whole
        # blocks of f, average down, blur, and scale back up
        bh, bw = part.shape
        pad = -(-reach // f) * f
        padded = cv2.copyMakeBorder(part, pad, pad + (-bh % f), pad, pad + (-bw % f),
                                    cv2.BORDER_REFLECT_101)
        ph, pw = padded.shape
        small = cv2.resize(padded, (pw // f, ph // f), interpolation=cv2.INTER_AREA)
        # the block average and the linear scaling blur too: take their variance off
        s = math.sqrt(max((sigma / f) ** 2 - FEATHER_VARIANCE(f), 0.25))
        small = cv2.GaussianBlur(small, (0, 0), s)
        part = cv2.resize(small, (pw, ph), interpolation=cv2.INTER_LINEAR)[pad:pad + bh,
                                                                              pad:pad + bw]
    out = np.zeros_like(mask)
    # averages of values in [0, 1] stay there, up to rounding: clip on the way in
    np.clip(part, 0.0, 1.0, out=out[y0:y1, x0:x1])
    return out


@register_op("select_feather", title="Feather Selection", category="Select", selects=True)
def select_feather(image: np.ndarray, *,
                   radius: Annotated[float, Range(0, 1000, ui=(0, 100), unit="px")] = 10.0,
                   ctx: OpContext) -> np.ndarray | None:
    """Soften the selection's edge (a Gaussian blur of the mask).

    Parameters
    ----------
    radius : float
        How far the edge fades on each side, in pixels: the Gaussian's sigma
        is half of it, so the fade from 2 % to 98 % spans ``2 × radius``.

    Returns
    -------
    ndarray or None
        The feathered selection.
    """
    m = _current(ctx, "feather")
    return combine(None, gaussian_mask(m, radius / 2.0), "add")


@register_op("select_transform", title="Transform Selection", category="Select",
             selects=True)
def select_transform(image: np.ndarray, *,
                     dx: Px = 0.0,
                     dy: Px = 0.0,
                     scale_x: Annotated[float, Range(-100, 100)] = 1.0,
                     scale_y: Annotated[float, Range(-100, 100)] = 1.0,
                     cx: Px = 0.0,
                     cy: Px = 0.0,
                     ctx: OpContext) -> np.ndarray | None:
    """Move and scale the selection (its handles), the image unchanged.

    A point ``(x, y)`` goes to ``(cx + (x − cx)·scale_x + dx, cy + (y − cy)·scale_y
    + dy)``; the mask is resampled bilinearly, and what leaves the image is
    lost.

    Parameters
    ----------
    dx, dy : float
        Shift in pixels.
    scale_x, scale_y : float
        Scale factors (negative mirrors).
    cx, cy : float
        The point the scaling is about, in image coordinates.

    Returns
    -------
    ndarray or None
        The moved selection; ``None`` when it left the image.
    """
    m = _current(ctx, "transform")
    h, w = m.shape
    # pixel centres are at i + 0.5 in image coordinates, at i in OpenCV's
    tx = cx + (0.5 - cx) * scale_x + dx - 0.5
    ty = cy + (0.5 - cy) * scale_y + dy - 0.5
    mat = np.array([[scale_x, 0.0, tx], [0.0, scale_y, ty]], np.float64)
    out = cv2.warpAffine(m, mat, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return combine(None, np.clip(out, 0.0, 1.0), "add")


# -- painted and loaded masks --------------------------------------------------------------------

def load_mask(path, shape: tuple[int, ...], sha256: str = "") -> np.ndarray:
    """Read a selection mask from an image file (white = inside).

    Parameters
    ----------
    path : path-like
        A grayscale (or colour: its luminance; with transparency: its alpha)
        image of the same size as the image it selects in.
    shape : tuple
        The image's shape.
    sha256 : str, optional
        The mask's :func:`mask_sha256`; when given, the file must match it.

    Raises
    ------
    SelectionError
        Unreadable, of another size, empty, or not the mask the SHA-256 names
        (one sentence).
    """
    from pathlib import Path

    from editor.io import LoadError, load_image

    name = Path(path).name
    try:
        pixels = load_image(path).pixels
    except (LoadError, OSError) as e:
        reason = str(e).removeprefix(f"{name}: ").rstrip(".")
        raise SelectionError(f"The mask {name} cannot be read: {reason}.") from None
    if pixels.shape[:2] != tuple(shape[:2]):
        raise SelectionError(f"The mask {name} is {pixels.shape[1]}×{pixels.shape[0]} pixels "
                             f"but the image is {shape[1]}×{shape[0]}.")
    mask = mask_from_image(pixels, shape)
    if sha256 and mask_sha256(mask) != sha256.lower():
        raise SelectionError(f"The mask {name} is not the one the recipe recorded "
                             "(its SHA-256 differs).")
    if not np.any(mask > 0):
        raise SelectionError(f"The mask {name} selects nothing (it is all black).")
    return mask


@register_op("select_mask", title="Load Selection", category="Select", selects=True)
def select_mask(image: np.ndarray, *,
                file: Annotated[str, Kind("path", "a PNG mask, white = inside")] = "",
                sha256: Annotated[str, Label("SHA-256")] = "",
                ctx: OpContext) -> np.ndarray | None:
    """Make a mask image the selection (a painted quick mask, or a loaded PNG).

    Parameters
    ----------
    file : str
        The mask image (white = inside), the same size as the image; a
        recipe names it relative to its own folder.
    sha256 : str
        The mask's SHA-256 (of its 16-bit samples); when given the file must
        match it, so a recipe never replays with another mask.

    Returns
    -------
    ndarray
        The mask.
    """
    if not file:
        raise OpError("This selection was painted by hand and its mask file is missing: "
                      "save the recipe from Convolve to write it.")
    try:
        return load_mask(file, image.shape, sha256)
    except SelectionError as e:
        raise OpError(str(e)) from None
