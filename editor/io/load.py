"""Open image files as arrays that follow :mod:`editor.core.image`'s conventions.

Every image the program reads from disk comes through :func:`load_image`, so
one pixel limit and one EXIF orientation rule hold everywhere. Pillow reads
nearly everything; the gaps are filled here:

* Pillow has no 48/64-bit RGB(A) mode and truncates 16-bit colour PNG and
  TIFF files to 8 bit, so those are decoded with OpenCV (``IMREAD_UNCHANGED``)
  after Pillow has checked that the file is complete. 16-bit PPM/PGM files
  (``maxval`` > 255), which Pillow also reduces, are read with NumPy.
* Plain RGB and gray JPEGs are decoded by OpenCV: the same libjpeg-turbo
  decode, the same pixels, in half the time (Pillow's image memory has to be
  copied out to NumPy; OpenCV decodes into the array). Pillow still reads the
  header, EXIF and ICC profile, and a reduced (``draft``) decode.
* TIFFs Pillow cannot identify (32-bit float or half-float RGB, half-float
  gray, 32-bit integer colour) are read with ``tifffile``; float samples are
  converted to 16 bit and the range used is stated in ``info["notes"]``.
* Pillow's decompression-bomb guard is a fixed global (it refuses about
  179 MP and warns above half that). Convolve applies its own configurable
  limit to the size the header claims, before a pixel is decoded, and lifts
  Pillow's guard to that limit only while one of its own loads runs
  (:func:`pillow_pixel_limit`); everywhere else Pillow's guard is untouched.

Every failure is a :class:`~editor.io.errors.LoadError` of one line,
``"<file name>: <reason>"``; nothing is returned half-loaded.
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from PIL import ImageFile as PILImageFile

from editor.io.errors import ImageTooLarge, LoadError

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


_guard_lock = threading.Lock()
_guard_active: list[int] = []
_guard_saved: list[int | None] = []


@contextlib.contextmanager
def pillow_pixel_limit(limit: int) -> Iterator[None]:
    """Let Pillow's own decompression-bomb guard agree with our ``limit`` for one load.

    Pillow's guard is a module global (``Image.MAX_IMAGE_PIXELS``) that also
    runs while decoding (GIF frames, TIFF tiles), so it cannot simply be
    bypassed. Inside this block it is raised to ``limit`` when that is higher
    (never lowered, never switched off), and restored when the last such
    block in any thread ends: code outside :func:`load_image` keeps Pillow's
    default guard.
    """
    with _guard_lock:
        if not _guard_active:
            _guard_saved[:] = [Image.MAX_IMAGE_PIXELS]
        _guard_active.append(int(limit))
        saved = _guard_saved[0]
        if saved is not None:
            Image.MAX_IMAGE_PIXELS = max(saved, *_guard_active)
    try:
        yield
    finally:
        with _guard_lock:
            _guard_active.remove(int(limit))
            saved = _guard_saved[0]
            if not _guard_active:
                Image.MAX_IMAGE_PIXELS = saved
            elif saved is not None:
                Image.MAX_IMAGE_PIXELS = max(saved, *_guard_active)


def load_image(path: str | PathLike[str], max_pixels: int | None = None, *,
               reduce_to: int | None = None) -> ImageFile:
    """Read an image file.

    Parameters
    ----------
    path : path-like
        PNG, JPEG, WebP, TIFF, BMP, GIF (first frame), PPM/PGM or anything
        else Pillow reads. Grayscale stays ``(H, W)``; gray+alpha and palette
        images with transparency become RGBA; CMYK, YCbCr and Lab become RGB;
        16-bit files stay ``uint16``; 32-bit integer and float samples become
        ``uint16`` (the conversion is stated in ``info["notes"]``).
    max_pixels : int, optional
        Refuse images whose header claims more pixels (decompression bombs).
        Default: ``$CONVOLVE_MAX_PIXELS`` or 250,000,000.
    reduce_to : int, optional
        The caller only needs an image whose shorter side is at least this
        many pixels: JPEGs are then decoded at 1/2, 1/4 or 1/8 scale
        (libjpeg's DCT scaling), a fraction of the cost of a full decode.
        Other formats are decoded in full. The limit applies to the full size.

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
        with pillow_pixel_limit(limit):
            try:
                im = _open(path)
            except UnidentifiedImageError:
                if _is_tiff(path):
                    return _load_tifffile(path, name, limit)
                raise
            with im:
                return _load_pillow(im, path, name, limit, reduce_to)
    except LoadError:
        raise
    except UnidentifiedImageError:
        raise LoadError(f"{name}: not an image file Convolve can read") from None
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(_over_limit(name, limit, _claimed_pixels(e))) from None
    except MemoryError:
        raise LoadError(f"{name}: not enough memory to decode this image") from None
    except Exception as e:  # noqa: BLE001  (Pillow plugins raise many types on bad data)
        raise LoadError(f"{name}: {_reason(e)}") from None


def _load_pillow(im: Image.Image, path: Path, name: str, limit: int,
                 reduce_to: int | None) -> ImageFile:
    _check_size(im, name, limit)
    header = _header(im, path)
    if PILImageFile.LOAD_TRUNCATED_IMAGES:
        raise LoadError(f"{name}: refusing to load while Pillow accepts truncated files")
    if reduce_to and im.format in ("JPEG", "MPO"):  # MPO: phone photos, a JPEG first
        side = max(1, int(reduce_to))
        im.draft(None, (side, side))
    notes: list[str] = []
    if header.get("pnm") is not None:
        # Pillow reduces 16-bit PPM colour to 8 bit: read the samples ourselves
        pixels = _decode_pnm16(path, name, header["pnm"], notes)
    elif (im.format == "JPEG" and im.mode in ("RGB", "L") and not reduce_to
          and im.width * im.height <= _OPENCV_MAX_PIXELS):
        pixels = _decode_jpeg_opencv(path, name, gray=im.mode == "L")
    else:
        # load() decodes the first frame; with LOAD_TRUNCATED_IMAGES off (the
        # default, which we insist on) a short file raises here.
        im.load()
        if header["wide16"]:
            pixels = _decode_opencv(path, name)
        else:
            pixels = _pixels_from_pillow(im, notes)
    orientation = _orientation(im)
    exif = _normalize_exif(im.info.get("exif"))
    icc = im.info.get("icc_profile") or None
    if im.mode == "CMYK":
        icc = None  # it describes the CMYK data, not the RGB we now hold
    fmt = "JPEG" if im.format == "MPO" else (im.format or path.suffix.upper()[1:])
    return _finish(pixels, path, fmt, header, orientation, exif, icc, notes)


def _finish(pixels: np.ndarray, path: Path, fmt: str, header: dict[str, Any],
            orientation: int, exif: bytes | None, icc: bytes | None,
            notes: list[str]) -> ImageFile:
    if orientation != 1:
        pixels = apply_orientation(pixels, orientation)
        exif = reset_orientation(exif) if exif else exif
        notes.append(f"EXIF orientation {orientation} applied")
    pixels = np.ascontiguousarray(pixels)
    info = {
        "mode": header["mode"],
        "bit_depth": header["bit_depth"],
        "sample_format": header.get("sample_format", "integer"),
        "frames": header["frames"],
        "orientation": orientation,
        "width": pixels.shape[1],
        "height": pixels.shape[0],
        "channels": 1 if pixels.ndim == 2 else pixels.shape[2],
        "notes": notes,
    }
    return ImageFile(pixels=pixels, path=path, format=fmt, exif=exif, icc_profile=icc,
                     info=info)


def verify_image(path: str | PathLike[str], max_pixels: int | None = None) -> ImageFile:
    """Decode a file completely and check its integrity, or say what is damaged.

    :func:`load_image` already refuses a file whose image data ends early.
    This also reads what a decoder may stop before: every PNG chunk's CRC and
    the closing ``IEND`` chunk (Pillow's ``verify``), and a JPEG's end-of-image
    marker.

    Returns
    -------
    ImageFile
        The decoded image, when the file is intact.

    Raises
    ------
    LoadError
        One line naming the file and the damage.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from editor.io import save_image
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "x.png"
    >>> save_image(f, np.zeros((4, 4), np.uint8))
    []
    >>> verify_image(f).pixels.shape
    (4, 4)
    >>> _ = f.write_bytes(f.read_bytes()[:-12])     # cut off the IEND chunk
    >>> verify_image(f)
    Traceback (most recent call last):
    ...
    editor.io.errors.LoadError: x.png: the file is truncated (no IEND chunk at its end)
    """
    path = Path(path)
    name = path.name or str(path)
    _check_file(path, name)
    problem = _png_problem(path)  # before decoding: a CRC error explains a decode error
    if problem:
        raise LoadError(f"{name}: {problem}")
    image = load_image(path, max_pixels)
    if image.format == "JPEG":
        _require_jpeg_end(path.read_bytes(), name)
    return image


def read_info(path: str | PathLike[str], max_pixels: int | None = None) -> dict[str, Any]:
    """Describe an image file from its header, without decoding the pixels.

    Returns
    -------
    dict
        ``file``, ``format``, ``width`` and ``height`` (as displayed, after the
        EXIF orientation), ``mode``, ``bit_depth``, ``sample_format``
        (``"integer"`` or ``"float"``), ``channels`` (as loaded), ``frames``,
        ``orientation``, ``orientation_text``, ``icc_profile`` (bool),
        ``icc_bytes``, ``exif`` (bool), ``file_size``, ``megapixels``,
        ``within_limit`` (whether :func:`load_image` would accept its size),
        ``opens_as`` (dtype when opened) and ``conversion`` (what opening
        changes, or ``""``).
    """
    path = Path(path)
    name = path.name or str(path)
    _check_file(path, name)
    try:
        limit = max_pixels_limit(max_pixels)
    except ValueError:
        limit = DEFAULT_MAX_PIXELS
    try:
        with pillow_pixel_limit(limit):
            try:
                im = _open_header(path)
            except UnidentifiedImageError:
                if not _is_tiff(path):
                    raise
                desc = _tifffile_header(path)
                w, h = desc["width"], desc["height"]
                orientation, icc, has_exif, fmt = desc["orientation"], desc["icc"], False, "TIFF"
                header, channels = desc, desc["channels"]
            else:
                with im:
                    header = _header(im, path)
                    orientation = _orientation(im)
                    w, h = im.size
                    icc = im.info.get("icc_profile") or b""
                    has_exif = bool(im.info.get("exif")) or (
                        im.format == "TIFF"
                        and any(t in im.getexif() for t in (0x010F, 0x0110, 0x8769)))
                    fmt = "JPEG" if im.format == "MPO" else im.format
                    channels = _loaded_channels(im, header)
    except LoadError:
        raise
    except UnidentifiedImageError:
        raise LoadError(f"{name}: not an image file Convolve can read") from None
    except Exception as e:  # noqa: BLE001
        raise LoadError(f"{name}: {_reason(e)}") from None
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    return {
        "file": str(path),
        "format": fmt,
        "width": w,
        "height": h,
        "megapixels": round(w * h / 1e6, 2),
        "mode": header["mode"],
        "bit_depth": header["bit_depth"],
        "sample_format": header.get("sample_format", "integer"),
        "channels": channels,
        "frames": header["frames"],
        "orientation": orientation,
        "orientation_text": ORIENTATIONS.get(orientation, "normal"),
        "icc_profile": bool(icc),
        "icc_bytes": len(icc or b""),
        "exif": has_exif,
        "file_size": path.stat().st_size,
        "within_limit": w * h <= limit,
        "opens_as": "uint16" if header["bit_depth"] > 8 else "uint8",
        "conversion": _conversion_text(header),
    }


def _open_header(path: Path) -> Image.Image:
    """``Image.open`` (header only), also for a file over twice Pillow's limit.

    Describing a file decodes nothing, so a decompression bomb can still be
    described; Pillow's guard is lifted for that one header read only.
    """
    try:
        return _open(path)
    except Image.DecompressionBombError:
        with pillow_pixel_limit(2**62):
            return _open(path)


def _open(path: Path) -> Image.Image:
    """``Image.open`` without Pillow's bomb *warning*: it fires only for sizes over our
    limit, which the caller refuses with its own one-line message right after."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(path)


def _conversion_text(header: dict[str, Any]) -> str:
    """What opening the file changes about its samples, in words (or ``""``)."""
    bits = header["bit_depth"]
    if header.get("sample_format") == "float":
        return (f"{bits}-bit float samples are converted to 16 bit when opened: [0, 1] "
                "maps to 0..65535, other ranges are scaled from their minimum and maximum")
    if bits == 32:
        return ("32-bit integer samples are converted to 16 bit when opened (kept when "
                "they fit, else scaled from their minimum and maximum)")
    pnm = header.get("pnm")
    if pnm is not None and pnm[3] != 65535:
        return f"samples up to {pnm[3]} are scaled to 0..65535 when opened"
    return ""


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
    _check_dims(*im.size, name, limit)


def _check_dims(w: int, h: int, name: str, limit: int) -> None:
    if w <= 0 or h <= 0:
        raise LoadError(f"{name}: the header gives an empty size {w} x {h}")
    if w * h > limit:
        raise ImageTooLarge(_over_limit(name, limit, w * h, f"{w} x {h} is "))


def _over_limit(name: str, limit: int, pixels: int | None, size: str = "") -> str:
    claimed = f"{size}{pixels / 1e6:.0f} MP, over" if pixels else "over"
    return (f"{name}: {claimed} the limit of {limit / 1e6:g} MP (a possible decompression "
            f"bomb; raise it with --max-pixels or {MAX_PIXELS_ENV})")


def _claimed_pixels(e: BaseException) -> int | None:
    """The pixel count in Pillow's ``DecompressionBombError`` message, if it gives one."""
    m = re.search(r"\((\d+) pixels\)", str(e))
    return int(m.group(1)) if m else None


def _header(im: Image.Image, path: Path) -> dict[str, Any]:
    """Stored mode, bits per channel, sample format, frame count, and which decoder.

    ``wide16``: OpenCV decodes (16-bit colour PNG/TIFF); ``pnm``: the PPM/PGM
    header ``(magic, width, height, maxval, data offset)`` when NumPy decodes
    (``maxval`` over 255), else None.
    """
    mode = im.mode
    bits = {"1": 1, "I": 32, "F": 32}.get(mode, 16 if mode in _GRAY16 else 8)
    sample_format = "float" if mode == "F" else "integer"
    wide16 = False
    pnm = None
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
    elif im.format == "PPM":
        pnm = _pnm_header(path)
        if pnm is not None and pnm[3] > 255:
            bits = 16
        else:
            pnm = None
    try:
        frames = int(getattr(im, "n_frames", 1))
    except Exception:  # noqa: BLE001  (counting frames of a damaged GIF can fail)
        frames = 1
    return {"mode": mode, "bit_depth": bits, "sample_format": sample_format,
            "frames": frames, "wide16": wide16, "pnm": pnm}


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
    if im.mode in ("L", "RGB", "RGBA"):
        return _array_from_pillow(im)
    return np.asarray(im).copy()


#: Bytes Pillow's raw encoder hands over per piece in :func:`_array_from_pillow`.
_PIECE_BYTES = 1 << 20


def _array_from_pillow(im: Image.Image) -> np.ndarray:
    """A writable array of an 8-bit ``L``/``RGB``/``RGBA`` image, copied piece by piece.

    ``np.asarray(im)`` first makes one ``bytes`` object of the whole image
    (``tobytes``), and making it writable copies it again: three copies of the
    pixels alive at once, 3.3 times a 100 MP photo's size with Pillow's own
    4-byte RGB. Pillow's raw encoder, which ``tobytes`` drives, gives the same
    bytes in pieces, so each piece goes straight into the array.
    """
    channels = len(im.getbands())
    out = np.empty((im.height, im.width, channels) if channels > 1 else
                   (im.height, im.width), np.uint8)
    flat = out.reshape(-1)
    try:
        encoder = Image._getencoder(im.mode, "raw", im.mode)
        encoder.setimage(im.im, (0, 0) + im.size)
    except (AttributeError, TypeError):  # a Pillow without that internal: the usual way
        return np.asarray(im).copy()
    pos = 0
    while True:
        _, status, piece = encoder.encode(_PIECE_BYTES)
        flat[pos:pos + len(piece)] = np.frombuffer(piece, np.uint8)
        pos += len(piece)
        if status:
            break
    if status < 0 or pos != flat.size:
        raise OSError(f"Pillow's raw encoder stopped with status {status}")
    return out


def _wide_to_uint16(arr: np.ndarray, notes: list[str], mode: str) -> np.ndarray:
    """32-bit integer (``mode="I"``) or float (``"F"``) samples to uint16.

    Integers that already fit are kept. Floats in [0, 1] map to 0..65535;
    any other range (HDR radiance, raw sensor counts) is scaled from its
    finite minimum and maximum, and NaN becomes 0. The note says which.
    """
    if mode == "I" and arr.size and arr.min() >= 0 and arr.max() <= 65535:
        return arr.astype(np.uint16)
    f = arr.astype(np.float32 if arr.dtype.itemsize <= 4 else np.float64)
    finite = f[np.isfinite(f)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    kind = "float" if arr.dtype.kind == "f" else "integer"
    what = f"{arr.dtype.itemsize * 8}-bit {kind}"
    if arr.dtype.kind == "f" and lo >= 0.0 and hi <= 1.0:
        lo, hi = 0.0, 1.0  # already normalised floats keep their scale
        notes.append(f"{what} samples in [0, 1] converted to 16 bit")
    else:
        notes.append(f"{what} samples scaled from [{lo:g}, {hi:g}] to 16 bit")
    scale = 65535.0 / (hi - lo) if hi > lo else 0.0
    out = np.nan_to_num((f - lo) * scale + 0.5, nan=0.0, posinf=65535.0, neginf=0.0)
    return np.clip(out, 0, 65535).astype(np.uint16)


# -- PPM/PGM with more than 8 bits --------------------------------------------

_PNM_SPACE = b" \t\r\n\x0b\x0c"


def _pnm_header(path: Path) -> tuple[bytes, int, int, int, int] | None:
    """``(magic, width, height, maxval, data offset)`` of a P2/P3/P5/P6 file, else None."""
    with open(path, "rb") as f:
        head = f.read(4096)
    magic = head[:2]
    if magic not in (b"P2", b"P3", b"P5", b"P6"):
        return None
    pos, tokens = 2, []
    while len(tokens) < 3:
        while pos < len(head) and (head[pos] in _PNM_SPACE or head[pos] == 0x23):
            if head[pos] == 0x23:  # '#' comment up to the end of the line
                end = head.find(b"\n", pos)
                pos = len(head) if end < 0 else end
            pos += 1
        start = pos
        while pos < len(head) and head[pos] not in _PNM_SPACE and head[pos] != 0x23:
            pos += 1
        try:
            tokens.append(int(head[start:pos]))
        except ValueError:
            return None
    return magic, tokens[0], tokens[1], tokens[2], pos + 1  # one whitespace byte after maxval


def _decode_pnm16(path: Path, name: str, pnm: tuple[bytes, int, int, int, int],
                  notes: list[str]) -> np.ndarray:
    """Samples of a PPM/PGM with ``maxval`` 256..65535 as uint16 (big-endian on disk)."""
    magic, w, h, maxval, offset = pnm
    bands = 3 if magic in (b"P3", b"P6") else 1
    count = w * h * bands
    if magic in (b"P5", b"P6"):
        data = np.fromfile(path, dtype=">u2", count=count, offset=offset)
    else:  # plain (ASCII) samples; comments may sit between them
        text = Path(path).read_bytes()[offset:]
        text = re.sub(rb"#[^\n]*", b" ", text)
        data = np.array(text.split()[:count], dtype=np.int64)
    if data.size < count:
        raise LoadError(f"{name}: the file is truncated")
    data = data.reshape((h, w, bands) if bands == 3 else (h, w))
    if maxval != 65535:
        notes.append(f"samples up to {maxval} scaled to 16 bit")
        wide = np.minimum(data.astype(np.uint32), maxval)
        return ((wide * 65535 + maxval // 2) // maxval).astype(np.uint16)
    return data.astype(np.uint16)


# -- TIFFs Pillow cannot read (float, half-float, 32-bit colour) ----------------

def _is_tiff(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _tifffile():
    try:
        import tifffile
    except ImportError:
        return None
    return tifffile


_SAMPLE_NAMES = {1: "gray", 2: "gray+alpha", 3: "RGB", 4: "RGBA"}


def _tifffile_header(path: Path) -> dict[str, Any]:
    """What :func:`read_info` needs from a TIFF Pillow cannot identify."""
    tifffile = _tifffile()
    if tifffile is None:
        raise LoadError(f"{path.name}: a TIFF with samples Pillow cannot read; install the "
                        "tifffile package to open it")
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        tags = page.tags
        samples = int(page.samplesperpixel)
        orientation = int(tags[274].value) if 274 in tags else 1
        icc = bytes(tags[34675].value) if 34675 in tags else b""
        desc = {
            "width": int(page.imagewidth), "height": int(page.imagelength),
            "mode": f"{_SAMPLE_NAMES.get(samples, f'{samples}-sample')} {page.dtype}",
            "bit_depth": int(page.bitspersample),
            "sample_format": "float" if int(page.sampleformat) == 3 else "integer",
            "frames": len(tif.pages), "samples": samples,
            "channels": {1: 1, 2: 4, 3: 3}.get(samples, 4),
            "orientation": orientation if orientation in ORIENTATIONS else 1,
            "icc": icc, "wide16": False, "pnm": None,
        }
    return desc


def _load_tifffile(path: Path, name: str, limit: int) -> ImageFile:
    """Decode a TIFF Pillow cannot identify with ``tifffile``; floats become uint16."""
    header = _tifffile_header(path)
    _check_dims(header["width"], header["height"], name, limit)
    if header["samples"] not in (1, 2, 3, 4):
        raise LoadError(f"{name}: has {header['samples']} samples per pixel; Convolve opens "
                        "gray, gray+alpha, RGB and RGBA images")
    tifffile = _tifffile()
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        arr = page.asarray()
        if page.axes.startswith("S") and arr.ndim == 3:  # planar: samples first
            arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    expected = (header["height"], header["width"])
    if arr.shape[:2] != expected:
        raise LoadError(f"{name}: cannot decode (image data of shape {arr.shape})")
    notes: list[str] = []
    alpha = None
    if arr.ndim == 3 and arr.shape[2] in (2, 4):
        arr, alpha = arr[..., :-1], arr[..., -1]
        if arr.shape[2] == 1:
            arr = arr[..., 0]
    if arr.dtype in (np.uint8, np.uint16):
        pixels = arr
    else:
        pixels = _wide_to_uint16(arr, notes, "F" if arr.dtype.kind == "f" else "I")
    if alpha is not None:
        if pixels.ndim == 2:
            pixels = np.dstack([pixels, pixels, pixels])
        pixels = np.dstack([pixels, _alpha_like(alpha, pixels.dtype)])
    return _finish(pixels, path, "TIFF", header, header["orientation"], None,
                   header["icc"] or None, notes)


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


#: OpenCV's own decode limit (``CV_IO_MAX_IMAGE_PIXELS``); larger JPEGs, allowed by a
#: raised ``--max-pixels``, are decoded by Pillow.
_OPENCV_MAX_PIXELS = 1 << 30


def _decode_jpeg_opencv(path: Path, name: str, gray: bool) -> np.ndarray:
    """An RGB or gray JPEG decoded by OpenCV, refused when truncated, as Pillow's load
    refuses it (libjpeg only warns and fills the missing rows with gray)."""
    import cv2

    raw = path.read_bytes()
    _require_jpeg_end(raw, name)
    # EXIF orientation is applied by _finish, as for every format
    flags = cv2.IMREAD_IGNORE_ORIENTATION | (
        cv2.IMREAD_GRAYSCALE if gray else getattr(cv2, "IMREAD_COLOR_RGB", cv2.IMREAD_COLOR))
    pixels = cv2.imdecode(np.frombuffer(raw, np.uint8), flags)
    if pixels is None:
        raise LoadError(f"{name}: cannot decode its JPEG data")
    if not gray and not hasattr(cv2, "IMREAD_COLOR_RGB"):  # OpenCV before 4.11
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    return pixels


def _alpha_like(alpha: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """An alpha plane of any sample type in ``dtype`` (float alpha is coverage in [0, 1])."""
    if alpha.dtype.kind == "f":
        a16 = np.clip(np.nan_to_num(alpha.astype(np.float32)) * 65535.0 + 0.5, 0, 65535)
        a16 = a16.astype(np.uint16)
    elif alpha.dtype == np.uint8:
        a16 = alpha.astype(np.uint16) * 257
    elif alpha.dtype == np.uint16:
        a16 = alpha
    else:
        a16 = _wide_to_uint16(alpha, [], "I")
    return a16 if dtype == np.uint16 else (a16 >> 8).astype(np.uint8)


def _require_jpeg_end(data: bytes, name: str) -> None:
    """Raise :class:`LoadError` unless the JPEG stream reaches its end marker."""
    if not _jpeg_complete(data):
        raise LoadError(f"{name}: the file is truncated (its JPEG data has no end marker)")


def _jpeg_complete(data: bytes) -> bool:
    """True when the JPEG stream (a file's bytes) reaches its end-of-image marker.

    Walks the marker segments by their lengths and skips entropy-coded data
    (where ``FF`` is always followed by ``00`` or a restart marker), so an
    embedded EXIF thumbnail's EOI does not count and data appended after the
    image (motion photos append a video) does not hide a complete stream.
    """
    n = len(data)
    if data[:2] != b"\xff\xd8":
        return False
    pos = 2
    while pos + 1 < n:
        if data[pos] != 0xFF:
            return False
        marker = data[pos + 1]
        if marker == 0xD9:
            return True
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        if pos + 4 > n:
            return False
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xDA:  # scan data: find the next marker that is not stuffing/restart
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= n:
                    return False
                nxt = data[pos + 1]
                if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:
                    pos += 2
                elif nxt == 0xFF:
                    pos += 1
                else:
                    break
    return False


def _png_problem(path: Path) -> str | None:
    """Damage in a PNG's chunk structure (CRC error, missing IEND), or None.

    Decoders skip CRCs and stop at the last IDAT, so a flipped byte that zlib
    still inflates, or a lost ``IEND``, would otherwise pass unnoticed.
    Returns None for a file that is not a PNG.
    """
    with open(path, "rb") as f:
        if f.read(8) != b"\x89PNG\r\n\x1a\n":
            return None
        while True:
            head = f.read(8)
            if len(head) < 8:
                return "the file is truncated (no IEND chunk at its end)"
            length, kind = struct.unpack(">I4s", head)
            label = kind.decode("latin-1") if kind.isalpha() else repr(kind)
            if length > 2**31 - 1:
                return f"the file is damaged (impossible length in its {label} chunk)"
            crc = zlib.crc32(kind)
            left = length
            while left:
                block = f.read(min(left, 1 << 20))
                if not block:
                    return f"the file is truncated (inside its {label} chunk)"
                crc = zlib.crc32(block, crc)
                left -= len(block)
            stored = f.read(4)
            if len(stored) < 4:
                return f"the file is truncated (inside its {label} chunk)"
            if struct.unpack(">I", stored)[0] != crc & 0xFFFFFFFF:
                return f"the file is damaged (CRC error in its {label} chunk)"
            if kind == b"IEND":
                return None


def _reason(e: BaseException) -> str:
    text = (str(e).strip().splitlines() or [""])[0]
    low = text.lower()
    if "truncated" in low or isinstance(e, EOFError):
        return "the file is truncated"
    if not text:
        return f"cannot decode ({type(e).__name__})"
    return f"cannot decode ({text})"
