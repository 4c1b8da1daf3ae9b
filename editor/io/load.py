"""Open image files as arrays that follow :mod:`editor.core.image`'s conventions.

Pillow reads nearly everything; two gaps are filled here:

* Pillow has no 48/64-bit RGB(A) mode and truncates 16-bit colour PNG and
  TIFF files to 8 bit, so those are decoded with OpenCV (``IMREAD_UNCHANGED``)
  after Pillow has checked that the file is complete.
* Pillow's decompression-bomb guard is a fixed global (about 179 MP before it
  refuses); Convolve applies its own configurable limit to the size the header
  claims, before a single pixel is decoded.

Every failure is a :class:`~editor.io.errors.LoadError` of one line,
``"<file name>: <reason>"``; nothing is returned half-loaded.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from PIL import ImageFile as PILImageFile

from editor.io.errors import LoadError

# Our own limit (below) replaces Pillow's global one, which would refuse images
# between 179 MP and our 250 MP default and cannot be set per call.
Image.MAX_IMAGE_PIXELS = None

DEFAULT_MAX_PIXELS = 250_000_000
MAX_PIXELS_ENV = "CONVOLVE_MAX_PIXELS"

EXIF_PREFIX = b"Exif\x00\x00"
ORIENTATION_TAG = 0x0112

#: EXIF orientation -> how the stored pixels must be turned to look upright.
ORIENTATIONS = {
    1: "normal",
    2: "mirrored left-right",
    3: "rotated 180°",
    4: "mirrored top-bottom",
    5: "transposed (mirrored, rotated 90° counter-clockwise)",
    6: "rotate 90° clockwise to view",
    7: "transversed (mirrored, rotated 90° clockwise)",
    8: "rotate 90° counter-clockwise to view",
}

_GRAY16 = ("I;16", "I;16L", "I;16B", "I;16N")


@dataclass
class ImageFile:
    """An opened image and what came with it.

    Attributes
    ----------
    pixels : ndarray
        ``uint8`` or ``uint16``; ``(H, W)`` gray, ``(H, W, 3)`` RGB or
        ``(H, W, 4)`` RGBA, already turned upright by its EXIF orientation.
    path : Path
        Where it was read from.
    format : str
        Pillow's format name (``"PNG"``, ``"JPEG"``, ``"WEBP"``, ...).
    exif : bytes or None
        Raw EXIF (``b"Exif\\0\\0..."``) with the orientation reset to 1, since
        the pixels are upright now; pass it to :func:`~editor.io.save_image`.
    icc_profile : bytes or None
        Embedded colour profile (dropped for CMYK files, which are converted).
    info : dict
        ``mode`` (as stored), ``bit_depth``, ``frames``, ``orientation``,
        ``width``, ``height``, ``notes`` (conversions made, for the status bar).
    """

    pixels: np.ndarray
    path: Path
    format: str
    exif: bytes | None = None
    icc_profile: bytes | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, bytes | None]:
        """``exif`` and ``icc_profile`` as keywords for :func:`~editor.io.save_image`."""
        return {"exif": self.exif, "icc_profile": self.icc_profile}


def max_pixels_limit(max_pixels: int | None = None) -> int:
    """The pixel limit in force: the argument, else ``$CONVOLVE_MAX_PIXELS``, else 250 MP."""
    if max_pixels is not None:
        return int(max_pixels)
    env = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if env:
        try:
            return int(float(env))
        except ValueError:
            raise ValueError(f"{MAX_PIXELS_ENV}={env!r} is not a number of pixels") from None
    return DEFAULT_MAX_PIXELS


def load_image(path: str | PathLike[str], max_pixels: int | None = None) -> ImageFile:
    """Read an image file.

    Parameters
    ----------
    path : path-like
        PNG, JPEG, WebP, TIFF, BMP, GIF (first frame) or anything else Pillow
        reads. Grayscale stays ``(H, W)``; gray+alpha and palette images with
        transparency become RGBA; CMYK, YCbCr and Lab become RGB; 16-bit files
        stay ``uint16``.
    max_pixels : int, optional
        Refuse images whose header claims more pixels (decompression bombs).
        Default: ``$CONVOLVE_MAX_PIXELS`` or 250,000,000.

    Returns
    -------
    ImageFile

    Raises
    ------
    LoadError
        Missing, empty, truncated, corrupt, too large or not an image.
    """
    path = Path(path)
    name = path.name or str(path)
    try:
        limit = max_pixels_limit(max_pixels)
    except ValueError as e:
        raise LoadError(f"{name}: {e}") from None
    _check_file(path, name)
    try:
        with Image.open(path) as im:
            _check_size(im, name, limit)
            header = _header(im, path)
            # load() decodes the first frame; with LOAD_TRUNCATED_IMAGES off (the
            # default, which we insist on) a short file raises here.
            if PILImageFile.LOAD_TRUNCATED_IMAGES:
                raise LoadError(f"{name}: refusing to load while Pillow accepts truncated files")
            im.load()
            orientation = _orientation(im)
            exif = _normalize_exif(im.info.get("exif"))
            icc = im.info.get("icc_profile") or None
            notes: list[str] = []
            if header["wide16"]:
                pixels = _decode_opencv(path, name)
            else:
                pixels = _pixels_from_pillow(im, notes)
            if im.mode == "CMYK":
                icc = None  # it describes the CMYK data, not the RGB we now hold
            fmt = "JPEG" if im.format == "MPO" else (im.format or path.suffix.upper()[1:])
    except LoadError:
        raise
    except UnidentifiedImageError:
        raise LoadError(f"{name}: not an image file Convolve can read") from None
    except MemoryError:
        raise LoadError(f"{name}: not enough memory to decode this image") from None
    except Exception as e:  # noqa: BLE001  (Pillow plugins raise many types on bad data)
        raise LoadError(f"{name}: {_reason(e)}") from None
    if orientation != 1:
        pixels = apply_orientation(pixels, orientation)
        exif = reset_orientation(exif) if exif else exif
        notes.append(f"EXIF orientation {orientation} applied")
    pixels = np.ascontiguousarray(pixels)
    info = {
        "mode": header["mode"],
        "bit_depth": header["bit_depth"],
        "frames": header["frames"],
        "orientation": orientation,
        "width": pixels.shape[1],
        "height": pixels.shape[0],
        "channels": 1 if pixels.ndim == 2 else pixels.shape[2],
        "notes": notes,
    }
    return ImageFile(pixels=pixels, path=path, format=fmt, exif=exif, icc_profile=icc,
                     info=info)


def read_info(path: str | PathLike[str], max_pixels: int | None = None) -> dict[str, Any]:
    """Describe an image file from its header, without decoding the pixels.

    Returns
    -------
    dict
        ``file``, ``format``, ``width`` and ``height`` (as displayed, after the
        EXIF orientation), ``mode``, ``bit_depth``, ``channels`` (as loaded),
        ``frames``, ``orientation``, ``orientation_text``, ``icc_profile``
        (bool), ``icc_bytes``, ``exif`` (bool), ``file_size``, ``megapixels``,
        ``within_limit`` (whether :func:`load_image` would accept its size).
    """
    path = Path(path)
    name = path.name or str(path)
    _check_file(path, name)
    try:
        with Image.open(path) as im:
            header = _header(im, path)
            orientation = _orientation(im)
            w, h = im.size
            icc = im.info.get("icc_profile") or b""
            has_exif = bool(im.info.get("exif")) or (
                im.format == "TIFF" and any(t in im.getexif() for t in (0x010F, 0x0110, 0x8769))
            )
            fmt = "JPEG" if im.format == "MPO" else im.format
            channels = _loaded_channels(im, header)
    except UnidentifiedImageError:
        raise LoadError(f"{name}: not an image file Convolve can read") from None
    except Exception as e:  # noqa: BLE001
        raise LoadError(f"{name}: {_reason(e)}") from None
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    try:
        limit = max_pixels_limit(max_pixels)
    except ValueError:
        limit = DEFAULT_MAX_PIXELS
    return {
        "file": str(path),
        "format": fmt,
        "width": w,
        "height": h,
        "megapixels": round(w * h / 1e6, 2),
        "mode": header["mode"],
        "bit_depth": header["bit_depth"],
        "channels": channels,
        "frames": header["frames"],
        "orientation": orientation,
        "orientation_text": ORIENTATIONS.get(orientation, "normal"),
        "icc_profile": bool(icc),
        "icc_bytes": len(icc),
        "exif": has_exif,
        "file_size": path.stat().st_size,
        "within_limit": w * h <= limit,
    }


# -- orientation ------------------------------------------------------------

def apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels upright for an EXIF orientation (1..8), as Pillow's
    ``ImageOps.exif_transpose`` does; returns a view where possible."""
    o = int(orientation)
    if o == 2:
        return pixels[:, ::-1]
    if o == 3:
        return pixels[::-1, ::-1]
    if o == 4:
        return pixels[::-1]
    if o == 5:
        return pixels.swapaxes(0, 1)
    if o == 6:
        return np.rot90(pixels, k=-1)
    if o == 7:
        return pixels.swapaxes(0, 1)[::-1, ::-1]
    if o == 8:
        return np.rot90(pixels, k=1)
    return pixels


def reset_orientation(exif: bytes) -> bytes:
    """Set the orientation tag in raw EXIF to 1, leaving every other byte alone.

    Patching in place (rather than re-serialising with Pillow) keeps maker
    notes and sub-IFD offsets exactly as the camera wrote them.
    """
    body = exif[len(EXIF_PREFIX):] if exif.startswith(EXIF_PREFIX) else exif
    head = exif[: len(exif) - len(body)]
    try:
        order = {b"II": "<", b"MM": ">"}[body[:2]]
        (ifd0,) = struct.unpack(order + "I", body[4:8])
        (count,) = struct.unpack(order + "H", body[ifd0:ifd0 + 2])
        for i in range(count):
            at = ifd0 + 2 + 12 * i
            tag, typ = struct.unpack(order + "HH", body[at:at + 4])
            if tag == ORIENTATION_TAG and typ == 3:  # SHORT, value stored inline
                patched = body[:at + 8] + struct.pack(order + "H", 1) + body[at + 10:]
                return head + patched
    except (KeyError, struct.error, IndexError):
        pass
    return exif


def _orientation(im: Image.Image) -> int:
    try:
        value = int(im.getexif().get(ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001  (damaged EXIF must not stop the image opening)
        return 1
    return value if value in ORIENTATIONS else 1


def _normalize_exif(raw: Any) -> bytes | None:
    if not raw or not isinstance(raw, (bytes, bytearray)):
        return None
    raw = bytes(raw)
    # JPEG and PNG give "Exif\0\0" + TIFF data; some WebP writers omit the prefix.
    return raw if raw.startswith(EXIF_PREFIX) else EXIF_PREFIX + raw


# -- decoding ---------------------------------------------------------------

def _check_file(path: Path, name: str) -> None:
    if not path.exists():
        raise LoadError(f"{name}: no such file")
    if path.is_dir():
        raise LoadError(f"{name}: is a folder, not an image file")
    try:
        size = path.stat().st_size
    except OSError as e:
        raise LoadError(f"{name}: {e.strerror or e}") from None
    if size == 0:
        raise LoadError(f"{name}: the file is empty")
    if not os.access(path, os.R_OK):
        raise LoadError(f"{name}: permission denied")


def _check_size(im: Image.Image, name: str, limit: int) -> None:
    w, h = im.size
    if w <= 0 or h <= 0:
        raise LoadError(f"{name}: the header gives an empty size {w} x {h}")
    if w * h > limit:
        raise LoadError(
            f"{name}: {w} x {h} is {w * h / 1e6:.0f} MP, over the limit of "
            f"{limit / 1e6:g} MP (a possible decompression bomb; raise it with "
            f"--max-pixels or {MAX_PIXELS_ENV})"
        )


def _header(im: Image.Image, path: Path) -> dict[str, Any]:
    """Stored mode, bits per channel, frame count, and whether OpenCV must decode."""
    mode = im.mode
    bits = {"1": 1, "I": 32, "F": 32}.get(mode, 16 if mode in _GRAY16 else 8)
    wide16 = False
    if im.format == "PNG":
        ihdr = _png_ihdr(path)
        if ihdr:
            bits = 8 if ihdr[1] == 3 else ihdr[0]  # palette: 8-bit entries
            # colour types 2 (RGB), 4 (gray+alpha), 6 (RGBA) at 16 bit: Pillow truncates
            wide16 = ihdr[0] == 16 and ihdr[1] in (2, 4, 6)
    elif im.format == "TIFF":
        try:
            sample_bits = im.tag_v2.get(258)
            sample_bits = tuple(sample_bits) if isinstance(sample_bits, tuple) else (sample_bits,)
            if sample_bits and sample_bits[0]:
                bits = int(sample_bits[0])
            wide16 = bits == 16 and len(sample_bits) >= 2 and mode not in _GRAY16
        except Exception:  # noqa: BLE001
            pass
    try:
        frames = int(getattr(im, "n_frames", 1))
    except Exception:  # noqa: BLE001  (counting frames of a damaged GIF can fail)
        frames = 1
    return {"mode": mode, "bit_depth": bits, "frames": frames, "wide16": wide16}


def _png_ihdr(path: Path) -> tuple[int, int] | None:
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) < 33 or head[12:16] != b"IHDR":
        return None
    return head[24], head[25]


def _loaded_channels(im: Image.Image, header: dict[str, Any]) -> int:
    if header["wide16"]:
        return 4 if im.mode in ("RGBA", "LA", "PA") else 3
    mode = _target_mode(im)
    return {"L": 1, "RGB": 3, "RGBA": 4}.get(mode, 1)


def _target_mode(im: Image.Image) -> str:
    """The Pillow mode our array is made from (``"I;16"``-family, I and F stay gray)."""
    mode = im.mode
    if mode in _GRAY16 or mode in ("I", "F"):
        return mode
    if mode in ("LA", "La", "PA", "RGBA", "RGBa") or _transparent(im):
        return "RGBA"
    if mode in ("1", "L"):
        return "L"
    return "RGB"


def _transparent(im: Image.Image) -> bool:
    try:
        return bool(im.has_transparency_data) and im.mode not in _GRAY16 + ("I", "F")
    except Exception:  # noqa: BLE001
        return False


def _pixels_from_pillow(im: Image.Image, notes: list[str]) -> np.ndarray:
    mode = im.mode
    target = _target_mode(im)
    if mode in _GRAY16:
        return np.asarray(im).astype(np.uint16)
    if mode in ("I", "F"):
        return _wide_to_uint16(np.asarray(im), notes, mode)
    if mode != target:
        if mode == "CMYK":
            notes.append("CMYK converted to RGB")
        elif mode not in ("1", "P", "LA", "RGBX", "RGBa", "La", "PA"):
            notes.append(f"{mode} converted to {target}")
        im = im.convert(target)
    return np.asarray(im).copy()


def _wide_to_uint16(arr: np.ndarray, notes: list[str], mode: str) -> np.ndarray:
    """32-bit integer or float samples to uint16 (kept if they already fit)."""
    if mode == "I" and arr.size and arr.min() >= 0 and arr.max() <= 65535:
        return arr.astype(np.uint16)
    f = arr.astype(np.float64)
    finite = f[np.isfinite(f)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if mode == "F" and lo >= 0.0 and hi <= 1.0:
        lo, hi = 0.0, 1.0  # already normalised floats keep their scale
    scale = 65535.0 / (hi - lo) if hi > lo else 0.0
    notes.append(f"{mode} samples scaled from [{lo:g}, {hi:g}] to 16 bit")
    return np.clip(np.nan_to_num((f - lo) * scale + 0.5, nan=0.0), 0, 65535).astype(np.uint16)


def _decode_opencv(path: Path, name: str) -> np.ndarray:
    import cv2

    data = np.fromfile(path, dtype=np.uint8)
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16:
        raise LoadError(f"{name}: cannot decode its 16-bit colour data")
    if arr.ndim == 3 and arr.shape[2] == 3:
        return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    if arr.ndim == 3 and arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
    if arr.ndim == 3 and arr.shape[2] == 2:  # gray + alpha
        g, a = arr[..., 0], arr[..., 1]
        return np.dstack([g, g, g, a])
    return arr


def _reason(e: BaseException) -> str:
    text = (str(e).strip().splitlines() or [""])[0]
    low = text.lower()
    if "truncated" in low or isinstance(e, EOFError):
        return "the file is truncated"
    if not text:
        return f"cannot decode ({type(e).__name__})"
    return f"cannot decode ({text})"
