"""Histogram counts and statistics against NumPy on real photos."""

import numpy as np
import pytest

from editor.core import kernels
from editor.core.histogram import compute_histogram
from editor.core.image import luminance

BT709 = np.array([0.2126, 0.7152, 0.0722])


@pytest.fixture(autouse=True, params=["opencv", "compiled"])
def counting(request, monkeypatch):
    """Every test twice: counted by OpenCV (until a process has loaded the compiled
    counters) and by the compiled counters (after)."""
    if request.param == "compiled":
        kernels.warm_up_counters()
    monkeypatch.setattr(kernels, "_counters_ready", request.param == "compiled")
    return request.param


def test_either_way_of_counting_patches_the_other(coffee, monkeypatch):
    # an image opened before the counters loaded, edited after: one histogram
    box = (slice(40, 300), slice(100, 500))
    after = coffee.copy()
    after[box] = coffee[box][:, ::-1] // 2
    monkeypatch.setattr(kernels, "_counters_ready", False)
    before = compute_histogram(coffee)
    kernels.warm_up_counters()
    assert kernels.counters_ready()
    patched = before.patched(coffee[box], after[box])
    monkeypatch.setattr(kernels, "_counters_ready", False)
    direct = compute_histogram(after)
    for c in "rgbl":
        np.testing.assert_array_equal(patched.counts[c], direct.counts[c])


def test_rgb_counts_match_numpy_histogram(coffee):
    h = compute_histogram(coffee)
    for i, c in enumerate("rgb"):
        expected, _ = np.histogram(coffee[..., i], bins=256, range=(0, 256))
        np.testing.assert_array_equal(h.counts[c], expected)  # exact: integer counts


def test_luminance_counts_match_rounded_bt709(chelsea):
    h = compute_histogram(chelsea)
    y = np.clip(np.rint(chelsea.astype(np.float64) @ BT709), 0, 255)
    expected, _ = np.histogram(y, bins=256, range=(0, 256))
    # cv2.transform and np.rint may round an exact .5 differently (float32 vs
    # float64 sums): allow a few pixels in total to move by one bin.
    assert np.abs(h.counts["l"] - expected).sum() <= 0.001 * y.size
    assert h.counts["l"].sum() == y.size


def test_statistics_match_numpy(astronaut):
    h = compute_histogram(astronaut)
    for i, c in enumerate("rgb"):
        ch = astronaut[..., i].astype(np.float64)
        s = h.stats[c]
        assert s.mean == pytest.approx(ch.mean(), rel=1e-9)
        assert s.std == pytest.approx(ch.std(), rel=1e-9)
        assert s.median == np.median(ch)
        assert (s.min, s.max) == (ch.min(), ch.max())


def test_uint16_counts_are_exact_and_fold_to_256_bins(coffee):
    img16 = coffee.astype(np.uint16) * 257 + np.arange(coffee.shape[1], dtype=np.uint16)[
        None, :, None] % 200
    h = compute_histogram(img16)
    assert h.top == 65535 and len(h.counts["r"]) == 65536
    expected, _ = np.histogram(img16[..., 0], bins=256, range=(0, 65536))
    np.testing.assert_array_equal(h.display_counts("r"), expected)
    assert h.stats["g"].median == np.median(img16[..., 1])
    assert h.stats["b"].mean == pytest.approx(img16[..., 2].mean(), rel=1e-9)


def test_alpha_is_ignored_and_gray_has_luma_only(coffee):
    rgba = np.dstack([coffee, np.zeros(coffee.shape[:2], np.uint8)])
    a, b = compute_histogram(rgba), compute_histogram(coffee)
    for c in "rgbl":
        np.testing.assert_array_equal(a.counts[c], b.counts[c])
    gray = coffee[..., 1]
    g = compute_histogram(gray)
    assert set(g.counts) == {"l"}
    np.testing.assert_array_equal(g.counts["l"], np.bincount(gray.ravel(), minlength=256))


def test_counts_stay_exact_beyond_float32_integers():
    # calcHist counts in float32, where 2**24 + 1 == 2**24: one value filling a 17 MP
    # photo must still be counted to the pixel
    flat = np.full((4201, 4101, 3), 7, np.uint8)  # an odd count: no float32 holds it
    h = compute_histogram(flat)
    assert 4201 * 4101 > 2**24
    assert all(int(h.counts[c][7]) == 4201 * 4101 for c in "rgbl")


@pytest.mark.parametrize("layout", ["rgb", "rgb16", "rgba", "gray"])
def test_patched_histogram_equals_the_edited_images(coffee, layout):
    img = {"rgb": coffee, "rgb16": coffee.astype(np.uint16) * 257 + 3,
           "rgba": np.dstack([coffee, coffee[..., :1]]), "gray": coffee[..., 0].copy()}[layout]
    after = img.copy()
    box = (slice(50, 190), slice(120, 400))
    after[box] = img[box][::-1, ::-1]  # pixels of other values moved in
    after[60:70, 130:140] = 0
    patched = compute_histogram(img).patched(img[box], after[box])
    direct = compute_histogram(after)
    assert set(patched.counts) == set(direct.counts)
    for c in direct.counts:
        np.testing.assert_array_equal(patched.counts[c], direct.counts[c])
        assert patched.stats[c] == direct.stats[c]
    assert not all(np.array_equal(patched.counts[c], compute_histogram(img).counts[c])
                   for c in direct.counts)


@pytest.mark.parametrize("layout", ["rgb", "rgba", "strided", "rgb16", "one_row"])
def test_luminance_is_the_bt709_weighted_sum(astronaut, layout):
    img = {"rgb": astronaut, "rgba": np.dstack([astronaut, astronaut[..., :1]]),
           "strided": astronaut[::3, ::2], "rgb16": astronaut.astype(np.uint16) * 257,
           "one_row": astronaut[:1]}[layout]
    y = luminance(img)
    assert y.dtype == np.float32 and y.shape == img.shape[:2]
    expected = img[..., :3].astype(np.float64) @ BT709
    assert np.abs(y - expected).max() <= 1e-6 * img.max() * 4  # float32 rounding only
