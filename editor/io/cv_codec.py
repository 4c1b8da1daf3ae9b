"""OpenCV's encoders for our RGB(A) / gray arrays (one place for the BGR swap).

OpenCV's libjpeg-turbo and libwebp give Pillow's bytes for the same settings and
run without the GIL, so the JPEG strips and lossy WebP go through here.
"""

from __future__ import annotations

import numpy as np

from editor.io.errors import SaveError


def opencv_encode(image: np.ndarray, ext: str, params: list[int] | None = None) -> bytes:
    """``cv2.imencode`` of a gray, RGB or RGBA image (channels swapped to OpenCV's order).

    Parameters
    ----------
    image : ndarray
        ``(H, W)``, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA.
    ext : str
        The format's extension, e.g. ``".jpg"``.
    params : list of int, optional
        OpenCV's encoder flags and values, e.g. ``[cv2.IMWRITE_JPEG_QUALITY, 90]``.

    Returns
    -------
    bytes
        The encoded file.

    Raises
    ------
    SaveError
        When OpenCV cannot encode it.
    """
    import cv2

    if image.ndim == 3:
        code = cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
        image = cv2.cvtColor(image, code)
    ok, buf = cv2.imencode(ext, image, params or [])
    if not ok:
        raise SaveError(f"OpenCV could not encode {ext}")
    return buf.tobytes()
