"""Baseline JPEG encoded in horizontal strips on every core, joined with restart markers.

A baseline JPEG scan may be cut by restart markers (``RST0`` .. ``RST7``): at each one
the DC predictions start again from zero and the entropy coder starts on a fresh
byte, exactly as at the start of a scan. So strips whose height is a whole number of
MCU rows can be encoded as separate JPEGs (OpenCV's libjpeg-turbo, on the shared
pool, without the GIL; Pillow for a first strip that carries EXIF or ICC: both give
the same bytes for the same settings) and their entropy-coded data joined into one
scan, behind the first strip's headers with the full height and a ``DRI`` segment
saying how many MCUs lie between markers. Without Huffman optimisation every strip
uses the same standard tables and the same quantisation tables, chroma is
subsampled within 2 x 2 blocks that never straddle a strip, and no strip but the
last is padded, so the decoded pixels are those of the one-piece encoding; the file
is a few bytes a strip longer (the markers). Strips are cut by the image's size
alone, so the file is the same on any number of cores.

References
----------
ITU-T T.81 (JPEG), sections B.2.4.4 (DRI), E.1.4 (restart) and F.1.2.3.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import cv2
import numpy as np
from PIL import Image

from editor.core.parallel import map_ordered
from editor.io.cv_codec import opencv_encode

#: Images smaller than this many pixels are encoded in one piece.
MIN_PIXELS = 2_000_000
#: Pixels per strip (about): a strip is a few ms of encoding.
STRIP_PIXELS = 1 << 20

_SOF0, _SOS, _DRI = 0xC0, 0xDA, 0xDD


def encode_jpeg(image: np.ndarray, *, quality: int, exif: bytes | None = None,
                icc: bytes | None = None) -> bytes | None:
    """A baseline JPEG of an 8-bit gray or RGB image from strips encoded in parallel.

    Parameters
    ----------
    image : ndarray
        ``uint8`` ``(H, W)`` or ``(H, W, 3)``.
    quality : int
        1..100 (libjpeg's scale, 4:2:0 chroma for colour: Pillow's defaults).
    exif, icc : bytes, optional
        Written once, in the file's header.

    Returns
    -------
    bytes or None
        The file; None when the image is too small to gain from strips or the
        layout does not allow them (the caller then encodes in one piece).
    """
    if image.dtype != np.uint8 or not (image.ndim == 2 or image.shape[2] == 3):
        return None
    h, w = image.shape[:2]
    if h * w < MIN_PIXELS:
        return None
    mcu = 8 if image.ndim == 2 else 16  # 4:2:0 chroma: 16 x 16 MCUs
    mcus_across = -(-w // mcu)
    # a restart interval counts MCUs in 16 bits
    bands = max(1, min(STRIP_PIXELS // (w * mcu), 65535 // mcus_across))
    rows = bands * mcu
    starts = list(range(0, h, rows))
    if len(starts) < 2:
        return None

    def encode(i: int) -> bytes:
        part = image[starts[i]:starts[i] + rows]
        if i > 0 or not (exif or icc):
            # OpenCV's encoder gives Pillow's bytes exactly (the same libjpeg-turbo
            # settings: standard tables, 4:2:0, islow DCT) and, unlike Pillow's
            # Python-driven save loop, runs without the GIL: 2x on two cores
            return opencv_encode(part, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        kwargs: dict[str, Any] = {"quality": quality, "optimize": False,
                                  "progressive": False}
        if exif:
            kwargs["exif"] = exif
        if icc:
            kwargs["icc_profile"] = icc
        buf = io.BytesIO()
        _pillow(part).save(buf, format="JPEG", **kwargs)
        return buf.getvalue()

    pieces = list(map_ordered(encode, range(len(starts))))
    header, first = _split(pieces[0])
    header = _with_height_and_restarts(header, h, bands * mcus_across)
    out = [header, first]
    for i, piece in enumerate(pieces[1:]):
        out.append(bytes((0xFF, 0xD0 + i % 8)))
        out.append(_split(piece)[1])
    out.append(b"\xff\xd9")
    return b"".join(out)


def _pillow(part: np.ndarray) -> Image.Image:
    if part.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(part))
    # "RGBX" is mapped without a copy and encoded as RGB (see save._pillow_image)
    rgbx = cv2.cvtColor(part, cv2.COLOR_RGB2RGBA)
    return Image.frombuffer("RGBX", (part.shape[1], part.shape[0]), rgbx, "raw", "RGBX",
                            0, 1)


def _split(data: bytes) -> tuple[bytes, bytes]:
    """``(headers up to and including SOS, entropy-coded data)`` of a one-scan JPEG."""
    pos = 2  # after SOI
    while True:
        if data[pos] != 0xFF:
            raise ValueError("not a JPEG segment")
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        pos += 2 + length
        if marker == _SOS:
            break
    if data[-2:] != b"\xff\xd9":
        raise ValueError("JPEG without its end marker")
    return data[:pos], data[pos:-2]


def _with_height_and_restarts(header: bytes, height: int, interval: int) -> bytes:
    """The first strip's headers with the whole image's height in SOF0 and a DRI
    segment (restart every ``interval`` MCUs) before SOS."""
    out = bytearray(header)
    pos = 2
    while True:
        marker = out[pos + 1]
        (length,) = struct.unpack(">H", out[pos + 2:pos + 4])
        if marker == _SOF0:
            out[pos + 5:pos + 7] = struct.pack(">H", height)
        if marker == _SOS:
            dri = b"\xff" + bytes((_DRI,)) + struct.pack(">HH", 4, interval)
            return bytes(out[:pos]) + dri + bytes(out[pos:])
        if marker == _DRI:
            raise ValueError("strip already has restart markers")
        pos += 2 + length
