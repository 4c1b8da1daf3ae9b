"""Edge detectors: Sobel, Prewitt, Laplacian and Canny.

Output policy (besides the border/dtype/alpha policy of :mod:`editor.ops.filters`):
edges are computed on luma, OpenCV's RGB-to-gray (ITU-R BT.601 weights 0.299,
0.587, 0.114, rounded to whole levels; fast, and the weights hardly matter for
edges). The result is an edge-strength image of the input's shape and dtype: gray
in, gray out; RGB in, three equal channels out. Derivative kernels are scaled so
that a sharp step of ``h`` levels gives a strength of ``h`` (Sobel / 4,
Prewitt / 3, the 4-neighbour Laplacian as is); strengths are absolute values,
rounded and clipped to the dtype's range.

Canny is a detector (like the corner detectors of :mod:`editor.ops.features`):
with ``output="overlay"`` (the default) it returns the image unchanged and puts
the edge mask in ``ctx.extras["overlay"]`` for the editor to draw over the
canvas; ``output="burn"`` returns the edge map itself, 0 or the maximum value.

References
----------
Gonzalez & Woods, *Digital Image Processing*, 4th ed., sec. 10.2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

import cv2
import numpy as np

from editor.core.context import OpContext, null_context
from editor.core.image import max_value
from editor.core.parallel import for_each_strip, strip_rows
from editor.ops.filters import BORDER, gaussian_ksize
from editor.ops.overlays import mask_overlay, publish
from editor.ops.registry import ParamError, Range, register_op


def luma(image: np.ndarray) -> np.ndarray:
    """Gray (H, W) of the same dtype: BT.601 luma of RGB, gray returned as is."""
    if image.ndim == 2:
        return image
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def _strength_image(strength: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Float strengths -> rounded, clipped image shaped and typed like ``like``."""
    if like.dtype == np.uint8:
        gray = cv2.convertScaleAbs(strength)  # |x|, rounded, saturated: one pass
    else:
        top = float(max_value(like.dtype))
        gray = cv2.min(cv2.absdiff(strength, 0.0) + 0.5, top).astype(like.dtype)
    gray = gray.reshape(like.shape[:2])
    if like.ndim == 3:
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
    return gray


def magnitude(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """``sqrt(gx^2 + gy^2)`` rounded the same way on every run.

    ``cv2.magnitude`` computes ``x*x + y*y`` with a fused multiply-add in its
    SIMD body and without one in the row tails, and where the tails fall depends
    on how its threads split the image: a magnitude near ``n + 0.5`` then rounds
    to ``n`` on one run and ``n + 1`` on the next (seen in the op contract test).
    NumPy squares and adds without fusing, always.
    """
    g = np.square(gx)
    g += np.square(gy)
    return np.sqrt(g, out=g)


def _derivatives(gray: np.ndarray, kx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correlate with ``kx`` and its transpose; float32 results."""
    gx = cv2.filter2D(gray, cv2.CV_32F, kx, borderType=BORDER)
    gy = cv2.filter2D(gray, cv2.CV_32F, np.ascontiguousarray(kx.T), borderType=BORDER)
    return gx, gy


def _in_strips(image: np.ndarray, halo: int,
               strength: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``_strength_image(strength(luma(image)), image)``, computed in row strips on
    every core.

    ``strength`` maps a gray strip to float (or int16) strengths of the same shape;
    each strip is given ``halo`` real rows above and below, so its own rows are what
    one call over the whole image gives (the filters read ``halo`` rows each side;
    at the image's top and bottom they see the true edge). Luma, derivatives,
    magnitude and the conversion back then run on cache-sized pieces instead of
    streaming five whole-image temporaries through memory, and NumPy's
    single-threaded passes run on all cores.
    """
    h = image.shape[0]
    out = np.empty(image.shape, image.dtype)

    def strip(y0: int, y1: int) -> None:
        a, b = max(0, y0 - halo), min(h, y1 + halo)
        g = strength(luma(image[a:b]))[y0 - a:y1 - a]
        out[y0:y1] = _strength_image(g, image[y0:y1])

    for_each_strip(h, strip_rows(out[:1].nbytes, halo), strip)
    return out


@register_op("sobel", title="Sobel", category="Edges", margin=2)
def sobel(
    image: np.ndarray, *,
    direction: Literal["magnitude", "x", "y"] = "magnitude",
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Gradient strength from the 3x3 Sobel operator (divided by 4).

    Parameters
    ----------
    direction : {"magnitude", "x", "y"}
        ``"x"``: ``|dI/dx|`` (vertical edges), ``"y"``: ``|dI/dy|`` (horizontal
        edges), ``"magnitude"``: ``sqrt(dx^2 + dy^2)``.

    Returns
    -------
    ndarray
        Edge strength, same shape and dtype (see the module's output policy).

    References
    ----------
    I. Sobel and G. Feldman, "A 3x3 isotropic gradient operator", 1968.
    """
    def strength(gray: np.ndarray) -> np.ndarray:
        if direction == "x":
            return cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3, scale=0.25, borderType=BORDER)
        if direction == "y":
            return cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3, scale=0.25, borderType=BORDER)
        gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3, scale=0.25, borderType=BORDER)
        gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3, scale=0.25, borderType=BORDER)
        return magnitude(gx, gy)

    return _in_strips(image, 1, strength)


@register_op("prewitt", title="Prewitt", category="Edges",
             margin=2)
def prewitt(image: np.ndarray, *, ctx: OpContext | None = None) -> np.ndarray:
    """Gradient magnitude from the 3x3 Prewitt operator (divided by 3).

    Returns
    -------
    ndarray
        Edge strength, same shape and dtype (see the module's output policy).

    References
    ----------
    J. M. S. Prewitt, "Object enhancement and extraction", 1970.
    """
    kx = np.array([[-1, 0, 1]] * 3, np.float32) / 3
    return _in_strips(image, 1, lambda gray: magnitude(*_derivatives(gray, kx)))


@register_op("laplacian", title="Laplacian", category="Edges",
             margin=2)
def laplacian(image: np.ndarray, *, ctx: OpContext | None = None) -> np.ndarray:
    """Absolute 4-neighbour Laplacian ``|I(x+1) + I(x-1) + I(y+1) + I(y-1) - 4 I|``.

    Returns
    -------
    ndarray
        Edge strength, same shape and dtype (see the module's output policy); both
        sides of an edge light up, and noise is amplified (second derivative).
    """
    # 8 bit: |sum| <= 4 * 255 fits int16, half the bytes of float32 and the same
    # whole numbers; 16 bit needs the float range.
    depth = cv2.CV_16S if image.dtype == np.uint8 else cv2.CV_32F
    return _in_strips(image, 1, lambda gray: cv2.Laplacian(gray, depth, ksize=1,
                                                           borderType=BORDER))


#: Canny works on luma in 1/16 levels (int16).
_CANNY_SUBLEVELS = 16


@register_op("canny", title="Canny edges", category="Edges", heavy=True)
def canny(
    image: np.ndarray, *,
    sigma: Annotated[float, Range(0.0, 20.0, ui=(0.0, 6.0), unit="px", step=0.05)] = 1.5,
    low: Annotated[float, Range(0.0, 255.0, ui=(0.0, 60.0), step=0.5)] = 8.0,
    high: Annotated[float, Range(0.0, 255.0, ui=(0.0, 100.0), step=0.5)] = 20.0,
    output: Literal["overlay", "burn"] = "overlay",
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Thin, connected edges: Gaussian smoothing, gradient, non-maximum suppression,
    hysteresis.

    The gradient is the Sobel / 4 gradient of the smoothed luma in 8-bit levels (a
    sharp step of ``h`` levels has strength ``h``; smoothing lowers it). Pixels that
    are local maxima along the gradient and stronger than ``high`` are edges, and so
    are those stronger than ``low`` connected (8-neighbours) to one. In
    scikit-image's units (Sobel of a [0, 1] image) the thresholds are
    ``low * 4 / 255`` and ``high * 4 / 255``.

    Parameters
    ----------
    sigma : float
        Standard deviation of the Gaussian smoothing, pixels (0: none).
    low : float
        Lower hysteresis threshold, 8-bit levels.
    high : float
        Upper hysteresis threshold, 8-bit levels (at least ``low``).
    output : {"overlay", "burn"}
        ``"overlay"``: leave the pixels as they are and show the edges over the
        image (``ctx.extras["overlay"]``); ``"burn"``: replace the image by the
        edge map.

    Returns
    -------
    ndarray
        Overlay: the image unchanged. Burn: 0 / maximum-value edge map, same
        shape and dtype (RGB: three equal channels).

    References
    ----------
    J. Canny, "A computational approach to edge detection", IEEE PAMI 8(6), 1986.
    """
    ctx = ctx or null_context()
    if high < low:
        raise ParamError(f"canny: high ({high:g}) must be at least low ({low:g})")
    ctx.report(0.0, "Canny: gradient")
    k = gaussian_ksize(sigma, np.uint8) if sigma >= 0.05 else 1
    h, w = image.shape[:2]
    dx = np.empty((h, w), np.int16)
    dy = np.empty((h, w), np.int16)
    factor = _CANNY_SUBLEVELS * 255.0 / max_value(image.dtype)

    def gradient(y0: int, y1: int) -> None:
        # luma -> blur -> Sobel per strip with a halo of k // 2 + 1 rows, on every
        # core, the temporaries in cache; each strip's rows are what whole-image
        # calls give (the blur and the Sobel read that many rows each side).
        halo = k // 2 + 1
        a, b = max(0, y0 - halo), min(h, y1 + halo)
        gray = luma(image[a:b])
        # Fixed point: luma in 1/16 levels as int16 (<= 4080), so the blur keeps
        # sub-level precision (an 8-bit blur rounds to whole levels and moved
        # edges: F1 against scikit-image fell from 0.85 to 0.75 on the cat photo)
        # while the Sobel stays in fast int16: |dx| <= 4 * 4080 fits. Same edges
        # as a float32 pipeline, in half the time.
        if image.dtype == np.uint8:
            fixed = cv2.multiply(gray, _CANNY_SUBLEVELS, dtype=cv2.CV_16S)
        else:
            fixed = (gray.astype(np.float32) * np.float32(factor) + 0.5).astype(np.int16)
        if k > 1:
            fixed = cv2.GaussianBlur(fixed, (k, k), sigma, borderType=BORDER)
        dx[y0:y1] = cv2.Sobel(fixed, cv2.CV_16S, 1, 0, ksize=3,
                              borderType=BORDER)[y0 - a:y1 - a]
        dy[y0:y1] = cv2.Sobel(fixed, cv2.CV_16S, 0, 1, ksize=3,
                              borderType=BORDER)[y0 - a:y1 - a]

    for_each_strip(h, strip_rows(w * 4, k // 2 + 1), gradient)
    ctx.report(0.6, "Canny: edges")
    # Sobel of 1/16 levels = 4 * 16 = 64 times our strength (Sobel / 4 in levels)
    scale = 4.0 * _CANNY_SUBLEVELS
    edges = cv2.Canny(dx, dy, low * scale, high * scale, L2gradient=True)
    ctx.report(0.95, "Canny: edges")
    if output != "burn":
        publish(ctx, mask_overlay("canny", {"sigma": sigma, "low": low, "high": high}, edges))
        return image.copy()
    if image.dtype != np.uint8:
        edges = edges.astype(image.dtype) * np.array(257, image.dtype)
    if image.ndim == 3:
        return cv2.cvtColor(edges, cv2.COLOR_GRAY2RGB)
    return edges
