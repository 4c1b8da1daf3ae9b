"""Photoshop/GIMP-style adjustments: Hue/Saturation (per range, colorize),
Brightness/Contrast in one step, Curves on luminance and Auto levels' percentiles,
each checked against an independent implementation on real photos.

The Hue/Saturation reference is a per-pixel transcription of GIMP's
``gimpoperationhuesaturation.c`` and ``gimpoperationcolorize.c`` on Python's
``colorsys`` HLS (double precision), run on a sample of each photo's pixels; the op
itself runs on OpenCV's float HLS conversion in strips.
"""

from __future__ import annotations

import colorsys
import functools
import math
from fractions import Fraction

import cv2
import numpy as np
import pytest
from conftest import abs_diff, assert_alpha_passes_through, assert_pure, rounded, run

from editor.ops import ParamError, get_op
from editor.ops.color import HUE_RANGES
from editor.ops.tone import percentile_range

RANGE_NAMES = ("reds", "yellows", "greens", "cyans", "blues", "magentas")


def sample_pixels(img: np.ndarray, n: int = 3000, seed: int = 0) -> np.ndarray:
    """``n`` pixels of a photo as a 1 x n RGB strip (a real photo's colours)."""
    rng = np.random.default_rng(seed)
    flat = img.reshape(-1, img.shape[-1])
    return np.ascontiguousarray(flat[rng.choice(len(flat), n, replace=False)][None])


def gimp_hue_saturation(rgb, params):
    """GIMP's Hue-Saturation for one pixel (floats in [0, 1]), colorsys HLS.

    Gray pixels take the master values only (the op's documented rule; GIMP
    files them under reds).
    """
    p = {k: 0.0 for k in ("hue", "saturation", "lightness")}
    for r in RANGE_NAMES:
        for a in ("hue", "saturation", "lightness"):
            p[f"{r}_{a}"] = 0.0
    p["overlap"] = 0.0
    p.update(params)
    h, lum, s = colorsys.rgb_to_hls(*rgb)
    cfg_h = [p["hue"] / 180] + [p[f"{r}_hue"] / 180 for r in RANGE_NAMES]
    cfg_s = [p["saturation"] / 100] + [p[f"{r}_saturation"] / 100 for r in RANGE_NAMES]
    cfg_l = [p["lightness"] / 100] + [p[f"{r}_lightness"] / 100 for r in RANGE_NAMES]
    if s == 0:  # no hue: a range of its own with no adjustment
        cfg_h.append(0.0)
        cfg_s.append(0.0)
        cfg_l.append(0.0)

    def map_sat(rng, v):
        return min(max(v * (cfg_s[0] + cfg_s[rng] + 1.0), 0.0), 1.0)

    def map_light(rng, v):
        d = (cfg_l[0] + cfg_l[rng]) / 2.0
        return v * (d + 1.0) if d < 0 else v + d * (1.0 - v)

    def wrap(v):
        return v + 1.0 if v < 0 else v - 1.0 if v > 1.0 else v

    overlap = p["overlap"] / 100 / 2.0
    # hue in sixths, exact (a hue on a range border must not fall either way by rounding)
    r8, g8, b8 = (Fraction(round(c * 255)) for c in rgb)
    top, span = max(r8, g8, b8), max(r8, g8, b8) - min(r8, g8, b8)
    if span == 0:
        hh = 0.0
    elif top == r8:
        hh = float(((g8 - b8) / span) % 6)
    elif top == g8:
        hh = float(2 + (b8 - r8) / span)
    else:
        hh = float(4 + (r8 - g8) / span)
    hue, second, use_second, w1, w2 = 0, 0, False, 1.0, 0.0
    for counter in range(7):
        threshold = counter + 0.5
        if hh < threshold + overlap:
            hue = counter
            if overlap > 0.0 and hh > threshold - overlap:
                use_second, second = True, counter + 1
                w2 = (hh - threshold + overlap) / (2.0 * overlap)
                w1 = 1.0 - w2
            break
    if hue >= 6:
        hue, use_second = 0, False
    if second >= 6:
        second = 0
    hue, second = hue + 1, second + 1
    if s == 0:
        hue, use_second = 7, False
    if use_second:
        v = cfg_h[hue] * w1 + cfg_h[second] * w2
        h2 = wrap(h + (cfg_h[0] + v) / 2.0)
        s2 = map_sat(hue, s) * w1 + map_sat(second, s) * w2
        l2 = map_light(hue, lum) * w1 + map_light(second, lum) * w2
    else:
        h2 = wrap(h + (cfg_h[0] + cfg_h[hue]) / 2.0)
        s2, l2 = map_sat(hue, s), map_light(hue, lum)
    return colorsys.hls_to_rgb(h2 % 1.0, l2, s2)


def gimp_colorize(rgb, hue, saturation, lightness):
    """GIMP's Colorize for one pixel: HSL(hue, sat, BT.709 luminance) to RGB."""
    lum = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
    v = lightness / 100
    if v > 0:
        lum = lum * (1.0 - v) + v
    elif v < 0:
        lum = lum * (v + 1.0)
    return colorsys.hls_to_rgb(hue / 360 % 1.0, lum, saturation / 100)


def reference(strip: np.ndarray, fn) -> np.ndarray:
    """Unrounded reference values (0..255 floats) of each pixel of a strip."""
    return np.asarray([fn(tuple(px / 255.0)) for px in strip[0]])[None] * 255.0


def assert_rounds(out: np.ndarray, exact: np.ndarray, what) -> None:
    """``out`` is ``exact`` rounded: within half a level, where a tie (integer RGB
    turned 30 deg lands on x.5 often) may go either way by float32 noise."""
    err = np.abs(out - np.clip(exact, 0, 255))
    assert err.max() <= 0.5 + 1e-3, (what, float(err.max()))


# -- Hue / Saturation --------------------------------------------------------------

def test_hue_saturation_is_registered_with_gimps_ranges():
    spec = get_op("hue_saturation")
    assert HUE_RANGES == RANGE_NAMES
    names = [p.name for p in spec.params]
    for r in RANGE_NAMES:
        assert {f"{r}_hue", f"{r}_saturation", f"{r}_lightness"} <= set(names)
    assert spec.param("colorize").kind == "bool"
    assert (spec.param("hue").lo, spec.param("hue").hi) == (-180, 180)


def test_hue_saturation_defaults_are_exactly_the_identity(photos):
    for name, img in photos.items():
        np.testing.assert_array_equal(run("hue_saturation", img), img, err_msg=name)
    img16 = photos["coffee.png"].astype(np.uint16) * 257 + 3
    np.testing.assert_array_equal(run("hue_saturation", img16), img16)


@pytest.mark.parametrize("params", [
    {"hue": 40.0, "saturation": 30.0, "lightness": -20.0},
    {"hue": -120.0, "saturation": -70.0, "lightness": 35.0},
    {"reds_hue": 30.0, "greens_saturation": -60.0, "blues_lightness": 40.0},
    {"yellows_hue": -25.0, "cyans_saturation": 80.0, "magentas_lightness": -50.0,
     "saturation": 10.0, "overlap": 40.0},
    {"reds_hue": 90.0, "magentas_hue": -90.0, "reds_saturation": 50.0, "overlap": 100.0},
])
def test_hue_saturation_matches_gimps_rule(photos, params):
    for name in ("astronaut.png", "coffee.png", "flower.jpg", "scream.jpg"):
        strip = sample_pixels(photos[name])
        exact = reference(strip, lambda px: gimp_hue_saturation(px, params))
        assert_rounds(run("hue_saturation", strip, **params), exact, (name, params))


def hsv_hue_degrees(img: np.ndarray) -> np.ndarray:
    """Hue in degrees from scikit-image's HSV (HSV and HSL share the hue)."""
    from skimage.color import rgb2hsv

    return rgb2hsv(img)[..., 0] * 360.0


@pytest.mark.parametrize("index,name", list(enumerate(RANGE_NAMES)))
def test_one_range_changes_only_its_hues(photos, index, name):
    centre = 60.0 * index
    for photo in ("astronaut.png", "coffee.png", "flower.jpg"):
        img = photos[photo]
        out = run("hue_saturation", img, **{f"{name}_saturation": -100.0,
                                            f"{name}_lightness": 20.0})
        hue = hsv_hue_degrees(img)
        gray = img.max(-1) == img.min(-1)
        dist = np.abs((hue - centre + 180.0) % 360.0 - 180.0)  # angular distance
        outside = (dist > 30.5) | gray
        inside = (dist < 29.5) & ~gray
        # every other hue (and every gray) is bit-for-bit untouched
        np.testing.assert_array_equal(out[outside], img[outside], err_msg=photo)
        if inside.any():
            # this range's colours lost their saturation: R = G = B (within rounding)
            spread = out[inside].max(-1).astype(int) - out[inside].min(-1)
            assert spread.max() <= 1, photo
            assert (out[inside] != img[inside]).any(axis=-1).mean() > 0.9, photo


def test_overlap_feathers_a_range_into_its_neighbour(coffee):
    # a ramp of pure hues across the reds/yellows border at 30 degrees
    hues = np.linspace(0.0, 60.0, 241)
    ramp = rounded(np.array([[colorsys.hls_to_rgb(h / 360, 0.5, 1.0) for h in hues]]) * 255)
    hard = run("hue_saturation", ramp, reds_saturation=-100.0)
    soft = run("hue_saturation", ramp, reds_saturation=-100.0, overlap=60.0)
    sat_hard = hard.max(-1).astype(int) - hard.min(-1)
    sat_soft = soft.max(-1).astype(int) - soft.min(-1)
    # hard: a step at the border (30 deg, index 120)
    assert sat_hard[0, :119].max() <= 1 and sat_hard[0, 121:].min() >= 250
    # soft: 60 % overlap blends over 30 +- 18 deg, rising steadily from gray to full
    hue = hues[None]
    assert sat_soft[hue <= 11.9].max() <= 1 and sat_soft[hue >= 48.1].min() >= 250
    band = sat_soft[(hue > 12) & (hue < 48)]
    assert np.all(np.diff(band) >= 0) and np.diff(band).max() <= 8
    assert np.diff(sat_hard[0]).max() >= 250


def test_colorize_matches_gimp(photos):
    for name in ("chelsea.png", "rocket.jpg"):
        strip = sample_pixels(photos[name])
        for hue, sat, light in ((30.0, 60.0, 0.0), (210.0, 35.0, 25.0), (300.0, 100.0, -40.0)):
            exact = reference(strip, functools.partial(gimp_colorize, hue=hue, saturation=sat,
                                                      lightness=light))
            out = run("hue_saturation", strip, colorize=True, colorize_hue=hue,
                      colorize_saturation=sat, colorize_lightness=light,
                      hue=90.0, reds_saturation=50.0)  # ignored while colorizing
            assert_rounds(out, exact, (name, hue))


def test_colorize_keeps_each_pixels_luminance(astronaut):
    out = run("hue_saturation", astronaut, colorize=True, colorize_hue=25.0,
              colorize_saturation=40.0)
    weights = np.array([0.2126, 0.7152, 0.0722])
    # HSL lightness is not luminance: the result's BT.709 luminance differs, but
    # its HSL lightness is the input's luminance
    lum_in = astronaut @ weights
    light_out = (out.max(-1).astype(float) + out.min(-1)) / 2
    assert np.abs(light_out - lum_in).max() <= 1.0
    hue = hsv_hue_degrees(out)
    # one hue, up to the quantisation of 8-bit values (coarse where chroma is low)
    coloured = out.max(-1).astype(int) - out.min(-1) > 40
    assert np.abs(hue[coloured] - 25.0).max() < 2.0


def test_hue_saturation_grayscale_alpha_16bit_and_purity(coffee):
    gray = np.ascontiguousarray(coffee[..., 1])
    out = run("hue_saturation", gray, lightness=50.0, saturation=80.0, hue=100.0)
    assert out.shape == gray.shape
    v = 0.25  # lightness 50 -> halfway a quarter of the way to white
    assert abs_diff(out, rounded(gray + v * (255.0 - gray))).max() <= 1
    params = {"hue": 20.0, "greens_saturation": 40.0, "overlap": 20.0}
    assert_alpha_passes_through("hue_saturation", coffee, params)
    assert_pure("hue_saturation", coffee, params)
    out8 = run("hue_saturation", coffee, **params)
    out16 = run("hue_saturation", coffee.astype(np.uint16) * 257, **params)
    assert np.abs(out16 / 257.0 - out8).max() <= 1.0


def test_hue_saturation_refuses_out_of_range_values():
    with pytest.raises(ParamError, match="reds_hue must be between -180 and 180"):
        run("hue_saturation", np.zeros((4, 4, 3), np.uint8), reds_hue=200.0)
    with pytest.raises(ParamError, match="overlap must be between 0 and 100"):
        run("hue_saturation", np.zeros((4, 4, 3), np.uint8), overlap=120.0)


# -- Brightness / Contrast -------------------------------------------------------------

def gimp_brightness_contrast(v: np.ndarray, brightness: float, contrast: float) -> np.ndarray:
    """GIMP's map in float64 on values in [0, 1]."""
    b = brightness / 2.0
    v = v * (1.0 + b) if b < 0 else v + (1.0 - v) * b
    slant = math.tan((contrast + 1.0) * math.pi / 4.0)
    return (v - 0.5) * slant + 0.5


@pytest.mark.parametrize("brightness,contrast", [(0.3, 0.0), (-0.4, 0.0), (0.0, 0.35),
                                                  (0.0, -0.5), (0.25, 0.3), (-0.6, 0.6)])
def test_brightness_contrast_matches_gimps_formula(photos, brightness, contrast):
    for name in ("coffee.png", "grace_hopper.jpg"):
        img = photos[name]
        expected = rounded(gimp_brightness_contrast(img / 255.0, brightness, contrast) * 255)
        out = run("brightness_contrast", img, brightness=brightness, contrast=contrast)
        assert abs_diff(out, expected).max() <= 1, name  # float32 table vs float64


def test_brightness_contrast_identity_and_agreement_with_contrast(chelsea):
    np.testing.assert_array_equal(run("brightness_contrast", chelsea), chelsea)
    # contrast alone is the separate Contrast op's slope about mid-gray
    both = run("brightness_contrast", chelsea, contrast=0.4)
    assert abs_diff(both, run("contrast", chelsea, amount=0.4)).max() <= 1
    assert_alpha_passes_through("brightness_contrast", chelsea, {"brightness": 0.2})
    out16 = run("brightness_contrast", chelsea.astype(np.uint16) * 257, brightness=0.2,
                contrast=0.2)
    out8 = run("brightness_contrast", chelsea, brightness=0.2, contrast=0.2)
    assert np.abs(out16 / 257.0 - out8).max() <= 1.0


# -- Curves on luminance ---------------------------------------------------------------

S_CURVE = [(0, 0), (64, 40), (190, 220), (255, 255)]


def test_curves_luminance_matches_a_float_ycrcb_round_trip(photos):
    from scipy.interpolate import PchipInterpolator

    xs, ys = np.array(S_CURVE, float).T
    curve = PchipInterpolator(xs, ys)
    for name in ("astronaut.png", "flower.jpg", "rocket.jpg"):
        img = photos[name]
        # independent: OpenCV's float YCrCb (no rounding), Y' through the curve, back
        ycc = cv2.cvtColor(img.astype(np.float32) / 255, cv2.COLOR_RGB2YCrCb)
        ycc[..., 0] = curve(np.clip(ycc[..., 0] * 255, 0, 255)) / 255
        expected = rounded(cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB) * 255)
        out = run("curves", img, points=S_CURVE, channel="luminance")
        # the op maps the rounded 8-bit luma (slope up to ~1.6 here): 2 levels at most
        diff = abs_diff(out, expected)
        assert diff.max() <= 2 and diff.mean() < 0.4, name


def test_curves_luminance_keeps_the_colour_differences(coffee):
    out = run("curves", coffee, points=S_CURVE, channel="luminance").astype(int)
    img = coffee.astype(int)
    unclipped = (out > 0).all(-1) & (out < 255).all(-1)
    # Cb and Cr kept: every channel moved by the same amount, so R-G and B-G stay
    np.testing.assert_array_equal((out[..., 0] - out[..., 1])[unclipped],
                                  (img[..., 0] - img[..., 1])[unclipped])
    np.testing.assert_array_equal((out[..., 2] - out[..., 1])[unclipped],
                                  (img[..., 2] - img[..., 1])[unclipped])
    # unlike the same curve on R, G and B, which changes those differences
    rgb = run("curves", coffee, points=S_CURVE).astype(int)
    assert (rgb[..., 0] - rgb[..., 1] != img[..., 0] - img[..., 1]).mean() > 0.3


def test_curves_luminance_on_gray_is_the_plain_curve(coffee):
    gray = np.ascontiguousarray(coffee[..., 0])
    np.testing.assert_array_equal(run("curves", gray, points=S_CURVE, channel="luminance"),
                                  run("curves", gray, points=S_CURVE))
    assert get_op("curves").parse_args(["channel=luminance"]) == {"channel": "luminance"}


# -- Auto levels' percentiles ------------------------------------------------------------

def test_percentile_range_agrees_with_numpy(photos):
    for name, img in photos.items():
        values = img.ravel()
        hist = np.bincount(values, minlength=256)
        lo, hi = percentile_range(hist, 0.1, 99.9)
        assert abs(lo - np.percentile(values, 0.1, method="inverted_cdf")) <= 1, name
        assert abs(hi - np.percentile(values, 99.9, method="inverted_cdf")) <= 1, name
        assert lo <= hi
    assert percentile_range(np.zeros(256)) == (0, 255)
