"""Colour point operations: brightness, contrast, gamma, saturation, hue, ...

Policy shared by every op here and in :mod:`editor.ops.tone`
------------------------------------------------------------
* **dtype**: uint8 stays uint8, uint16 stays uint16. Parameters given in
  0..255 units (levels, thresholds) are scaled by 257 for 16-bit images, so
  the same recipe gives the same look at either depth.
* **alpha**: passed through untouched (the registry strips it before the op
  and puts it back after), so these functions see grayscale or RGB only.
* **edges**: point and colour-matrix ops have no neighbourhood, so no edge
  policy applies (CLAHE's tiles are handled by OpenCV, mirrored at borders).
* **speed**: linear tone maps (brightness, contrast, a plain levels stretch,
  auto contrast) are one saturating OpenCV multiply-add; other functions of
  a value are one lookup table (``cv2.LUT`` for uint8; a 65,536-entry table
  for uint16); linear colour changes (saturation, hue, grayscale) are one
  3x3 ``cv2.transform`` pass, which rounds and saturates as it writes.
* **luma**: ops that decide on brightness alone (threshold, equalize by
  luminance, CLAHE) use the BT.601 luma Y' of JPEG's YCbCr, which
  ``cv2.cvtColor`` computes in one fixed-point SIMD pass (a BT.709 weighted sum
  needs a float pass over every channel). ``grayscale`` lets the user pick the
  weights.
"""

from __future__ import annotations

import functools
from typing import Annotated, Literal

import numpy as np

from editor.core.context import OpContext, null_context
from editor.core.image import LUMA_WEIGHTS, apply_lut, from_float, max_value
from editor.core.kernels import compile_kernel, warm_up_with
from editor.ops.registry import Range, register_op

# NTSC (FCC 1953) RGB -> YIQ; hue rotation turns the I/Q chroma plane about Y.
_YIQ_FROM_RGB = np.array([[0.299, 0.587, 0.114],
                          [0.595716, -0.274453, -0.321263],
                          [0.211456, -0.522591, 0.311135]])
_RGB_FROM_YIQ = np.linalg.inv(_YIQ_FROM_RGB)


def _ramp(dtype: np.dtype) -> np.ndarray:
    """Every possible pixel value of ``dtype`` as float32 in [0, 1]."""
    top = max_value(dtype)
    return np.arange(top + 1, dtype=np.float32) / np.float32(top)


def _lut_from_float(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return from_float(values, dtype)


def _color_matrix(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``out = matrix @ rgb`` per pixel in one OpenCV pass (rounded, saturated)."""
    import cv2

    return cv2.transform(image, np.asarray(matrix, np.float32))


def affine(image: np.ndarray, scale: float, offset: float) -> np.ndarray:
    """``scale * v + offset`` on every value, rounded and saturated, one pass.

    Linear maps skip the lookup table: a SIMD multiply-add, while a table
    lookup is a gather per value, and for 16-bit images one over a
    65,536-entry table that does not fit in cache (``benchmarks/bench_choices.py``
    times both). Every channel gets the same map, so the image is read as one
    wide plane by ``cv2.transform`` with a 1x2 matrix: one read of the image
    (``addWeighted`` reads it twice), 1.2-1.3x faster at 12 MP in every layout,
    and every pixel computed alike, where ``addWeighted``'s scalar tail and SIMD
    body round an exact half differently (a 2-pixel image and a photo disagreed).
    Values are float32 products: within one level of the exact map.
    """
    import cv2

    plane = image.reshape(image.shape[0], -1)  # a view: images are C-contiguous
    matrix = np.array([[scale, offset]], np.float32)
    return cv2.transform(plane, matrix).reshape(image.shape)


def luma(image: np.ndarray) -> np.ndarray:
    """BT.601 luma Y' in the image's own dtype (grayscale comes back as is).

    ``cv2.cvtColor(RGB2GRAY)`` rounds ``0.299 R + 0.587 G + 0.114 B`` with
    14-bit fixed-point weights; it is the Y of JPEG's YCbCr.
    """
    if image.ndim == 2:
        return image
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


@register_op("brightness", title="Brightness", category="Color",
             margin=0)
def brightness(
    image: np.ndarray, *,
    amount: Annotated[float, Range(-1.0, 1.0, step=0.01)] = 0.0,
    ctx: OpContext | None = None,
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
    import cv2

    # A whole-number offset (rounded half up) is the same map as the rounded
    # float one for integer pixels, and a saturating add is the cheapest pass.
    offset = int(np.floor(amount * max_value(image.dtype) + 0.5))
    if offset >= 0:
        return cv2.add(image, (offset,) * 4)
    return cv2.subtract(image, (-offset,) * 4)


@register_op("contrast", title="Contrast", category="Color",
             margin=0)
def contrast(
    image: np.ndarray, *,
    amount: Annotated[float, Range(-1.0, 1.0, step=0.01)] = 0.0,
    ctx: OpContext | None = None,
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

    References
    ----------
    GIMP ``gimp:brightness-contrast`` (app/operations/gimpoperationbrightnesscontrast.c).
    """
    slope = float(np.tan((min(amount, 0.9999) + 1.0) * np.pi / 4.0))
    return affine(image, slope, (1.0 - slope) * max_value(image.dtype) / 2.0)


@register_op("gamma", title="Gamma", category="Color",
             margin=0)
def gamma(
    image: np.ndarray, *,
    gamma: Annotated[float, Range(0.1, 10.0, ui=(0.2, 5.0), step=0.01)] = 1.0,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Gamma correction ``out = in ** (1 / gamma)`` on values scaled to [0, 1].

    The convention of GIMP's Levels and ImageMagick's ``-gamma``: gamma above
    1 brightens the mid-tones, below 1 darkens them; black and white stay.

    Parameters
    ----------
    gamma : float
        Gamma in ``[0.1, 10]``; 1 is the identity.

    Returns
    -------
    ndarray
        Image of the same shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> gamma(np.array([[0, 64, 255]], np.uint8), gamma=2.0)
    array([[  0, 128, 255]], dtype=uint8)

    References
    ----------
    Gonzalez & Woods, *Digital Image Processing*, 4th ed., §3.2 (power-law
    transformations).
    """
    lut = _lut_from_float(_ramp(image.dtype) ** np.float32(1.0 / gamma), image.dtype)
    return apply_lut(image, lut)


@register_op("saturation", title="Saturation", category="Color",
             margin=0)
def saturation(
    image: np.ndarray, *,
    amount: Annotated[float, Range(-1.0, 1.0, step=0.01)] = 0.0,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Move colours away from (or towards) their BT.709 luminance.

    Each pixel becomes ``Y + (1 + amount) * (RGB - Y)``: -1 is grayscale,
    +1 doubles the chroma. That is one 3x3 colour matrix, applied in a single
    ``cv2.transform`` pass.

    Parameters
    ----------
    amount : float
        Saturation change in ``[-1, 1]``.

    Returns
    -------
    ndarray
        Image of the same shape and dtype; grayscale input is returned as is.

    References
    ----------
    P. Haeberli, "Matrix Operations for Image Processing", SGI, 1993.
    """
    if image.ndim == 2:
        return image.copy()
    gain = 1.0 + float(amount)
    weights = np.asarray(LUMA_WEIGHTS["bt709"], np.float64)
    matrix = gain * np.eye(3) + (1.0 - gain) * np.tile(weights, (3, 1))
    return _color_matrix(image, matrix)


def hue_matrix(degrees: float) -> np.ndarray:
    """3x3 RGB matrix that turns hue by ``degrees`` in the YIQ chroma plane.

    Positive angles go red -> yellow -> green, the direction of HSV hue.
    """
    # In YIQ red sits at about +19 deg, yellow at -44 deg and green at -118 deg
    # of the I/Q plane, so HSV's direction is a negative rotation there.
    t = np.deg2rad(-float(degrees))
    c, s = np.cos(t), np.sin(t)
    rot = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    return _RGB_FROM_YIQ @ rot @ _YIQ_FROM_RGB


@register_op("hue", title="Hue", category="Color",
             margin=0)
def hue(
    image: np.ndarray, *,
    degrees: Annotated[float, Range(-180.0, 180.0, unit="°", step=1.0)] = 0.0,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Rotate every colour's hue, keeping its luma.

    The rotation happens about the Y axis of NTSC YIQ (a 3x3 matrix, one
    ``cv2.transform`` pass), so luma Y' and chroma magnitude are kept exactly
    until values leave the RGB cube and are clipped. It follows HSV hue
    closely but not exactly (YIQ's chroma plane is not HSV's hexagon).

    Parameters
    ----------
    degrees : float
        Angle in ``[-180, 180]``; positive turns red towards yellow and green.

    Returns
    -------
    ndarray
        Image of the same shape and dtype; grayscale input is returned as is.

    References
    ----------
    P. Haeberli, "Matrix Operations for Image Processing", SGI, 1993 (hue
    rotation about the luminance axis); W3C Filter Effects ``hue-rotate``.
    """
    if image.ndim == 2 or degrees == 0:
        return image.copy()
    return _color_matrix(image, hue_matrix(degrees))


@register_op("grayscale", title="Grayscale", category="Color",
             margin=0)
def grayscale(
    image: np.ndarray, *,
    method: Literal["bt709", "bt601", "average"] = "bt709",
    ctx: OpContext | None = None,
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
    import cv2

    if method == "bt601":
        # OpenCV's fixed-point BT.601 is the fastest weighted sum it has.
        return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    # Three equal rows write the gray value to every channel in one pass.
    return _color_matrix(image, np.tile(np.asarray(LUMA_WEIGHTS[method]), (3, 1)))


@register_op("invert", title="Invert", category="Color",
             margin=0)
def invert(image: np.ndarray, *, ctx: OpContext | None = None) -> np.ndarray:
    """Photographic negative: every value ``v`` becomes ``max - v``.

    Returns
    -------
    ndarray
        Same shape and dtype.
    """
    import cv2

    # For unsigned integers max - v is the bitwise complement: one SIMD pass.
    return cv2.bitwise_not(image)


def otsu_level(hist: np.ndarray) -> int:
    """Otsu's threshold of a histogram: class 0 is ``v <= t``.

    Maximises the between-class variance ``(mu_T w0 - mu)^2 / (w0 (1 - w0))``
    over every cut ``t`` (first maximum on ties, like OpenCV).

    References
    ----------
    N. Otsu, "A threshold selection method from gray-level histograms",
    IEEE Trans. SMC 9(1), 1979.
    """
    p = np.asarray(hist, np.float64).ravel()
    p = p / max(p.sum(), 1.0)
    w0 = np.cumsum(p)
    mu = np.cumsum(p * np.arange(p.size))
    denom = w0 * (1.0 - w0)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = np.where(denom > 1e-12, (mu[-1] * w0 - mu) ** 2 / denom, 0.0)
    return int(np.argmax(between))


@register_op("threshold", title="Threshold", category="Color",
             margin=lambda p, dtype: 0 if p["method"] == "fixed" else None)
def threshold(
    image: np.ndarray, *,
    level: Annotated[float, Range(0.0, 255.0, step=1.0)] = 128.0,
    method: Literal["fixed", "otsu"] = "fixed",
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Black and white by luma: ``max`` where Y' > level, else 0.

    Decided on BT.601 luma Y' (see the module policy) and written to every
    channel, so the output keeps the input's channels.

    Parameters
    ----------
    level : float
        Cut in 0..255 (scaled by 257 for 16-bit); ignored by ``otsu``.
    method : {"fixed", "otsu"}
        ``fixed`` uses ``level``; ``otsu`` picks the cut that best separates
        the luma histogram into two classes. The level used is stored in
        ``ctx.extras["threshold"]`` (0..255 units).

    Returns
    -------
    ndarray
        Same shape and dtype, every value 0 or the maximum.

    References
    ----------
    N. Otsu, IEEE Trans. SMC 9(1), 1979.
    """
    import cv2

    ctx = ctx or null_context()
    top = max_value(image.dtype)
    y = luma(image)
    if method == "otsu":
        hist = cv2.calcHist([y], [0], None, [top + 1], [0, top + 1])
        cut = float(otsu_level(hist))
    else:
        cut = float(level) * top / 255.0
    ctx.extras["threshold"] = cut * 255.0 / top
    # cv2.threshold keeps the dtype for 8U and 16U sources.
    _, binary = cv2.threshold(y, cut, top, cv2.THRESH_BINARY)
    return binary if image.ndim == 2 else cv2.cvtColor(binary, cv2.COLOR_GRAY2RGB)


@register_op("posterize", title="Posterize", category="Color",
             margin=0)
def posterize(
    image: np.ndarray, *,
    levels: Annotated[int, Range(2, 64)] = 4,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Reduce each channel to ``levels`` evenly spaced values.

    GIMP's rule ``round(v * (levels - 1)) / (levels - 1)`` on values in [0, 1],
    so black and white are kept and the steps are spread over the full range.

    Parameters
    ----------
    levels : int
        Number of values per channel, 2..64.

    Returns
    -------
    ndarray
        Same shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> posterize(np.array([[0, 60, 100, 200, 255]], np.uint8), levels=3)
    array([[  0,   0, 128, 255, 255]], dtype=uint8)
    """
    steps = np.float32(levels - 1)
    lut = _lut_from_float(np.floor(_ramp(image.dtype) * steps + 0.5) / steps, image.dtype)
    return apply_lut(image, lut)


# -- Photoshop/GIMP-style combined adjustments ---------------------------------

@register_op("brightness_contrast", title="Brightness / Contrast", category="Color",
             margin=0)
def brightness_contrast(
    image: np.ndarray, *,
    brightness: Annotated[float, Range(-1.0, 1.0, step=0.01)] = 0.0,
    contrast: Annotated[float, Range(-1.0, 1.0, step=0.01)] = 0.0,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Brightness and contrast in one step, with GIMP's Brightness-Contrast rule.

    On values ``v`` in [0, 1], with ``b = brightness / 2``: brightening moves
    ``v`` towards white (``v + (1 - v) b``), darkening towards black
    (``v (1 + b)``), so black or white stays put and nothing clips; then the
    contrast slope ``tan((contrast + 1) pi / 4)`` is applied about mid-gray
    (the :func:`contrast` op's slope). One lookup table.

    Parameters
    ----------
    brightness : float
        -1 halves every value, +1 halves the distance to white, 0 is neutral.
    contrast : float
        -1 flattens to mid-gray, 0 is neutral, values towards +1 approach a
        hard threshold at mid-gray.

    Returns
    -------
    ndarray
        Same shape and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> brightness_contrast(np.array([[0, 128, 255]], np.uint8), brightness=0.5)
    array([[ 64, 160, 255]], dtype=uint8)

    References
    ----------
    GIMP ``gimp:brightness-contrast``
    (app/operations/gimpoperationbrightnesscontrast.c, GIMP 2.10).
    """
    if brightness == 0 and contrast == 0:
        return image.copy()
    b = np.float32(brightness / 2.0)
    v = _ramp(image.dtype)
    v = v * (np.float32(1.0) + b) if b < 0 else v + (np.float32(1.0) - v) * b
    slope = np.float32(np.tan((min(contrast, 0.9999) + 1.0) * np.pi / 4.0))
    v = (v - np.float32(0.5)) * slope + np.float32(0.5)
    return apply_lut(image, _lut_from_float(v, image.dtype))


#: GIMP's six hue ranges, in order round the hue circle (each 60 deg wide,
#: centred on 0, 60, ..., 300 deg).
HUE_RANGES = ("reds", "yellows", "greens", "cyans", "blues", "magentas")

_Hue = Annotated[float, Range(-180.0, 180.0, unit="°", step=1.0)]
_Amount = Annotated[float, Range(-100.0, 100.0, step=1.0)]


@register_op("hue_saturation", title="Hue / Saturation", category="Color",
             margin=0)
def hue_saturation(
    image: np.ndarray, *,
    hue: _Hue = 0.0,
    saturation: _Amount = 0.0,
    lightness: _Amount = 0.0,
    reds_hue: _Hue = 0.0, reds_saturation: _Amount = 0.0, reds_lightness: _Amount = 0.0,
    yellows_hue: _Hue = 0.0, yellows_saturation: _Amount = 0.0,
    yellows_lightness: _Amount = 0.0,
    greens_hue: _Hue = 0.0, greens_saturation: _Amount = 0.0, greens_lightness: _Amount = 0.0,
    cyans_hue: _Hue = 0.0, cyans_saturation: _Amount = 0.0, cyans_lightness: _Amount = 0.0,
    blues_hue: _Hue = 0.0, blues_saturation: _Amount = 0.0, blues_lightness: _Amount = 0.0,
    magentas_hue: _Hue = 0.0, magentas_saturation: _Amount = 0.0,
    magentas_lightness: _Amount = 0.0,
    overlap: Annotated[float, Range(0.0, 100.0, unit="%", step=1.0)] = 0.0,
    colorize: bool = False,
    colorize_hue: Annotated[float, Range(0.0, 360.0, unit="°", step=1.0)] = 180.0,
    colorize_saturation: Annotated[float, Range(0.0, 100.0, step=1.0)] = 50.0,
    colorize_lightness: _Amount = 0.0,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Hue, saturation and lightness, for all colours or per hue range (GIMP's Hue-Saturation).

    Each pixel goes to HSL. Its hue picks one of six 60° ranges (reds at 0°,
    yellows, greens, cyans, blues, magentas); the master values and that
    range's values add up (GIMP's rule): hue turns by their sum, saturation
    is multiplied by ``1 + (s_master + s_range) / 100`` (clipped to [0, 1]),
    and lightness ``L`` with ``v = (l_master + l_range) / 200`` becomes
    ``L (1 + v)`` for ``v < 0`` or ``L + v (1 - L)`` otherwise. Within
    ``overlap`` of a range border the two neighbouring ranges' adjustments
    blend linearly (the hue shift is blended before it is applied), so a
    per-range change fades out instead of stopping at a hard hue edge. Gray
    pixels (saturation 0) have no hue and take the master values only (GIMP
    counts them as reds). A pixel whose total adjustment is zero is returned
    exactly as it was.

    With ``colorize`` the image becomes one hue: each pixel is the HSL colour
    (``colorize_hue``, ``colorize_saturation`` %, ``Y``) where ``Y`` is its
    BT.709 luminance, moved towards white or black by ``colorize_lightness``
    (GIMP's Colorize); the other settings are then ignored.

    Parameters
    ----------
    hue, saturation, lightness : float
        Master adjustments for every colour: hue turn in degrees (-180..180),
        saturation and lightness in -100..100.
    reds_hue, reds_saturation, reds_lightness : float
        Extra adjustments for reds (hues near 0°), added to the master ones.
    yellows_hue, yellows_saturation, yellows_lightness : float
        The same for yellows (near 60°).
    greens_hue, greens_saturation, greens_lightness : float
        The same for greens (near 120°).
    cyans_hue, cyans_saturation, cyans_lightness : float
        The same for cyans (near 180°).
    blues_hue, blues_saturation, blues_lightness : float
        The same for blues (near 240°).
    magentas_hue, magentas_saturation, magentas_lightness : float
        The same for magentas (near 300°).
    overlap : float
        Width of the blend between neighbouring ranges, 0..100 % of a range;
        0 gives hard range borders (GIMP's default).
    colorize : bool
        Replace the colours by one hue, keeping each pixel's luminance.
    colorize_hue, colorize_saturation, colorize_lightness : float
        Colorize's hue (0..360°), saturation (0..100) and lightness
        (-100..100, towards black or white).

    Returns
    -------
    ndarray
        Same shape and dtype. A grayscale image has no hue: it gets the master
        lightness (or Colorize's lightness) only and stays grayscale.

    Examples
    --------
    >>> import numpy as np
    >>> px = np.array([[[200, 40, 40], [40, 40, 200]]], np.uint8)  # a red, a blue
    >>> hue_saturation(px, reds_saturation=-100)[0].tolist()
    [[120, 120, 120], [40, 40, 200]]

    References
    ----------
    GIMP ``gimp:hue-saturation`` and ``gimp:colorize``
    (app/operations/gimpoperationhuesaturation.c, gimpoperationcolorize.c).
    """
    ctx = ctx or null_context()
    args = locals()  # the 18 per-range values, read by name below
    table = np.array([[hue, saturation, lightness]]
                     + [[args[f"{r}_hue"], args[f"{r}_saturation"], args[f"{r}_lightness"]]
                        for r in HUE_RANGES], np.float32)
    if not colorize and not table.any():
        return image.copy()
    if image.ndim == 2:
        return _gray_lightness(image, colorize_lightness if colorize else lightness)
    from editor.core.parallel import for_each_strip

    out = np.empty_like(image)
    height = image.shape[0]

    def adjust(y0: int, y1: int) -> None:
        if colorize:
            out[y0:y1] = _colorize(image[y0:y1], colorize_hue, colorize_saturation,
                                   colorize_lightness)
        else:
            _hue_saturation_rows(image[y0:y1], table, overlap / 100.0, out[y0:y1])

    # Bands of ~1 M pixels are where Cancel lands (and bound Colorize's float
    # temporaries); each band's strips run on every core (the kernel, OpenCV and
    # NumPy release the GIL).
    rows = max(1, (1 << 18) // image.shape[1])
    for top in range(0, height, 4 * rows):
        ctx.check()
        ctx.report(top / height, "adjusting colours")
        bottom = min(height, top + 4 * rows)
        for_each_strip(bottom - top, rows, lambda a, b, top=top: adjust(top + a, top + b))
    ctx.report(1.0)
    return out


def _hue_saturation_rows(image: np.ndarray, table: np.ndarray, overlap: float,
                         out: np.ndarray) -> None:
    """:func:`hue_saturation` of one strip into ``out`` (contiguous rows);
    ``table`` rows: master, then the six ranges."""
    rows = np.ascontiguousarray(image).reshape(image.shape[0], -1)
    _hue_saturation_kernel()(rows, table, float(overlap), max_value(image.dtype),
                             out.reshape(rows.shape))


@warm_up_with
def _warm_hue_saturation() -> None:
    for dtype in (np.uint8, np.uint16):
        hue_saturation(np.zeros((1, 1, 3), dtype), reds_hue=1.0, overlap=10.0)


@functools.cache
def _hue_saturation_kernel():
    """The whole per-pixel rule compiled, in three loops over each row (float32).

    The float NumPy/OpenCV version made a dozen full-size float planes per strip
    and ran at 2.8x a bare HLS round trip. Here each row goes through three
    loops over row-sized buffers that stay in L1: HLS (OpenCV's float
    ``RGB2HLS``), the amounts (GIMP's range membership from the integer values,
    the overlap blend, the maps), and HLS back (OpenCV's ``HLS2RGB``), rounding
    and the exact pass-through of untouched pixels. Every choice is a select, not
    a branch: a branch, a switch, a libm call (``floor``, ``fmod``) or a 64-bit
    integer conversion each kept LLVM from vectorising a loop, and the scalar
    version of this loop ran 3.5x slower.
    """
    def kernel(src, table, overlap, top, out):
        f0, f05, f1, f2, f4, f6 = (np.float32(0.0), np.float32(0.5), np.float32(1.0),
                                   np.float32(2.0), np.float32(4.0), np.float32(6.0))
        f60, f120, f240, f360 = (np.float32(60.0), np.float32(120.0), np.float32(240.0),
                                 np.float32(360.0))
        sat_step, light_step = np.float32(0.01), np.float32(0.005)
        eps = np.float32(1.1920929e-07)  # FLT_EPSILON, OpenCV's "no chroma"
        i0, i1, i5, i6 = np.int32(0), np.int32(1), np.int32(5), np.int32(6)
        scale, ftop = np.float32(1.0 / top), np.float32(top)
        # NumPy's rule in the code this replaced: the range border in float32, the
        # blend weight in float64
        half64 = overlap / 2.0
        half = np.float32(half64)
        ranged = False
        for k in range(1, 7):
            for col in range(3):
                ranged = ranged or table[k, col] != f0
        # the ranges' values as flat arrays, read at fixed indices below (hoisted out of
        # the loops, unlike the 2-D table's)
        hue_amt, sat_amt, light_amt = (table[1:, 0].copy(), table[1:, 1].copy(),
                                       table[1:, 2].copy())
        hue_master, sat_master, light_master = table[0, 0], table[0, 1], table[0, 2]
        def pick(amt, k):
            return np.float32(amt[0] * np.float32(k == 0) + amt[1] * np.float32(k == 1)
                              + amt[2] * np.float32(k == 2) + amt[3] * np.float32(k == 3)
                              + amt[4] * np.float32(k == 4) + amt[5] * np.float32(k == 5))

        h_rows, n = src.shape
        w = n // 3
        lum_row, sat_row, hue_row = (np.empty(w, np.float32), np.empty(w, np.float32),
                                     np.empty(w, np.float32))
        dhue_row, snew_row, lnew_row = (np.empty(w, np.float32), np.empty(w, np.float32),
                                        np.empty(w, np.float32))
        for i in range(h_rows):
            row, dst = src[i], out[i]
            for j in range(w):  # OpenCV's float RGB2HLS: hue in degrees, L and S in 0..1
                r = np.float32(row[3 * j]) * scale
                g = np.float32(row[3 * j + 1]) * scale
                b = np.float32(row[3 * j + 2]) * scale
                vmax, vmin = max(max(r, g), b), min(min(r, g), b)
                diff = np.float32(vmax - vmin)
                lum = np.float32(np.float32(vmax + vmin) * f05)
                denom = (np.float32(vmax + vmin) if lum < f05
                         else np.float32(np.float32(f2 - vmax) - vmin))
                chroma = diff > eps
                d = np.float32(f60 / diff)
                hue = (np.float32((g - b) * d) if vmax == r
                       else (np.float32(np.float32((b - r) * d) + f120) if vmax == g
                             else np.float32(np.float32((r - g) * d) + f240)))
                hue = np.float32(hue + f360) if hue < f0 else hue
                lum_row[j] = lum
                sat_row[j] = np.float32(diff / denom) if chroma else f0
                hue_row[j] = hue if chroma else f0
            for j in range(w):  # the amounts: master plus the pixel's range(s)
                sat, lum = sat_row[j], lum_row[j]
                # hue in sixths from the integer values: a border hue (30, 90, ...) is
                # exactly k + 0.5 and joins the range above, on every machine
                fr, fg, fb = np.float32(row[3 * j]), np.float32(row[3 * j + 1]), \
                    np.float32(row[3 * j + 2])
                hi = max(max(fr, fg), fb)
                span = np.float32(hi - min(min(fr, fg), fb))
                h6 = (np.float32((fg - fb) / span) if hi == fr
                      else (np.float32(np.float32((fb - fr) / span) + f2) if hi == fg
                            else np.float32(np.float32((fr - fg) / span) + f4)))
                h6 = np.float32(h6 + f6) if h6 < f0 else h6
                in_range = ranged and sat > f0  # grays have no hue: master values only
                # GIMP: the first range k with h < k + 0.5 + overlap/2 (k = 6: reds again);
                # floor by truncation and a correction (no libm call)
                x = np.float32(np.float32(h6 - f05) - half)
                xi = np.int32(x)
                k = np.int32(xi - np.int32(x < np.float32(xi)) + i1)
                k = min(max(k, i0), i6) if in_range else i0
                t = (np.float64(h6) - (k + 0.5) + half64) / (2.0 * half64)
                w2 = np.float32(t) if (in_range and half > f0 and k < i6 and t > 0) else f0
                first = k if k < i6 else i0
                second = np.int32(first + i1) if first < i5 else i0
                # the two ranges' values by one-hot sums (exact: the other terms are
                # +-0), where a lookup by index would not vectorise
                h_a, h_b = pick(hue_amt, first), pick(hue_amt, second)
                s_a, s_b = pick(sat_amt, first), pick(sat_amt, second)
                l_a, l_b = pick(light_amt, first), pick(light_amt, second)
                weight = f1 if in_range else f0
                # GIMP blends the hue shift, and the saturation and lightness results
                a = np.float32(hue_master + np.float32(h_a * weight))
                b = np.float32(hue_master + np.float32(h_b * weight))
                dhue_row[j] = np.float32(a + np.float32((b - a) * w2))
                a = np.float32(sat_master + np.float32(s_a * weight))
                b = np.float32(sat_master + np.float32(s_b * weight))
                sa = min(max(np.float32(sat * np.float32(f1 + np.float32(sat_step * a))), f0), f1)
                sb = min(max(np.float32(sat * np.float32(f1 + np.float32(sat_step * b))), f0), f1)
                snew_row[j] = np.float32(sa + np.float32((sb - sa) * w2))
                a = np.float32(light_master + np.float32(l_a * weight))
                b = np.float32(light_master + np.float32(l_b * weight))
                va, vb = np.float32(light_step * a), np.float32(light_step * b)
                la = np.float32(lum + np.float32(va * (lum if va < f0 else np.float32(f1 - lum))))
                lb = np.float32(lum + np.float32(vb * (lum if vb < f0 else np.float32(f1 - lum))))
                lnew_row[j] = np.float32(la + np.float32((lb - la) * w2))
            for j in range(w):  # OpenCV's float HLS2RGB, rounding, or the pixel as it was
                ri, gi, bi = row[3 * j], row[3 * j + 1], row[3 * j + 2]
                d_hue, s_new, l_new = dhue_row[j], snew_row[j], lnew_row[j]
                same = d_hue == f0 and s_new == sat_row[j] and l_new == lum_row[j]
                p2 = (np.float32(l_new * np.float32(f1 + s_new)) if l_new <= f05
                      else np.float32(np.float32(l_new + s_new) - np.float32(l_new * s_new)))
                p1 = np.float32(np.float32(f2 * l_new) - p2)
                # np.mod(hue + d_hue, 360) for sums in [-180, 540): x - 360 is exact there
                h = np.float32(hue_row[j] + d_hue)
                h = (np.float32(h - f360) if h >= f360
                     else (np.float32(h + f360) if h < f0 else h))
                h = np.float32(h * np.float32(f6 / f360))
                h = np.float32(h - f6) if h >= f6 else h
                sector = np.int32(h)  # h >= 0: truncation is the floor
                h = np.float32(h - np.float32(sector))
                down = np.float32(p1 + np.float32(np.float32(p2 - p1) * np.float32(f1 - h)))
                up = np.float32(p1 + np.float32(np.float32(p2 - p1) * h))
                # OpenCV's sector table {p2, p1, down, up} by sector, as selects
                r = p2 if (sector == 0 or sector == 5) else (
                    down if sector == 1 else (up if sector == 4 else p1))
                g = up if sector == 0 else (
                    p2 if (sector == 1 or sector == 2) else (down if sector == 3 else p1))
                b = p1 if sector <= 1 else (up if sector == 2 else (p2 if sector <= 4 else down))
                gray = s_new == f0
                r = l_new if gray else r
                g = l_new if gray else g
                b = l_new if gray else b
                # from_float: scale, round half up, clip
                ro = min(max(np.float32(np.float32(r * ftop) + f05), f0), ftop)
                go = min(max(np.float32(np.float32(g * ftop) + f05), f0), ftop)
                bo = min(max(np.float32(np.float32(b * ftop) + f05), f0), ftop)
                dst[3 * j] = ri if same else ro
                dst[3 * j + 1] = gi if same else go
                dst[3 * j + 2] = bi if same else bo

    return compile_kernel(kernel)


def _lightness_map(lum: np.ndarray, amount: float) -> np.ndarray:
    """GIMP's lightness map, ``v = amount / 200``: ``L (1 + v)`` towards black
    below 0, ``L + v (1 - L)`` towards white above (as in the kernel above)."""
    v = np.float32(0.005) * np.float32(amount)
    return lum + v * (lum if v < 0 else 1 - lum)


def _gray_lightness(image: np.ndarray, amount: float) -> np.ndarray:
    """Hue/Saturation on a grayscale image: only lightness applies (one table)."""
    if amount == 0:
        return image.copy()
    return apply_lut(image, from_float(_lightness_map(_ramp(image.dtype), amount), image.dtype))


def _colorize(image: np.ndarray, hue_deg: float, sat: float, light: float) -> np.ndarray:
    """GIMP's Colorize: HSL (hue, sat, BT.709 luminance moved by ``light``) to RGB."""
    import cv2

    top = max_value(image.dtype)
    w = np.asarray(LUMA_WEIGHTS["bt709"], np.float32) / np.float32(top)
    y = cv2.transform(image.astype(np.float32), w[None, :])
    v = light / 100.0
    if v > 0:
        y = y * np.float32(1 - v) + np.float32(v)
    elif v < 0:
        y = y * np.float32(1 + v)
    hls = np.empty(image.shape, np.float32)
    hls[..., 0] = hue_deg % 360.0
    hls[..., 1] = y
    hls[..., 2] = sat / 100.0
    return from_float(cv2.cvtColor(hls, cv2.COLOR_HLS2RGB), image.dtype)
