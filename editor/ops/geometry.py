"""Geometric operations: resampling warps, resizing, cropping, lossless flips.

Conventions, stated once for every op here
-------------------------------------------
- **Coordinates**: pixel centres sit at integer coordinates, ``x`` to the right
  and ``y`` down; the image covers ``[-0.5, W - 0.5] x [-0.5, H - 0.5]``. This is
  OpenCV's convention, so ``cv2`` (the fastest CPU resampler in
  ``benchmarks/bench_ops_geometry.py``) is used as is.
- **Matrices** map *input* positions to *output* positions (forward mapping,
  homogeneous column vectors ``(x, y, 1)``), row-major when written flat.
- **Angles** are degrees, counter-clockwise positive as seen on screen.
- **Outside the image**: filled with ``fill`` (an ``(r, g, b)`` colour in 0..255,
  scaled to 16-bit for ``uint16`` images, BT.709 luma for grayscale). Images
  with alpha get alpha 0 there (transparent), whatever the colour.
- **Alpha** moves with the pixels (``alpha="process"``): it is resampled like a
  colour channel (straight, not premultiplied, alpha).
- **dtype** is kept: uint8 stays uint8, uint16 stays uint16.
- **Preview**: pixel lengths (``translate`` offsets, ``crop`` rectangles,
  ``resize`` sizes and the translation part of an ``affine`` matrix) are
  scaled by ``ctx.preview_scale`` so a proxy preview matches the full result.
- **Limits**: results above :data:`PIXEL_LIMIT` pixels are refused with a
  :class:`~editor.ops.registry.ParamError` before anything is allocated.

References
----------
R. Szeliski, *Computer Vision: Algorithms and Applications*, 2nd ed., 2022,
sec. 2.1 (2D transformations as 3x3 homogeneous matrices) and 3.6
(geometric transformations, resampling once).
R. Keys, "Cubic convolution interpolation for digital image processing",
IEEE Trans. ASSP 29(6), 1981 (bicubic kernel).
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np

from editor.core.context import OpContext, null_context
from editor.core.image import LUMA_WEIGHTS, max_value
from editor.ops.registry import Kind, ParamError, Range, register_op

#: Largest result (pixels) a geometry op will allocate: 250 MP.
PIXEL_LIMIT = 250_000_000

#: Output rows per warp call are chosen so one call touches about this many
#: pixels: short enough that Cancel is seen within ~50 ms, long enough that the
#: per-call overhead is noise.
_STRIP_PIXELS = 2_000_000

Interpolation = Literal["nearest", "bilinear", "bicubic"]
ResizeInterpolation = Literal["nearest", "bilinear", "bicubic", "area", "lanczos"]
Color = Annotated[tuple, Kind("color", hint="r,g,b in 0..255 or #rrggbb")]

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def _cv_flag(name: str) -> int:
    import cv2

    # INTER_NEAREST_EXACT samples at pixel centres (floor((x + 0.5) * s)) for
    # resize, like Pillow and scikit-image; plain INTER_NEAREST uses floor(x * s),
    # which shifts the picture by up to half a source pixel.
    return {"nearest": cv2.INTER_NEAREST, "nearest_exact": cv2.INTER_NEAREST_EXACT,
            "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC,
            "area": cv2.INTER_AREA, "lanczos": cv2.INTER_LANCZOS4}[name]


# -- matrices -------------------------------------------------------------------

def _cos_sin(angle: float) -> tuple[float, float]:
    """cos and sin of ``angle`` degrees, exact at multiples of 90 (so a quarter
    turn maps pixel centres onto pixel centres with no interpolation)."""
    quarter = angle / 90.0
    if quarter.is_integer():
        return [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)][int(quarter) % 4]
    rad = math.radians(angle)
    return math.cos(rad), math.sin(rad)


def translation_matrix(dx: float, dy: float) -> np.ndarray:
    """3x3 matrix moving points by ``(dx, dy)``."""
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def rotation_matrix(angle: float) -> np.ndarray:
    """3x3 rotation about the origin, ``angle`` degrees counter-clockwise on screen.

    With ``y`` pointing down, counter-clockwise is ``x' = c x + s y``,
    ``y' = -s x + c y`` (the same matrix as ``cv2.getRotationMatrix2D``).
    """
    c, s = _cos_sin(angle)
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def compose_transform(
    *, width: int, height: int, scale_x: float = 1.0, scale_y: float = 1.0,
    angle: float = 0.0, shear_x: float = 0.0, shear_y: float = 0.0,
    reflect_h: bool = False, reflect_v: bool = False, dx: float = 0.0, dy: float = 0.0,
    pivot: tuple[float, float] | None = None,
) -> np.ndarray:
    """Compose scale, rotation, shear, reflection and translation into one 3x3 matrix.

    ``M = T · P · R · Sh · S · F · P⁻¹``: about the pivot ``P`` (the image
    centre by default) the image is first reflected (``F``), then scaled
    (``S``), sheared (``Sh``), rotated (``R``), and finally translated (``T``).
    Composing is a matrix product, so the whole chain is resampled once
    (resampling after each step would blur the image once per step).

    Parameters
    ----------
    width, height : int
        Image size; the default pivot is its centre ``((W-1)/2, (H-1)/2)``.
    scale_x, scale_y : float
        Scale factors along x and y.
    angle : float
        Rotation in degrees, counter-clockwise on screen.
    shear_x, shear_y : float
        ``x' = x + shear_x * y`` and ``y' = y + shear_y * x``.
    reflect_h, reflect_v : bool
        Mirror left-right / top-bottom.
    dx, dy : float
        Translation in pixels, applied last.
    pivot : (float, float), optional
        Fixed point of the linear part (default: image centre).

    Returns
    -------
    ndarray
        ``(3, 3)`` float64 forward matrix (input position -> output position).

    Examples
    --------
    >>> m = compose_transform(width=5, height=3, reflect_h=True)
    >>> m @ [0, 0, 1]   # left edge goes to the right edge
    array([4., 0., 1.])
    """
    px, py = pivot if pivot is not None else ((width - 1) / 2.0, (height - 1) / 2.0)
    reflect = np.diag([-1.0 if reflect_h else 1.0, -1.0 if reflect_v else 1.0, 1.0])
    scale = np.diag([float(scale_x), float(scale_y), 1.0])
    shear = np.array([[1.0, shear_x, 0.0], [shear_y, 1.0, 0.0], [0.0, 0.0, 1.0]])
    linear = rotation_matrix(angle) @ shear @ scale @ reflect
    return (translation_matrix(dx, dy) @ translation_matrix(px, py) @ linear
            @ translation_matrix(-px, -py))


def decompose_transform(matrix, *, width: int, height: int,
                        pivot: tuple[float, float] | None = None) -> dict:
    """Inverse of :func:`compose_transform` for affine matrices (``shear_y`` = 0).

    Any invertible 2x2 linear part factors as ``R · Sh · S · F`` with an upper
    triangular ``Sh · S`` (a QR decomposition), so a matrix from history can be
    put back into the Transform dialog's controls. A perspective last row is
    ignored.

    Returns
    -------
    dict
        Keyword arguments of :func:`compose_transform` (without the size).
    """
    m = np.asarray(matrix, float).reshape(-1)
    m = np.vstack([m.reshape(-1, 3)[:2], [0.0, 0.0, 1.0]])
    a = m[:2, :2].copy()
    reflect_h = bool(np.linalg.det(a) < 0)
    if reflect_h:
        a[:, 0] = -a[:, 0]
    sx = float(np.hypot(a[0, 0], a[1, 0]))
    angle = math.degrees(math.atan2(-a[1, 0], a[0, 0])) if sx > 0 else 0.0
    upper = rotation_matrix(angle)[:2, :2].T @ a  # = Sh · S = [[sx, k sy], [0, sy]]
    sy = float(upper[1, 1])
    shear_x = float(upper[0, 1] / sy) if sy else 0.0
    px, py = pivot if pivot is not None else ((width - 1) / 2.0, (height - 1) / 2.0)
    # M = T · P · L · P⁻¹ has translation t = d + p - L p, so d = t - p + L p.
    lin = m[:2, :2]
    d = m[:2, 2] - np.array([px, py]) + lin @ [px, py]
    return dict(scale_x=sx, scale_y=sy, angle=angle, shear_x=shear_x, shear_y=0.0,
                reflect_h=reflect_h, reflect_v=False, dx=float(d[0]), dy=float(d[1]))


# -- shared machinery -----------------------------------------------------------

def _check_pixels(op: str, width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise ParamError(f"{op}: the result would be empty ({width}x{height} pixels)")
    if width * height > PIXEL_LIMIT:
        raise ParamError(f"{op}: the result would be {width}x{height} = "
                         f"{width * height / 1e6:.0f} MP, above the "
                         f"{PIXEL_LIMIT // 1_000_000} MP limit")


def _border_value(image: np.ndarray, fill) -> tuple[float, float, float, float]:
    """``fill`` in the image's scale; alpha (4th value) is 0 = transparent."""
    k = max_value(image.dtype) / 255.0
    r, g, b = (float(c) * k for c in fill)
    if image.ndim == 2:
        wr, wg, wb = LUMA_WEIGHTS["bt709"]
        v = round(wr * r + wg * g + wb * b)
        return (v, v, v, 0)
    return (round(r), round(g), round(b), 0)


def _as3x3(matrix) -> np.ndarray:
    m = np.asarray(matrix, float).reshape(-1)
    return np.vstack([m.reshape(2, 3), [0.0, 0.0, 1.0]]) if m.size == 6 else m.reshape(3, 3)


def _is_affine(m: np.ndarray) -> bool:
    return bool(np.all(np.abs(m[2] - (0.0, 0.0, 1.0)) < 1e-12))


def _check_invertible(op: str, m: np.ndarray) -> None:
    det = np.linalg.det(m if not _is_affine(m) else m[:2, :2])
    if not np.isfinite(det) or abs(det) < 1e-9:
        raise ParamError(f"{op}: the matrix is singular (it squashes the image onto a "
                         f"line or a point) and cannot be applied")


def warp(image: np.ndarray, matrix, out_size: tuple[int, int] | None = None, *,
         interpolation: str = "bilinear", fill=(0, 0, 0), op: str = "warp",
         ctx: OpContext | None = None) -> np.ndarray:
    """Resample ``image`` through a forward 3x3 (or 2x3) matrix, once.

    Parameters
    ----------
    image : ndarray
        Any supported image; every channel (alpha included) is resampled.
    matrix : array_like
        6 or 9 numbers, input position -> output position. A 3x3 matrix whose
        last row is not ``(0, 0, 1)`` is a perspective warp.
    out_size : (int, int), optional
        ``(width, height)`` of the result (default: the input's).
    interpolation : {"nearest", "bilinear", "bicubic"}
        Sampling kernel (bicubic: Keys, a = -0.75, as OpenCV).
    fill : (r, g, b)
        Colour outside the source; alpha there is 0.

    Returns
    -------
    ndarray
        The warped image, same dtype and channels.
    """
    import cv2

    ctx = ctx or null_context()
    m = _as3x3(matrix)
    _check_invertible(op, m)
    w, h = out_size or (image.shape[1], image.shape[0])
    _check_pixels(op, w, h)
    src = np.ascontiguousarray(image)
    out = np.empty((h, w) + image.shape[2:], image.dtype)
    border = _border_value(image, fill)
    flags = _cv_flag(interpolation)
    affine = _is_affine(m)
    rows = max(8, _STRIP_PIXELS // w)
    # Output strips: each call renders rows y0..y1 through T(0, -y0) · M, so
    # Cancel is honoured between strips and progress is reported.
    for y0 in range(0, h, rows):
        ctx.check()
        y1 = min(h, y0 + rows)
        ms = m.copy()
        ms[1] -= y0 * ms[2]
        strip = out[y0:y1]
        if affine:
            cv2.warpAffine(src, ms[:2], (w, y1 - y0), dst=strip, flags=flags,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=border)
        else:
            cv2.warpPerspective(src, ms, (w, y1 - y0), dst=strip, flags=flags,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=border)
        ctx.report(y1 / h, op)
    return out


# -- ops ------------------------------------------------------------------------

@register_op("flip", title="Flip", category="Geometry", alpha="process")
def flip(
    image: np.ndarray, *,
    axis: Literal["horizontal", "vertical"] = "horizontal",
    ctx: OpContext | None = None,
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

    Examples
    --------
    >>> flip(np.array([[1, 2, 3]], np.uint8))
    array([[3, 2, 1]], dtype=uint8)
    """
    import cv2

    # cv2.flip copies with SIMD row reversal; NumPy's negative-stride copy goes
    # element by element (benchmarks/bench_choices.py).
    return cv2.flip(np.ascontiguousarray(image), 1 if axis == "horizontal" else 0)


@register_op("rotate90", title="Rotate 90°", category="Geometry", alpha="process",
             keeps_shape=False)
def rotate90(
    image: np.ndarray, *,
    turns: Annotated[int, Range(-3, 3)] = 1,
    ctx: OpContext | None = None,
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

    Examples
    --------
    >>> rotate90(np.array([[1, 2], [3, 4]], np.uint8), turns=1)
    array([[3, 1],
           [4, 2]], dtype=uint8)
    """
    import cv2

    k = turns % 4
    if k == 0:
        return image.copy()
    code = {1: cv2.ROTATE_90_CLOCKWISE, 2: cv2.ROTATE_180,
            3: cv2.ROTATE_90_COUNTERCLOCKWISE}[k]
    return cv2.rotate(np.ascontiguousarray(image), code)


@register_op("resize", title="Resize", category="Geometry", alpha="process",
             keeps_shape=False)
def resize(
    image: np.ndarray, *,
    width: Annotated[int, Range(0, 100_000)] = 0,
    height: Annotated[int, Range(0, 100_000)] = 0,
    scale: Annotated[float, Range(0.01, 10.0, ui=(0.1, 4.0), step=0.01)] = 1.0,
    interpolation: ResizeInterpolation = "bilinear",
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Resample the image to a new size.

    Sample positions follow the half-pixel convention (output pixel ``j``
    reads input position ``(j + 0.5) * in / out - 0.5``), as OpenCV, Pillow
    and scikit-image do.

    Parameters
    ----------
    width : int
        New width in image pixels; 0 keeps the aspect ratio from ``height``
        (or uses ``scale`` when both are 0).
    height : int
        New height in image pixels; 0 keeps the aspect ratio from ``width``.
    scale : float
        Factor for both sides, used when ``width`` and ``height`` are 0.
    interpolation : {"nearest", "bilinear", "bicubic", "area", "lanczos"}
        ``nearest``/``bilinear``/``bicubic`` do not low-pass filter, so they
        alias when shrinking; for shrinking use ``area`` (exact box
        averaging over each output pixel's footprint) or ``lanczos``
        (Lanczos-3 widened by the shrink factor, as Pillow; when enlarging,
        OpenCV's 8x8 Lanczos-4).

    Returns
    -------
    ndarray
        The resized image, same dtype and channels.

    Examples
    --------
    >>> resize(np.zeros((30, 40), np.uint8), width=20).shape
    (15, 20)
    """
    import cv2

    ctx = ctx or null_context()
    h0, w0 = image.shape[:2]
    # Sizes are in full-image pixels: a proxy preview gets them scaled so its
    # result is the proxy of the full result. (Not unit="px": the registry
    # rounds px ints up to 1, which would turn the 0 = "auto" into 1.)
    s = ctx.preview_scale
    width = round(width * s) if width else 0
    height = round(height * s) if height else 0
    if width and height:
        w, h = width, height
    elif width:
        w, h = width, round(h0 * width / w0)
    elif height:
        w, h = round(w0 * height / h0), height
    else:
        w, h = round(w0 * scale), round(h0 * scale)
    w, h = max(1, w), max(1, h)
    _check_pixels("resize", w, h)
    ctx.check()
    src = np.ascontiguousarray(image)
    if interpolation == "lanczos" and (w < w0 or h < h0):
        out = _pillow_lanczos(src, w, h, ctx)
    else:
        name = "nearest_exact" if interpolation == "nearest" else interpolation

        def call() -> np.ndarray:
            return cv2.resize(src, (w, h), interpolation=_cv_flag(name))

        out = call() if w * h < _WATCHED_PIXELS else _watched(call, ctx)
    ctx.report(1.0, "resize")
    return out


#: Results at least this large are resized under :func:`_watched`.
_WATCHED_PIXELS = 4_000_000


def _watched(call, ctx: OpContext, poll: float = 0.02):
    """``call()`` in a helper thread, while this one watches for Cancel.

    One ``cv2.resize`` cannot be split into strips with the same result: it derives
    every row's sample position and weights from the whole image's scale, so a strip
    resized on its own lands on other positions. Enlarging 12 MP four times with
    Lanczos-4 is seconds of that one call. OpenCV releases the GIL, so a helper
    thread runs it and this thread checks ``ctx`` every ``poll`` seconds: on Cancel
    the op raises at once and the abandoned call finishes on its own and is dropped
    (its CPU time is not saved, but nothing waits for it).
    """
    import threading

    done = threading.Event()
    box: dict = {}

    def run() -> None:
        try:
            box["out"] = call()
        except BaseException as e:  # noqa: BLE001  (re-raised in the op's thread)
            box["error"] = e
        finally:
            done.set()

    threading.Thread(target=run, name="convolve-resize", daemon=True).start()
    while not done.wait(poll):
        ctx.check()
    if "error" in box:
        raise box["error"]
    return box["out"]


def _pillow_lanczos(image: np.ndarray, w: int, h: int, ctx: OpContext) -> np.ndarray:
    """Antialiased Lanczos-3 (kernel support widened by the shrink factor).

    OpenCV's INTER_LANCZOS4 keeps an 8-tap kernel whatever the factor, so it
    aliases when shrinking; Pillow's resampler widens it. Each channel is wrapped
    without a copy as an "L" / "I;16" image (so alpha stays straight, as in the
    cv2 paths; Pillow's RGBA path premultiplies), and channels x row bands run in
    threads: Pillow releases the GIL while resampling, and a band resampled
    through ``box`` is bit-identical to the same rows of the whole result.
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    h0, w0 = image.shape[:2]
    planes = [image] if image.ndim == 2 else [np.ascontiguousarray(image[..., c])
                                              for c in range(image.shape[2])]
    mode = "L" if image.dtype == np.uint8 else "I;16"
    bands = 2 if h >= 64 else 1
    edges = [round(h * i / bands) for i in range(bands + 1)]
    sy = h0 / h
    out = np.empty((h, w, len(planes)), image.dtype)

    def one(job: tuple[int, int]) -> None:
        c, b = job
        y0, y1 = edges[b], edges[b + 1]
        src = Image.frombuffer(mode, (w0, h0), planes[c], "raw", mode, 0, 1)
        out[y0:y1, :, c] = np.asarray(src.resize((w, y1 - y0), Image.Resampling.LANCZOS,
                                                 box=(0, y0 * sy, w0, y1 * sy)))

    jobs = [(c, b) for c in range(len(planes)) for b in range(bands)]
    with ThreadPoolExecutor(min(len(jobs), os.cpu_count() or 1)) as pool:
        futures = [pool.submit(one, job) for job in jobs]
        try:
            for f in futures:  # Cancel is seen as each band finishes
                f.result()
                ctx.check()
        except BaseException:
            for f in futures:
                f.cancel()  # bands not started yet are dropped; running ones are short
            raise
    return out[..., 0] if image.ndim == 2 else out


@register_op("rotate", title="Rotate", category="Geometry", alpha="process",
             keeps_shape=False)
def rotate(
    image: np.ndarray, *,
    angle: Annotated[float, Range(-360.0, 360.0, ui=(-180.0, 180.0), step=0.1)] = 0.0,
    expand: bool = False,
    fill: Color = (0, 0, 0),
    interpolation: Interpolation = "bilinear",
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Rotate about the image centre by any angle.

    Parameters
    ----------
    angle : float
        Degrees, counter-clockwise positive (as seen on screen).
    expand : bool
        Grow the canvas to hold the whole rotated image; otherwise keep the
        size and cut the corners.
    fill : (r, g, b)
        Colour of the uncovered corners (transparent for images with alpha).
    interpolation : {"nearest", "bilinear", "bicubic"}
        Sampling kernel.

    Returns
    -------
    ndarray
        Rotated image, same dtype.
    """
    ctx = ctx or null_context()
    h, w = image.shape[:2]
    c, s = _cos_sin(angle)
    if expand:
        # Bounding box of the rotated [-0.5, W-0.5] x [-0.5, H-0.5] square;
        # the epsilon keeps exact quarter turns from rounding up a pixel.
        ow = math.ceil(abs(w * c) + abs(h * s) - 1e-6)
        oh = math.ceil(abs(w * s) + abs(h * c) - 1e-6)
    else:
        ow, oh = w, h
    m = (translation_matrix((ow - 1) / 2.0, (oh - 1) / 2.0) @ rotation_matrix(angle)
         @ translation_matrix(-(w - 1) / 2.0, -(h - 1) / 2.0))
    return warp(image, m, (ow, oh), interpolation=interpolation, fill=fill, op="rotate",
                ctx=ctx)


@register_op("translate", title="Translate", category="Geometry", alpha="process")
def translate(
    image: np.ndarray, *,
    dx: Annotated[float, Range(-100_000, 100_000, ui=(-1000, 1000), unit="px", step=1)] = 0.0,
    dy: Annotated[float, Range(-100_000, 100_000, ui=(-1000, 1000), unit="px", step=1)] = 0.0,
    fill: Color = (0, 0, 0),
    interpolation: Interpolation = "bilinear",
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Shift the image, keeping its size.

    Parameters
    ----------
    dx : float
        Shift to the right in pixels (negative: left).
    dy : float
        Shift down in pixels (negative: up).
    fill : (r, g, b)
        Colour of the uncovered band (transparent for images with alpha).
    interpolation : {"nearest", "bilinear", "bicubic"}
        Sampling kernel for sub-pixel shifts; whole-pixel shifts are exact
        copies whatever the kernel.

    Returns
    -------
    ndarray
        Shifted image, same shape and dtype.
    """
    ctx = ctx or null_context()
    if float(dx).is_integer() and float(dy).is_integer():
        # A whole-pixel shift needs no resampling: a block copy is exact and
        # runs at memcpy speed.
        import cv2

        h, w = image.shape[:2]
        ix, iy = int(dx), int(dy)
        cw, ch = w - abs(ix), h - abs(iy)
        border = _border_value(image, fill)
        if cw <= 0 or ch <= 0:  # shifted entirely out of the frame
            out = np.empty_like(image)
            out[...] = np.asarray(border[: image.shape[2] if image.ndim == 3 else 1],
                                  image.dtype)
        else:
            # The kept block plus constant bands, in one SIMD pass (a NumPy
            # broadcast fill of 3-channel pixels goes element by element), in strips
            # of rows, one a core: one core's copy does not reach the memory's
            # bandwidth (1.3x the time on two cores at 12 MP; more strips cost more)
            from editor.core.parallel import for_each_strip, workers

            xs, ys, top = max(0, -ix), max(0, -iy), max(0, iy)
            kept = image[ys:ys + ch, xs:xs + cw]
            out = np.empty_like(image)

            def strip(y0: int, y1: int) -> None:
                k0, k1 = max(y0, top), min(y1, top + ch)  # rows of the kept block
                if k0 >= k1:  # all border
                    out[y0:y1] = np.asarray(border[:out.shape[2] if out.ndim == 3 else 1],
                                            image.dtype)
                    return
                cv2.copyMakeBorder(kept[k0 - top:k1 - top], k0 - y0, y1 - k1, max(0, ix),
                                   max(0, -ix), cv2.BORDER_CONSTANT, dst=out[y0:y1],
                                   value=border)

            for_each_strip(h, -(-h // workers()), strip)
        ctx.report(1.0, "translate")
        return out
    return warp(image, translation_matrix(dx, dy), interpolation=interpolation, fill=fill,
                op="translate", ctx=ctx)


@register_op("shear", title="Shear", category="Geometry", alpha="process")
def shear(
    image: np.ndarray, *,
    sx: Annotated[float, Range(-4.0, 4.0, ui=(-1.0, 1.0), step=0.01)] = 0.0,
    sy: Annotated[float, Range(-4.0, 4.0, ui=(-1.0, 1.0), step=0.01)] = 0.0,
    fill: Color = (0, 0, 0),
    interpolation: Interpolation = "bilinear",
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Shear (skew) about the image centre, keeping the size.

    Parameters
    ----------
    sx : float
        Horizontal shear: ``x' = x + sx * y`` (y measured from the centre).
    sy : float
        Vertical shear: ``y' = y + sy * x``. ``sx * sy`` must not be 1 (that
        flattens the image onto a line).
    fill : (r, g, b)
        Colour of the uncovered corners (transparent for images with alpha).
    interpolation : {"nearest", "bilinear", "bicubic"}
        Sampling kernel.

    Returns
    -------
    ndarray
        Sheared image, same shape and dtype.
    """
    ctx = ctx or null_context()
    h, w = image.shape[:2]
    m = compose_transform(width=w, height=h, shear_x=sx, shear_y=sy)
    return warp(image, m, interpolation=interpolation, fill=fill, op="shear", ctx=ctx)


@register_op("affine", title="Transform (matrix)", category="Geometry", alpha="process")
def affine(
    image: np.ndarray, *,
    matrix: Annotated[tuple, Kind("matrix", hint="6 or 9 numbers, row-major")] = IDENTITY,
    interpolation: Interpolation = "bilinear",
    fill: Color = (0, 0, 0),
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Apply a 2x3 affine or 3x3 projective matrix, resampling once.

    Parameters
    ----------
    matrix : list of float
        6 (2x3) or 9 (3x3) numbers, row-major, mapping input pixel positions
        to output positions (pixel centres at integer coordinates, y down).
        A 3x3 matrix whose last row is not ``0, 0, 1`` warps in perspective.
    interpolation : {"nearest", "bilinear", "bicubic"}
        Sampling kernel.
    fill : (r, g, b)
        Colour where no input pixel lands (transparent for images with alpha).

    Returns
    -------
    ndarray
        Transformed image, same shape and dtype.

    Examples
    --------
    >>> img = np.arange(12, dtype=np.uint8).reshape(3, 4)
    >>> np.array_equal(affine(img, matrix=[1, 0, 0, 0, 1, 0]), img)
    True
    """
    ctx = ctx or null_context()
    m = _as3x3(matrix)
    s = ctx.preview_scale
    if s != 1.0:
        # The matrix is in full-image pixels; on a proxy scaled by s the same
        # transform is S · M · S⁻¹ (translations scale by s, perspective terms by 1/s).
        m = np.diag([s, s, 1.0]) @ m @ np.diag([1 / s, 1 / s, 1.0])
    return warp(image, m, interpolation=interpolation, fill=fill, op="affine", ctx=ctx)


#: Where the old image sits on a resized canvas: (column, row) of a 3x3 grid.
ANCHORS = {"top_left": (0, 0), "top": (1, 0), "top_right": (2, 0),
           "left": (0, 1), "center": (1, 1), "right": (2, 1),
           "bottom_left": (0, 2), "bottom": (1, 2), "bottom_right": (2, 2)}
Anchor = Literal["center", "top_left", "top", "top_right", "left", "right",
                 "bottom_left", "bottom", "bottom_right"]


def canvas_offset(old: int, new: int, anchor: int) -> int:
    """Position of the old image's first column (or row) on the new canvas.

    ``anchor`` 0 keeps the left (top) edge, 2 the right (bottom) edge, 1 the
    centre; an odd difference puts the odd pixel after the image (growing)
    or cuts it before the image (shrinking), i.e. ``floor((new - old) / 2)``.

    Examples
    --------
    >>> canvas_offset(10, 13, 1), canvas_offset(10, 7, 1), canvas_offset(10, 13, 2)
    (1, -2, 3)
    """
    return (new - old) * anchor // 2


@register_op("canvas_size", title="Canvas size", category="Geometry", alpha="process",
             keeps_shape=False)
def canvas_size(
    image: np.ndarray, *,
    width: Annotated[int, Range(0, 100_000, ui=(0, 8000), step=1)] = 0,
    height: Annotated[int, Range(0, 100_000, ui=(0, 8000), step=1)] = 0,
    anchor: Anchor = "center",
    fill: Color = (255, 255, 255),
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Grow or cut the canvas around the image, without resampling it.

    The image keeps its pixels and is placed on a canvas of the new size at
    ``anchor``; new area is filled with ``fill``, and where the canvas is
    smaller the image is cut (Photoshop's and GIMP's *Canvas Size*).

    Parameters
    ----------
    width : int
        New canvas width in image pixels; 0 keeps the current width.
    height : int
        New canvas height in image pixels; 0 keeps the current height.
    anchor : {"center", "top_left", "top", "top_right", "left", "right", \
"bottom_left", "bottom", "bottom_right"}
        The part of the image that stays in place: ``top_left`` grows or cuts
        the canvas to the right and bottom only; ``center`` shares the change
        between both sides (see :func:`canvas_offset` for the odd pixel).
    fill : (r, g, b)
        Colour of the new area (transparent for images with alpha; luma of the
        colour for grayscale images).

    Returns
    -------
    ndarray
        ``(height, width[, C])`` image of the same dtype.

    Examples
    --------
    >>> img = np.array([[1, 2], [3, 4]], np.uint8)
    >>> canvas_size(img, width=4, anchor="top_left", fill=(0, 0, 0))
    array([[1, 2, 0, 0],
           [3, 4, 0, 0]], dtype=uint8)
    >>> canvas_size(img, width=1, anchor="right")
    array([[2],
           [4]], dtype=uint8)
    """
    ctx = ctx or null_context()
    h0, w0 = image.shape[:2]
    # Sizes are full-image pixels: scaled here for a proxy preview, as resize does
    # (0 must stay "keep", whatever the scale).
    s = ctx.preview_scale
    w = max(1, round(width * s)) if width else w0
    h = max(1, round(height * s)) if height else h0
    _check_pixels("canvas_size", w, h)
    ax, ay = ANCHORS[anchor]
    ox, oy = canvas_offset(w0, w, ax), canvas_offset(h0, h, ay)
    out = np.empty((h, w) + image.shape[2:], image.dtype)
    channels = image.shape[2] if image.ndim == 3 else 1
    out[...] = np.asarray(_border_value(image, fill)[:channels], image.dtype)
    # the overlap of the image and the canvas, in canvas and in image coordinates
    x0, y0, sx, sy = max(0, ox), max(0, oy), max(0, -ox), max(0, -oy)
    cw, ch = min(w - x0, w0 - sx), min(h - y0, h0 - sy)
    if cw > 0 and ch > 0:
        out[y0:y0 + ch, x0:x0 + cw] = image[sy:sy + ch, sx:sx + cw]
    ctx.report(1.0, "canvas_size")
    return out


@register_op("crop", title="Crop", category="Geometry", alpha="process", keeps_shape=False)
def crop(
    image: np.ndarray, *,
    x: Annotated[int, Range(0, 100_000)] = 0,
    y: Annotated[int, Range(0, 100_000)] = 0,
    width: Annotated[int, Range(0, 100_000)] = 0,
    height: Annotated[int, Range(0, 100_000)] = 0,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Cut out a rectangle.

    Parameters
    ----------
    x : int
        Left edge in image pixels.
    y : int
        Top edge in image pixels.
    width : int
        Width in image pixels; 0 reaches to the right edge.
    height : int
        Height in image pixels; 0 reaches to the bottom edge.

    Returns
    -------
    ndarray
        A copy of the rectangle (never a view of the input).

    Raises
    ------
    ParamError
        If the rectangle reaches past the image.

    Examples
    --------
    >>> crop(np.arange(20, dtype=np.uint8).reshape(4, 5), x=1, y=2, width=3).tolist()
    [[11, 12, 13], [16, 17, 18]]
    """
    ctx = ctx or null_context()
    h0, w0 = image.shape[:2]
    s = ctx.preview_scale
    if s != 1.0:
        # Coordinates are full-image pixels. They are scaled here, not by the
        # registry's unit="px" rounding (which would move x=0 to 1), and a
        # proxy whose size rounded differently is clamped rather than refused.
        x, y = min(round(x * s), w0 - 1), min(round(y * s), h0 - 1)
        width = min(max(1, round(width * s)), w0 - x) if width else 0
        height = min(max(1, round(height * s)), h0 - y) if height else 0
    w = width or w0 - x
    h = height or h0 - y
    if x >= w0 or y >= h0 or w < 1 or h < 1 or x + w > w0 or y + h > h0:
        raise ParamError(f"crop: the rectangle x={x}, y={y}, {width or 'to edge'} x "
                         f"{height or 'to edge'} reaches past the {w0}x{h0} image")
    return image[y:y + h, x:x + w].copy()


# -- straighten -------------------------------------------------------------------

def largest_rotated_rect(width: float, height: float, angle: float) -> tuple[float, float]:
    """The largest axis-aligned rectangle inside a ``width`` x ``height`` one rotated by ``angle``.

    Both rectangles share their centre. This is the classic closed form: when
    the rotated rectangle is thin enough, two corners of the crop touch its
    long sides (a "half-constrained" case); otherwise all four touch.

    Parameters
    ----------
    width, height : float
        Size of the rectangle before rotation.
    angle : float
        Rotation in degrees (any sign).

    Returns
    -------
    (float, float)
        Width and height of the largest inscribed axis-aligned rectangle.

    Examples
    --------
    >>> [round(v, 3) for v in largest_rotated_rect(100, 100, 45)]
    [70.711, 70.711]
    >>> largest_rotated_rect(400, 300, 0)
    (400.0, 300.0)
    """
    if width <= 0 or height <= 0:
        return 0.0, 0.0
    c, s = _cos_sin(angle)
    c, s = abs(c), abs(s)
    if s == 0.0:
        return float(width), float(height)
    if c == 0.0:
        return float(height), float(width)
    wide = width >= height
    long_side, short_side = (width, height) if wide else (height, width)
    if short_side <= 2.0 * s * c * long_side or abs(s - c) < 1e-10:
        # half-constrained: two crop corners touch the long sides
        x = 0.5 * short_side
        return (x / s, x / c) if wide else (x / c, x / s)
    cos2 = c * c - s * s
    return (width * c - height * s) / cos2, (height * c - width * s) / cos2


def straighten_crop(width: int, height: int, angle: float,
                    inset: float = 0.0) -> tuple[int, int, int, int]:
    """The crop ``(x, y, w, h)`` of :func:`rotate` with ``expand`` that has no empty corners.

    Every pixel of the crop is interpolated from source pixels only (none of
    the fill colour): the rectangle is fitted inside the rotated rectangle of
    pixel *centres* (``width - 1`` x ``height - 1``), where bilinear sampling
    reads only the image, shrunk by ``inset`` pixels on each side (1 for
    bicubic, whose kernel reaches one pixel further), and rounded inward.
    """
    c, s = _cos_sin(angle)
    ow = math.ceil(abs(width * c) + abs(height * s) - 1e-6)
    oh = math.ceil(abs(width * s) + abs(height * c) - 1e-6)
    if s == 0.0 or c == 0.0:
        return 0, 0, ow, oh
    rw, rh = largest_rotated_rect(max(0.0, width - 1.0 - 2 * inset),
                                  max(0.0, height - 1.0 - 2 * inset), angle)
    # centres of output pixels x0..x0+w-1 must lie within (ow-1)/2 ± rw/2; a small
    # slack keeps OpenCV's 1/32-pixel fixed-point sampling inside as well
    cx, cy = (ow - 1) / 2.0, (oh - 1) / 2.0
    x0 = math.ceil(cx - rw / 2.0 + 0.05)
    x1 = math.floor(cx + rw / 2.0 - 0.05)
    y0 = math.ceil(cy - rh / 2.0 + 0.05)
    y1 = math.floor(cy + rh / 2.0 - 0.05)
    return x0, y0, max(1, x1 - x0 + 1), max(1, y1 - y0 + 1)


@register_op("straighten", title="Straighten", category="Geometry", alpha="process",
             keeps_shape=False)
def straighten(
    image: np.ndarray, *,
    angle: Annotated[float, Range(-45.0, 45.0, step=0.1)] = 0.0,
    interpolation: Literal["bilinear", "bicubic"] = "bilinear",
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Rotate by a small angle and crop away the empty corners (one step).

    The crop is the largest axis-aligned rectangle, centred, that holds only
    image pixels (:func:`straighten_crop`), so no fill colour is left in it.

    Parameters
    ----------
    angle : float
        Degrees, counter-clockwise positive (as seen on screen). A horizon
        that rises by 5° to the right is levelled by ``angle=-5``.
    interpolation : {"bilinear", "bicubic"}
        Sampling kernel.

    Returns
    -------
    ndarray
        The levelled image, smaller than the input (same size at 0°).
    """
    ctx = ctx or null_context()
    h, w = image.shape[:2]
    if angle == 0.0:
        return image.copy()
    x, y, cw, ch = straighten_crop(w, h, angle, inset=1.0 if interpolation == "bicubic" else 0.0)
    c, s = _cos_sin(angle)
    ow = math.ceil(abs(w * c) + abs(h * s) - 1e-6)
    oh = math.ceil(abs(w * s) + abs(h * c) - 1e-6)
    # render only the crop: the expanded rotation followed by the crop's shift
    m = (translation_matrix(-x, -y) @ translation_matrix((ow - 1) / 2.0, (oh - 1) / 2.0)
         @ rotation_matrix(angle) @ translation_matrix(-(w - 1) / 2.0, -(h - 1) / 2.0))
    return warp(image, m, (cw, ch), interpolation=interpolation, op="straighten", ctx=ctx)
