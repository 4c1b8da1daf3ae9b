"""Colour and tone point operations.

uint8 images go through 256-entry lookup tables (one pass of ``cv2.LUT``);
uint16 images through 65,536-entry tables. Alpha is passed through by the
registry, so these functions see grayscale or RGB only.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np

from editor.core.context import OpContext, null_context
from editor.core.image import LUMA_WEIGHTS, apply_lut, from_float, max_value
from editor.ops.registry import Range, register_op


def _ramp(dtype: np.dtype) -> np.ndarray:
    """Every possible pixel value of ``dtype`` as float32 in [0, 1]."""
    top = max_value(dtype)
    return np.arange(top + 1, dtype=np.float32) / top


def _lut_from_float(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return from_float(values, dtype)


@register_op("brightness", title="Brightness", category="Color")
def brightness(
    image: np.ndarray, *,
    amount: Annotated[float, Range(-1.0, 1.0, step=0.01)] = 0.0,
    ctx: OpContext = null_context(),
) -> np.ndarray:
    """Shift all values up or down by a fraction of the full range.

    Parameters
    ----------
    amount : float
        Offset as a fraction of the maximum value: -1 turns the image black,
        +1 white, 0 leaves it unchanged.

    Returns
    -------
    ndarray
        Image of the same shape and dtype, values clipped to the range.

    Examples
    --------
    >>> import numpy as np
    >>> brightness(np.array([[0, 100, 250]], np.uint8), amount=0.1)
    array([[ 26, 126, 255]], dtype=uint8)
    """
    lut = _lut_from_float(_ramp(image.dtype) + np.float32(amount), image.dtype)
    return apply_lut(image, lut)


@register_op("contrast", title="Contrast", category="Color")
def contrast(
    image: np.ndarray, *,
    amount: Annotated[float, Range(-1.0, 1.0, step=0.01)] = 0.0,
    ctx: OpContext = null_context(),
) -> np.ndarray:
    """Stretch or compress values around mid-gray.

    Uses GIMP's slope ``tan((amount + 1) * pi / 4)`` about 0.5, so -1 gives a
    flat gray, 0 the identity and values towards +1 a hard threshold.

    Parameters
    ----------
    amount : float
        Contrast change in ``[-1, 1]``.

    Returns
    -------
    ndarray
        Image of the same shape and dtype.
    """
    slope = np.float32(np.tan((min(amount, 0.9999) + 1.0) * np.pi / 4.0))
    lut = _lut_from_float((_ramp(image.dtype) - 0.5) * slope + 0.5, image.dtype)
    return apply_lut(image, lut)


@register_op("saturation", title="Saturation", category="Color")
def saturation(
    image: np.ndarray, *,
    amount: Annotated[float, Range(-1.0, 1.0, step=0.01)] = 0.0,
    ctx: OpContext = null_context(),
) -> np.ndarray:
    """Move colours away from (or towards) their BT.709 luminance.

    Each pixel becomes ``Y + (1 + amount) * (RGB - Y)``: -1 is grayscale,
    +1 doubles the chroma.

    Parameters
    ----------
    amount : float
        Saturation change in ``[-1, 1]``.

    Returns
    -------
    ndarray
        Image of the same shape and dtype; grayscale input is returned as is.
    """
    if image.ndim == 2:
        return image.copy()
    import cv2

    gain = 1.0 + float(amount)
    luma = image.astype(np.float32) @ np.asarray(LUMA_WEIGHTS["bt709"], np.float32)
    # out = gain * rgb + (1 - gain) * Y, computed per channel in float32 (one pass each)
    out = np.empty_like(image)
    top = max_value(image.dtype)
    for c in range(3):
        ch = cv2.addWeighted(image[..., c].astype(np.float32), gain, luma, 1.0 - gain, 0.5)
        out[..., c] = np.clip(ch, 0, top)
    return out


@register_op("grayscale", title="Grayscale", category="Color")
def grayscale(
    image: np.ndarray, *,
    method: Literal["bt709", "bt601", "average"] = "bt709",
    ctx: OpContext = null_context(),
) -> np.ndarray:
    """Replace colour by luminance, keeping three equal channels.

    Parameters
    ----------
    method : {"bt709", "bt601", "average"}
        Luma weights: ITU-R BT.709 (0.2126, 0.7152, 0.0722) for sRGB photos,
        BT.601 (0.299, 0.587, 0.114) as in JPEG and OpenCV, or the plain mean.

    Returns
    -------
    ndarray
        Same shape and dtype; R = G = B.
    """
    if image.ndim == 2:
        return image.copy()
    weights = np.asarray(LUMA_WEIGHTS[method], np.float32)
    y = image.astype(np.float32) @ weights
    top = max_value(image.dtype)
    y = np.clip(y + 0.5, 0, top).astype(image.dtype)
    return np.repeat(y[..., None], 3, axis=2)


@register_op("invert", title="Invert", category="Color")
def invert(image: np.ndarray, *, ctx: OpContext = null_context()) -> np.ndarray:
    """Photographic negative: every value ``v`` becomes ``max - v``.

    Returns
    -------
    ndarray
        Same shape and dtype.
    """
    return np.subtract(max_value(image.dtype), image, dtype=image.dtype)
