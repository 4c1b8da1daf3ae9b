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
