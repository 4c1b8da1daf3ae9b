"""Frequency-domain ops checked against direct NumPy formulations on real photos.

The references below build every mask themselves from Gonzalez & Woods' formulas on
``np.fft.fftfreq`` grids and use ``np.fft.fft2`` in float64; the ops use scipy's
DCT-II / real FFT in float32. Tolerance: at most 1 level of 255 (or 65535), because
float32 vs float64 arithmetic can move a value across a .5 rounding boundary, and
nearly all pixels must be identical.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from conftest import assert_pure, psnr

from editor.core.context import Cancelled, OpContext
from editor.core.image import luminance
from editor.ops import ParamError, get_op
from editor.ops.frequency import filter_mask_display, notch_mask


def _crop(photo: np.ndarray, h: int = 96, w: int = 128) -> np.ndarray:
    return np.ascontiguousarray(photo[100:100 + h, 150:150 + w])


def _reference_gain(d: np.ndarray, kind: str, shape: str, c: float, w: float,
                    n: int) -> np.ndarray:
    """Gonzalez & Woods tables 4.6/4.7, written out in float64 (independent of the op)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind in ("lowpass", "highpass"):
            low = {"ideal": (d <= c) * 1.0,
                   "butterworth": 1 / (1 + (d / c) ** (2 * n)),
                   "gaussian": np.exp(-d**2 / (2 * c**2))}[shape]
            return low if kind == "lowpass" else 1 - low
        stop = {"ideal": np.where((d >= c - w / 2) & (d <= c + w / 2), 0.0, 1.0),
                "butterworth": 1 / (1 + (d * w / (d**2 - c**2)) ** (2 * n)),
                "gaussian": 1 - np.exp(-(((d**2 - c**2) / (d * w)) ** 2))}[shape]
        stop = np.nan_to_num(stop, nan=1.0)
        return stop if kind == "bandstop" else 1 - stop


def _reference_fft_filter(image, kind, shape, cutoff, width, order):
    """Symmetric extension (np.pad 'symmetric') + full complex FFT in float64."""
    h, w = image.shape[:2]
    fy = np.fft.fftfreq(2 * h)[:, None] / 0.5  # fraction of Nyquist
    fx = np.fft.fftfreq(2 * w)[None, :] / 0.5
    gain = _reference_gain(np.hypot(fy, fx), kind, shape, cutoff, width, order)
    chans = image[..., None] if image.ndim == 2 else image
    out = np.empty(chans.shape, np.float64)
    for c in range(chans.shape[2]):
        ext = np.pad(chans[..., c].astype(np.float64), ((0, h), (0, w)), mode="symmetric")
        out[..., c] = np.fft.ifft2(np.fft.fft2(ext) * gain).real[:h, :w]
    top = np.iinfo(image.dtype).max
    out = np.clip(np.rint(out), 0, top).astype(image.dtype)
    return out[..., 0] if image.ndim == 2 else out


@pytest.mark.parametrize("kind", ["lowpass", "highpass", "bandpass", "bandstop"])
@pytest.mark.parametrize("shape", ["ideal", "butterworth", "gaussian"])
def test_fft_filter_matches_direct_numpy(astronaut, kind, shape):
    img = _crop(astronaut)
    params = dict(kind=kind, shape=shape, cutoff=0.3, width=0.2, order=3)
    ours = get_op("fft_filter")(img, **params)
    ref = _reference_fft_filter(img, **params)
    diff = np.abs(ours.astype(int) - ref.astype(int))
    assert ours.dtype == np.uint8 and ours.shape == img.shape
    assert diff.max() <= 1  # float32 vs float64 rounding, see module docstring
    assert np.mean(diff == 0) > 0.99
    # the filter did something: not the identity, not a constant
    assert np.abs(ours.astype(int) - img.astype(int)).mean() > 1


def test_fft_filter_has_no_wraparound(coffee):
    """Symmetric extension: a strong blur must not carry the top rows into the bottom."""
    img = _crop(coffee).copy()
    img[:20] = 255
    img[-20:] = 0
    out = get_op("fft_filter")(img, kind="lowpass", shape="gaussian", cutoff=0.05)
    assert out[-5:].max() < 40  # a periodic FFT would pull the white band down here
    # the naive periodic formulation really does bleed, so the check can fail
    g = img[..., 0].astype(float)
    fy, fx = np.meshgrid(np.fft.fftfreq(g.shape[0]) / 0.5, np.fft.fftfreq(g.shape[1]) / 0.5,
                         indexing="ij")
    naive = np.fft.ifft2(np.fft.fft2(g) * np.exp(-(fx**2 + fy**2) / (2 * 0.05**2))).real
    assert naive[-5:].max() > 60


def test_fft_filter_policy_dtype_alpha_gray(chelsea):
    img8 = _crop(chelsea)
    op = get_op("fft_filter")
    p = dict(kind="lowpass", shape="butterworth", cutoff=0.2, order=2)
    out8 = op(img8, **p)
    # 16-bit stays 16-bit and equals the 8-bit result scaled (within rounding)
    out16 = op(img8.astype(np.uint16) * 257, **p)
    assert out16.dtype == np.uint16
    assert np.abs(out16.astype(float) / 257 - out8).max() <= 1.0
    # alpha passes through untouched, colour filtered as without alpha
    alpha = np.random.default_rng(0).integers(0, 256, img8.shape[:2], dtype=np.uint8)
    rgba = np.dstack([img8, alpha])
    out_rgba = op(rgba, **p)
    assert np.array_equal(out_rgba[..., 3], alpha)
    assert np.array_equal(out_rgba[..., :3], out8)
    # grayscale stays 2-D; every colour channel is filtered on its own
    gray = np.ascontiguousarray(img8[..., 1])
    assert np.array_equal(op(gray, **p), out8[..., 1])


def test_fft_filter_leaves_a_read_only_input_untouched(astronaut):
    img = _crop(astronaut)
    params = dict(kind="highpass", shape="ideal", cutoff=0.1)
    out = assert_pure("fft_filter", img, params)
    # the frozen input was really filtered, not passed through
    ref = _reference_fft_filter(img, width=0.1, order=1, **params)
    assert np.abs(out.astype(int) - ref).max() <= 1
    assert np.abs(out.astype(int) - img).mean() > 20


@pytest.mark.parametrize("bad", [dict(cutoff=0.0), dict(cutoff=1.5), dict(order=0),
                                 dict(order=11), dict(kind="notch"), dict(shape="box"),
                                 dict(width=0), dict(cutoff="x")])
def test_fft_filter_rejects_bad_params(bad):
    with pytest.raises(ParamError, match="fft_filter"):
        get_op("fft_filter").bind(bad)


def test_fft_filter_preview_scale_matches_full_resolution(astronaut):
    """On a half-size proxy the cutoff (a fraction of Nyquist) is rescaled by the op."""
    img = astronaut[:256, :256]
    p = dict(kind="lowpass", shape="gaussian", cutoff=0.1)
    full = get_op("fft_filter")(img, **p)
    proxy = cv2.resize(img, (128, 128), interpolation=cv2.INTER_AREA)
    prev = get_op("fft_filter")(proxy, OpContext(preview_scale=0.5), **p)
    unscaled = get_op("fft_filter")(proxy, **p)
    expected = cv2.resize(full, (128, 128), interpolation=cv2.INTER_AREA)
    assert psnr(prev, expected) > 35
    assert psnr(prev, expected) > psnr(unscaled, expected) + 5


def test_fft_filter_cancel():
    ctx = OpContext(cancel_event=threading.Event())
    ctx.cancel()
    with pytest.raises(Cancelled):
        get_op("fft_filter")(np.zeros((32, 32), np.uint8), ctx)


def test_spectrum_matches_numpy_fft(astronaut):
    img = _crop(astronaut, 100, 150)  # odd and even sizes exercise the mirroring
    out = get_op("spectrum")(img)
    luma = img.astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])  # BT.709, by hand
    ref = np.fft.fftshift(np.log1p(np.abs(np.fft.fft2(luma))))
    ref = np.rint(ref / ref.max() * 255)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.array_equal(out[..., 0], out[..., 2])
    assert np.abs(out[..., 0].astype(float) - ref).max() <= 1  # float32 rounding
    assert out[50, 75, 0] == 255  # DC at (H // 2, W // 2) is the brightest
    out16 = get_op("spectrum")(img.astype(np.uint16) * 257)
    assert out16.dtype == np.uint16 and np.abs(out16[..., 0] / 257 - ref).max() <= 1.01


def _striped(photo: np.ndarray, u: int, v: int, amp: float = 40.0):
    """Photo plus a sinusoidal pattern with (u, v) cycles per image (clipped to uint8)."""
    h, w = photo.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    wave = amp * np.sin(2 * np.pi * (u * xx / w + v * yy / h))
    base = photo.astype(float) * 0.8 + 20  # headroom so the stripes are not clipped
    clean = np.rint(base).astype(np.uint8)
    noisy = np.clip(np.rint(base + wave[..., None]), 0, 255).astype(np.uint8)
    return clean, noisy


def test_notch_filter_removes_stripes(astronaut):
    img = cv2.resize(astronaut, (160, 128), interpolation=cv2.INTER_AREA)
    clean, noisy = _striped(img, u=24, v=10)
    f = (24 / 160, 10 / 128)  # cycles per pixel
    out = get_op("notch_filter")(noisy, points=[f], radius=0.02)

    def peak(a):  # power at the stripe frequency: bin (v, u) of the unshifted DFT
        return np.abs(np.fft.fft2(luminance(a)))[10, 24]

    assert peak(out) < peak(noisy) / 20
    assert psnr(out, clean) > psnr(noisy, clean) + 10
    # the mirror point alone does the same job: the mask is point-symmetric
    mirrored = get_op("notch_filter")(noisy, points=[(-f[0], -f[1])], radius=0.02)
    assert np.abs(mirrored.astype(int) - out.astype(int)).max() <= 1
    # a crop (what a zoomed live preview runs on) keeps the meaning of cycles/pixel
    crop_clean, crop_noisy = clean[20:100, 10:130], noisy[20:100, 10:130]
    crop_out = get_op("notch_filter")(crop_noisy, points=[f], radius=0.02)
    assert psnr(crop_out, crop_clean) > psnr(crop_noisy, crop_clean) + 6
    # a half-size proxy: the op rescales the frequencies by 1 / preview_scale
    proxy_clean, proxy_noisy = (cv2.resize(a, (80, 64), interpolation=cv2.INTER_AREA)
                                for a in (clean, noisy))
    ctx = OpContext(preview_scale=0.5)
    proxy_out = get_op("notch_filter")(proxy_noisy, ctx, points=[f], radius=0.02)
    unscaled = get_op("notch_filter")(proxy_noisy, points=[f], radius=0.02)
    assert psnr(proxy_out, proxy_clean) > psnr(unscaled, proxy_clean) + 6


def test_notch_filter_matches_direct_numpy(chelsea):
    img = _crop(chelsea)
    h, w = img.shape[:2]
    pts, r = [(0.15, -0.07), (-0.04, 0.12)], 0.02
    ours = get_op("notch_filter")(img, points=pts, radius=r)
    fy = np.fft.fftfreq(h)  # cycles per pixel, DFT order
    fx = np.fft.fftfreq(w)
    gain = np.ones((h, w))
    for u0, v0 in pts + [(-a, -b) for a, b in pts]:
        d2 = (fy[:, None] - v0) ** 2 + (fx[None, :] - u0) ** 2
        gain *= 1 / (1 + (r * r / np.maximum(d2, 1e-300)) ** 2)  # Butterworth notch, n = 2
    ref = np.stack([np.fft.ifft2(np.fft.fft2(img[..., c].astype(float)) * gain).real
                    for c in range(3)], axis=2)
    ref = np.clip(np.rint(ref), 0, 255)
    diff = np.abs(ours - ref)
    assert diff.max() <= 1  # float32 vs float64 rounding; the op also truncates far tails
    assert np.mean(diff == 0) > 0.99


def test_notch_mask_layouts_agree():
    pts, r = [(7 / 25, 3 / 20), (-2 / 25, 9 / 20)], 0.08
    shifted = notch_mask(20, 25, pts, r, layout="shifted")
    full = notch_mask(20, 25, pts, r, layout="full")
    half = notch_mask(20, 25, pts, r, layout="half")
    assert np.allclose(np.fft.fftshift(full), shifted)
    assert np.allclose(full[:, :13], half)
    # symmetric: gain(u, v) == gain(-u, -v)
    assert np.allclose(full, np.roll(full[::-1, ::-1], (1, 1), axis=(0, 1)))
    assert shifted[10 + 3, 12 + 7] < 1e-6 and shifted[10 - 3, 12 - 7] < 1e-6
    assert shifted[0, 0] > 0.99


def test_filter_mask_display_matches_the_op_profile():
    """The overlay's gain at D = cutoff along x is the op's exp(-1/2) (Gaussian low-pass)."""
    gain = filter_mask_display((64, 100), (1000, 640), kind="lowpass", shape="gaussian",
                               cutoff=0.08, width=0.1, order=2)
    # 0.08 of Nyquist of a 1000 px wide image = 40 cycles per image = 40 proxy pixels
    assert abs(gain[32, 50 + 40] - np.exp(-0.5)) < 1e-4
    assert gain[32, 50] == 1.0


def test_notch_filter_params():
    spec = get_op("notch_filter")
    assert spec.bind({})["points"] == []
    assert spec.param("points").parse("0.25:0, -0.1:0.5") == [(0.25, 0.0), (-0.1, 0.5)]
    with pytest.raises(ParamError):
        spec.bind({"radius": 0})
    with pytest.raises(ParamError):
        spec.bind({"points": [(0.6, 0)]})
    img = np.full((16, 16), 7, np.uint8)
    assert np.array_equal(spec(img), img)  # no points: unchanged
