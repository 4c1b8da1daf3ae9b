"""Tone operations: levels, curves, auto contrast and histogram equalisation.

The dtype, alpha and luma policy is the one stated in :mod:`editor.ops.color`:
uint8 stays uint8 and uint16 stays uint16 (0..255 parameters are scaled by
257), alpha passes through untouched, and luminance-driven ops work on the
BT.601 luma Y'. Ops that change Y' only give the change back to colour by
adding ``Y'_new - Y'`` to R, G and B, which is exactly what a round trip
through YCbCr with Cb and Cr held fixed does (OpenCV's usual recipe), without
the chroma planes' rounding.

Histograms come from ``cv2.calcHist`` (8- and 16-bit, one pass, a fraction of
NumPy's ``bincount`` time); every mapping is a lookup table.
"""

from __future__ import annotations

import functools
import os
from typing import Annotated, Literal

import numpy as np

from editor.core.context import OpContext, OpError, null_context
from editor.core.histogram import channel_counts
from editor.core.image import apply_lut, from_float, max_value, to_uint8
from editor.core.kernels import (
    byte_counts,
    clahe_blend_kernel,
    compile_kernel,
    counters_ready,
    shift_luma,
    warm_up_with,
)
from editor.ops.color import _ramp, affine, luma
from editor.ops.registry import Kind, Label, ParamError, Range, register_op

_CHANNEL_INDEX = {"r": 0, "g": 1, "b": 2}


# -- helpers -----------------------------------------------------------------

def histogram(channel: np.ndarray) -> np.ndarray:
    """Counts of every value of a single-channel (or flattened) integer image.

    Returns an int64 array of ``max_value + 1`` bins.
    """
    if channel.dtype == np.uint8 and counters_ready():  # compiled, on every core
        return byte_counts(channel)
    top = max_value(channel.dtype)
    if channel.ndim == 3:  # pool the channels: a free reshape of a contiguous image
        channel = np.ascontiguousarray(channel).reshape(channel.shape[0], -1)
    return channel_counts(channel, 0, top + 1)


def _per_channel_lut(image: np.ndarray, lut: np.ndarray, channel: str) -> np.ndarray:
    """Apply ``lut`` to every channel, or to one of R, G, B only."""
    if channel == "all" or image.ndim == 2:
        return apply_lut(image, lut)
    table = np.repeat(np.arange(lut.size, dtype=lut.dtype)[:, None], 3, axis=1)
    table[:, _CHANNEL_INDEX[channel]] = lut
    return apply_lut(image, table)


def _check_channel(image: np.ndarray, channel: str, op: str) -> None:
    if channel != "all" and image.ndim == 2:
        raise ParamError(f"{op}: channel {channel} needs a colour image; use channel=all")


def _shift_luma(image: np.ndarray, y: np.ndarray, y_new: np.ndarray,
                table: np.ndarray | None = None) -> np.ndarray:
    """``clip(RGB + (table[y_new] - y))``: new luma, Cb and Cr unchanged.

    One compiled pass (:func:`editor.core.kernels.shift_luma`) instead of a
    table lookup, two subtractions, two colour conversions and two saturating
    additions; ``table`` defaults to the identity.
    """
    if image.ndim == 2:
        return y_new if table is None else apply_lut(y_new, table)
    return shift_luma(image, y, y_new, table)


def equalize_lut(hist: np.ndarray) -> np.ndarray:
    """Histogram-equalisation table, OpenCV's ``equalizeHist`` rule.

    ``lut[v] = round((cdf[v] - h[v0]) * max / (N - h[v0]))`` where ``v0`` is
    the darkest value present, so the darkest value maps to 0 and the
    brightest to ``max``; a constant image maps to itself.
    """
    top = hist.size - 1
    present = np.flatnonzero(hist)
    if present.size == 0:
        return np.arange(top + 1, dtype=np.float64)
    first = present[0]
    total = hist.sum()
    if hist[first] == total:
        return np.arange(top + 1, dtype=np.float64)
    cdf = np.cumsum(hist) - hist[first]
    lut = np.floor(cdf * (top / (total - hist[first])) + 0.5)
    return np.clip(lut, 0, top)


# -- levels and curves -------------------------------------------------------

@register_op("levels", title="Levels", category="Tone",
             margin=0)
def levels(
    image: np.ndarray, *,
    in_low: Annotated[float, Range(0.0, 255.0, step=1.0), Label("Input black")] = 0.0,
    in_high: Annotated[float, Range(0.0, 255.0, step=1.0), Label("Input white")] = 255.0,
    gamma: Annotated[float, Range(0.1, 10.0, ui=(0.2, 5.0), step=0.01)] = 1.0,
    out_low: Annotated[float, Range(0.0, 255.0, step=1.0), Label("Output black")] = 0.0,
    out_high: Annotated[float, Range(0.0, 255.0, step=1.0), Label("Output white")] = 255.0,
    channel: Literal["all", "r", "g", "b"] = "all",
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Map an input range to an output range with a mid-tone gamma (GIMP Levels).

    ``t = clip((v - in_low) / (in_high - in_low), 0, 1) ** (1 / gamma)``, then
    ``out = out_low + t * (out_high - out_low)``. ``out_low > out_high``
    inverts, as in GIMP.

    Parameters
    ----------
    in_low, in_high : float
        Input black and white points in 0..255 (``in_low < in_high``).
    gamma : float
        Mid-tone gamma; above 1 brightens.
    out_low, out_high : float
        Output black and white points in 0..255.
    channel : {"all", "r", "g", "b"}
        Adjust every channel, or one channel of an RGB image only.

    Returns
    -------
    ndarray
        Same shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> levels(np.array([[0, 50, 110, 150]], np.uint8), in_low=50, in_high=150)
    array([[  0,   0, 153, 255]], dtype=uint8)
    """
    if in_low >= in_high:
        raise ParamError(f"levels: in_low ({in_low:g}) must be below in_high ({in_high:g})")
    _check_channel(image, channel, "levels")
    if gamma == 1.0 and out_low == 0.0 and out_high == 255.0 and (
            channel == "all" or image.ndim == 2):
        # A plain stretch: its clipping is the dtype's own saturation.
        scale = 255.0 / (in_high - in_low)
        return affine(image, scale, -in_low * scale * max_value(image.dtype) / 255.0)
    t = np.clip((_ramp(image.dtype) - np.float32(in_low / 255.0))
                / np.float32((in_high - in_low) / 255.0), 0.0, 1.0)
    t = t ** np.float32(1.0 / gamma)
    lut = from_float(np.float32(out_low / 255.0) + t * np.float32((out_high - out_low) / 255.0),
                     image.dtype)
    return _per_channel_lut(image, lut, channel)


def curve_values(points, at: np.ndarray) -> np.ndarray:
    """The tone curve through ``points`` at the inputs ``at`` (0..255 units, float64).

    A monotone cubic (PCHIP) through the sorted points, held flat beyond the
    first and last one; :func:`curves` builds its table from it and the curve
    editor draws it, so what is drawn is what is applied.

    Raises
    ------
    ParamError
        With fewer than two points or two points at the same x.

    Examples
    --------
    >>> curve_values([(0, 0), (255, 255)], np.array([0.0, 100.0])).tolist()
    [0.0, 100.0]
    """
    from scipy.interpolate import PchipInterpolator

    pts = sorted((float(px), float(py)) for px, py in points)
    if len(pts) < 2:
        raise ParamError("curves: points needs at least two x:y pairs")
    xs = [p[0] for p in pts]
    if len(set(xs)) != len(xs):
        raise ParamError("curves: points must have distinct x values")
    # beyond the first and last point the curve is held flat, as in GIMP
    return PchipInterpolator(xs, [p[1] for p in pts])(np.clip(at, xs[0], xs[-1]))


@register_op("curves", title="Curves", category="Tone",
             margin=0)
def curves(
    image: np.ndarray, *,
    points: Annotated[list, Kind("points", hint="x:y pairs in 0..255, e.g. 0:0,64:40,255:255"),
                      Range(0.0, 255.0)] = ((0.0, 0.0), (255.0, 255.0)),
    channel: Literal["all", "r", "g", "b", "luminance"] = "all",
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Tone curve through control points, smooth and without overshoot.

    The curve is a monotone cubic (PCHIP, Fritsch-Carlson; scipy's
    ``PchipInterpolator``) through the points, held flat beyond the first and
    last point, like GIMP's Curves: between the points it never overshoots, so
    a monotone curve stays monotone.

    Parameters
    ----------
    points : list of (x, y)
        At least two control points with distinct x, both coordinates in
        0..255 (scaled by 257 for 16-bit); order does not matter.
    channel : {"all", "r", "g", "b", "luminance"}
        Adjust every channel, one channel of an RGB image only, or the BT.601
        luma Y' only: ``luminance`` maps Y' through the curve and adds the
        change to R, G and B (Cb and Cr kept, see :mod:`editor.ops.tone`), so
        contrast changes without the hue and saturation shifts a curve on R,
        G and B brings. On a grayscale image ``luminance`` is ``all``.

    Returns
    -------
    ndarray
        Same shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> curves(np.array([[0, 64, 128, 255]], np.uint8), points=[(0, 255), (255, 0)])
    array([[255, 191, 127,   0]], dtype=uint8)

    References
    ----------
    F. N. Fritsch and R. E. Carlson, "Monotone Piecewise Cubic Interpolation",
    SIAM J. Numer. Anal. 17(2), 1980.
    """
    if channel != "luminance":
        _check_channel(image, channel, "curves")
    top = max_value(image.dtype)
    values = curve_values(points, np.arange(top + 1, dtype=np.float64) * (255.0 / top)) / 255.0
    lut = from_float(values.astype(np.float32), image.dtype)
    if channel == "luminance" and image.ndim == 3:
        y = luma(image)
        return _shift_luma(image, y, y, lut)
    return _per_channel_lut(image, lut, "all" if channel == "luminance" else channel)


def percentile_range(hist: np.ndarray, low: float = 0.1,
                     high: float = 99.9) -> tuple[int, int]:
    """Values below which ``low`` % and ``high`` % of the counted samples lie.

    Photoshop's Auto levels rule (clip 0.1 % at each end): the first value
    whose cumulative count exceeds ``low`` % of the total, and the last value
    whose count from the top exceeds ``100 - high`` %. Returns bin indices
    (0..255 for a 256-bin histogram); ``(0, len - 1)`` for an empty one.

    Examples
    --------
    >>> percentile_range(np.array([0, 5, 990, 5, 0]), 1.0, 99.0)
    (2, 2)
    >>> percentile_range(np.array([0, 50, 900, 50, 0]), 1.0, 99.0)
    (1, 3)
    """
    counts = np.asarray(hist, np.float64).ravel()
    total = counts.sum()
    if total <= 0:
        return 0, counts.size - 1
    lo = int(np.searchsorted(np.cumsum(counts), total * low / 100.0, side="right"))
    hi = counts.size - 1 - int(np.searchsorted(np.cumsum(counts[::-1]),
                                               total * (100.0 - high) / 100.0, side="right"))
    return min(lo, counts.size - 1), max(hi, 0)


# -- automatic stretches and equalisation ------------------------------------

@register_op("auto_contrast", title="Auto contrast", category="Tone")
def auto_contrast(
    image: np.ndarray, *,
    clip: Annotated[float, Range(0.0, 50.0, ui=(0.0, 5.0), unit="%", step=0.05)] = 0.5,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Stretch values so the darkest and brightest samples reach black and white.

    One linear map for all channels, found from the pooled histogram of R, G
    and B, so colour balance is kept (Photoshop's *Auto Contrast*; per-channel
    stretching would also change the white balance). ``clip`` percent of the
    samples are ignored at each end, so a few specks do not pin the range;
    the cut rule is Pillow's ``ImageOps.autocontrast``.

    Parameters
    ----------
    clip : float
        Percentage of samples ignored at each end of the histogram, 0..50.

    Returns
    -------
    ndarray
        Same shape and dtype; unchanged when the remaining range is empty.
        The range found is stored in ``ctx.extras["range"]`` (native units).
    """
    import cv2

    ctx = ctx or null_context()
    top = max_value(image.dtype)
    cut = int(image.size * clip // 100)
    if cut == 0 and image.flags.c_contiguous:
        # Nothing clipped: the extremes are enough, and a min/max pass is
        # several times cheaper than a histogram; minMaxLoc runs on one core, so
        # each core takes a band of rows (2.3x on two).
        from editor.core.parallel import map_ordered, row_strips

        rows = image.reshape(image.shape[0], -1)
        # Most photos already span the whole range, and every 64th row shows it: the
        # image then holds black and white too, and needs no pass over all of it.
        low, high = (int(v) for v in cv2.minMaxLoc(rows[::64])[:2])
        if (low, high) != (0, top):
            ends = list(map_ordered(lambda band: cv2.minMaxLoc(rows[band])[:2],
                                    row_strips(rows.shape[0])))
            low, high = int(min(e[0] for e in ends)), int(max(e[1] for e in ends))
    else:
        hist = histogram(image)
        low = int(np.searchsorted(np.cumsum(hist), cut, side="right"))  # first cdf > cut
        high = top - int(np.searchsorted(np.cumsum(hist[::-1]), cut, side="right"))
    ctx.extras["range"] = (low, high)
    if high <= low:
        return image.copy()
    scale = top / (high - low)
    if cut == 0 and image.flags.c_contiguous:
        if (low, high) == (0, top):
            return image.copy()  # the full range already (most photos): nothing to map
        if image.dtype == np.uint8:
            # the extremes are known, so one pass: every value lies in [low, high] and
            # maps into [0, 255], where the "Abs" does nothing; the same bits as
            # cv2.normalize's MINMAX map, without its second min/max pass
            return cv2.convertScaleAbs(image, alpha=scale, beta=-low * scale)
        # [low, high] onto [0, top] is exactly cv2.normalize's MINMAX map (the same
        # scale and offset, rounded alike), and its convertTo pass runs at the speed
        # of a copy: half the time of any other one-pass map OpenCV offers Python.
        return cv2.normalize(image, None, 0, top, cv2.NORM_MINMAX)
    return affine(image, scale, -low * scale)


@register_op("equalize", title="Equalize histogram", category="Tone")
def equalize(
    image: np.ndarray, *,
    mode: Literal["luminance", "per_channel"] = "luminance",
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Spread values so their histogram is as flat as possible.

    Parameters
    ----------
    mode : {"luminance", "per_channel"}
        ``luminance`` equalises luma Y' and keeps Cb/Cr (hues stay);
        ``per_channel`` equalises R, G and B separately (stronger, shifts
        colours).

    Returns
    -------
    ndarray
        Same shape and dtype.

    References
    ----------
    Gonzalez & Woods, *Digital Image Processing*, 4th ed., §3.3.1; the table
    follows OpenCV's ``equalizeHist``.
    """
    if image.ndim == 2 or mode == "luminance":
        y = luma(image)
        lut = equalize_lut(histogram(y)).astype(image.dtype)
        return _shift_luma(image, y, y, lut)
    from editor.core.parallel import map_ordered

    # calcHist runs on one core: the three channels' counts side by side (1.5x)
    hists = map_ordered(lambda c: channel_counts(image, c), range(3))
    table = np.stack([equalize_lut(h) for h in hists], axis=1)
    return apply_lut(image, table.astype(image.dtype))


@register_op("clahe", title="CLAHE", category="Tone", heavy=True)
def clahe(
    image: np.ndarray, *,
    clip_limit: Annotated[float, Range(0.1, 40.0, ui=(0.5, 10.0), step=0.05)] = 2.0,
    tile: Annotated[int, Range(2, 64, ui=(2, 32))] = 8,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of luma.

    The image is cut into ``tile x tile`` regions; each region's histogram is
    clipped at ``clip_limit`` times its mean bin count, the excess spread
    over all bins, and the equalisation tables of the four nearest regions
    are blended bilinearly. The rules are OpenCV's (``cv2.createCLAHE``:
    reflect-101 padding to whole tiles, the clipping and redistribution, the
    tables); it runs on BT.601 luma Y' and keeps Cb/Cr, as :func:`equalize`
    does. For 16-bit images the luma change is found at 8 bits and added to
    the 16-bit luma: clipping 65,536-bin histograms against their mean count,
    as OpenCV's 16-bit CLAHE does, gives sparse histograms (8-bit data in a
    16-bit file) a limit below one sample and so no contrast gain at all;
    this way both depths look alike and 16-bit gradients keep their fine steps.

    Parameters
    ----------
    clip_limit : float
        Contrast limit relative to a flat histogram (OpenCV semantics): 1
        allows no gain, 2..4 is typical.
    tile : int
        Number of regions across and down (the grid, not a size in pixels,
        so a proxy preview looks like the full-resolution result).

    Returns
    -------
    ndarray
        Same shape and dtype. The tables are OpenCV's, bit for bit; the blend
        adds the two rows of tables first (OpenCV adds the columns first), so
        a blend that lands on a rounding tie can come out one level apart.

    Notes
    -----
    Two compiled passes, not OpenCV's CLAHE plus a recombination: the first
    counts each tile's histogram (16-bit luma reduced to 8 bits on the fly),
    the second blends the tables and adds the luma change to R, G and B in
    the same loop. At 12 MP that is 0.6x the time of ``cv2.createCLAHE`` on
    the luma plus :func:`~editor.core.kernels.shift_luma`, and under half at
    16 bits, which needed an 8-bit copy of the luma and a merge pass besides
    (``benchmarks/bench_kernels.py``).

    References
    ----------
    K. Zuiderveld, "Contrast Limited Adaptive Histogram Equalization",
    Graphics Gems IV, 1994.
    """
    from editor.core.parallel import for_each_strip, strip_rows

    ctx = ctx or null_context()
    ctx.report(0.0, "luma")
    y = luma(image)
    h, w = y.shape
    ctx.report(0.1, "equalising tiles")
    tables, tile_h, tile_w = clahe_tables(y, clip_limit, tile)
    # per column: the two nearest tiles and the weight of the right one, as OpenCV
    # finds them (tile centres at (i + 0.5) * size, in float32)
    x_pos = np.arange(w, dtype=np.float32) * (np.float32(1) / np.float32(tile_w)) - np.float32(0.5)
    left = np.floor(x_pos)
    weight = (x_pos - left).astype(np.float32)
    left = left.astype(np.int64)
    index = np.stack([np.maximum(left, 0), np.minimum(left + 1, tables.shape[1] // 256 - 1)])
    index = (index * 256).astype(np.uint32)
    rows = np.ascontiguousarray(image).reshape(h, -1)
    out = np.empty_like(image)
    out_rows = out.reshape(rows.shape)
    blend = clahe_blend_kernel()
    inv_th, top = np.float32(1) / np.float32(tile_h), max_value(image.dtype)

    def strip(y0: int, y1: int) -> None:
        blend(rows[y0:y1], y[y0:y1], y0, tables, inv_th, index, weight,
              image.dtype == np.uint16, top, out_rows[y0:y1])

    # Cancel lands between bands of eight strips (8 MB of output, a few ms), whose
    # strips run on every core
    per_strip = strip_rows(out_rows[:1].nbytes)
    for y0 in range(0, h, 8 * per_strip):
        ctx.check()
        ctx.report(0.2 + 0.8 * y0 / h, "blending tables, recombining colour")
        y1 = min(h, y0 + 8 * per_strip)
        for_each_strip(y1 - y0, per_strip, lambda a, b, y0=y0: strip(y0 + a, y0 + b))
    ctx.report(1.0)
    return out


def clahe_tables(luma: np.ndarray, clip_limit: float, tile: int
                 ) -> tuple[np.ndarray, int, int]:
    """CLAHE's equalisation tables, one per tile, by OpenCV's rules.

    Parameters
    ----------
    luma : ndarray
        ``(H, W)`` uint8 or uint16 (counted at 8 bits).
    clip_limit : float
        Contrast limit relative to a flat histogram.
    tile : int
        Tiles across and down (fewer where the image has fewer pixels).

    Returns
    -------
    tables : ndarray
        ``float32`` ``(tiles down, tiles across * 256)``: row ``ty`` holds the
        tables of that grid row side by side, integer values 0..255.
    tile_h, tile_w : int
        A tile's size. OpenCV pads both axes by a whole grid step minus
        ``size % grid`` once either is uneven (reflect-101), so an even axis
        gains a tile's worth of rows too.
    """
    from editor.core.parallel import map_ordered

    h, w = luma.shape
    grid_x, grid_y = min(tile, w), min(tile, h)
    if w % grid_x or h % grid_y:
        tile_h, tile_w = (h + grid_y - h % grid_y) // grid_y, (w + grid_x - w % grid_x) // grid_x
    else:
        tile_h, tile_w = h // grid_y, w // grid_x
    area = tile_h * tile_w
    limit = max(int(clip_limit * area / 256), 1)
    scale = np.float32(255) / np.float32(area)
    tables = np.empty((grid_y, grid_x * 256), np.float32)
    count = _clahe_tables_kernel()
    for _ in map_ordered(lambda ty: count(luma, ty, tile_h, tile_w, limit, scale,
                                          luma.dtype == np.uint16, tables[ty]),
                         range(grid_y)):
        pass
    return tables, tile_h, tile_w


@functools.cache
def _clahe_tables_kernel():
    """One grid row's CLAHE tables, OpenCV's rules bit for bit (``clahe.cpp``).

    Each row is read once, reduced to 8 bits (16-bit luma, as
    :func:`editor.core.image.to_uint8` does) and reflected past the right edge
    (reflect-101, rows past the bottom likewise); then every tile counts its
    part of it into four histograms side by side, one per column mod 4, so
    runs of one value (skies, shadows) do not wait on the same counter.
    """
    def tables(luma, ty, tile_h, tile_w, limit, scale, deep, out):
        h, w = luma.shape
        grid_x = out.shape[0] // 256
        width = grid_x * tile_w
        counts = np.zeros((grid_x, 4, 256), np.int32)
        hist = np.empty(256, np.int32)
        line = np.empty(width, np.uint8)
        for r in range(ty * tile_h, (ty + 1) * tile_h):
            src = luma[r if r < h else 2 * (h - 1) - r]
            if deep:  # 8 bits, then reflected past the right edge
                for c in range(w):
                    line[c] = (np.uint32(src[c]) * np.uint32(255) + np.uint32(32767)) \
                        // np.uint32(65535)
            else:
                for c in range(w):
                    line[c] = src[c]
            for c in range(w, width):
                line[c] = line[2 * (w - 1) - c]
            for tx in range(grid_x):
                c0, c1 = tx * tile_w, (tx + 1) * tile_w
                h0, h1, h2, h3 = counts[tx, 0], counts[tx, 1], counts[tx, 2], counts[tx, 3]
                k = c0
                while k + 4 <= c1:
                    h0[line[k]] += 1
                    h1[line[k + 1]] += 1
                    h2[line[k + 2]] += 1
                    h3[line[k + 3]] += 1
                    k += 4
                while k < c1:
                    h0[line[k]] += 1
                    k += 1
        for tx in range(grid_x):
            clipped = 0
            for i in range(256):
                n = counts[tx, 0, i] + counts[tx, 1, i] + counts[tx, 2, i] + counts[tx, 3, i]
                if n > limit:
                    clipped += n - limit
                    n = limit
                hist[i] = n
            # the clipped samples go back evenly, the remainder to every step-th bin
            batch = clipped // 256
            residual = clipped - batch * 256
            hist += batch
            step = max(256 // residual, 1) if residual else 256
            i = 0
            while i < 256 and residual > 0:
                hist[i] += 1
                i += step
                residual -= 1
            total = 0
            for i in range(256):
                total += hist[i]
                # saturate_cast<uchar>(float): round half to even, then clamp
                level = np.rint(np.float32(total) * scale)
                out[tx * 256 + i] = min(max(level, np.float32(0)), np.float32(255))
    return compile_kernel(tables)


@warm_up_with
def _warm_clahe() -> None:
    for dtype in (np.uint8, np.uint16):
        clahe(np.zeros((2, 2, 3), dtype), tile=2)
        clahe(np.zeros((2, 2), dtype), tile=2)


# -- histogram matching ------------------------------------------------------

def _load_reference(path: str) -> np.ndarray:
    """Reference pixels (RGB/RGBA order, 8 or 16 bit), or one-sentence :class:`OpError`.

    Read by :func:`editor.io.load_image` like every image the program opens,
    so the pixel limit refuses a decompression bomb before it is decoded.
    """
    from editor.io import LoadError, load_image

    if not path:
        raise OpError("match_histogram needs a reference image path.")
    if not os.path.isfile(path):
        raise OpError(f"Reference image {path!r} does not exist.")
    try:
        return load_image(path).pixels
    except LoadError as e:
        raise OpError(f"Cannot read the reference image {e}.") from None


@functools.lru_cache(maxsize=4)
def _reference_cdfs(path: str, stamp: tuple[int, int], dtype: str,
                    channels: int) -> tuple[np.ndarray, ...]:
    """Per-channel (values, quantiles) of a reference, cached for slider drags.

    ``stamp`` (mtime, size) invalidates the cache when the file changes.
    """
    ref = _load_reference(path)
    if ref.ndim == 3 and ref.shape[2] == 4:
        ref = ref[..., :3]
    if ref.dtype != np.dtype(dtype):
        ref = to_uint8(ref) if dtype == "uint8" else (
            ref.astype(np.uint16) * 257 if ref.dtype == np.uint8 else ref)
    ref = np.ascontiguousarray(ref)
    if channels == 1:
        planes = [luma(ref)]
    elif ref.ndim == 2:
        planes = [ref] * 3
    else:
        planes = [ref[..., c] for c in range(3)]
    out = []
    for plane in planes:
        hist = histogram(np.ascontiguousarray(plane))
        values = np.flatnonzero(hist)
        out.append((values.astype(np.float64), np.cumsum(hist[values]) / plane.size))
    return tuple(out)


def match_lut(src_hist: np.ndarray, ref_values: np.ndarray,
              ref_quantiles: np.ndarray) -> np.ndarray:
    """Table sending each source value to the reference value at the same quantile.

    ``np.interp`` of the source's cumulative distribution on the reference's
    (over the values present), as scikit-image's ``match_histograms``.
    """
    src_quantiles = np.cumsum(src_hist) / max(src_hist.sum(), 1)
    return np.floor(np.interp(src_quantiles, ref_quantiles, ref_values) + 0.5)


@register_op("match_histogram", title="Match histogram", category="Tone")
def match_histogram(
    image: np.ndarray, *,
    reference: Annotated[str, Kind("path", hint="an image file")] = "",
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Give each channel the value distribution of a reference image.

    Colour images are matched channel by channel against the reference's R,
    G and B (a grayscale reference serves all three); a grayscale image is
    matched against the reference's luma. A 16-bit reference is reduced to
    8 bits for an 8-bit image and vice versa; its alpha is ignored.

    Parameters
    ----------
    reference : str
        Path of the reference image (PNG, JPEG, TIFF, WebP, BMP; 8 or 16 bit).

    Returns
    -------
    ndarray
        Same shape and dtype.

    Raises
    ------
    OpError
        When the reference is missing or cannot be read.

    References
    ----------
    Gonzalez & Woods, *Digital Image Processing*, 4th ed., §3.3.2.
    """
    try:
        st = os.stat(reference) if reference else None
    except OSError:
        st = None
    if st is None:
        _load_reference(reference)  # raises the user-facing OpError
    channels = 1 if image.ndim == 2 else 3
    cdfs = _reference_cdfs(reference, (st.st_mtime_ns, st.st_size), image.dtype.name, channels)
    if channels == 1:
        return apply_lut(image, match_lut(histogram(image), *cdfs[0]).astype(image.dtype))
    table = np.stack([match_lut(channel_counts(image, c), *cdfs[c]) for c in range(3)], axis=1)
    return apply_lut(image, table.astype(image.dtype))
