"""Geometric operations. Alpha moves with the pixels (``alpha="process"``)."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np

from editor.core.context import OpContext, null_context
from editor.ops.registry import Range, register_op


@register_op("flip", title="Flip", category="Geometry", alpha="process")
def flip(
    image: np.ndarray, *,
    axis: Literal["horizontal", "vertical"] = "horizontal",
    ctx: OpContext = null_context(),
) -> np.ndarray:
    """Mirror the image.

    Parameters
    ----------
    axis : {"horizontal", "vertical"}
        ``horizontal`` swaps left and right, ``vertical`` top and bottom.

    Returns
    -------
    ndarray
        A contiguous copy, same shape and dtype.
    """
    return np.ascontiguousarray(image[:, ::-1] if axis == "horizontal" else image[::-1])


@register_op("rotate90", title="Rotate 90°", category="Geometry", alpha="process",
             keeps_shape=False)
def rotate90(
    image: np.ndarray, *,
    turns: Annotated[int, Range(-3, 3)] = 1,
    ctx: OpContext = null_context(),
) -> np.ndarray:
    """Rotate by quarter turns, losslessly.

    Parameters
    ----------
    turns : int
        Number of quarter turns clockwise (negative: counter-clockwise).

    Returns
    -------
    ndarray
        Rotated copy; width and height swap for odd turns.
    """
    return np.ascontiguousarray(np.rot90(image, k=-turns, axes=(0, 1)))
