"""Convolution and nonlinear neighbourhood filters.

Policy (stated once here, tested in ``tests/test_ops_filters.py``; edge detectors in
:mod:`editor.ops.edges` and noise in :mod:`editor.ops.noise` follow it too)

- **Borders**: reflect-101 (``d c b | a b c d | c b a``) everywhere: OpenCV's
  ``BORDER_REFLECT_101`` (its default), scipy.ndimage ``mode="mirror"``, NumPy
  ``np.pad(mode="reflect")``. OpenCV's own defaults differ for the median
  (``medianBlur`` replicates the edge) and min/max (``erode``/``dilate`` ignore the
  outside); we pad or pass the border explicitly so every op has the same edges,
  whichever library computes it.
- **Dtype**: uint8 stays uint8, uint16 stays uint16; results are rounded and
  saturated to the range. Intensity parameters (``offset``, ``threshold``,
  ``sigma_color``) are in 8-bit levels and scaled by 257 on 16-bit images, so a
  setting looks the same on both.
- **Alpha**: passed through untouched (the registry's ``alpha="passthrough"``);
  these functions see grayscale or RGB only.
- **Sizes**: spatial parameters are pixels (unit ``"px"``) and are scaled for proxy
  previews. Window sizes are odd so the window stays centred: an even ``size`` is
  rounded up to the next odd one (4 -> 5), which also absorbs preview scaling.
- **Kernels**: ``convolve`` is a true convolution (the kernel is flipped, as in
  ``scipy.ndimage.convolve``), not OpenCV's correlation.
- **Long work**: ops whose cost can exceed ~100 ms per call (bilateral, large or
  16-bit medians, huge Gaussians) run in horizontal strips with a halo of real rows
  (square tiles with a halo all round when even a short strip is slow), so results
  are identical to one call, and report progress between them, which makes Cancel
  land within a fraction of a second (``benchmarks/bench_cancel.py`` measures it).

OpenCV does the arithmetic: it was the fastest CPU library for every spatial op
in ``benchmarks/bench_ops_filters.py``, so the tests compare against scipy.ndimage,
scikit-image or plain NumPy instead.

References
----------
R. C. Gonzalez and R. E. Woods, *Digital Image Processing*, 4th ed., ch. 3
(spatial filtering) and ch. 4 (frequency domain).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Annotated

import cv2
import numpy as np

from editor.core.context import OpContext, null_context
from editor.core.image import max_value
from editor.ops.registry import Kind, ParamError, Range, register_op

BORDER = cv2.BORDER_REFLECT_101

#: Work per strip for strip-wise ops, in cost units meant as nanoseconds: a strip
#: of about 100 ms keeps Cancel prompt while the per-strip overhead stays small.
STRIP_BUDGET = 1e8


# -- shared helpers (also used by edges.py) --------------------------------------------

def odd_size(size: int) -> int:
    """``size`` rounded up to an odd window size >= 1 (4 -> 5, 5 -> 5)."""
    size = max(1, int(size))
    return size if size % 2 else size + 1


def level_scale(dtype: np.dtype) -> float:
    """Factor from 8-bit levels to ``dtype`` levels (1 or 257)."""
    return max_value(dtype) / 255.0


def gaussian_ksize(sigma: float, dtype: np.dtype) -> int:
    """Kernel size used for a Gaussian of ``sigma``: OpenCV's own rule.

    ``round(2 * t * sigma + 1) | 1`` with ``t = 3`` for 8-bit images and ``t = 4``
    otherwise (more precision needs a longer tail); the tests give scipy the same
    truncation.
    """
    t = 3 if np.dtype(dtype) == np.uint8 else 4
    return int(round(sigma * t * 2 + 1)) | 1


def run_in_strips(image: np.ndarray, fn: Callable[[np.ndarray], np.ndarray], *, halo: int,
                  ctx: OpContext, cost: float, message: str = "",
                  tile_align: int | None = None, parallel: bool = False) -> np.ndarray:
    """Apply a local filter ``fn`` strip by strip, reporting progress between strips.

    Each strip is given ``halo`` real rows above and below (at least the filter's
    radius), so interior rows match one call over the whole image; at the image's
    top and bottom ``fn`` sees the true edge and applies its own border rule.

    When even the shortest worthwhile strip (``2 * halo`` rows plus the halo) would
    cost several budgets -- a wide window on a wide photo, e.g. bilateral at
    sigma_space 15 on 4000-pixel rows, about half a second -- and ``fn`` allows it
    (``tile_align``), the image is cut into square tiles with the halo on all four
    sides instead (see :func:`_run_in_tiles`).

    Parameters
    ----------
    image : ndarray
        Input (H, W) or (H, W, C).
    fn : callable
        ``fn(part) -> filtered part`` of the same height and width.
    halo : int
        Rows (and, for tiles, columns) of context each side.
    ctx : OpContext
        Progress and cancel.
    cost : float
        Estimated cost per pixel (ns); sets the strip height so each strip takes
        about ``STRIP_BUDGET``.
    tile_align : int, optional
        Column boundaries (tile edges, halo included) at multiples of this many
        pixels give results identical to one call; None: ``fn`` must see whole
        rows (strips only).
    parallel : bool
        ``fn`` runs on one core (e.g. ``cv2.medianBlur``): run up to one strip per
        core at a time on the shared pool (:func:`_strips_on_pool`). Strips are cut
        the same way, so the result is the same.
    """
    h, w = image.shape[:2]
    rows = int(STRIP_BUDGET / max(cost * w, 1.0))
    rows = max(rows, 16, 2 * halo)  # the halo must not dominate the work
    ctx.check()
    if tile_align and (min(rows, h) + 2 * halo) * w * cost > TILE_FACTOR * STRIP_BUDGET \
            and w > 2 * _tile_core(halo, cost, tile_align) + 2 * halo:
        return _run_in_tiles(image, fn, halo=halo, ctx=ctx, cost=cost, message=message,
                             align=tile_align)
    if parallel and rows >= h and h >= 4 * max(halo, 16):
        rows = -(-h // 2)  # a single strip would leave the other core idle
    if rows >= h:
        out = fn(image)
        ctx.report(1.0, message)
        return out
    from editor.core.parallel import in_pool, workers

    if parallel and workers() > 1 and not in_pool():
        return _strips_on_pool(image, fn, halo=halo, rows=rows, ctx=ctx, message=message)
    out = None
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        a, b = max(0, y0 - halo), min(h, y1 + halo)
        part = fn(image[a:b])[y0 - a:y1 - a]
        if out is None:
            out = np.empty((h,) + part.shape[1:], part.dtype)
        out[y0:y1] = part
        ctx.report(y1 / h, message)
    return out


def _strips_on_pool(image: np.ndarray, fn: Callable[[np.ndarray], np.ndarray], *, halo: int,
                    rows: int, ctx: OpContext, message: str) -> np.ndarray:
    """:func:`run_in_strips`'s loop with one strip per core in flight
    (:func:`~editor.core.parallel.for_each_in_flight`): results are taken in order on
    this thread, which reports progress and so sees Cancel between strips as before;
    on Cancel the strips not started are dropped and those running (one per core,
    each about ``STRIP_BUDGET``) end on their own.
    """
    from editor.core.parallel import for_each_in_flight

    h = image.shape[0]
    out = None

    def context(y0: int) -> tuple[int, int]:
        return max(0, y0 - halo), min(h, y0 + rows + halo)

    def take(y0: int, result: np.ndarray) -> None:
        nonlocal out
        y1, a = min(h, y0 + rows), context(y0)[0]
        part = result[y0 - a:y1 - a]
        if out is None:
            out = np.empty((h,) + part.shape[1:], part.dtype)
        out[y0:y1] = part
        ctx.report(y1 / h, message)

    for_each_in_flight(lambda y0: fn(image[slice(*context(y0))]), range(0, h, rows), take)
    return out


#: A strip may cost this many budgets before tiles take over (their halo on the left
#: and right is extra work, so strips stay the rule).
TILE_FACTOR = 2.5


def _tile_core(halo: int, cost: float, align: int = 1) -> int:
    """Side of a tile's own pixels: with its halo, about ``TILE_FACTOR`` budgets.

    Square tiles waste the least on their halo for a given size: at sigma_space 15
    (halo 22) a tile of about 360 pixels square plus its halo costs about 1.3 times
    its own pixels, where the shortest strip (44 rows plus 44 halo rows) costs 2
    times. Rounded to a multiple of ``align``.
    """
    side = int(math.sqrt(TILE_FACTOR * STRIP_BUDGET / max(cost, 1e-9)))
    core = max(side - 2 * halo, 16, halo)
    return max(align, core // align * align)


def _run_in_tiles(image: np.ndarray, fn: Callable[[np.ndarray], np.ndarray], *, halo: int,
                  ctx: OpContext, cost: float, message: str = "",
                  align: int = 1) -> np.ndarray:
    """:func:`run_in_strips` over square tiles with (at least) ``halo`` real pixels round.

    A local filter of radius ``halo`` only reads inside a tile plus its halo, and at
    the image's edges the tile's edge is the image's edge. Beyond that, OpenCV's
    SIMD loops run along a row in blocks of lanes and finish the last few pixels of
    a row in scalar code, which may round differently; so every tile starts at a
    multiple of ``align`` (a multiple of every lane count) and ends at one or at the
    image's right edge. Each pixel then goes through the same code path as in one
    call over the whole image, and the result is identical.
    """
    h, w = image.shape[:2]
    core = _tile_core(halo, cost, align)
    out = None
    done = 0
    for y0 in range(0, h, core):
        y1 = min(h, y0 + core)
        a, b = max(0, y0 - halo), min(h, y1 + halo)
        for x0 in range(0, w, core):
            x1 = min(w, x0 + core)
            c = max(0, x0 - halo) // align * align
            d = min(w, -(-(x1 + halo) // align) * align)
            part = fn(np.ascontiguousarray(image[a:b, c:d]))[y0 - a:y1 - a, x0 - c:x1 - c]
            if out is None:
                out = np.empty((h, w) + part.shape[2:], part.dtype)
            out[y0:y1, x0:x1] = part
            done += (y1 - y0) * (x1 - x0)
            ctx.report(done / (h * w), message)
    return out


def _channels(image: np.ndarray) -> int:
    return 1 if image.ndim == 2 else image.shape[2]


# -- blurs ---------------------------------------------------------------------------

@register_op("mean_blur", title="Mean blur", category="Filters",
             margin=lambda p, dtype: p["size"] // 2 + 1)
def mean_blur(
    image: np.ndarray, *,
    size: Annotated[int, Range(1, 501, ui=(1, 51), unit="px", step=2)] = 5,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Replace each pixel by the mean of a ``size`` x ``size`` square (box filter).

    Running sums make the cost independent of the size.

    Parameters
    ----------
    size : int
        Window side in pixels (odd; an even value is rounded up).

    Returns
    -------
    ndarray
        Same shape and dtype, rounded.

    Examples
    --------
    >>> import numpy as np
    >>> mean_blur(np.array([[0, 0, 90, 0, 0]], np.uint8), size=3)
    array([[ 0, 30, 30, 30,  0]], dtype=uint8)
    """
    k = odd_size(size)
    if k == 1:
        return image.copy()
    return cv2.blur(image, (k, k), borderType=BORDER)


def _gaussian_margin(params: dict, dtype: np.dtype | None, sigma: str = "sigma") -> int:
    """How far a Gaussian of ``params[sigma]`` reads: its kernel's half-width (16-bit's,
    the longer, when the depth is unknown), plus a pixel."""
    return gaussian_ksize(params[sigma], dtype or np.uint16) // 2 + 1


@register_op("gaussian_blur", title="Gaussian blur", category="Filters",
             margin=_gaussian_margin)
def gaussian_blur(
    image: np.ndarray, *,
    sigma: Annotated[float, Range(0.0, 100.0, ui=(0.0, 20.0), unit="px", step=0.1)] = 2.0,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Blur with a separable Gaussian kernel of standard deviation ``sigma``.

    The kernel is truncated at 3 sigma for 8-bit images and 4 sigma for 16-bit
    ones (see :func:`gaussian_ksize`).

    Parameters
    ----------
    sigma : float
        Standard deviation in pixels; 0 leaves the image unchanged.

    Returns
    -------
    ndarray
        Same shape and dtype.

    References
    ----------
    Gonzalez & Woods, *Digital Image Processing*, 4th ed., sec. 3.5.
    """
    ctx = ctx or null_context()
    if sigma < 0.05:
        return image.copy()
    k = gaussian_ksize(sigma, image.dtype)
    ch = _channels(image)
    if k > LARGE_KERNEL:
        return _gaussian_two_pass(image, sigma, k, ctx)

    def blur(part: np.ndarray) -> np.ndarray:
        # ksize (0, 0): OpenCV derives the same size as gaussian_ksize (its rule).
        # sigmaY is left at 0 (= sigmaX): passing it explicitly has taken OpenCV
        # off its fast path in some versions (benchmarks/bench_choices.py).
        return cv2.GaussianBlur(part, (0, 0), sigma, borderType=BORDER)

    return run_in_strips(image, blur, halo=k // 2, ctx=ctx, cost=0.12 * k * ch,
                         message="Gaussian blur")


#: Gaussians longer than this run as two 1-D passes in strips (see below).
LARGE_KERNEL = 61


def _gaussian_two_pass(image: np.ndarray, sigma: float, k: int, ctx: OpContext) -> np.ndarray:
    """A long Gaussian as a horizontal pass in row strips, then a vertical pass in
    column strips, through a float32 buffer.

    A 1-D pass needs no halo across the strips of the other direction, whereas
    2-D strips would need ``k // 2`` halo rows each (more than the strip itself for
    large sigma); so every strip costs about ``STRIP_BUDGET`` and Cancel stays
    prompt even for sigma = 100.
    """
    g = cv2.getGaussianKernel(k, sigma)
    one = np.ones((1, 1))
    h, w = image.shape[:2]
    cost = 0.12 * k * _channels(image)
    tmp = np.empty(image.shape, np.float32)
    rows = max(1, int(STRIP_BUDGET / (cost * w)))
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        tmp[y0:y1] = cv2.sepFilter2D(image[y0:y1], cv2.CV_32F, g, one,
                                     borderType=BORDER).reshape(tmp[y0:y1].shape)
        ctx.report(0.5 * y1 / h, "Gaussian blur")
    out = np.empty_like(image)
    top = max_value(image.dtype)
    cols = max(1, int(STRIP_BUDGET / (cost * h)))
    for x0 in range(0, w, cols):
        x1 = min(w, x0 + cols)
        part = np.ascontiguousarray(tmp[:, x0:x1])
        blurred = cv2.sepFilter2D(part, cv2.CV_32F, one, g, borderType=BORDER)
        out[:, x0:x1] = np.clip(blurred.reshape(part.shape) + 0.5, 0, top)
        ctx.report(0.5 + 0.5 * x1 / w, "Gaussian blur")
    return out


@register_op("median", title="Median", category="Filters",
             margin=lambda p, dtype: p["size"] // 2 + 1)
def median(
    image: np.ndarray, *,
    size: Annotated[int, Range(1, 99, ui=(1, 31), unit="px", step=2)] = 3,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Replace each pixel by the median of a ``size`` x ``size`` square, per channel.

    Removes salt-and-pepper noise while keeping edges. 8-bit images use OpenCV's
    sorting networks (size <= 5) or its constant-time histogram median (Perreault
    and Hebert); 16-bit images with ``size`` > 5, which OpenCV does not support,
    fall back to scipy.ndimage's selection median, tens of times slower.

    Parameters
    ----------
    size : int
        Window side in pixels (odd; an even value is rounded up).

    Returns
    -------
    ndarray
        Same shape and dtype.

    References
    ----------
    S. Perreault and P. Hebert, "Median filtering in constant time", IEEE TIP 16(9), 2007.
    """
    ctx = ctx or null_context()
    k = odd_size(size)
    if k == 1:
        return image.copy()
    r = k // 2
    ch = _channels(image)
    if image.dtype == np.uint8 or k <= 5:
        def fn(part: np.ndarray) -> np.ndarray:
            return _median_blur_reflect(part, k)
        # k > 5 takes OpenCV's histogram path, many times the cost of the sorting
        # network (units from benchmarks/bench_choices.py); each call also rebuilds
        # k rows of column histograms, so strips are kept 1.5x longer to bound that.
        # The sorting network costs about 0.3 ns a sample at 8 bit (11 ms for 12 MP
        # RGB at 5x5), so small windows need no strips for Cancel's sake.
        cost = ch * ((0.5 if image.dtype == np.uint8 else 3.0) if k <= 5 else 15.0)
    else:
        from scipy import ndimage as ndi

        window = (k, k) if image.ndim == 2 else (k, k, 1)

        def fn(part: np.ndarray) -> np.ndarray:
            return ndi.median_filter(part, size=window, mode="mirror")
        cost = ch * 1.5 * k * k
    # cv2.medianBlur (both paths) and scipy's median run on one core: strips on all
    return run_in_strips(image, fn, halo=r, ctx=ctx, cost=cost, message="Median",
                         parallel=True)


def _median_blur_reflect(image: np.ndarray, k: int) -> np.ndarray:
    """``cv2.medianBlur`` with reflect-101 borders instead of its replicated edge.

    Only the ``k // 2`` outermost rows and columns depend on the border rule, so the
    image is filtered as is and those four bands are redone from small padded copies
    (padding the whole image cost as much as the 3x3/5x5 median itself).
    """
    r = k // 2
    h, w = image.shape[:2]

    def padded_median(part: np.ndarray) -> np.ndarray:
        out = cv2.medianBlur(cv2.copyMakeBorder(part, r, r, r, r, BORDER), k)[r:-r, r:-r]
        return out.reshape(part.shape)

    if h <= 4 * r or w <= 4 * r:
        return padded_median(image)
    out = cv2.medianBlur(image, k).reshape(image.shape)
    # each band with 2r rows/cols of input: its outer r results see the true edge
    out[:r] = padded_median(image[:2 * r])[:r]
    out[h - r:] = padded_median(image[h - 2 * r:])[r:]
    # left/right bands transposed: medianBlur walks rows, so it is slow on tall
    # narrow images and fast on wide short ones (benchmarks/bench_choices.py), and
    # a square window is symmetric under transposition
    def transposed(band: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(band.swapaxes(0, 1))

    out[:, :r] = padded_median(transposed(image[:, :2 * r])).swapaxes(0, 1)[:, :r]
    out[:, w - r:] = padded_median(transposed(image[:, w - 2 * r:])).swapaxes(0, 1)[:, r:]
    return out


def _morphology(image: np.ndarray, size: int, op: int) -> np.ndarray:
    k = odd_size(size)
    if k == 1:
        return image.copy()
    element = cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))
    out = cv2.morphologyEx(image, op, element, borderType=BORDER)
    return out.reshape(image.shape)


@register_op("min_filter", title="Minimum", category="Filters",
             margin=lambda p, dtype: p["size"] // 2 + 1)
def min_filter(
    image: np.ndarray, *,
    size: Annotated[int, Range(1, 501, ui=(1, 31), unit="px", step=2)] = 3,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Replace each pixel by the minimum of a ``size`` x ``size`` square (erosion).

    Parameters
    ----------
    size : int
        Window side in pixels (odd; an even value is rounded up).

    Returns
    -------
    ndarray
        Same shape and dtype; dark details grow.
    """
    return _morphology(image, size, cv2.MORPH_ERODE)


@register_op("max_filter", title="Maximum", category="Filters",
             margin=lambda p, dtype: p["size"] // 2 + 1)
def max_filter(
    image: np.ndarray, *,
    size: Annotated[int, Range(1, 501, ui=(1, 31), unit="px", step=2)] = 3,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Replace each pixel by the maximum of a ``size`` x ``size`` square (dilation).

    Parameters
    ----------
    size : int
        Window side in pixels (odd; an even value is rounded up).

    Returns
    -------
    ndarray
        Same shape and dtype; bright details grow.
    """
    return _morphology(image, size, cv2.MORPH_DILATE)


@register_op("bilateral", title="Bilateral", category="Filters", heavy=True,
             margin=lambda p, dtype: 1.5 * p["sigma_space"] + 2)
def bilateral(
    image: np.ndarray, *,
    sigma_space: Annotated[float, Range(0.5, 50.0, ui=(0.5, 15.0), unit="px", step=0.1)] = 3.0,
    sigma_color: Annotated[float, Range(1.0, 255.0, ui=(1.0, 100.0), step=0.5)] = 25.0,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Edge-preserving smoothing: neighbours are weighted by distance and likeness.

    Weight of a neighbour at offset ``d`` with colour difference ``c``:
    ``exp(-|d|^2 / (2 sigma_space^2)) * exp(-c^2 / (2 sigma_color^2))`` over a disc of
    radius ``round(1.5 * sigma_space)`` (OpenCV's window). ``c`` is the sum of the
    absolute channel differences (L1, as OpenCV computes it). 16-bit images go
    through OpenCV's float path.

    Parameters
    ----------
    sigma_space : float
        Spatial standard deviation in pixels.
    sigma_color : float
        Range standard deviation in 8-bit levels (summed over R, G, B for colour).

    Returns
    -------
    ndarray
        Same shape and dtype.

    References
    ----------
    C. Tomasi and R. Manduchi, "Bilateral filtering for gray and color images", ICCV 1998.
    """
    ctx = ctx or null_context()
    radius = max(1, int(round(1.5 * sigma_space)))
    d = 2 * radius + 1
    if image.dtype == np.uint8:
        def fn(part: np.ndarray) -> np.ndarray:
            with _without_ipp():
                return cv2.bilateralFilter(part, d, sigma_color, sigma_space,
                                           borderType=BORDER)
    else:
        scale = level_scale(image.dtype)
        top = max_value(image.dtype)

        def fn(part: np.ndarray) -> np.ndarray:
            f = part.astype(np.float32) * np.float32(1.0 / scale)  # 8-bit scale: same sigma
            out = cv2.bilateralFilter(f, d, sigma_color, sigma_space, borderType=BORDER)
            return np.clip(out * np.float32(scale) + 0.5, 0, top).astype(part.dtype)
    cost = 1.0 * np.pi * radius * radius * _channels(image) / 3 + 5
    # 8-bit: OpenCV's kernel is per pixel (lane-wise SIMD, scalar row ends), so aligned
    # tiles give the same result. The float path scales its colour table by the
    # input's own range, so it keeps whole rows.
    return run_in_strips(image, fn, halo=radius, ctx=ctx, cost=cost, message="Bilateral",
                         tile_align=BILATERAL_TILE_ALIGN if image.dtype == np.uint8 else None)


#: Tile edges of the 8-bit bilateral filter fall on multiples of this many pixels: a
#: multiple of OpenCV's SIMD lane counts (16, 32, 64 pixels for SSE, AVX2, AVX-512).
BILATERAL_TILE_ALIGN = 64


@contextlib.contextmanager
def _without_ipp():
    """OpenCV's own code instead of Intel IPP for the calls inside (this thread only).

    IPP's bilateral filter rounds some pixels differently depending on the size of
    the image it is given, so strips of one photo did not add up to one call (1 level
    in a few dozen pixels); OpenCV's own kernel is the same pixel by pixel whatever
    the strip, and was 2.4 times faster here (4000 x 400, d = 45). The switch is
    thread-local in OpenCV, so other threads keep their setting.
    """
    before = cv2.ipp.useIPP()
    cv2.ipp.setUseIPP(False)
    try:
        yield
    finally:
        cv2.ipp.setUseIPP(before)


# -- sharpening and kernels -----------------------------------------------------------

def _filter(image: np.ndarray, correlation_kernel: np.ndarray, delta: float = 0.0,
            anchor: tuple[int, int] = (-1, -1)) -> np.ndarray:
    """Correlate with a float kernel, rounding and saturating to the input dtype."""
    k = np.ascontiguousarray(correlation_kernel, dtype=np.float32)
    out = cv2.filter2D(image, -1, k, anchor=anchor, delta=float(delta), borderType=BORDER)
    return out.reshape(image.shape)


@register_op("sharpen", title="Sharpen", category="Filters",
             margin=2)
def sharpen(
    image: np.ndarray, *,
    amount: Annotated[float, Range(0.0, 10.0, ui=(0.0, 3.0), step=0.01)] = 1.0,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Add ``amount`` times the negative 4-neighbour Laplacian to the image.

    The 3x3 kernel is ``[[0, -a, 0], [-a, 1 + 4a, -a], [0, -a, 0]]``; ``amount=1`` is
    the classic sharpen kernel.

    Parameters
    ----------
    amount : float
        Strength; 0 leaves the image unchanged.

    Returns
    -------
    ndarray
        Same shape and dtype.

    References
    ----------
    Gonzalez & Woods, *Digital Image Processing*, 4th ed., sec. 3.6.
    """
    a = float(amount)
    kernel = np.array([[0, -a, 0], [-a, 1 + 4 * a, -a], [0, -a, 0]], np.float32)
    return _filter(image, kernel)


@register_op("unsharp_mask", title="Unsharp mask", category="Filters",
             margin=lambda p, dtype: _gaussian_margin(p, dtype, "radius"))
def unsharp_mask(
    image: np.ndarray, *,
    radius: Annotated[float, Range(0.1, 100.0, ui=(0.1, 20.0), unit="px", step=0.1)] = 2.0,
    amount: Annotated[float, Range(0.0, 10.0, ui=(0.0, 3.0), step=0.01)] = 0.5,
    threshold: Annotated[float, Range(0.0, 255.0, step=1.0)] = 0.0,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Sharpen by adding back the difference from a Gaussian blur.

    ``out = I + amount * (I - G_radius * I)`` where ``|I - G * I| >= threshold``;
    elsewhere the pixel is unchanged (so smooth areas and noise are left alone).

    Parameters
    ----------
    radius : float
        Standard deviation of the Gaussian, in pixels.
    amount : float
        Gain of the detail added back.
    threshold : float
        Minimum difference, in 8-bit levels, for a pixel to be sharpened.

    Returns
    -------
    ndarray
        Same shape and dtype.

    References
    ----------
    GIMP's and Pillow's ``UnsharpMask``; Gonzalez & Woods, 4th ed., sec. 3.6.
    """
    ctx = ctx or null_context()
    blurred = gaussian_blur(image, sigma=radius, ctx=ctx)
    a = float(amount)
    out = cv2.addWeighted(image, 1.0 + a, blurred, -a, 0.0).reshape(image.shape)
    if threshold > 0:
        keep = cv2.absdiff(image, blurred).reshape(image.shape) < threshold * level_scale(
            image.dtype)
        np.copyto(out, image, where=keep)
    return out


@register_op("emboss", title="Emboss", category="Filters",
             margin=2)
def emboss(
    image: np.ndarray, *,
    angle: Annotated[float, Range(0.0, 360.0, step=1.0)] = 45.0,
    strength: Annotated[float, Range(0.0, 10.0, ui=(0.0, 4.0), step=0.01)] = 1.0,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Relief: mid-gray plus ``strength`` times the derivative towards ``angle``.

    Each channel becomes ``mid + strength * (cos(angle) dI/dx - sin(angle) dI/dy)``
    with Sobel derivatives scaled so a sharp step of ``h`` levels gives ``h`` (y points
    down, so the angle is counter-clockwise on screen). Flat areas turn mid-gray and
    edges facing the light come out raised.

    Parameters
    ----------
    angle : float
        Direction of the light, degrees counter-clockwise from the right.
    strength : float
        Gain of the relief; 0 gives flat mid-gray.

    Returns
    -------
    ndarray
        Same shape and dtype.
    """
    t = np.deg2rad(angle)
    sx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64) / 4
    kernel = strength * (np.cos(t) * sx - np.sin(t) * sx.T)
    kernel[np.abs(kernel) < 1e-12] = 0  # cos(90 deg) is 6e-17, not 0
    mid = (max_value(image.dtype) + 1) // 2
    return _filter(image, kernel, delta=mid)


@register_op("convolve", title="Convolution matrix", category="Filters",
             margin=lambda p, dtype: max(len(p["kernel"]), len(p["kernel"][0])) // 2 + 1)
def convolve(
    image: np.ndarray, *,
    kernel: Annotated[list, Kind("kernel", "rows separated by ';', e.g. 1,2,1;2,4,2;1,2,1")] = (
        (0.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 0.0)),
    normalize: bool = True,
    offset: Annotated[float, Range(-255.0, 255.0, step=1.0)] = 0.0,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Convolve every channel with a user kernel (true convolution: kernel flipped).

    ``out(y, x) = sum_ij K[i, j] * I(y - i + cy, x - j + cx) + offset`` with the
    centre ``(cy, cx) = (rows // 2, cols // 2)``, as ``scipy.ndimage.convolve``.
    Kernels up to 11x11 are applied directly, larger ones through the DFT.

    Parameters
    ----------
    kernel : list of list of float
        Rows of weights, at most 31x31 (the editor's grid offers 3x3 to 9x9).
    normalize : bool
        Divide the kernel by the sum of its weights when that sum is not zero, so
        a blur keeps the brightness.
    offset : float
        Added to the result, in 8-bit levels (scaled by 257 for 16-bit images);
        128 shows signed results such as derivatives around mid-gray.

    Returns
    -------
    ndarray
        Same shape and dtype, rounded and saturated.

    Examples
    --------
    >>> import numpy as np
    >>> convolve(np.array([[0, 0, 9, 0, 0]], np.uint8), kernel=[[1, 2, 0]],
    ...          normalize=False)
    array([[ 0,  9, 18,  0,  0]], dtype=uint8)
    """
    k = np.asarray(kernel, np.float64)
    if k.ndim != 2:
        raise ParamError("convolve: kernel must be rows of numbers")
    total = k.sum()
    if normalize and abs(total) > 1e-12:
        k = k / total
    rows, cols = k.shape
    # Convolution == correlation with the flipped kernel; the anchor moves so the
    # centre index stays rows // 2 (matters for even sizes only).
    anchor = (cols - 1 - cols // 2, rows - 1 - rows // 2)
    return _filter(image, k[::-1, ::-1], delta=offset * level_scale(image.dtype),
                   anchor=anchor)


# -- kernel presets and frequency response (Qt-free, for the kernel editor) -------------

KERNEL_PRESETS = ("mean", "gaussian", "sharpen", "emboss", "sobel_x", "sobel_y", "laplacian")


def kernel_preset(name: str, size: int = 3) -> np.ndarray:
    """An integer-valued ``size`` x ``size`` kernel for the editor's presets.

    Weights are whole numbers (the editor divides by their sum when asked), e.g.
    ``gaussian`` is the binomial ``[1, 2, 1]`` outer product at 3x3.

    Parameters
    ----------
    name : str
        One of :data:`KERNEL_PRESETS`.
    size : int
        Odd side, 3 to 31.

    Returns
    -------
    ndarray of float64
        The kernel (convolution convention, as :func:`convolve` takes it).
    """
    n = odd_size(size)
    c = n // 2
    identity = np.zeros((n, n))
    identity[c, c] = 1
    if name == "mean":
        return np.ones((n, n))
    if name == "gaussian":
        row = np.array([1.0])
        for _ in range(n - 1):
            row = np.convolve(row, [1.0, 1.0])
        return np.outer(row, row)
    if name == "sharpen":
        if n == 3:
            return np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], float)
        k = -np.ones((n, n))  # identity + (identity - box): sum n^2, divided by it
        k[c, c] = 2 * n * n - 1
        return k
    if name == "emboss":
        dy, dx = np.mgrid[-c:c + 1, -c:c + 1]
        return (dx + dy + identity).astype(float)  # 3x3: [[-2,-1,0],[-1,1,1],[0,1,2]]
    if name in ("sobel_x", "sobel_y"):
        deriv, smooth = (np.ravel(v).astype(float) for v in cv2.getDerivKernels(1, 0, n))
        # getDerivKernels gives correlation weights; flip the derivative for convolution
        k = np.outer(smooth, deriv[::-1])
        return k if name == "sobel_x" else k.T.copy()
    if name == "laplacian":
        if n == 3:
            return np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], float)
        d2, smooth = (np.ravel(v).astype(float) for v in cv2.getDerivKernels(2, 0, n))
        return np.outer(smooth, d2) + np.outer(d2, smooth)
    raise ValueError(f"unknown kernel preset {name!r}; choose from {', '.join(KERNEL_PRESETS)}")


def effective_kernel(kernel, normalize: bool = True) -> np.ndarray:
    """The kernel :func:`convolve` applies: divided by its sum when asked and non-zero."""
    k = np.asarray(kernel, np.float64)
    total = k.sum()
    return k / total if normalize and abs(total) > 1e-12 else k


def kernel_frequency_response(kernel, size: int = 64) -> np.ndarray:
    """Magnitude of the kernel's 2-D DFT, zero-padded to ``size`` x ``size``, centred.

    Index ``[size // 2, size // 2]`` is DC (frequency 0); the borders are the
    Nyquist frequency, 0.5 cycles per pixel. Only the magnitude is returned, so
    where the kernel sits in the padded grid (a phase shift) does not matter.

    Parameters
    ----------
    kernel : array_like
        2-D weights, at most ``size`` on each side.
    size : int
        DFT size (frequency resolution).

    Returns
    -------
    ndarray of float64, shape (size, size)
        ``|H(fy, fx)|`` with ``fy, fx = (i - size // 2) / size`` cycles per pixel.

    Examples
    --------
    >>> h = kernel_frequency_response(np.ones((3, 3)) / 9, size=8)
    >>> round(float(h[4, 4]), 3)  # a mean filter passes DC unchanged
    1.0
    """
    k = np.asarray(kernel, np.float64)
    if k.ndim != 2 or max(k.shape) > size:
        raise ValueError(f"kernel must be 2-D and at most {size}x{size}")
    padded = np.zeros((size, size))
    padded[:k.shape[0], :k.shape[1]] = k
    return np.fft.fftshift(np.abs(np.fft.fft2(padded)))


def describe_frequency_response(kernel) -> str:
    """A short hint such as ``"low-pass: smooths"`` for a kernel's response.

    Compares the gain at DC with the mean gain in the outer (high-frequency) band.
    """
    h = kernel_frequency_response(kernel, 64)
    dc = h[32, 32]
    fy, fx = np.mgrid[-32:32, -32:32] / 64
    radius = np.hypot(fy, fx)
    high = h[radius >= 0.35].mean()
    peak = h.max()
    if peak < 1e-12:
        return "zero kernel: output is the offset only"
    if dc < 0.05 * peak:
        return "high-pass: blocks flat areas (DC), keeps edges"
    if high < 0.5 * dc:
        return "low-pass: keeps slow changes, smooths detail and noise"
    if high > 1.2 * dc:
        return "high-boost: keeps the image, amplifies fine detail (sharpens)"
    return "all-pass: changes little overall"
