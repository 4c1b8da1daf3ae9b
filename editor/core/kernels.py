"""Fused per-pixel kernels, compiled by Numba, for work no library call does in one pass.

A luma-driven op (equalize, CLAHE, curves on luminance) ends by adding each
pixel's luma change to R, G and B. Library calls need a table lookup, two
subtractions, two colour conversions and two saturating additions for that:
six passes over memory, each waiting on the last. One compiled loop reads the
image and its luma once and writes the result once.

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
from editor.core.parallel import for_each_strip, strip_rows


def compile_kernel(fn: Callable) -> Callable:
    """``fn`` compiled by Numba: no GIL, cached on disk (per process where no cache
    location is writable)."""
    import numba

    try:
        return numba.njit(fn, nogil=True, cache=True, error_model="numpy")
    except RuntimeError:  # no writable cache location at all: compile per process
        return numba.njit(fn, nogil=True, error_model="numpy")


@functools.cache
def _shift_kernel() -> Callable:
    def shift(image, luma, new_luma, table, top, out):
        # out = clip(rgb + table[new_luma] - luma) on rows flattened to W*C values.
        # Each row's change is spread over a buffer first, so the add-and-clamp runs
        # over contiguous values that LLVM turns into SIMD. Every intermediate is
        # cast back to int32: Numba widens integer arithmetic to int64, which halves
        # the vector width (and 16-bit sums cannot overflow int32).
        h, w = luma.shape
        n = image.shape[1]
        channels = n // w
        zero, high = np.int32(0), np.int32(top)
        spread = np.empty(n, np.int32)
        for i in range(h):
            src, dst, y, key = image[i], out[i], luma[i], new_luma[i]
            if channels == 3:  # unrolled for the usual case: twice as fast
                for j in range(w):
                    d = np.int32(np.int32(table[key[j]]) - np.int32(y[j]))
                    spread[3 * j] = d
                    spread[3 * j + 1] = d
                    spread[3 * j + 2] = d
            else:
                for j in range(w):
                    d = np.int32(np.int32(table[key[j]]) - np.int32(y[j]))
                    for c in range(channels):
                        spread[channels * j + c] = d
            for k in range(n):
                v = np.int32(np.int32(src[k]) + spread[k])
                v = v if v > zero else zero
                dst[k] = v if v < high else high
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
    for call in _WARM_UPS:
        call()
