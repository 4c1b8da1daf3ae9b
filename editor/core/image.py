"""Image array conventions shared by every layer.

Images are NumPy arrays of dtype ``uint8`` or ``uint16``, shaped ``(H, W)``
(grayscale), ``(H, W, 3)`` (RGB) or ``(H, W, 4)`` (RGBA, straight alpha).
Operations keep the dtype they are given, so 16-bit photos stay 16-bit.
Float work happens in ``float32`` scaled to ``[0, 1]``.
"""

from __future__ import annotations

import numpy as np

SUPPORTED_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))


def check_image(image: np.ndarray) -> None:
    """Raise ``ValueError`` unless ``image`` follows the conventions above."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"expected a NumPy array, got {type(image).__name__}")
    if image.dtype not in SUPPORTED_DTYPES:
        raise ValueError(f"unsupported pixel type {image.dtype}; use uint8 or uint16")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4)):
        if image.shape[0] > 0 and image.shape[1] > 0:
            return
    raise ValueError(f"unsupported image shape {image.shape}")


def max_value(dtype: np.dtype) -> int:
    """Largest pixel value of an integer image dtype (255 or 65535)."""
    return int(np.iinfo(dtype).max)


def has_alpha(image: np.ndarray) -> bool:
    """True for ``(H, W, 4)`` images."""
    return image.ndim == 3 and image.shape[2] == 4


def split_alpha(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Split RGBA into (RGB, alpha); other images come back with ``None``."""
    if has_alpha(image):
        return image[..., :3], image[..., 3]
    return image, None


def merge_alpha(color: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Inverse of :func:`split_alpha`; grayscale colour is expanded to RGB."""
    if alpha is None:
        return color
    if color.ndim == 2:
        color = np.repeat(color[..., None], 3, axis=2)
    return np.dstack([color, alpha.astype(color.dtype, copy=False)])


def to_float(image: np.ndarray) -> np.ndarray:
    """Integer image to ``float32`` in ``[0, 1]``."""
    return image.astype(np.float32) * np.float32(1.0 / max_value(image.dtype))


def from_float(image: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``[0, 1]`` floats back to an integer dtype, rounding and clipping."""
    from editor.core.parallel import for_each_strip, strip_rows

    top = max_value(np.dtype(dtype))
    out = np.empty(image.shape, dtype)
    if image.ndim < 2 or image.size == 0:
        out[...] = np.clip(image * top + 0.5, 0, top)
        return out

    def strip(y0: int, y1: int) -> None:  # one temporary, in cache, on every core
        wide = image[y0:y1] * top  # keeps the floats' width (a Python int is weak)
        wide += 0.5
        np.clip(wide, 0, top, out=wide)
        out[y0:y1] = wide  # truncation, as astype: floor of the non-negative value

    for_each_strip(image.shape[0], strip_rows(out[:1].nbytes * 4), strip)
    return out


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Any supported image as ``uint8`` (16-bit is rounded down to 8-bit)."""
    if image.dtype == np.uint8:
        return image
    from editor.core.parallel import for_each_strip, strip_rows

    out = np.empty(image.shape, np.uint8)

    def strip(y0: int, y1: int) -> None:  # NumPy's passes in cache, on every core
        wide = image[y0:y1].astype(np.uint32)
        wide *= 255
        wide += 32767
        wide //= 65535
        out[y0:y1] = wide

    for_each_strip(image.shape[0], strip_rows(out[:1].nbytes * 4), strip)
    return out


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Drop alpha and expand grayscale so the result is ``(H, W, 3)``."""
    color, _ = split_alpha(image)
    if color.ndim == 2:
        return np.repeat(color[..., None], 3, axis=2)
    return color


LUMA_WEIGHTS = {
    "bt709": (0.2126, 0.7152, 0.0722),
    "bt601": (0.299, 0.587, 0.114),
    "average": (1 / 3, 1 / 3, 1 / 3),
}


def luminance(image: np.ndarray, method: str = "bt709") -> np.ndarray:
    """Weighted sum of R, G, B as ``float32`` in the image's own scale.

    Grayscale images come back as ``float32`` unchanged.
    """
    color, _ = split_alpha(image)
    if color.ndim == 2:
        return color.astype(np.float32)
    import cv2

    from editor.core.parallel import for_each_strip, strip_rows

    weights = np.asarray([LUMA_WEIGHTS[method]], np.float32)
    out = np.empty(color.shape[:2], np.float32)

    def strip(y0: int, y1: int) -> None:
        # a float copy of a strip (in cache, not 144 MB for 12 MP) and one weighted sum
        # per pixel: 5x the plane-by-plane NumPy formula
        done = cv2.transform(color[y0:y1].astype(np.float32), weights, dst=out[y0:y1])
        if not np.shares_memory(done, out):  # OpenCV allocates when dst does not fit
            out[y0:y1] = done.reshape(y1 - y0, -1)

    for_each_strip(out.shape[0], strip_rows(out[:1].nbytes * 4), strip)
    return out


def apply_lut(image: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Map every pixel through a lookup table of ``max_value + 1`` entries.

    ``lut`` may have shape ``(N,)`` (all channels) or ``(N, C)`` (per channel).
    For ``uint8`` this uses OpenCV's vectorised LUT (which threads itself),
    several times faster than NumPy fancy indexing on large photos. ``uint16``
    uses ``np.take`` in cache-sized strips on every core
    (:mod:`editor.core.parallel`): one whole-image gather was twice as slow.
    """
    if image.dtype == np.uint8:
        import cv2

        if lut.ndim == 1 or image.ndim == 2:
            table = lut if lut.ndim == 1 else lut[:, 0]
            return cv2.LUT(image, table.astype(np.uint8))
        table = np.ascontiguousarray(lut.astype(np.uint8).reshape(256, 1, -1))
        return cv2.LUT(image, table)
    from editor.core.parallel import for_each_strip, strip_rows

    out = np.empty(image.shape, image.dtype)
    per_channel = lut.ndim == 2 and image.ndim == 3
    table = lut.astype(image.dtype) if per_channel else \
        (lut if lut.ndim == 1 else lut[:, 0]).astype(image.dtype)

    def strip(y0: int, y1: int) -> None:
        if not per_channel:
            np.take(table, image[y0:y1], out=out[y0:y1])
            return
        for c in range(image.shape[2]):
            out[y0:y1, :, c] = np.take(table[:, c], image[y0:y1, :, c])

    for_each_strip(image.shape[0], strip_rows(out[:1].nbytes), strip)
    return out
