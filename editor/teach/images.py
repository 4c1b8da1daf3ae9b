"""Reading class images and turning them into square model inputs.

Every reader here returns RGB ``uint8``; a file that cannot be read raises
:class:`UnreadableImage` so callers can skip it with a warning instead of
crashing (a corrupt photo in a class folder must never stop training).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from editor.core.image import as_rgb, to_uint8

#: File suffixes treated as images when scanning a class folder.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")


class UnreadableImage(Exception):
    """A file in a class folder could not be decoded as an image."""


def is_image_file(path: Path) -> bool:
    """True for a regular file whose suffix names an image format."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def read_rgb(path: str | Path, max_side: int | None = None) -> np.ndarray:
    """Read ``path`` as upright RGB ``uint8``, optionally shrunk so its longer side <= ``max_side``.

    Goes through the editor's loader (:func:`editor.io.load_image`), so the
    pixel limit and the EXIF orientation hold here as for every image the
    program opens: a phone photo stored sideways trains upright. With
    ``max_side`` a JPEG is decoded at a reduced DCT scale first (a 12 MP
    photo read for a 224 px model costs a fraction of the full decode).

    Raises
    ------
    UnreadableImage
        The file is missing, truncated, too large or not an image (one line).
    """
    from editor.io import LoadError, load_image

    path = Path(path)
    try:
        rgb = as_rgb(to_uint8(load_image(path, reduce_to=max_side).pixels))
    except LoadError as e:
        raise UnreadableImage(str(e)) from None
    except MemoryError:
        raise UnreadableImage(f"{path.name}: not enough memory to decode this image") from None
    if max_side and max(rgb.shape[:2]) > max_side:
        import cv2

        scale = max_side / max(rgb.shape[:2])
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb)


def read_many(paths, max_side: int | None = None, on_skip=None):
    """Yield ``(index, rgb)`` for each readable path; unreadable ones are skipped.

    ``on_skip(path, message)`` is called for each skipped file; by default a
    :class:`UserWarning` is issued.
    """
    for i, p in enumerate(paths):
        try:
            yield i, read_rgb(p, max_side)
        except UnreadableImage as e:
            if on_skip is not None:
                on_skip(Path(p), str(e))
            else:
                warnings.warn(f"skipped {e}", UserWarning, stacklevel=2)


def square_input(rgb: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop ``rgb`` to a square and resize it to ``size`` px, RGB ``uint8``.

    A centre crop (rather than a squash) keeps object proportions the same at
    training and prediction time, as Teachable Machine does.
    """
    import cv2

    rgb = as_rgb(to_uint8(rgb))
    h, w = rgb.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    crop = rgb[y0:y0 + side, x0:x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(crop, (size, size), interpolation=interp))


def to_chw_float(batch_rgb: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """Stack square RGB ``uint8`` images into ``(B, 3, S, S)`` float32 in ``[0, 1]``."""
    arr = np.stack(list(batch_rgb)) if not isinstance(batch_rgb, np.ndarray) else batch_rgb
    if arr.ndim == 3:
        arr = arr[None]
    return np.ascontiguousarray(arr.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
