"""The one place where NumPy images become ``QImage`` / ``QPixmap`` (and back).

Every QImage made here is 4 bytes per pixel, ``Format_RGB32`` or
``Format_ARGB32_Premultiplied``: the raster engine paints those as they are
and ``QPixmap.fromImage`` shares their pixels instead of converting them, while
a 3-byte ``Format_RGB888`` image is converted pixel by pixel every time it is
drawn or becomes a pixmap. The pixel conversion itself is
:func:`editor.workers.render.to_display`, the same function the lanes use for
the canvas, so a thumbnail and the canvas show the same bytes.

Lifetime: :func:`to_qimage` writes into memory the QImage owns, so the result
(and any pixmap made from it) never depends on a NumPy array staying alive.
Only :func:`wrap_display` borrows an array; its caller keeps that array.
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtGui import QImage, QPixmap

from editor.core.image import check_image
from editor.workers.render import to_display


def _format(alpha: bool) -> QImage.Format:
    return QImage.Format.Format_ARGB32_Premultiplied if alpha else QImage.Format.Format_RGB32


def _pixels(img: QImage, writable: bool = True) -> np.ndarray:
    """``(H, W, 4)`` view of a 32-bit QImage's memory (``bits()`` detaches a shared one)."""
    h, w = img.height(), img.width()
    mem = img.bits() if writable else img.constBits()
    rows = np.frombuffer(mem, np.uint8, count=h * img.bytesPerLine())
    return rows.reshape(h, img.bytesPerLine())[:, : 4 * w].reshape(h, w, 4)


def wrap_display(buf: np.ndarray, alpha: bool) -> QImage:
    """A QImage over a :func:`~editor.workers.render.to_display` buffer, without copying.

    For buffers made on a worker thread: the GUI thread only wraps them.
    The QImage borrows ``buf``'s memory, so the caller keeps ``buf`` alive
    and unchanged for as long as the QImage, or a pixmap made from it, is used.
    """
    if buf.dtype != np.uint8 or buf.ndim != 3 or buf.shape[2] != 4 or buf.strides[1:] != (4, 1):
        raise ValueError(f"expected an (H, W, 4) uint8 display buffer, got {buf.dtype} "
                         f"{buf.shape}")
    h, w = buf.shape[:2]
    return QImage(buf.data, w, h, buf.strides[0], _format(alpha))


def to_qimage(image: np.ndarray, max_side: int | None = None) -> QImage:
    """A QImage that owns its pixels, from any image the editor holds.

    Parameters
    ----------
    image : ndarray
        ``uint8`` or ``uint16``, ``(H, W)``, ``(H, W, 3)`` RGB or ``(H, W, 4)``
        RGBA with straight alpha (the conventions of :mod:`editor.core.image`).
        16-bit values are rounded to 8 bits (``v / 257``).
    max_side : int, optional
        Shrink (area averaging, aspect kept) so that neither side exceeds it;
        smaller images keep their size.

    Returns
    -------
    QImage
        ``Format_RGB32``, or ``Format_ARGB32_Premultiplied`` when ``image``
        has alpha.
    """
    check_image(image)
    h, w = image.shape[:2]
    alpha = image.ndim == 3 and image.shape[2] == 4
    if max_side is not None and max(h, w) > max_side:
        scale = max_side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        # shrink the premultiplied buffer, so transparent pixels add no colour;
        # exact halvings first: OpenCV's area filter has a fast path for 2x and is
        # several times slower for an arbitrary ratio on a large image
        buf, _ = to_display(image)
        while buf.shape[0] >= 4 * size[1] and buf.shape[1] >= 4 * size[0]:
            bh, bw = buf.shape[:2]
            buf = cv2.resize(buf, (bw // 2, bh // 2), interpolation=cv2.INTER_AREA)
        out = QImage(size[0], size[1], _format(alpha))
        dst = _pixels(out)
        small = cv2.resize(buf, size, dst=dst, interpolation=cv2.INTER_AREA)
        if not np.shares_memory(small, dst):
            dst[...] = small
        return out
    out = QImage(w, h, _format(alpha))
    to_display(image, out=_pixels(out))
    return out


def to_pixmap(image: np.ndarray, max_side: int | None = None) -> QPixmap:
    """:func:`to_qimage` as a QPixmap (for labels and icons); shares the QImage's pixels."""
    return QPixmap.fromImage(to_qimage(image, max_side))


def qimage_to_rgb(image: QImage) -> np.ndarray:
    """Copy any QImage into an ``(H, W, 3)`` RGB ``uint8`` array (alpha dropped)."""
    img = image.convertToFormat(QImage.Format.Format_RGB32)
    return cv2.cvtColor(_pixels(img, writable=False), cv2.COLOR_BGRA2RGB)
