"""ndarray -> QImage/QPixmap: every dtype and layout comes back as the same pixels."""

from __future__ import annotations

import gc

import cv2
import numpy as np
import pytest
from conftest import psnr
from PySide6.QtGui import QImage

from editor.ui.qimage import qimage_to_rgb, to_pixmap, to_qimage, wrap_display


def argb(img: QImage) -> np.ndarray:
    """``(H, W, 4)`` A, R, G, B read from a 32-bit QImage's bytes as Qt's ``QRgb`` words."""
    assert img.depth() == 32
    h, w = img.height(), img.width()
    words = np.frombuffer(img.constBits(), np.uint32, count=h * img.bytesPerLine() // 4)
    words = words.reshape(h, img.bytesPerLine() // 4)[:, :w]
    return np.stack([(words >> s) & 0xFF for s in (24, 16, 8, 0)], axis=-1).astype(np.uint8)


def premultiplied(rgba: np.ndarray) -> np.ndarray:
    a = rgba[..., 3:].astype(np.float64)
    return np.dstack([np.rint(rgba[..., :3] * a / 255.0), a]).astype(np.uint8)


@pytest.fixture(scope="module")
def photo(coffee) -> np.ndarray:
    return coffee[:200, :300].copy()


def test_rgb8_round_trips_exactly(photo):
    img = to_qimage(photo)
    assert img.format() == QImage.Format.Format_RGB32
    assert (img.width(), img.height()) == (photo.shape[1], photo.shape[0])
    px = argb(img)
    np.testing.assert_array_equal(px[..., 1:], photo)
    assert (px[..., 0] == 255).all()
    # Qt's own reader agrees with the byte view
    r, g, b = photo[17, 42]
    assert img.pixel(42, 17) == 0xFF000000 | (int(r) << 16) | (int(g) << 8) | int(b)


def test_grey8_round_trips_to_equal_channels(photo):
    grey = np.ascontiguousarray(photo[..., 1])
    px = argb(to_qimage(grey))
    for c in (1, 2, 3):
        np.testing.assert_array_equal(px[..., c], grey)


def test_uint16_rounds_to_nearest_8_bit(photo):
    exact = photo.astype(np.uint16) * 257
    np.testing.assert_array_equal(argb(to_qimage(exact))[..., 1:], photo)
    # values between the 8-bit steps round to the nearest one (v / 257)
    rng = np.random.default_rng(3)
    wide = (exact + rng.integers(-128, 129, exact.shape)).clip(0, 65535).astype(np.uint16)
    expected = np.rint(wide / 257.0).astype(np.uint8)
    np.testing.assert_array_equal(argb(to_qimage(wide))[..., 1:], expected)
    grey16 = np.ascontiguousarray(wide[..., 0])
    np.testing.assert_array_equal(argb(to_qimage(grey16))[..., 2], expected[..., 0])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_rgba_is_premultiplied_with_alpha_kept(photo, dtype):
    h, w = photo.shape[:2]
    alpha = np.tile(np.linspace(0, 255, w).round().astype(np.uint8), (h, 1))
    rgba8 = np.dstack([photo, alpha])
    rgba = rgba8.astype(dtype) * (257 if dtype == np.uint16 else 1)
    img = to_qimage(rgba)
    assert img.format() == QImage.Format.Format_ARGB32_Premultiplied
    px = argb(img)
    np.testing.assert_array_equal(px[..., 0], alpha)
    expected = premultiplied(rgba8)
    assert np.abs(px[..., 1:].astype(int) - expected[..., :3]).max() <= 1
    opaque = alpha == 255
    np.testing.assert_array_equal(px[opaque][:, 1:], photo[opaque])


def test_views_and_strided_arrays_convert(photo):
    view = photo[::2, 1::3]  # not contiguous
    np.testing.assert_array_equal(argb(to_qimage(view))[..., 1:], view)
    bgr_view = photo[..., ::-1]
    np.testing.assert_array_equal(argb(to_qimage(bgr_view))[..., 1:], bgr_view)


@pytest.mark.parametrize("max_side", [100, 250])
def test_max_side_shrinks_with_area_averaging(coffee, max_side):
    img = to_qimage(coffee, max_side=max_side)
    h, w = coffee.shape[:2]
    assert max(img.width(), img.height()) == max_side
    assert (img.width(), img.height()) == (round(w * max_side / max(h, w)),
                                           round(h * max_side / max(h, w)))
    expected = cv2.resize(coffee, (img.width(), img.height()), interpolation=cv2.INTER_AREA)
    got = argb(img)[..., 1:]
    if max_side * 4 > max(h, w):  # one area pass: the same pixels
        assert np.abs(got.astype(int) - expected).max() <= 1
    else:  # exact halvings first, then one area pass: close to a single one
        assert psnr(got, expected) > 40
    small = coffee[:50, :60]
    assert (to_qimage(small, max_side=100).width(), to_qimage(small, max_side=100).height()) \
        == (60, 50)  # never enlarged


def test_shrinking_rgba_does_not_bleed_colour_from_transparent_pixels(photo):
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    rgba[:, ::2, :3] = (255, 0, 255)  # magenta where fully transparent
    rgba[:, ::2, 3] = 0
    px = argb(to_qimage(rgba, max_side=photo.shape[1] // 2))
    assert (px[..., 0] > 100).all() and (px[..., 0] < 155).all()  # half covered
    # un-premultiplied colour is the photo's, not a magenta mix
    colour = px[..., 1:].astype(float) * 255 / px[..., :1]
    expected = cv2.resize(photo[:, 1::2], (px.shape[1], px.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(colour - expected).mean() < 4


def test_qimage_and_pixmap_own_their_pixels(qapp, photo):
    src = photo.copy()
    img = to_qimage(src)
    pix = to_pixmap(src)
    src[...] = 0
    del src
    gc.collect()
    _junk = [np.full(photo.shape, 7, np.uint8) for _ in range(20)]  # reuse freed memory
    np.testing.assert_array_equal(argb(img)[..., 1:], photo)
    back = pix.toImage().convertToFormat(QImage.Format.Format_RGB32)
    np.testing.assert_array_equal(argb(back)[..., 1:], photo)
    assert to_pixmap(photo, max_side=64).width() == 64


def test_wrap_display_borrows_the_buffer():
    buf = np.zeros((3, 5, 4), np.uint8)
    img = wrap_display(buf, alpha=False)
    buf[1, 2] = (30, 20, 10, 255)  # B, G, R, A
    assert img.pixel(2, 1) == 0xFF0A141E
    with pytest.raises(ValueError, match="display buffer"):
        wrap_display(np.zeros((3, 5, 3), np.uint8), alpha=False)


def test_qimage_to_rgb_inverts_to_qimage(photo):
    np.testing.assert_array_equal(qimage_to_rgb(to_qimage(photo)), photo)
    rgb888 = np.ascontiguousarray(photo)
    h, w = rgb888.shape[:2]
    other = QImage(rgb888.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    np.testing.assert_array_equal(qimage_to_rgb(other), photo)


def test_unsupported_arrays_are_refused():
    with pytest.raises(ValueError, match="unsupported pixel type"):
        to_qimage(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="unsupported image shape"):
        to_qimage(np.zeros((4, 4, 2), np.uint8))
