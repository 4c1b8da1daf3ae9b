"""Synthetic noise, for testing denoisers and for effect.

Follows the policy of :mod:`editor.ops.filters` (dtype kept, alpha passed
through). Random numbers come from OpenCV's generator (a multiply-with-carry
generator, cheaper per number than NumPy's PCG64 with its normal transform; see
``benchmarks/bench_choices.py``) seeded per call; OpenCV keeps that
generator per thread, so a seed gives the same image every time, whichever worker
thread runs it.
"""

from __future__ import annotations

from typing import Annotated, Literal

import cv2
import numpy as np

from editor.core.context import OpContext
from editor.core.image import max_value
from editor.ops.registry import Range, register_op


@register_op("add_noise", title="Add noise", category="Noise")
def add_noise(
    image: np.ndarray, *,
    kind: Literal["gaussian", "salt_pepper"] = "gaussian",
    amount: Annotated[float, Range(0.0, 1.0, ui=(0.0, 0.5), step=0.005)] = 0.05,
    seed: Annotated[int, Range(0, 2**31 - 1, ui=(0, 1000))] = 0,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Add Gaussian noise or salt-and-pepper noise.

    Parameters
    ----------
    kind : {"gaussian", "salt_pepper"}
        ``"gaussian"``: every value gets independent zero-mean normal noise (colour
        noise on RGB). ``"salt_pepper"``: a fraction of the pixels turns black or
        white (all channels, half each).
    amount : float
        Gaussian: standard deviation as a fraction of the full range (0.1 = 25.5
        levels in 8 bit). Salt and pepper: fraction of pixels replaced.
    seed : int
        Random seed; the same seed gives the same noise.

    Returns
    -------
    ndarray
        Same shape and dtype, clipped to the range.

    References
    ----------
    Gonzalez & Woods, *Digital Image Processing*, 4th ed., sec. 5.2.
    """
    if amount <= 0:
        return image.copy()
    top = max_value(image.dtype)
    cv2.setRNGSeed(int(seed))
    if kind == "gaussian":
        # int16 noise is exact enough for 8-bit (rounded to whole levels); 16-bit
        # needs float32 (sigma may exceed the int16 range).
        noise_type = np.int16 if image.dtype == np.uint8 else np.float32
        noise = np.empty(image.shape, noise_type)
        # Fill a single-channel 2-D view: on a multi-channel Mat a scalar sigma
        # would only apply to the first channel.
        cv2.randn(noise.reshape(image.shape[0], -1), 0.0, float(amount) * top)
        depth = cv2.CV_8U if image.dtype == np.uint8 else cv2.CV_16U
        return cv2.add(image, noise, dtype=depth).reshape(image.shape)
    u = np.empty(image.shape[:2], np.float32)
    cv2.randu(u, 0.0, 1.0)
    out = image.copy()
    out[u < amount / 2] = 0
    out[(u >= amount / 2) & (u < amount)] = top
    return out
