"""Write arrays to PNG, JPEG, WebP, TIFF or BMP, atomically.

What a format cannot hold is converted and *said*: :func:`save_image` returns
one user-facing warning per conversion (alpha composited, 16 bit reduced to
8, metadata dropped) for the status bar or the terminal.
"""

from __future__ import annotations

import io
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from editor.core.atomic import atomic_write
from editor.core.image import check_image, max_value, to_uint8
from editor.io.cv_codec import opencv_encode
from editor.io.errors import SaveError
from editor.io.formats import EXPORT_FORMATS, format_for_path, normalize_format
from editor.io.jpeg import encode_jpeg
from editor.io.load import EXIF_PREFIX, reset_orientation
from editor.io.png import encode_png

_MAX_SIDE = {"JPEG": 65_535, "WEBP": 16_383, "PNG": 2**31 - 1, "TIFF": 2**31 - 1,
             "BMP": 2**31 - 1}
_NAMED = {(255, 255, 255): "white", (0, 0, 0): "black"}


def save_image(
    path: str | PathLike[str],
    pixels: np.ndarray,
    *,
    format: str | None = None,
    quality: int = 90,
    progressive: bool = False,
    lossless: bool = False,
    exif: bytes | None = None,
    icc_profile: bytes | None = None,
    strip_metadata: bool = False,
    background: tuple[int, int, int] = (255, 255, 255),
) -> list[str]:
    """Export an image.

    Parameters
    ----------
    path : path-like
        Target file; replaced atomically (a failed export leaves an existing
        file untouched and no temporary file behind).
    pixels : ndarray
        ``uint8``/``uint16``, ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``.
    format : str, optional
        ``"PNG"``, ``"JPEG"``, ``"WEBP"``, ``"TIFF"`` or ``"BMP"``; by default
        chosen from the extension (see :data:`~editor.io.formats.EXPORT_FORMATS`).
    quality : int
        JPEG and lossy WebP quality, 1..100.
    progressive : bool
        Progressive JPEG.
    lossless : bool
        Lossless WebP.
    exif, icc_profile : bytes, optional
        Metadata to embed (typically :meth:`ImageFile.metadata`); the EXIF
        orientation is reset to 1 because the pixels are written upright.
    strip_metadata : bool
        Write neither EXIF nor the ICC profile.
    background : tuple of int
        Colour (0..255) that transparency is composited on for formats
        without alpha.

    Returns
    -------
    list of str
        Warnings for the user, empty when the file holds exactly the pixels.

    Raises
    ------
    SaveError
        Bad arguments, or the file could not be written.
    """
    target = Path(path)
    try:
        check_image(pixels)
        fmt = normalize_format(format) if format else format_for_path(target)
    except ValueError as e:
        raise SaveError(f"{target.name}: {e}") from None
    if isinstance(quality, bool) or not 1 <= int(quality) <= 100:
        raise SaveError(f"{target.name}: quality must be between 1 and 100, got {quality}")
    try:
        bg = tuple(int(c) for c in background)
        if len(bg) != 3 or not all(0 <= c <= 255 for c in bg):
            raise ValueError
    except (TypeError, ValueError):
        raise SaveError(f"{target.name}: background must be three values 0..255") from None
    spec = EXPORT_FORMATS[fmt]
    h, w = pixels.shape[:2]
    if max(h, w) > _MAX_SIDE[fmt]:
        raise SaveError(f"{target.name}: {spec['title']} images can be at most "
                        f"{_MAX_SIDE[fmt]} pixels wide and high, this one is {w} x {h}")
    if not target.parent.is_dir() and str(target.parent):
        raise SaveError(f"{target.name}: the folder {target.parent} does not exist")

    warnings: list[str] = []
    image = pixels
    if image.ndim == 3 and image.shape[2] == 4 and not spec["alpha"]:
        image = composite(image, bg)
        label = f"{_NAMED[bg]} {bg}" if bg in _NAMED else str(bg)
        warnings.append(f"{spec['title']} cannot hold alpha: composited on {label}")
    if image.dtype == np.uint16 and not spec["bits16"]:
        image = to_uint8(image)
        warnings.append(f"{spec['title']} holds 8 bits per channel: converted from 16-bit")
    if strip_metadata:
        exif = icc_profile = None
    exif = _exif_for_writing(exif)
    icc_profile = bytes(icc_profile) if icc_profile else None
    if (exif or icc_profile) and not spec["metadata"]:
        warnings.append(f"{spec['title']} cannot hold EXIF or ICC metadata: not written")
        exif = icc_profile = None

    try:
        data = _encode(image, fmt, quality=int(quality), progressive=bool(progressive),
                       lossless=bool(lossless), exif=exif, icc=icc_profile, notes=warnings)
        with atomic_write(target) as f:
            for piece in [data] if isinstance(data, bytes) else data:
                f.write(piece)
    except SaveError:
        raise
    except MemoryError:
        raise SaveError(f"{target.name}: not enough memory to encode the image") from None
    except OSError as e:
        raise SaveError(f"{target.name}: cannot write ({e.strerror or e})") from None
    except Exception as e:  # noqa: BLE001  (encoders raise many types; one line for the user)
        text = (str(e).splitlines() or [type(e).__name__])[0]
        raise SaveError(f"{target.name}: cannot encode as {spec['title']} ({text})") from None
    return warnings


def composite(image: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """Flatten straight-alpha RGBA over a solid colour (given in 0..255)."""
    top = max_value(image.dtype)
    alpha = image[..., 3:4].astype(np.float32) / top
    bg = np.asarray(background, np.float32) * (top / 255.0)
    out = image[..., :3].astype(np.float32) * alpha + bg * (1.0 - alpha)
    return np.clip(out + 0.5, 0, top).astype(image.dtype)


# -- encoders ---------------------------------------------------------------

def _encode(image: np.ndarray, fmt: str, *, quality: int, progressive: bool, lossless: bool,
            exif: bytes | None, icc: bytes | None, notes: list[str]) -> bytes | list[bytes]:
    """The whole file in memory (bytes, or pieces to write in order), so nothing
    touches the disk until encoding succeeded."""
    if fmt == "PNG":
        # Every PNG (8/16 bit, gray/RGB/alpha): strips deflated on all cores, about
        # Pillow's level-6 size in a fraction of its time (editor/io/png.py).
        return encode_png(image, exif=exif, icc=icc)
    if fmt == "JPEG" and not progressive:
        # Large baseline JPEGs: strips encoded on every core, joined with restart
        # markers; the same decoded pixels as one piece (editor/io/jpeg.py).
        data = encode_jpeg(image, quality=quality, exif=exif, icc=icc)
        if data is not None:
            return data
    if fmt == "WEBP" and not lossless and not (exif or icc) and image.dtype == np.uint8 \
            and image.ndim == 3 and image.shape[2] == 3:
        # OpenCV's libwebp writes Pillow's bytes exactly for lossy RGB, ~6 % sooner
        # (no RGBX import); Pillow keeps alpha, lossless and metadata
        import cv2

        return opencv_encode(image, ".webp", [cv2.IMWRITE_WEBP_QUALITY, quality])
    wide_color = image.dtype == np.uint16 and image.ndim == 3
    if wide_color and fmt == "TIFF":
        if exif or icc:
            notes.append("16-bit colour TIFF is written without EXIF and ICC metadata")
        return opencv_encode(image, ".tiff")
    im = _pillow_image(image, fmt)
    kwargs: dict[str, Any] = {}
    if exif:
        kwargs["exif"] = exif
    if icc:
        kwargs["icc_profile"] = icc
    if fmt == "JPEG":
        kwargs.update(quality=quality, progressive=progressive, optimize=progressive)
    elif fmt == "WEBP":
        # exact: lossless keeps the colour under fully transparent pixels too
        # (libwebp zeroes it by default), so unpremultiplied edits survive.
        kwargs.update(quality=quality, lossless=lossless, exact=lossless, method=4)
    elif fmt == "TIFF":
        kwargs.update(compression="tiff_lzw")
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _pillow_image(image: np.ndarray, fmt: str) -> Image.Image:
    """The pixels as a Pillow image, without a copy where Pillow can map them.

    Pillow keeps RGB as 4 bytes a pixel, so ``fromarray`` of RGB copies the whole
    image; "RGBX" is one of the layouts Pillow maps in place, and its JPEG and WebP
    encoders read it as RGB (the files are byte for byte the same). One SIMD pass
    to pad the pixels is cheaper than Pillow's own copy.
    """
    import cv2

    if fmt in ("JPEG", "WEBP") and image.dtype == np.uint8 and image.ndim == 3 \
            and image.shape[2] == 3:
        rgbx = cv2.cvtColor(image, cv2.COLOR_RGB2RGBA)
        return Image.frombuffer("RGBX", (image.shape[1], image.shape[0]), rgbx, "raw",
                                "RGBX", 0, 1)
    return Image.fromarray(np.ascontiguousarray(image))  # (H,W) uint16 -> mode "I;16"


def _png16_color(image: np.ndarray, exif: bytes | None, icc: bytes | None) -> bytes:
    """16-bit RGB(A) PNG with its iCCP and eXIf chunks (the PNG writer does every
    depth now; kept for callers that want one ``bytes``)."""
    return b"".join(encode_png(image, exif=exif, icc=icc))


def _exif_for_writing(exif: Any) -> bytes | None:
    if not exif:
        return None
    if isinstance(exif, Image.Exif):
        exif = exif.tobytes()
    exif = bytes(exif)
    if not exif.startswith(EXIF_PREFIX):
        exif = EXIF_PREFIX + exif
    return reset_orientation(exif)
