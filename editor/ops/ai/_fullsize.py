"""Full-size steps of the CNN ops in row strips, so Cancel is seen between strips.

The networks run at a working size, but reading the photo in and writing the result
out happen at the photo's own size: on a 12 MP photo each whole-image NumPy pass
allocates and touches a 144 MB float buffer, and a few of them in a row kept Cancel
waiting for seconds. Each function here does exactly what its whole-image namesake
in :mod:`editor.ops.ai._util` does, one strip of rows at a time (every step is per
pixel, so the result is bit-identical), and checks the context before every strip.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from editor.core.context import OpContext
from editor.ops.ai import _util

#: Pixels per strip: a few milliseconds of work, small enough to stay in cache.
STRIP_PIXELS = 1 << 20


def row_slices(height: int, width: int, ctx: OpContext,
               pixels: int | None = None) -> Iterator[slice]:
    """Slices of about ``pixels`` pixels of rows, checking ``ctx`` before each."""
    rows = max(1, (pixels or STRIP_PIXELS) // max(1, width))
    for y0 in range(0, height, rows):
        ctx.check()
        yield slice(y0, min(height, y0 + rows))
    ctx.check()


def rgb_float(image: np.ndarray, ctx: OpContext) -> np.ndarray:
    """:func:`_util.rgb_float` in strips: ``(H, W, 3)`` float32 in [0, 1]."""
    h, w = image.shape[:2]
    out = np.empty((h, w, 3), np.float32)
    for rows in row_slices(h, w, ctx):
        out[rows] = _util.rgb_float(image[rows])
    return out


def like_input(rgb: np.ndarray, image: np.ndarray, ctx: OpContext) -> np.ndarray:
    """:func:`_util.like_input` in strips: [0, 1] RGB -> the input's dtype and layout."""
    h, w = rgb.shape[:2]
    out = np.empty((h, w) if image.ndim == 2 else (h, w, 3), image.dtype)
    for rows in row_slices(h, w, ctx):
        out[rows] = _util.like_input(rgb[rows], image)
    return out


def chw_tensor(rgb: np.ndarray, device, ctx: OpContext):
    """:func:`_util.to_tensor` in strips: ``(H, W, 3)`` -> ``(1, 3, H, W)`` on ``device``."""
    import torch

    h, w = rgb.shape[:2]
    chw = np.empty((3, h, w), np.float32)
    for rows in row_slices(h, w, ctx):
        chw[:, rows] = rgb[rows].transpose(2, 0, 1)
    return torch.from_numpy(chw)[None].to(device)
