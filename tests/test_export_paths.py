"""Export and load paths that avoid whole-image copies: the files and pixels are the
same as Pillow's own, and the copies are really gone (tracemalloc sees NumPy's and
Python's allocations)."""

from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from editor.io import load_image, save_image


def _tiled(photo: np.ndarray, height: int, width: int) -> np.ndarray:
    reps = (-(-height // photo.shape[0]), -(-width // photo.shape[1]), 1)
    return np.ascontiguousarray(np.tile(photo, reps)[:height, :width])


@pytest.mark.parametrize("fmt,ext,kw", [("JPEG", "jpg", {"quality": 90}),
                                        ("WEBP", "webp", {"quality": 90, "method": 4})])
def test_rgb_jpeg_and_webp_are_pillows_own_bytes(tmp_path, chelsea, fmt, ext, kw):
    save_image(tmp_path / f"ours.{ext}", chelsea, quality=90)
    buf = io.BytesIO()
    extra = {"lossless": False, "exact": False} if fmt == "WEBP" else \
        {"progressive": False, "optimize": False}
    Image.fromarray(chelsea).save(buf, format=fmt, **kw, **extra)
    assert (tmp_path / f"ours.{ext}").read_bytes() == buf.getvalue()


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_loading_makes_one_copy_of_the_pixels(tmp_path, astronaut, mode):
    image = Image.fromarray(_tiled(astronaut, 2000, 2000)).convert(mode)
    path = tmp_path / "big.png"
    image.save(path, compress_level=1)
    tracemalloc.start()
    try:
        loaded = load_image(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(loaded.pixels, np.asarray(image))
    assert loaded.pixels.flags.writeable
    # the array itself plus pieces of a few MB (np.asarray(im).copy() peaked at 2x)
    assert peak < loaded.pixels.nbytes * 1.05 + (5 << 20)


def test_large_jpeg_in_strips_decodes_to_pillows_pixels(tmp_path, astronaut):
    """Strips encoded on every core and joined by restart markers: a valid JPEG whose
    pixels (Pillow and OpenCV decoding it) are those of Pillow's one-piece file, with
    the metadata once in its header."""
    import cv2

    from editor.io import jpeg
    from tests.test_io import camera_exif, srgb_icc

    image = _tiled(astronaut, 1501, 1999)[:1501, :1997]  # 3 MP, odd sizes
    icc = srgb_icc()
    save_image(tmp_path / "ours.jpg", image, quality=90, icc_profile=icc, exif=camera_exif())
    data = (tmp_path / "ours.jpg").read_bytes()
    assert b"\xff\xdd" in data and b"\xff\xd0" in data  # DRI and restart markers
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=90)
    with Image.open(io.BytesIO(buf.getvalue())) as one, Image.open(tmp_path / "ours.jpg") as im:
        np.testing.assert_array_equal(np.asarray(im), np.asarray(one))
        assert im.info["icc_profile"] == icc
        assert im.getexif()[0x010F] == "Convolve Test Camera"
    ours_cv = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    one_cv = cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(ours_cv, one_cv)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    gray_data = jpeg.encode_jpeg(gray, quality=75)
    buf = io.BytesIO()
    Image.fromarray(gray).save(buf, format="JPEG", quality=75)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(gray_data))),
                                  np.asarray(Image.open(buf)))
    assert jpeg.encode_jpeg(image[:500, :500], quality=90) is None  # small: one piece
