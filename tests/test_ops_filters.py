"""Filters (editor/ops/filters.py) against independent implementations on real photos.

The ops run on OpenCV, so every reference here is scipy.ndimage, scikit-image or a
direct NumPy formulation, with the same reflect-101 border (scipy ``mode="mirror"``,
NumPy ``pad(mode="reflect")``). Photos are cropped to at most 256 px to stay fast.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_photo, max_diff, psnr, reporting_context, rounded
from scipy import ndimage as ndi

from editor.core.context import Cancelled, OpContext
from editor.ops import ParamError, filters, get_op, run_op
from editor.ops.filters import (
    KERNEL_PRESETS,
    describe_frequency_response,
    effective_kernel,
    gaussian_ksize,
    kernel_frequency_response,
    kernel_preset,
)

FILTER_OPS = ("mean_blur", "gaussian_blur", "median", "min_filter", "max_filter", "bilateral",
              "sharpen", "unsharp_mask", "emboss", "convolve")


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    return load_photo("astronaut.png")[100:356, 100:356].copy()


@pytest.fixture(scope="module")
def cat() -> np.ndarray:
    return load_photo("chelsea.png")[:200, 100:300].copy()


def per_channel(fn, image: np.ndarray) -> np.ndarray:
    """Apply a 2-D reference to each channel (scipy would otherwise filter across them)."""
    if image.ndim == 2:
        return fn(image)
    return np.dstack([fn(image[..., c]) for c in range(image.shape[2])])


# -- policy: dtype, alpha, input untouched, errors ----------------------------------------

@pytest.mark.parametrize("name", FILTER_OPS)
def test_policy_dtype_alpha_and_input(name, cat):
    """16-bit stays 16-bit (and matches 8-bit x 257), alpha passes through, input kept."""
    spec = get_op(name)
    alpha = np.linspace(0, 255, cat.shape[1], dtype=np.uint8)[None, :].repeat(cat.shape[0], 0)
    rgba = np.dstack([cat, alpha])
    rgba.setflags(write=False)  # writing the input would raise
    out = spec(rgba)
    assert out.dtype == np.uint8 and out.shape == rgba.shape
    np.testing.assert_array_equal(out[..., 3], alpha)

    img16 = cat.astype(np.uint16) * 257
    out16 = spec(img16)
    assert out16.dtype == np.uint16 and out16.shape == img16.shape
    # Same look on both depths: the 16-bit result, brought to 8 bit, is within about
    # one level of the 8-bit one (8-bit rounds once more; the Gaussian truncates at
    # 3 sigma in 8 bit and 4 sigma in 16 bit), so PSNR >= 40 dB.
    assert psnr(out16 / 257.0, out[..., :3]) >= 40
    gray = spec(cat[..., 1])
    assert gray.shape == cat.shape[:2]


def test_parameters_out_of_range_are_rejected_before_work(cat):
    with pytest.raises(ParamError, match="size must be between 1 and 501"):
        get_op("mean_blur")(cat, size=0)
    with pytest.raises(ParamError, match="sigma_space"):
        get_op("bilateral")(cat, sigma_space=0)
    with pytest.raises(ParamError, match="amount"):
        get_op("sharpen")(cat, amount=-1)
    with pytest.raises(ParamError, match="31x31"):
        get_op("convolve")(cat, kernel=np.ones((40, 3)).tolist())
    with pytest.raises(ParamError, match="kernel"):
        get_op("convolve")(cat, kernel=[[1, 2], [3]])
    with pytest.raises(ParamError, match="offset"):
        get_op("convolve")(cat, offset=300)


def test_even_sizes_round_up_and_preview_scaling_keeps_sizes_odd(cat):
    """An even size means the next odd one; a scaled size is still a valid window."""
    np.testing.assert_array_equal(get_op("median")(cat, size=4), get_op("median")(cat, size=5))
    ctx = OpContext(preview_scale=0.5)  # size 5 * 0.5 -> 2 after rounding -> 3
    out = run_op(get_op("median"), cat, {"size": 5}, ctx)
    np.testing.assert_array_equal(out, get_op("median")(cat, size=3))


# -- each op against an independent implementation --------------------------------------

@pytest.mark.parametrize("size", [3, 5, 9])
def test_mean_blur_matches_scipy_uniform_filter(crop, size):
    ref = per_channel(lambda c: ndi.uniform_filter(c.astype(float), size, mode="mirror"), crop)
    out = get_op("mean_blur")(crop, size=size)
    # OpenCV sums integers and rounds once; the float mean rounds the same way, so the
    # results are equal up to float ties (|diff| <= 0.5 before rounding).
    assert np.abs(out - ref).max() <= 0.5 + 1e-6


@pytest.mark.parametrize("sigma", [0.8, 2.0, 5.0])
def test_gaussian_blur_matches_scipy_with_same_sigma_and_border(crop, sigma):
    k = gaussian_ksize(sigma, np.uint8)
    ref = per_channel(lambda c: ndi.gaussian_filter(
        c.astype(float), sigma, truncate=(k // 2) / sigma, mode="mirror"), crop)
    out = get_op("gaussian_blur")(crop, sigma=sigma)
    # The bar: PSNR >= 45 dB. OpenCV's 8-bit Gaussian is fixed point
    # (coefficients with 16 fractional bits) and rounds once: measured ~58.7 dB.
    assert psnr(out, ref) >= 45
    assert np.abs(out - ref).max() <= 1.5

    img16 = crop.astype(np.uint16) * 257 + 100
    k16 = gaussian_ksize(sigma, np.uint16)
    ref16 = per_channel(lambda c: ndi.gaussian_filter(
        c.astype(float), sigma, truncate=(k16 // 2) / sigma, mode="mirror"), img16)
    assert psnr(get_op("gaussian_blur")(img16, sigma=sigma), ref16, peak=65535) >= 90


@pytest.mark.parametrize("size", [3, 5, 9, 15])
def test_median_exact_against_scipy_including_borders(crop, size):
    """medianBlur replicates edges; our padding makes it reflect-101 -> exact everywhere."""
    ref = per_channel(lambda c: ndi.median_filter(c, size, mode="mirror"), crop)
    np.testing.assert_array_equal(get_op("median")(crop, size=size), ref)


@pytest.mark.parametrize("size", [3, 7])
def test_median_16bit_exact_against_numpy(size):
    """16-bit, including size > 5 (the scipy fallback), against a NumPy sliding window."""
    img = (load_photo("coffee.png")[:64, :80, 0].astype(np.uint16) * 257
           + np.arange(80, dtype=np.uint16))  # use the low byte too
    r = size // 2
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(img, r, mode="reflect"),
                                                       (size, size))
    ref = np.median(windows, axis=(-2, -1))
    np.testing.assert_array_equal(get_op("median")(img, size=size), ref)


@pytest.mark.parametrize("size", [3, 7])
def test_min_max_exact_against_scipy(crop, size):
    ref_min = per_channel(lambda c: ndi.minimum_filter(c, size, mode="mirror"), crop)
    ref_max = per_channel(lambda c: ndi.maximum_filter(c, size, mode="mirror"), crop)
    np.testing.assert_array_equal(get_op("min_filter")(crop, size=size), ref_min)
    np.testing.assert_array_equal(get_op("max_filter")(crop, size=size), ref_max)


def bilateral_reference(image: np.ndarray, sigma_space: float, sigma_color: float):
    """Direct NumPy bilateral: disc window of radius round(1.5 sigma), L1 colour distance."""
    r = max(1, int(round(1.5 * sigma_space)))
    f = image.astype(np.float64)
    f = f if f.ndim == 3 else f[..., None]
    padded = np.pad(f, ((r, r), (r, r), (0, 0)), mode="reflect")
    h, w = f.shape[:2]
    num, den = np.zeros_like(f), np.zeros((h, w))
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dy * dy + dx * dx > r * r:
                continue
            nb = padded[r + dy:r + dy + h, r + dx:r + dx + w]
            dist = np.abs(nb - f).sum(axis=-1)
            wgt = np.exp(-(dy * dy + dx * dx) / (2 * sigma_space**2)
                         - dist**2 / (2 * sigma_color**2))
            num += wgt[..., None] * nb
            den += wgt
    out = num / den[..., None]
    return out if image.ndim == 3 else out[..., 0]


@pytest.mark.parametrize(("sigma_space", "sigma_color"), [(2.0, 25.0), (3.0, 40.0)])
def test_bilateral_matches_direct_formula(cat, sigma_space, sigma_color):
    img = cat[:120, :120]
    ref = bilateral_reference(img, sigma_space, sigma_color)
    out = get_op("bilateral")(img, sigma_space=sigma_space, sigma_color=sigma_color)
    # OpenCV tabulates both Gaussians exactly for 8 bit: only the final rounding
    # differs (measured |diff| <= 0.5, 58.9 dB).
    assert np.abs(out - ref).max() <= 1.0
    assert psnr(out, ref) >= 50
    gray = get_op("bilateral")(img[..., 0], sigma_space=sigma_space, sigma_color=sigma_color)
    assert np.abs(gray - bilateral_reference(img[..., 0], sigma_space, sigma_color)).max() <= 1
    # 16 bit goes through OpenCV's float path, which interpolates the range
    # Gaussian from a table: within 0.01 of an 8-bit level.
    out16 = get_op("bilateral")(img.astype(np.uint16) * 257, sigma_space=sigma_space,
                                sigma_color=sigma_color)
    assert np.abs(out16 / 257 - ref).max() <= 0.01


@pytest.mark.parametrize("amount", [0.5, 1.0, 3.0])
def test_sharpen_matches_scipy_convolve(crop, amount):
    a = amount
    kernel = np.array([[0, -a, 0], [-a, 1 + 4 * a, -a], [0, -a, 0]])
    ref = per_channel(lambda c: ndi.convolve(c.astype(float), kernel, mode="mirror"), crop)
    # float32 kernel in OpenCV vs float64 here: equal after rounding except at ties.
    assert max_diff(get_op("sharpen")(crop, amount=amount), rounded(ref)) <= 1


@pytest.mark.parametrize(("radius", "amount"), [(1.0, 1.0), (3.0, 0.5)])
def test_unsharp_mask_matches_scikit_image(crop, radius, amount):
    from skimage.filters import unsharp_mask as sk_unsharp

    ref = np.clip(per_channel(lambda c: sk_unsharp(c, radius=radius, amount=amount,
                                                   preserve_range=True), crop), 0, 255)
    out = get_op("unsharp_mask")(crop, radius=radius, amount=amount)
    # scikit-image blurs with scipy's "reflect" border (not reflect-101) and
    # truncates at 4 sigma (ours 3 sigma in 8 bit): compare away from the border,
    # where only the tail truncation and rounding differ (measured 56-59 dB).
    m = int(4 * radius) + 2
    assert psnr(out[m:-m, m:-m], ref[m:-m, m:-m]) >= 45


def test_unsharp_mask_threshold_leaves_small_differences_alone(crop):
    out = get_op("unsharp_mask")(crop, radius=2.0, amount=1.0, threshold=10)
    blurred = get_op("gaussian_blur")(crop, sigma=2.0).astype(float)
    diff = crop - blurred
    expected = np.where(np.abs(diff) >= 10, rounded(crop + diff), crop)
    assert max_diff(out, expected) <= 1
    assert (out == crop).mean() > 0.3  # smooth areas really are untouched


@pytest.mark.parametrize("angle", [0.0, 45.0, 200.0])
def test_emboss_matches_scipy_correlate(crop, angle):
    t = np.deg2rad(angle)
    sx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]) / 4
    kernel = 2.0 * (np.cos(t) * sx - np.sin(t) * sx.T)
    ref = per_channel(lambda c: ndi.correlate(c.astype(float), kernel, mode="mirror"), crop)
    out = get_op("emboss")(crop, angle=angle, strength=2.0)
    assert max_diff(out, rounded(ref + 128)) <= 1


def test_emboss_lights_edges_facing_the_angle():
    step = np.zeros((20, 20), np.uint8)
    step[:, 10:] = 200  # bright on the right
    from_right = get_op("emboss")(step, angle=0.0)
    from_left = get_op("emboss")(step, angle=180.0)
    assert from_right[10, 10] > 128 > from_left[10, 10]
    assert from_right[10, 2] == 128  # flat areas are mid-gray


@pytest.mark.parametrize("shape", [(3, 3), (5, 5), (2, 3), (4, 4), (1, 7), (15, 15)])
def test_convolve_is_true_convolution_like_scipy(crop, shape):
    """Odd, even and non-square kernels; 15x15 takes OpenCV's DFT path."""
    kernel = np.random.default_rng(sum(shape)).normal(size=shape) / np.prod(shape) ** 0.5
    ref = per_channel(lambda c: ndi.convolve(c.astype(float), kernel, mode="mirror"), crop)
    out = get_op("convolve")(crop, kernel=kernel.tolist(), normalize=False, offset=20)
    assert max_diff(out, rounded(ref + 20)) <= 1


def test_convolve_flips_the_kernel_and_normalizes(crop):
    impulse = np.zeros((7, 7), np.uint8)
    impulse[3, 3] = 100
    # Convolving an impulse draws the kernel itself (correlation would draw it flipped).
    kernel = np.array([[0, 0, 0.5], [1, 0, 0], [0, 0.25, 0]])
    out = get_op("convolve")(impulse, kernel=kernel.tolist(), normalize=False)
    np.testing.assert_array_equal(out[2:5, 2:5], kernel * 100)
    # normalize: 1,2,1 binomial blur keeps brightness (sum 16 divided out)
    binomial = np.outer([1, 2, 1], [1, 2, 1])
    out = get_op("convolve")(crop, kernel=binomial.tolist(), normalize=True)
    ref = per_channel(lambda c: ndi.convolve(c.astype(float), binomial / 16, mode="mirror"), crop)
    assert max_diff(out, rounded(ref)) <= 1
    # zero-sum kernels are not divided; the offset is scaled by 257 in 16 bit
    lap = [[0, 1, 0], [1, -4, 1], [0, 1, 0]]
    img16 = crop.astype(np.uint16) * 257
    out16 = get_op("convolve")(img16, kernel=lap, normalize=True, offset=128)
    ref16 = per_channel(lambda c: ndi.convolve(c.astype(float), np.array(lap), mode="mirror"),
                        img16)
    assert max_diff(out16, rounded(ref16 + 128 * 257, 65535)) <= 1


# -- strips, progress and cancel -----------------------------------------------------------

def test_strips_give_the_same_result_and_report_progress(cat, monkeypatch):
    whole = get_op("bilateral")(cat, sigma_space=3.0)
    whole_median = get_op("median")(cat, size=9)
    monkeypatch.setattr(filters, "STRIP_BUDGET", 2e5)  # force many strips
    ctx, reports = reporting_context()
    np.testing.assert_array_equal(run_op(get_op("bilateral"), cat, {"sigma_space": 3.0}, ctx),
                                  whole)
    fractions = reports.fractions
    assert len(fractions) > 3 and fractions == sorted(fractions) and fractions[-1] == 1.0
    np.testing.assert_array_equal(get_op("median")(cat, size=9), whole_median)


@pytest.mark.parametrize(("name", "params"), [("bilateral", {"sigma_space": 3.0}),
                                              ("median", {"size": 9})])
def test_cancel_after_first_report_raises(cat, monkeypatch, name, params):
    monkeypatch.setattr(filters, "STRIP_BUDGET", 2e5)
    ctx, reports = reporting_context(cancel_when=lambda f, m: True)
    with pytest.raises(Cancelled):
        run_op(get_op(name), cat, params, ctx)
    assert len(reports) == 1


# -- kernel presets and frequency response ------------------------------------------------

def test_frequency_response_of_mean_is_low_pass():
    h = kernel_frequency_response(np.ones((3, 3)) / 9, size=64)
    assert h.shape == (64, 64)
    assert h[32, 32] == pytest.approx(1.0) and h.max() == pytest.approx(1.0)
    # 1-D response (1 + 2 cos w) / 3: zero at w = 2 pi / 3, 1/3 at Nyquist
    assert h[32, 0] == pytest.approx(1 / 3)
    axis = h[32, 32:]
    assert np.all(np.diff(axis[:21]) < 0)  # falls from DC up to the first zero
    assert "low-pass" in describe_frequency_response(np.ones((5, 5)))


def test_frequency_response_of_laplacian_is_high_pass():
    h = kernel_frequency_response(kernel_preset("laplacian", 3))
    assert h[32, 32] == pytest.approx(0.0, abs=1e-12)
    assert h[0, 0] == pytest.approx(8.0)  # 4 - 2cos(pi) - 2cos(pi) at the corner
    assert "high-pass" in describe_frequency_response(kernel_preset("laplacian", 3))
    assert "high-boost" in describe_frequency_response(
        effective_kernel(kernel_preset("sharpen", 3)))


def test_frequency_response_matches_direct_dtft():
    """|H| against the DTFT sum evaluated directly at a few frequencies."""
    k = kernel_preset("sobel_x", 5)
    h = kernel_frequency_response(k, size=32)
    for i, j in [(16, 20), (3, 9), (25, 30)]:
        fy, fx = (i - 16) / 32, (j - 16) / 32
        yy, xx = np.mgrid[:5, :5]
        direct = abs(np.sum(k * np.exp(-2j * np.pi * (fy * yy + fx * xx))))
        assert h[i, j] == pytest.approx(direct)


@pytest.mark.parametrize("size", [3, 5, 7, 9])
@pytest.mark.parametrize("name", KERNEL_PRESETS)
def test_presets_behave_as_named(name, size):
    k = kernel_preset(name, size)
    assert k.shape == (size, size) and np.all(k == np.round(k))  # whole numbers
    ramp = np.tile(np.arange(40.0) * 3, (40, 1))  # brightness rising to the right
    flat_sum = k.sum()
    if name in ("mean", "gaussian", "sharpen", "emboss"):
        assert flat_sum > 0  # brightness kept once divided by the sum
    if name in ("sobel_x", "sobel_y", "laplacian"):
        assert flat_sum == 0
    if name == "sobel_x":  # as a convolution kernel it gives +d/dx
        assert ndi.convolve(ramp, k)[20, 20] > 0
        assert ndi.convolve(ramp.T, k)[20, 20] == 0
    if name == "sobel_y":
        assert ndi.convolve(ramp.T, k)[20, 20] > 0
    if name == "laplacian":
        assert ndi.convolve(ramp, k)[20, 20] == 0  # no response to a linear ramp


def test_large_gaussian_two_pass_matches_scipy_and_cancels(crop, monkeypatch):
    """sigma 12 (k = 73 > LARGE_KERNEL) takes the two 1-D passes in strips."""
    sigma = 12.0
    k = gaussian_ksize(sigma, np.uint8)
    assert k > filters.LARGE_KERNEL
    ref = per_channel(lambda c: ndi.gaussian_filter(
        c.astype(float), sigma, truncate=(k // 2) / sigma, mode="mirror"), crop)
    monkeypatch.setattr(filters, "STRIP_BUDGET", 2e5)  # many strips each way
    ctx, reports = reporting_context()
    out = run_op(get_op("gaussian_blur"), crop, {"sigma": sigma}, ctx)
    # float32 passes, one final rounding: |diff| <= 0.5 + float error
    assert np.abs(out - ref).max() <= 0.51
    assert len(reports) > 4 and reports.fractions[-1] == 1.0
    ctx, reports = reporting_context(cancel_when=lambda f, m: True)
    with pytest.raises(Cancelled):
        run_op(get_op("gaussian_blur"), crop, {"sigma": sigma}, ctx)
    assert len(reports) == 1


def test_median_on_images_smaller_than_the_window():
    tiny = load_photo("coffee.png")[:6, :9, 0].copy()
    ref = ndi.median_filter(tiny, 7, mode="mirror")
    np.testing.assert_array_equal(get_op("median")(tiny, size=7), ref)
