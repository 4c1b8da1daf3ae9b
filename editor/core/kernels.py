"""Fused per-pixel kernels, compiled by Numba, for work no library call does in one pass.

A luma-driven op (equalize, CLAHE, curves on luminance) ends by adding each
pixel's luma change to R, G and B. Library calls need a table lookup, two
subtractions, two colour conversions and two saturating additions for that:
six passes over memory, each waiting on the last. One compiled loop reads the
image and its luma once and writes the result once. Counting the values of an
8-bit image (a histogram) is the other: one compiled loop keeps eight counters
per value, so equal neighbours never wait on each other's increments.

The kernels are serial and release the GIL (``nogil``): :func:`for_each_strip`
runs them on the shared pool, strip by strip, so the result never depends on
the core count and no second threading runtime competes with OpenCV's.
Compiled code is cached beside this file (or in Numba's user cache when the
package folder is read-only), so only the first call after an install pays the
compile time; ``scripts/setup.sh`` makes that call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from editor.core.image import max_value
from editor.core.parallel import for_each_strip, map_ordered, strip_rows, workers


def compile_kernel(fn: Callable) -> Callable:
    """``fn`` compiled by Numba: no GIL, cached on disk (per process where no cache
    location is writable)."""
    import numba

    try:
        return numba.njit(fn, nogil=True, cache=True, error_model="numpy")
    except RuntimeError:  # no writable cache location at all: compile per process
        return numba.njit(fn, nogil=True, error_model="numpy")


@functools.cache
def _add_change_kernel() -> Callable:
    """``dst = clip(src + change)`` over one row: ``change[j]`` (``int32``) added to
    each channel of pixel ``j``; ``src`` and ``dst`` hold ``n * channels`` values.

    The last step of :func:`shift_luma` and of :func:`clahe_blend_kernel`, called
    from their kernels (both in this file: Numba's disk cache checks only the file
    of the kernel it caches, so a caller in another file would keep a stale copy).
    """
    def add_change(src, dst, change, n, channels, high):
        zero, top = np.int32(0), np.int32(high)

        def pixels(ch):
            # inlined once per channel count below: with ``ch`` a constant the channel
            # loop unrolls and LLVM vectorises the pixels with interleaved loads
            # (1.3-2.8x spreading the change over the channels into a buffer first).
            # Every intermediate is int32: Numba widens integer arithmetic to int64,
            # which halves the vector width (and 16-bit sums cannot overflow int32).
            for j in range(n):
                d = change[j]
                for c in range(ch):
                    v = np.int32(np.int32(src[ch * j + c]) + d)
                    v = v if v > zero else zero
                    dst[ch * j + c] = v if v < top else top

        if channels == 3:
            pixels(3)
        elif channels == 4:
            pixels(4)
        elif channels == 1:
            pixels(1)
        else:
            pixels(channels)
    return compile_kernel(add_change)


#: :func:`_add_change_kernel`, as a global of the kernels that call it: a compiled
#: function held in a closure makes its callers' disk-cache key differ in every
#: process (they would compile again at each start)
_add_change: Callable | None = None


def _load_add_change() -> None:
    global _add_change
    _add_change = _add_change_kernel()


@functools.cache
def _shift_kernel() -> Callable:
    _load_add_change()

    def shift(image, luma, new_luma, table, top, out):
        # out = clip(rgb + table[new_luma] - luma) on rows flattened to W*C values: a
        # row's changes are looked up first (a gather, scalar), then added by pixel
        h, w = luma.shape
        channels = image.shape[1] // w
        change = np.empty(w, np.int32)
        for i in range(h):
            y, key = luma[i], new_luma[i]
            for j in range(w):
                change[j] = np.int32(np.int32(table[key[j]]) - np.int32(y[j]))
            _add_change(image[i], out[i], change, w, channels, top)
    return compile_kernel(shift)


def _identity(dtype: np.dtype) -> np.ndarray:
    return np.arange(max_value(dtype) + 1, dtype=np.int64).astype(dtype)


def shift_luma(image: np.ndarray, luma: np.ndarray, new_luma: np.ndarray,
               table: np.ndarray | None = None) -> np.ndarray:
    """``clip(image + T[new_luma] - luma)`` per channel, in one pass.

    Parameters
    ----------
    image : ndarray
        ``(H, W, C)`` uint8 or uint16.
    luma, new_luma : ndarray
        ``(H, W)`` of the image's dtype: its luma and the value to look up in
        ``table`` (often the same array).
    table : ndarray, optional
        Lookup table of ``max_value + 1`` entries of the image's dtype; the
        identity when omitted (``new_luma`` already holds the new luma).

    Returns
    -------
    ndarray
        A new array like ``image``; the same bits as the NumPy expression with
        exact integer arithmetic.

    Examples
    --------
    >>> rgb = np.array([[[10, 200, 250]]], np.uint8)
    >>> y = np.array([[100]], np.uint8)
    >>> shift_luma(rgb, y, np.array([[120]], np.uint8)).tolist()
    [[[30, 220, 255]]]
    """
    image = np.ascontiguousarray(image)
    flat = image.reshape(image.shape[0], -1)
    table = _identity(image.dtype) if table is None else table.astype(image.dtype)
    out = np.empty_like(image)
    rows = out.reshape(flat.shape)
    kernel = _shift_kernel()
    top = max_value(image.dtype)

    def strip(y0: int, y1: int) -> None:
        kernel(flat[y0:y1], luma[y0:y1], new_luma[y0:y1], table, top, rows[y0:y1])

    for_each_strip(image.shape[0], strip_rows(out[:1].nbytes), strip)
    return out


@functools.cache
def clahe_blend_kernel() -> Callable:
    """Rows of CLAHE's result: the four nearest tables blended, the luma change
    added to every channel.

    Per row, the two grid rows' tables are blended first (``tiles_x * 256``
    values, vectorised), so each pixel reads two values, not four. Three loops
    over row buffers: the look-ups (scalar), the column blend, rounding and the
    change (vectorised), and the add-and-clamp over the pixels
    (:func:`_add_change_kernel`, vectorised); unsigned indices spare Numba's
    negative-index checks.
    """
    _load_add_change()

    def blend(image, luma, y0, tables, inv_th, index, weight, deep, top, out):
        h, w = luma.shape
        grid_y, span = tables.shape
        channels = image.shape[1] // w
        zero, high = np.int32(0), np.int32(top)
        chunk = 1024  # pixels: every buffer below stays in L1
        row_table = np.empty(span, np.float32)
        near = np.empty(chunk, np.float32)
        far = np.empty(chunk, np.float32)
        change = np.empty(chunk, np.int32)
        key = np.empty(chunk, np.uint32)
        for i in range(h):
            t = np.float32(y0 + i) * inv_th - np.float32(0.5)
            t_low = np.floor(t)
            b = t - t_low
            a = np.float32(1) - b
            upper = tables[min(max(np.int64(t_low), 0), grid_y - 1)]
            lower = tables[min(max(np.int64(t_low) + 1, 0), grid_y - 1)]
            for k in range(span):
                row_table[k] = upper[k] * a + lower[k] * b
            for j0 in range(0, w, chunk):
                m = min(chunk, w - j0)
                y = luma[i, j0:j0 + m]
                left, right, right_weight = index[0, j0:j0 + m], index[1, j0:j0 + m], \
                    weight[j0:j0 + m]
                if deep:  # the 8-bit luma, as to_uint8 rounds it
                    for j in range(m):
                        key[j] = (np.uint32(y[j]) * np.uint32(255) + np.uint32(32767)) \
                            // np.uint32(65535)
                else:
                    for j in range(m):
                        key[j] = y[j]
                for j in range(m):
                    near[j] = row_table[left[j] + key[j]]
                    far[j] = row_table[right[j] + key[j]]
                if deep:
                    for j in range(m):
                        level = np.int32(np.rint(near[j] * (np.float32(1) - right_weight[j])
                                                 + far[j] * right_weight[j]))
                        # the 8-bit change, scaled to 16 bits and kept in range
                        v = np.int32(y[j])
                        moved = np.int32(v + np.int32(257) * np.int32(level - np.int32(key[j])))
                        moved = moved if moved > zero else zero
                        change[j] = np.int32((moved if moved < high else high) - v)
                else:
                    for j in range(m):
                        level = np.int32(np.rint(near[j] * (np.float32(1) - right_weight[j])
                                                 + far[j] * right_weight[j]))
                        change[j] = np.int32(level - np.int32(key[j]))
                src = image[i, j0 * channels:(j0 + m) * channels]
                dst = out[i, j0 * channels:(j0 + m) * channels]
                _add_change(src, dst, change, m, channels, top)
    return compile_kernel(blend)


@functools.cache
def _blend_runs_kernel() -> Callable:
    def blend(original, o_row, result, r_row, mask, m_row, runs, channels):
        # result = (m·r + (1 − m)·o) / (m + (1 − m) + 1e-5), rounded half to even, in
        # float32 and in this order: cv2.blendLinear's arithmetic, bit for bit (where
        # m is 0 it gives o). Where m is 1 it is r, so only the runs below 1 are
        # visited. The arrays are flat, rows ``*_row`` elements apart: a box inside a
        # bigger image is read in place.
        one, tiny, magic = np.float32(1.0), np.float32(1e-5), np.float32(12582912.0)
        zero, top = np.float32(0), np.float32(255)

        def pixels(r, o, weights, ch):
            # inlined once per channel count below: with ``ch`` a constant the channel
            # loop unrolls and LLVM vectorises the pixels with interleaved loads (4-14x
            # the same loop with ``ch`` unknown, or weights spread into buffers first)
            for j in range(weights.size):
                a = weights[j]
                b = one - a
                d = (a + b) + tiny
                for c in range(ch):
                    # two roundings (no fused multiply-add), as OpenCV
                    v = (np.float32(r[ch * j + c]) * a + np.float32(o[ch * j + c]) * b) / d
                    v = (v + magic) - magic  # round half to even (exact below 2**22)
                    r[ch * j + c] = np.uint8(min(max(v, zero), top))

        for t in range(runs.shape[0]):
            i, j0, j1 = runs[t, 0], runs[t, 1], runs[t, 2]
            weights = mask[i * m_row + j0:i * m_row + j1]
            r = result[i * r_row + channels * j0:i * r_row + channels * j1]
            o = original[i * o_row + channels * j0:i * o_row + channels * j1]
            if channels == 3:
                pixels(r, o, weights, 3)
            elif channels == 4:
                pixels(r, o, weights, 4)
            elif channels == 1:
                pixels(r, o, weights, 1)
            else:
                pixels(r, o, weights, channels)
    return compile_kernel(blend)


def runs_below_one(mask: np.ndarray) -> np.ndarray:
    """Every run of values below 1 in a 2-D mask: ``int32`` rows ``(y, x0, x1)``, by row.

    Examples
    --------
    >>> runs_below_one(np.array([[1, 0.5, 0, 1], [1, 1, 1, 0]], np.float32)).tolist()
    [[0, 1, 3], [1, 3, 4]]
    """
    below = mask < 1
    h, w = below.shape
    edges = np.zeros((h, w + 2), np.int8)
    edges[:, 1:-1] = below
    steps = np.diff(edges, axis=1)
    starts = np.argwhere(steps == 1)  # row-major: by row, then column
    ends = np.flatnonzero(steps == -1) % (w + 1)
    return np.ascontiguousarray(np.column_stack([starts, ends]), dtype=np.int32)


def _flat_rows(view: np.ndarray) -> tuple[np.ndarray, int]:
    """A 2-D or 3-D array with contiguous rows as one flat array over the memory
    they span (gaps between rows included), and the row step in elements."""
    step = view.strides[0] // view.itemsize
    span = (view.shape[0] - 1) * step + view[0].size if view.shape[0] else 0
    return np.lib.stride_tricks.as_strided(view, (span,), (view.itemsize,),
                                           writeable=view.flags.writeable), step


def _rows_contiguous(view: np.ndarray) -> bool:
    """Each row of ``view`` is one run of memory (a box of a C-ordered array is)."""
    step = view.itemsize
    for n, stride in zip(view.shape[:0:-1], view.strides[:0:-1], strict=True):
        if n > 1 and stride != step:
            return False
        step *= n
    return view.strides[0] > 0


def blend_into(result: np.ndarray, original: np.ndarray, mask: np.ndarray,
               runs: np.ndarray | None = None) -> None:
    """``result = m · result + (1 − m) · original`` in place, for 8-bit images.

    The same bits as ``cv2.blendLinear(result, original, m, 1 − m)``, but only the
    edge of a selection is computed: inside it the result is kept, outside it the
    original copied. The arrays may be boxes of bigger ones (their rows contiguous).

    Parameters
    ----------
    result : ndarray
        ``uint8`` ``(H, W)`` or ``(H, W, C)``, writable; receives the blend.
    original : ndarray
        The pixels before the edit, same shape and dtype.
    mask : ndarray
        ``float32`` ``(H, W)`` in ``[0, 1]``.
    runs : ndarray, optional
        :func:`runs_below_one` of ``mask``, when known (a selection remembers them:
        :func:`editor.core.selection.soft_runs`); only they are read.

    Examples
    --------
    >>> r = np.full((1, 3), 200, np.uint8); o = np.zeros((1, 3), np.uint8)
    >>> blend_into(r, o, np.array([[0, 0.5, 1]], np.float32)); r.tolist()
    [[0, 100, 200]]
    """
    if result.dtype != np.uint8 or original.dtype != np.uint8 or mask.dtype != np.float32 \
            or result.shape != original.shape or result.shape[:2] != mask.shape:
        raise ValueError("blend_into takes uint8 images and a float32 mask of their size")
    if not result.flags.writeable:
        raise ValueError("blend_into writes into result, which is read-only")
    if not all(_rows_contiguous(a) for a in (result, original, mask)):
        # odd strides (a transposed view): blend contiguous copies, then write back
        inner = np.ascontiguousarray(result)
        blend_into(inner, np.ascontiguousarray(original), np.ascontiguousarray(mask), runs)
        result[...] = inner
        return
    channels = 1 if result.ndim == 2 else result.shape[2]
    runs = runs_below_one(mask) if runs is None else runs
    # the runs below 1: the inside of the selection is never read. A feathered edge
    # (tens of thousands of pixels) is blended on this thread: handing it to the pool
    # cost more than it saved; a wide soft area is shared, half a megapixel a task.
    flat = [_flat_rows(a) for a in (original, result, mask)]
    kernel = _blend_runs_kernel()
    soft = int((runs[:, 2] - runs[:, 1]).sum())
    parts = max(1, min(2 * workers(), runs.shape[0], soft >> 19))
    if parts == 1:
        kernel(*flat[0], *flat[1], *flat[2], runs, channels)
        return
    cuts = [runs.shape[0] * i // parts for i in range(parts + 1)]
    for _ in map_ordered(lambda i: kernel(*flat[0], *flat[1], *flat[2],
                                          runs[cuts[i]:cuts[i + 1]], channels),
                         range(parts)):
        pass


@functools.cache
def _count_kernel() -> Callable:
    def count(values):
        # Eight values per 64-bit read, each byte lane into its own sub-histogram:
        # a run of equal values (sky, a flat wall) then never waits on the store of
        # the previous increment to the same counter.
        sub = np.zeros((8, 256), np.int32)
        n = values.size
        words = values[:n - n % 8].view(np.uint64)
        for i in range(words.size):
            v = words[i]
            sub[0, v & 255] += 1
            sub[1, (v >> 8) & 255] += 1
            sub[2, (v >> 16) & 255] += 1
            sub[3, (v >> 24) & 255] += 1
            sub[4, (v >> 32) & 255] += 1
            sub[5, (v >> 40) & 255] += 1
            sub[6, (v >> 48) & 255] += 1
            sub[7, v >> 56] += 1
        counts = np.zeros(256, np.int64)
        for lane in range(8):
            for b in range(256):
                counts[b] += sub[lane, b]
        for i in range(n - n % 8, n):
            counts[values[i]] += 1
        return counts
    return compile_kernel(count)


@functools.cache
def _rgb_luma_count_kernel() -> Callable:
    def count(color, weights):
        # R, G, B and their rounded weighted sum, counted in one read of the pixels;
        # even and odd columns into separate counters, so equal neighbours never wait
        # on each other's increments. The luma is cv2.transform's, bit for bit over
        # all 2**24 colours (its SIMD path): float32 g*w1, then multiply-adds of r*w0
        # and b*w2, each fused (a float64 product and sum rounded once to float32:
        # the fused result for every 8-bit value), rounded half to even.
        sub = np.zeros((2, 4, 256), np.int32)
        w0, w2 = np.float64(weights[0]), np.float64(weights[2])
        for i in range(color.shape[0]):
            row = color[i]
            for j in range(color.shape[1]):
                lane = j & 1
                r, g, b = row[j, 0], row[j, 1], row[j, 2]
                sub[lane, 0, r] += 1
                sub[lane, 1, g] += 1
                sub[lane, 2, b] += 1
                y = np.float32(weights[1] * np.float32(g))
                y = np.float32(w0 * np.float64(r) + np.float64(y))
                y = np.float32(w2 * np.float64(b) + np.float64(y))
                sub[lane, 3, min(255, max(0, np.int32(np.rint(y))))] += 1
        counts = np.zeros((4, 256), np.int64)
        for lane in range(2):
            for c in range(4):
                for v in range(256):
                    counts[c, v] += sub[lane, c, v]
        return counts
    return compile_kernel(count)


def rgb_luma_counts(color: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Counts of R, G, B and of luma ``round(w · RGB)`` of a uint8 ``(H, W, 3)`` image.

    One compiled pass on the calling core (the histogram cuts an image into bands
    for the pool): the same counts as ``cv2.calcHist`` of each channel and of
    ``cv2.transform(color, weights)``, bit for bit, without the luma plane. Rows
    may be strided (the colour of an RGBA image). At most ``2**31`` pixels a
    call (its counters are int32, two per value).

    Parameters
    ----------
    color : ndarray
        ``(H, W, 3)`` uint8.
    weights : ndarray
        Three float32 weights of R, G and B.

    Returns
    -------
    ndarray
        ``(4, 256)`` int64: R, G, B, luma.

    Examples
    --------
    >>> w = np.array([0.2126, 0.7152, 0.0722], np.float32)
    >>> c = rgb_luma_counts(np.array([[[255, 255, 255], [0, 10, 0]]], np.uint8), w)
    >>> c[:, 255].tolist(), int(c[3, 7])
    ([1, 1, 1, 1], 1)
    """
    if color.dtype != np.uint8 or color.ndim != 3 or color.shape[2] != 3:
        raise TypeError(f"rgb_luma_counts counts (H, W, 3) uint8, not {color.shape} {color.dtype}")
    if color.shape[0] * color.shape[1] >= 1 << 31:
        raise ValueError("rgb_luma_counts counts at most 2**31 pixels a call: cut the image")
    return _rgb_luma_count_kernel()(color, np.asarray(weights, np.float32))


#: Most values one :func:`byte_counts` task counts: its int32 sub-counts (one per
#: byte lane) stay far from overflowing.
COUNT_CHUNK = 1 << 30


def byte_counts(values: np.ndarray) -> np.ndarray:
    """Exact int64 counts of the 256 values of a uint8 array of any shape.

    A compiled counter on the shared pool, one part a core: a 12 MP plane in
    2.9 ms on two cores, where ``cv2.calcHist`` took 5.7-6.8 ms
    (``benchmarks/bench_ops_color.py``) and counts in float32. The counts are
    integers, so the split never changes them.

    Examples
    --------
    >>> byte_counts(np.array([[0, 9], [9, 9]], np.uint8))[[0, 9]].tolist()
    [1, 3]
    """
    flat = np.ascontiguousarray(values).reshape(-1)
    if flat.dtype != np.uint8:
        raise TypeError(f"byte_counts counts uint8 values, not {flat.dtype}")
    kernel = _count_kernel()
    # parts of whole 8-byte words, about one a core, none over COUNT_CHUNK values
    parts = max(workers(), -(-flat.size // COUNT_CHUNK))
    step = -(-flat.size // parts)
    step += -step % 8
    starts = range(0, max(1, flat.size), max(8, step))
    return sum(map_ordered(lambda s: kernel(flat[s:s + step]), starts))


_counters_ready = False


def counters_ready() -> bool:
    """Whether :func:`warm_up_counters` has loaded the counting (and blending) kernels
    in this process.

    Until then the histograms count, and selections blend, with OpenCV, which gives
    the same numbers, rather than make the first one wait ~0.7 s for Numba and the
    kernels' cached code.
    """
    return _counters_ready


def warm_up_counters() -> None:
    """Load :func:`byte_counts`, :func:`rgb_luma_counts` and :func:`blend_into` (Numba
    and their cached code: ~0.7 s, mostly holding the GIL); the editor does it on a
    background thread at start-up. Afterwards :func:`counters_ready` is true."""
    global _counters_ready
    byte_counts(np.zeros(9, np.uint8))
    for pixel in (np.zeros((1, 1, 3), np.uint8), np.zeros((1, 1, 4), np.uint8)[..., :3]):
        rgb_luma_counts(pixel, np.zeros(3, np.float32))  # RGB rows, and RGBA's strided ones
    # the blend reads read-only states and selections, as the history hands them out
    original, mask = np.zeros((1, 1, 3), np.uint8), np.zeros((1, 1), np.float32)
    original.flags.writeable = mask.flags.writeable = False
    blend_into(np.zeros((1, 1, 3), np.uint8), original, mask)
    _counters_ready = True


#: Calls that compile the kernels of modules above this one (registered by them).
_WARM_UPS: list[Callable[[], object]] = []


def warm_up_with(call: Callable[[], object]) -> Callable[[], object]:
    """Register ``call`` (a tiny run of an op that owns a kernel) with :func:`warm_up`."""
    _WARM_UPS.append(call)
    return call


def warm_up() -> None:
    """Compile (or load from the cache) every kernel for 8- and 16-bit images, so no
    user waits for the compiler on their first edit. ``scripts/setup.sh`` runs it
    after importing :mod:`editor.ops`, whose modules register their own kernels."""
    for dtype in (np.uint8, np.uint16):
        pixel = np.zeros((1, 1, 3), dtype)
        luma = np.zeros((1, 1), dtype)
        shift_luma(pixel, luma, luma, np.zeros(max_value(dtype) + 1, dtype))
    warm_up_counters()
    for call in _WARM_UPS:
        call()
