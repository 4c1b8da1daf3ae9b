"""Ops that run in row strips on every core (editor/core/parallel.py): on photos large
enough for many strips they give what one whole-image call gives, and the same on one
core as on all."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import editor.core.parallel as parallel
from editor.core.image import apply_lut
from editor.ops.features import gray_float
from editor.ops.tone import histogram
from tests.conftest import run

B = cv2.BORDER_REFLECT_101


@pytest.fixture(scope="module")
def big(astronaut) -> np.ndarray:
    """A real photo tiled to 1100 x 1700 RGB: 5.6 MB, a few dozen 1 MB strips."""
    return np.ascontiguousarray(np.tile(astronaut, (3, 4, 1))[:1100, :1700])


def _whole_strength(g: np.ndarray, like: np.ndarray) -> np.ndarray:
    gray = cv2.convertScaleAbs(g)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB) if like.ndim == 3 else gray


def _whole_magnitude(gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    m = np.square(gx)
    m += np.square(gy)
    return np.sqrt(m, out=m)


def test_edges_in_strips_equal_one_whole_image_pass(big):
    gray = cv2.cvtColor(big, cv2.COLOR_RGB2GRAY)
    sx = [cv2.Sobel(gray, cv2.CV_32F, *d, ksize=3, scale=0.25, borderType=B)
          for d in ((1, 0), (0, 1))]
    np.testing.assert_array_equal(run("sobel", big), _whole_strength(_whole_magnitude(*sx), big))
    np.testing.assert_array_equal(run("sobel", big, direction="y"), _whole_strength(sx[1], big))
    kx = np.array([[-1, 0, 1]] * 3, np.float32) / 3
    px = [cv2.filter2D(gray, cv2.CV_32F, k, borderType=B) for k in (kx, np.ascontiguousarray(kx.T))]
    np.testing.assert_array_equal(run("prewitt", big), _whole_strength(_whole_magnitude(*px), big))
    lap = cv2.Laplacian(gray, cv2.CV_32F, ksize=1, borderType=B)
    np.testing.assert_array_equal(run("laplacian", big), _whole_strength(lap, big))


def test_canny_in_strips_equals_one_whole_image_pass(big):
    gray = cv2.cvtColor(big, cv2.COLOR_RGB2GRAY)
    fixed = cv2.GaussianBlur(gray.astype(np.int16) * np.int16(16), (11, 11), 1.5, borderType=B)
    dx = cv2.Sobel(fixed, cv2.CV_16S, 1, 0, ksize=3, borderType=B)
    dy = cv2.Sobel(fixed, cv2.CV_16S, 0, 1, ksize=3, borderType=B)
    edges = cv2.Canny(dx, dy, 8 * 64, 20 * 64, L2gradient=True)
    np.testing.assert_array_equal(run("canny", big, output="burn")[..., 0], edges)


@pytest.mark.parametrize("name,params", [("sobel", {}), ("laplacian", {}),
                                         ("canny", {"output": "burn"}), ("median", {"size": 7}),
                                         ("contrast", {"amount": 0.4}),
                                         ("curves", {"points": [(0, 0), (90, 60),
                                                                (255, 255)]}),
                                         ("equalize", {"mode": "per_channel"}),
                                         ("auto_contrast", {"clip": 1.0})])
def test_same_result_on_one_core(big, monkeypatch, name, params):
    everywhere = run(name, big, **params)
    monkeypatch.setattr(parallel, "workers", lambda: 1)
    np.testing.assert_array_equal(run(name, big, **params), everywhere)


def test_median_matches_opencv_on_reflected_borders(big):
    padded = cv2.copyMakeBorder(big, 7, 7, 7, 7, B)
    np.testing.assert_array_equal(run("median", big, size=15),
                                  cv2.medianBlur(padded, 15)[7:-7, 7:-7])


def test_lookup_tables_in_strips(big):
    rng = np.random.default_rng(3)
    lut = rng.integers(0, 256, 256).astype(np.uint8)
    per_channel = rng.integers(0, 256, (256, 3)).astype(np.uint8)
    np.testing.assert_array_equal(apply_lut(big, lut), lut[big])
    np.testing.assert_array_equal(apply_lut(big, per_channel),
                                  np.dstack([per_channel[:, c][big[..., c]] for c in range(3)]))
    wide = big.astype(np.uint16) * 257
    lut16 = rng.integers(0, 65536, 65536).astype(np.uint16)
    np.testing.assert_array_equal(apply_lut(wide, lut16), lut16[wide])


def test_histogram_counts_exactly_past_float32(big):
    """calcHist counts in float32: one call over 2**24 + 1 equal samples says 2**24.
    Summed per strip in integers, the count is exact."""
    flat = np.full((4097, 4097), 200, np.uint8)  # 16,785,409 samples, odd, > 2**24
    counts = histogram(flat)
    assert counts[200] == 4097 * 4097 and counts.sum() == flat.size
    np.testing.assert_array_equal(histogram(big), np.bincount(big.ravel(), minlength=256))


def test_float_luma_in_strips_equals_one_pass(big):
    weights = np.float32([[0.2126, 0.7152, 0.0722]])
    np.testing.assert_array_equal(gray_float(big), cv2.transform(big.astype(np.float32),
                                                                 weights))
