"""The strip-parallel PNG writer (editor/io/png.py): every depth and channel count read
back identically by three independent decoders (Pillow, OpenCV/libpng, zlib on the
IDAT stream itself), metadata kept, bytes independent of the core count, and files
the size of Pillow's default export."""

from __future__ import annotations

import io
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

import editor.core.parallel as parallel
import editor.io.png as png
from editor.io import load_image, save_image


def _tiles(photo: np.ndarray, height: int, width: int) -> np.ndarray:
    """A real photo tiled (and mirrored) up to at least ``height`` x ``width``."""
    reps = (-(-height // photo.shape[0]), -(-width // photo.shape[1])) + (1,) * (photo.ndim - 2)
    return np.tile(photo, reps)[:height, :width]


def _variants(photo: np.ndarray) -> dict[str, np.ndarray]:
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    alpha = np.linspace(0, 255, photo.shape[1]).astype(np.uint8)[None, :].repeat(
        photo.shape[0], 0)
    wide = photo.astype(np.uint16) * 257 + np.arange(photo.shape[1], dtype=np.uint16)[:, None]
    return {
        "gray8": gray,
        "gray_alpha8": np.dstack([gray, alpha]),
        "rgb8": photo,
        "rgba8": np.dstack([photo, alpha]),
        "gray16": wide[..., 1],
        "gray_alpha16": np.dstack([wide[..., 1], wide[..., 0]]),
        "rgb16": wide,
        "rgba16": np.dstack([wide, wide[..., 2]]),
    }


def _idat_stream(data: bytes) -> bytes:
    return b"".join(body for kind, body in png.iter_chunks(data) if kind == b"IDAT")


def _unfilter_average(stream: bytes, height: int, row_bytes: int, bpp: int) -> np.ndarray:
    """Undo the Average filter row by row (the spec's reconstruction, independent of
    the writer's vectorised forward filter)."""
    rows = np.frombuffer(stream, np.uint8).reshape(height, row_bytes + 1)
    assert (rows[:, 0] == 3).all()
    out = np.zeros((height, row_bytes), np.int64)
    prior = np.zeros(row_bytes, np.int64)
    for y in range(height):
        line = rows[y, 1:].astype(np.int64)
        cur = np.zeros(row_bytes, np.int64)
        for x in range(row_bytes):
            left = cur[x - bpp] if x >= bpp else 0
            cur[x] = (line[x] + (left + prior[x]) // 2) % 256
        out[y] = cur
        prior = cur
    return out.astype(np.uint8)


@pytest.mark.parametrize("kind", ["gray8", "gray_alpha8", "rgb8", "rgba8", "gray16",
                                  "gray_alpha16", "rgb16", "rgba16"])
def test_every_layout_reads_back_identically(coffee, kind, monkeypatch):
    monkeypatch.setattr(png, "STRIP_BYTES", 5_000)  # many strips, some rows odd-sized
    image = _variants(coffee[:157, :203])[kind]
    data = b"".join(png.encode_png(image))
    assert sum(k == b"IDAT" for k, _ in png.iter_chunks(data)) > 3
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        if image.dtype == np.uint16 and image.ndim == 3:
            pass  # Pillow reads 16-bit colour as 8 bits; OpenCV checks those below
        elif image.dtype == np.uint16:
            np.testing.assert_array_equal(np.asarray(im).astype(np.uint16), image)
        else:
            np.testing.assert_array_equal(np.asarray(im), image)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image.ndim == 3 and image.shape[2] == 2:  # OpenCV gives gray+alpha as BGRA
        decoded = np.dstack([decoded[..., 0], decoded[..., 3]])
    elif image.ndim == 3:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB if image.shape[2] == 3
                               else cv2.COLOR_BGRA2RGBA)
    np.testing.assert_array_equal(decoded, image)
    # zlib itself checks the stream and the combined Adler-32 of all the strips
    raw = zlib.decompress(_idat_stream(data))
    channels = 1 if image.ndim == 2 else image.shape[2]
    assert len(raw) == image.shape[0] * (image.shape[1] * channels * image.itemsize + 1)


def test_average_filter_matches_the_specs_reconstruction(chelsea):
    image = chelsea[:9, :31]
    data = b"".join(png.encode_png(image))
    rows = _unfilter_average(zlib.decompress(_idat_stream(data)), 9, 31 * 3, 3)
    np.testing.assert_array_equal(rows.reshape(image.shape), image)


def test_adler32_combine_matches_zlib(astronaut):
    a, b = astronaut[:100].tobytes(), astronaut[100:101, :7].tobytes()
    combined = png._adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b))
    assert combined == zlib.adler32(a + b)


def test_same_bytes_on_one_core_as_on_all(astronaut, monkeypatch):
    image = _tiles(astronaut, 1200, 1100)
    everywhere = b"".join(png.encode_png(image))
    monkeypatch.setattr(parallel, "workers", lambda: 1)
    assert b"".join(png.encode_png(image)) == everywhere


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
def test_size_within_5_percent_of_pillows_default(request, name):
    photo = request.getfixturevalue(name)
    pillow = io.BytesIO()
    Image.fromarray(photo).save(pillow, format="PNG", compress_level=6)
    ours = len(b"".join(png.encode_png(photo)))
    assert abs(ours / len(pillow.getvalue()) - 1) <= 0.05


def test_save_image_writes_strips_with_metadata(tmp_path, astronaut):
    from tests.test_io import camera_exif, srgb_icc

    image = _tiles(astronaut, 2100, 2000)  # 12.6 MB of rows: several strips
    path = tmp_path / "big.png"
    icc = srgb_icc()  # made once: the profile carries its creation time
    assert save_image(path, image, icc_profile=icc, exif=camera_exif(6)) == []
    kinds = [k for k, _ in png.iter_chunks(path.read_bytes())]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and kinds.count(b"IDAT") >= 3
    back = load_image(path)
    np.testing.assert_array_equal(back.pixels, image)  # orientation was reset to 1
    assert back.icc_profile == icc
    exif = Image.Exif()
    exif.load(back.exif)
    assert exif[0x010F] == "Convolve Test Camera" and exif[0x0112] == 1


def test_refuses_what_png_cannot_hold():
    with pytest.raises(ValueError, match="8- or 16-bit"):
        png.encode_png(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="shape"):
        png.encode_png(np.zeros((4, 4, 5), np.uint8))
