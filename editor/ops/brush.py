"""Brush strokes as parameters: the soft stroke mask, the clone stamp and the heal brush.

A stroke is recorded as its path, ``points=[(x, y), ...]`` in full-image
pixels (pixel centres at integer coordinates, as in
:mod:`editor.ops.geometry`), with a brush ``size`` (diameter in pixels) and a
``hardness`` (0 = soft all the way to the rim, 1 = hard with a one-pixel
antialiased edge). Because the stroke is parameters and not pixels, recipes
and the command line replay it exactly.

The stroke's coverage at a pixel depends only on the pixel's distance ``d`` to
the polyline: this is the limit of stamping round dabs along the path with an
ever smaller spacing, so a stroke has no scalloped edges and no build-up where
dabs overlap (GIMP and Krita space dabs at ~1/4 to 1/10 of the size to come
close to the same thing). Only the stroke's bounding box is computed.

Both ops honour the selection through :func:`editor.ops.registry.run_op`
(the stroke paints only inside it). They declare no ``margin``: their
coordinates are whole-image coordinates, so they always see the whole image
and confine their own work to the stroke's box.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Literal

import numpy as np

from editor.core.context import OpContext, OpError, null_context
from editor.core.selection import blend
from editor.ops.registry import Kind, Range, register_op
from editor.ops.retouch import fill_exemplar, fill_navier_stokes, fill_telea

Points = Annotated[list, Kind("stroke", hint="x:y pairs in image pixels, e.g. 100:120,180:130")]
#: the brush's diameter and hardness, as every brush op declares them
Diameter = Annotated[float, Range(1.0, 5000.0, ui=(1.0, 500.0), unit="px", step=1.0)]
Hardness = Annotated[float, Range(0.0, 1.0)]

#: Steepness of the soft falloff: coverage ``exp(-k t²)`` rescaled to reach 0
#: at the rim (``t = 1``). 4 gives a Gaussian whose rim is at about 2.8 sigma.
_FALLOFF = 4.0

#: Rows of the stroke box handled per look at the cancel flag.
_ROWS_PER_LOOK = 256

#: Neighbourhood radius (pixels) of the Telea and Navier–Stokes fills.
HEAL_RADIUS = 5.0
#: Patch side (pixels) of the exemplar fill.
HEAL_PATCH = 9


def brush_profile(distance: np.ndarray, size: float, hardness: float) -> np.ndarray:
    """Coverage (0..1) of a round brush at ``distance`` pixels from its centre line.

    Parameters
    ----------
    distance : ndarray
        Distances in pixels (>= 0).
    size : float
        Brush diameter in pixels.
    hardness : float
        0..1: the fraction of the radius painted at full strength; beyond it the
        coverage falls off like a Gaussian to 0 at the rim. At 1 the brush is a
        disc with a one-pixel antialiased edge.

    Returns
    -------
    ndarray
        ``float32`` coverage, exactly 0 from half a pixel beyond the rim on and
        exactly 1 inside the hard core.

    Examples
    --------
    >>> brush_profile(np.array([0.0, 4.0, 5.0, 6.0]), 10, 1.0).tolist()  # rim at 5
    [1.0, 1.0, 0.5, 0.0]
    """
    r = max(float(size) / 2.0, 0.5)
    d = np.asarray(distance, np.float32)
    edge = np.clip(np.float32(r + 0.5) - d, 0.0, 1.0)  # the antialiased rim
    h = min(max(float(hardness), 0.0), 1.0)
    core = h * r
    if core >= r - 0.5:  # no room for a falloff: a hard disc
        return edge.astype(np.float32, copy=False)
    t = np.clip((d - np.float32(core)) / np.float32(r - core), 0.0, 1.0)
    floor = math.exp(-_FALLOFF)
    soft = (np.exp(-_FALLOFF * t * t) - floor) / (1.0 - floor)
    return np.minimum(edge, soft).astype(np.float32)


def stroke_box(shape: tuple[int, ...], points: Sequence[Sequence[float]],
               size: float) -> tuple[int, int, int, int] | None:
    """Rows and columns ``(y0, y1, x0, x1)`` a stroke can touch, clipped to the image.

    ``None`` when the stroke has no points or lies wholly outside the image.
    """
    if len(points) == 0:
        return None
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    reach = max(float(size) / 2.0, 0.5) + 1.0
    h, w = shape[:2]
    x0 = max(0, math.floor(pts[:, 0].min() - reach))
    x1 = min(w, math.ceil(pts[:, 0].max() + reach) + 1)
    y0 = max(0, math.floor(pts[:, 1].min() - reach))
    y1 = min(h, math.ceil(pts[:, 1].max() + reach) + 1)
    if x0 >= x1 or y0 >= y1:
        return None
    return y0, y1, x0, x1


def _segment_distance(px: np.ndarray, py: np.ndarray, a: np.ndarray,
                      b: np.ndarray) -> np.ndarray:
    """Distance from pixel centres ``(px, py)`` to the segment ``a``–``b``."""
    ab = b - a
    length2 = float(ab @ ab)
    dx, dy = px - np.float32(a[0]), py - np.float32(a[1])
    if length2 == 0.0:
        return np.sqrt(dx * dx + dy * dy)
    t = np.clip((dx * np.float32(ab[0]) + dy * np.float32(ab[1])) / np.float32(length2),
                0.0, 1.0)
    ex, ey = dx - t * np.float32(ab[0]), dy - t * np.float32(ab[1])
    return np.sqrt(ex * ex + ey * ey)


def brush_patch(shape: tuple[int, ...], points: Sequence[Sequence[float]], size: float,
                hardness: float, ctx: OpContext | None = None
                ) -> tuple[tuple[int, int, int, int] | None, np.ndarray]:
    """A stroke's coverage on its bounding box only.

    Parameters
    ----------
    shape : tuple
        The image's shape (only rows and columns are used).
    points, size, hardness
        As in :func:`brush_mask`.
    ctx : OpContext, optional
        Looked at (cancel) between segments.

    Returns
    -------
    box : (y0, y1, x0, x1) or None
        Where the patch goes in the image (``None``: the stroke misses it).
    patch : ndarray
        ``float32`` coverage shaped ``(y1 - y0, x1 - x0)``.
    """
    ctx = ctx or null_context()
    box = stroke_box(shape, points, size)
    if box is None:
        return None, np.zeros((0, 0), np.float32)
    y0, y1, x0, x1 = box
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    reach = max(float(size) / 2.0, 0.5) + 1.0
    dist = np.full((y1 - y0, x1 - x0), np.inf, np.float32)
    segments = list(zip(pts[:-1], pts[1:], strict=True)) if len(pts) > 1 else [(pts[0], pts[0])]
    for a, b in segments:
        ctx.check()
        # each segment touches only the box around it (a mouse stroke is many short ones)
        sx0 = max(x0, math.floor(min(a[0], b[0]) - reach))
        sx1 = min(x1, math.ceil(max(a[0], b[0]) + reach) + 1)
        sy0 = max(y0, math.floor(min(a[1], b[1]) - reach))
        sy1 = min(y1, math.ceil(max(a[1], b[1]) + reach) + 1)
        if sx0 >= sx1 or sy0 >= sy1:
            continue
        px = np.arange(sx0, sx1, dtype=np.float32)[None, :]
        py = np.arange(sy0, sy1, dtype=np.float32)[:, None]
        d = _segment_distance(px, py, a, b)
        view = dist[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0]
        np.minimum(view, d, out=view)
    return box, brush_profile(dist, size, hardness)


def brush_mask(shape: tuple[int, ...], points: Sequence[Sequence[float]], size: float,
               hardness: float = 1.0) -> np.ndarray:
    """A soft brush stroke rasterised as a mask.

    Parameters
    ----------
    shape : tuple
        The image's shape; the mask has its rows and columns.
    points : sequence of (x, y)
        The stroke's path in image pixels (pixel centres at integers). One
        point is a single dab.
    size : float
        Brush diameter in pixels.
    hardness : float
        0..1, see :func:`brush_profile`.

    Returns
    -------
    ndarray
        ``float32`` ``(H, W)`` in ``[0, 1]``: the coverage, ``max`` over the
        path (a stroke crossing itself does not build up). Zero outside the
        stroke's box, which is the only part computed.

    Examples
    --------
    >>> m = brush_mask((5, 8), [(1, 2), (5, 2)], size=4, hardness=0.0)
    >>> for row in (100 * m[1:4]).round().astype(int).tolist():
    ...     print(row)
    [12, 36, 36, 36, 36, 36, 12, 0]
    [36, 100, 100, 100, 100, 100, 36, 0]
    [12, 36, 36, 36, 36, 36, 12, 0]
    """
    out = np.zeros(tuple(shape[:2]), np.float32)
    box, patch = brush_patch(shape, points, size, hardness)
    if box is not None:
        y0, y1, x0, x1 = box
        out[y0:y1, x0:x1] = patch
    return out


def _scaled_points(points: Sequence[Sequence[float]], ctx: OpContext) -> list:
    """Stroke points on a preview proxy (they are full-image pixels)."""
    s = ctx.preview_scale
    if s == 1.0:
        return [tuple(p) for p in points]
    # pixel centres sit at integers: scale about the image corner (-0.5, -0.5)
    return [((x + 0.5) * s - 0.5, (y + 0.5) * s - 0.5) for x, y in points]


@register_op("clone", title="Clone stamp", category="Retouch", alpha="process")
def clone(
    image: np.ndarray, *,
    points: Points = (),
    size: Diameter = 40.0,
    hardness: Hardness = 0.5,
    opacity: Annotated[float, Range(0.0, 1.0)] = 1.0,
    dx: Annotated[int, Range(-100_000, 100_000, ui=(-2000, 2000), unit="px")] = 0,
    dy: Annotated[int, Range(-100_000, 100_000, ui=(-2000, 2000), unit="px")] = 0,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Paint a stroke with pixels copied from elsewhere in the image (clone stamp).

    Each pixel under the stroke takes the pixel at ``(x + dx, y + dy)``,
    blended by the brush coverage times ``opacity``. Where the source falls
    outside the image nothing is painted (no border colour is cloned in).
    Alpha is cloned with the colour.

    Parameters
    ----------
    points : list of (x, y)
        The stroke's path in image pixels.
    size : float
        Brush diameter in pixels.
    hardness : float
        0 = soft to the rim, 1 = hard edge (antialiased).
    opacity : float
        Strength of the stroke, 0..1.
    dx : int
        Horizontal offset from the painted pixel to its source, in pixels.
    dy : int
        Vertical offset from the painted pixel to its source, in pixels.

    Returns
    -------
    ndarray
        A new image, identical outside the stroke.

    Examples
    --------
    >>> img = np.zeros((8, 8), np.uint8); img[:, 4:] = 200
    >>> clone(img, points=[(1, 3)], size=1, hardness=1.0, dx=5)[3, :3].tolist()
    [0, 200, 0]
    """
    ctx = ctx or null_context()
    out = image.copy()
    box, alpha = brush_patch(image.shape, _scaled_points(points, ctx), size, hardness, ctx)
    if box is None or opacity <= 0.0 or (dx == 0 and dy == 0):
        return out
    y0, y1, x0, x1 = box
    h, w = image.shape[:2]
    # the part of the box whose source is inside the image
    cy0, cy1 = max(y0, -dy), min(y1, h - dy)
    cx0, cx1 = max(x0, -dx), min(x1, w - dx)
    if cy0 >= cy1 or cx0 >= cx1:
        return out
    a = alpha[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    if opacity < 1.0:
        a = a * np.float32(opacity)
    rows = cy1 - cy0
    for r0 in range(0, rows, _ROWS_PER_LOOK):
        ctx.check()
        r1 = min(rows, r0 + _ROWS_PER_LOOK)
        ys, ye = cy0 + r0, cy0 + r1
        src = image[ys + dy:ye + dy, cx0 + dx:cx1 + dx]
        out[ys:ye, cx0:cx1] = blend(image[ys:ye, cx0:cx1], src, a[r0:r1])
    ctx.report(1.0, "clone")
    return out


# -- heal -------------------------------------------------------------------------

@register_op("heal", title="Heal brush", category="Retouch")
def heal(
    image: np.ndarray, *,
    points: Points = (),
    size: Diameter = 20.0,
    hardness: Hardness = 0.8,
    method: Literal["telea", "navier_stokes", "exemplar"] = "telea",
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Paint over a blemish, a wire or a small object to fill it from its surroundings.

    Every pixel the stroke touches is treated as a hole and filled from the
    pixels around it; the fill is then blended in by the brush coverage, so a
    soft brush leaves a soft transition.

    Parameters
    ----------
    points : list of (x, y)
        The stroke's path in image pixels.
    size : float
        Brush diameter in pixels.
    hardness : float
        0 = soft to the rim, 1 = hard edge (antialiased).
    method : {"telea", "navier_stokes", "exemplar"}
        ``telea`` (fast marching, Telea 2004) and ``navier_stokes`` (Bertalmio
        et al. 2001) propagate the edge colours smoothly inward: best for thin
        strokes (wires, scratches, spots). ``exemplar`` copies whole patches of
        texture from around the hole: best for larger areas in textured parts.

    Returns
    -------
    ndarray
        A new image, identical outside the stroke.

    References
    ----------
    A. Telea, "An image inpainting technique based on the fast marching method",
    J. Graphics Tools 9(1), 2004. M. Bertalmio, A. Bertozzi, G. Sapiro,
    "Navier–Stokes, fluid dynamics, and image and video inpainting", CVPR 2001.
    """
    ctx = ctx or null_context()
    out = image.copy()
    box, alpha = brush_patch(image.shape, _scaled_points(points, ctx), size, hardness, ctx)
    if box is None:
        return out
    radius = max(1.0, HEAL_RADIUS * ctx.preview_scale)
    y0, y1, x0, x1 = box
    h, w = image.shape[:2]
    # what the fill reads around the hole (so the fill of this window is the fill
    # of the whole image): OpenCV's band of 2r + 1 for the diffusion fills, and
    # the exemplar fill's own context (a hole size plus two patches on each side)
    if method == "exemplar":
        grow = max(y1 - y0, x1 - x0) + 2 * HEAL_PATCH + 2
    else:
        grow = 2 * round(radius) + 4
    gy0, gy1, gx0, gx1 = max(0, y0 - grow), min(h, y1 + grow), max(0, x0 - grow), min(w, x1 + grow)
    hole = np.zeros((gy1 - gy0, gx1 - gx0), bool)
    hole[y0 - gy0:y1 - gy0, x0 - gx0:x1 - gx0] = alpha > 0
    if hole.all():
        raise OpError("The heal stroke covers the whole image: there is nothing around it "
                      "to fill from.")
    ctx.check()
    window = image[gy0:gy1, gx0:gx1]
    if method == "exemplar":
        filled = fill_exemplar(window, hole, HEAL_PATCH, ctx)
    else:
        fill = fill_telea if method == "telea" else fill_navier_stokes
        filled = fill(window, hole, radius, ctx)
    ctx.check()
    out[y0:y1, x0:x1] = blend(image[y0:y1, x0:x1],
                              filled[y0 - gy0:y1 - gy0, x0 - gx0:x1 - gx0], alpha)
    ctx.report(1.0, "heal")
    return out
