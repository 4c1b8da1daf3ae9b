"""Colour point ops checked against independent implementations on real photos.

References are OpenCV, scikit-image, Pillow or a direct float64 NumPy formula;
where our op itself runs through OpenCV (cv2.LUT, cv2.transform, cvtColor),
the reference is scikit-image, Pillow or NumPy, never the same OpenCV call.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import (
    assert_alpha_passes_through,
    assert_pure,
    assert_rejected_before_work,
    max_diff,
    rounded,
    run,
)
from PIL import Image, ImageOps

from editor.core.context import OpContext
from editor.ops import get_op

BT709 = np.array([0.2126, 0.7152, 0.0722])
BT601 = np.array([0.299, 0.587, 0.114])


# -- point ops -----------------------------------------------------------------

@pytest.mark.parametrize("amount", [-0.3, 0.1, 0.6])
def test_brightness_matches_opencv_saturating_add(astronaut, amount):
    offset = amount * 255
    expected = cv2.add(astronaut, (offset, offset, offset, 0))
    # Tolerance 1: cv2 rounds v + offset half-to-even, our LUT rounds half up
    # (float32); the two disagree only on exact .5 results.
    assert max_diff(run("brightness", astronaut, amount=amount), expected) <= 1


@pytest.mark.parametrize("amount", [-0.6, 0.4])
def test_contrast_matches_gimp_formula(coffee, amount):
    slope = np.tan((amount + 1) * np.pi / 4)
    expected = rounded(((coffee / 255.0 - 0.5) * slope + 0.5) * 255)
    # Tolerance 1: float32 table vs this float64 formula at rounding boundaries.
    assert max_diff(run("contrast", coffee, amount=amount), expected) <= 1


@pytest.mark.parametrize("layout", ["rgb", "gray", "rgba", "rgb16", "gray16"])
@pytest.mark.parametrize("scale, offset", [(1.3, -38.4), (0.55, 60.25), (2.0, -0.5),
                                           (2.55, -127.5)])  # levels 50..150: 100 -> 127.5
def test_affine_is_saturating_multiply_add_in_every_layout(coffee, layout, scale, offset):
    from editor.ops.color import affine

    image = {"rgb": coffee, "gray": coffee[..., 1], "rgba": np.dstack([coffee, coffee[..., :1]]),
             "rgb16": coffee.astype(np.uint16) * 257,
             "gray16": coffee[..., 1].astype(np.uint16) * 257}[layout]
    top = np.iinfo(image.dtype).max
    out = affine(image, scale, offset * (top // 255))
    assert out.shape == image.shape and out.dtype == image.dtype
    # Within one level of float64 (OpenCV computes in float32, so values that land
    # near .5 may round either way) and bit-identical to addWeighted's two-read pass.
    expected = np.clip(np.rint(image * scale + offset * (top // 255)), 0, top)
    assert np.abs(out.astype(np.int64) - expected).max() <= 1
    # every pixel is computed alike, whatever the image's size (a small image is no
    # scalar special case that rounds an exact half the other way)
    for n in (1, 2, 5):
        tiny = image.reshape(-1, *image.shape[2:])[:n].reshape(1, n, *image.shape[2:])
        np.testing.assert_array_equal(
            affine(tiny, scale, offset * (top // 255)),
            out.reshape(-1, *image.shape[2:])[:n].reshape(tiny.shape))
    half = np.full((2, 2, *image.shape[2:]), 100 * (top // 255), image.dtype)
    big = np.full((300, 400, *image.shape[2:]), 100 * (top // 255), image.dtype)
    assert affine(half, scale, offset * (top // 255)).ravel()[0] == \
        affine(big, scale, offset * (top // 255)).ravel()[0]


@pytest.mark.parametrize("g", [0.4, 2.2])
def test_gamma_matches_skimage(chelsea, g):
    from skimage.exposure import adjust_gamma

    # Our gamma brightens for g > 1 (GIMP/ImageMagick), skimage's is the exponent.
    expected = adjust_gamma(chelsea, 1.0 / g)
    # Tolerance 1: float32 vs float64 power at rounding boundaries.
    out = run("gamma", chelsea, gamma=g)
    assert max_diff(out, expected) <= 1
    assert (out.mean() > chelsea.mean()) == (g > 1)


def test_invert_matches_pillow(astronaut):
    expected = np.asarray(ImageOps.invert(Image.fromarray(astronaut)))
    np.testing.assert_array_equal(run("invert", astronaut), expected)  # exact: integer op


def test_posterize_matches_gimp_rule(coffee):
    for levels in (2, 5, 17):
        q = np.floor(coffee / 255.0 * (levels - 1) + 0.5) / (levels - 1)
        out = run("posterize", coffee, levels=levels)
        # Exact: GIMP's rule never hits a rounding tie for 8-bit inputs.
        np.testing.assert_array_equal(out, rounded(q * 255))
        assert len(np.unique(out)) <= levels


# -- colour matrices -----------------------------------------------------------

@pytest.mark.parametrize("amount", [-1.0, -0.5, 0.7])
def test_saturation_matches_luma_blend(chelsea, amount):
    rgb = chelsea.astype(np.float64)
    y = (rgb @ BT709)[..., None]
    expected = rounded(y + (1 + amount) * (rgb - y))
    # Tolerance 1: cv2.transform computes in float32 and rounds; float64 here.
    assert max_diff(run("saturation", chelsea, amount=amount), expected) <= 1


def test_saturation_minus_one_is_bt709_grayscale(chelsea):
    # Same weights, so the two ops agree up to one rounding step.
    assert max_diff(run("saturation", chelsea, amount=-1.0),
                    run("grayscale", chelsea, method="bt709")) <= 1


@pytest.mark.parametrize("degrees", [-150.0, -40.0, 25.0, 120.0, 180.0])
def test_hue_matches_skimage_yiq_rotation(coffee, degrees):
    from skimage.color import rgb2yiq, yiq2rgb

    yiq = rgb2yiq(coffee)
    t = np.deg2rad(-degrees)  # positive hue = clockwise in the I/Q plane (red -> yellow)
    i, q = yiq[..., 1].copy(), yiq[..., 2].copy()
    yiq[..., 1] = np.cos(t) * i - np.sin(t) * q
    yiq[..., 2] = np.sin(t) * i + np.cos(t) * q
    expected = rounded(np.clip(yiq2rgb(yiq), 0, 1) * 255)
    # Tolerance 1: skimage's YIQ matrix differs from the FCC one in the 4th
    # decimal (< 0.1 level) plus float32 rounding in cv2.transform.
    assert max_diff(run("hue", coffee, degrees=degrees), expected) <= 1


def test_hue_turns_like_hsv_hue(chelsea):
    from skimage.color import rgb2hsv

    hsv = rgb2hsv(chelsea)
    vivid = (hsv[..., 1] > 0.35) & (hsv[..., 2] > 0.25)
    assert vivid.sum() > 1000
    for degrees in (30.0, -60.0):
        turned = rgb2hsv(run("hue", chelsea, degrees=degrees))[..., 0]
        change = ((turned - hsv[..., 0]) * 360 + 180) % 360 - 180
        # YIQ's chroma plane is not HSV's hexagon (oranges turn about a third
        # faster, measured -80 for -60 here): the median turn of saturated pixels
        # has the requested sign and lies within half to one and a half times it.
        turn = np.median(change[vivid]) / degrees
        assert 0.5 < turn < 1.5, (degrees, turn)


def test_hue_keeps_luma_where_unclipped(coffee):
    out = run("hue", coffee, degrees=90.0)
    y_in, y_out = coffee @ BT601, out.astype(np.float64) @ BT601
    inside = (out > 0).all(-1) & (out < 255).all(-1)
    # YIQ's Y is BT.601 luma: unchanged up to rounding of three channels (<= 1).
    assert np.abs(y_in - y_out)[inside].max() <= 1.0


@pytest.mark.parametrize("method,weights", [("bt709", None), ("bt601", BT601),
                                            ("average", np.full(3, 1 / 3))])
def test_grayscale_matches_independent(astronaut, method, weights):
    out = run("grayscale", astronaut, method=method)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    if weights is None:
        from skimage.color import rgb2gray

        # skimage uses (0.2125, 0.7154, 0.0721), 4th-decimal off BT.709: tolerance 1.
        expected = rounded(rgb2gray(astronaut) * 255)
    else:
        expected = rounded(astronaut @ weights)
    assert max_diff(out[..., 0], expected) <= 1  # 1: fixed-point/float32 rounding


# -- threshold -----------------------------------------------------------------

def test_threshold_fixed_matches_numpy_luma(coffee):
    out = run("threshold", coffee, level=100)
    assert set(np.unique(out)) <= {0, 255} and out.shape == coffee.shape
    y = coffee @ BT601
    expected = np.where(y > 100, 255, 0)
    differ = out[..., 0] != expected
    # OpenCV's luma is fixed-point and rounded: only pixels whose float luma is
    # within one level of the cut may land on the other side.
    assert np.all(np.abs(y[differ] - 100) <= 1.0)
    assert (out[..., 0] == out[..., 2]).all()


def test_threshold_otsu_matches_skimage_and_opencv(photos):
    from skimage.filters import threshold_otsu

    for name in ("coffee.png", "rocket.jpg", "grace_hopper.jpg"):
        img = photos[name]
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        ctx = OpContext()
        out = get_op("threshold")(img, ctx=ctx, method="otsu")
        ours = ctx.extras["threshold"]
        cv_level, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        # OpenCV's Otsu uses the same histogram and tie rule: same level, or one
        # off where two cuts score equal within float rounding.
        assert abs(ours - cv_level) <= 1, name
        # skimage returns a bin centre with a ">" convention: within one level.
        assert abs(ours - threshold_otsu(gray)) <= 1, name
        assert (out[..., 0] == np.where(gray > ours, 255, 0)).all()


# -- policy: alpha, 16-bit, grayscale, read-only, parameter errors -------------

OPS = [
    ("brightness", {"amount": 0.2}), ("contrast", {"amount": 0.3}), ("gamma", {"gamma": 1.8}),
    ("saturation", {"amount": 0.5}), ("hue", {"degrees": 45.0}),
    ("grayscale", {"method": "bt709"}), ("invert", {}),
    ("threshold", {"level": 120.0}), ("posterize", {"levels": 6}),
]


@pytest.mark.parametrize("name,params", OPS)
def test_alpha_passes_through_untouched(chelsea, name, params):
    assert_alpha_passes_through(name, chelsea, params)


@pytest.mark.parametrize("name,params", OPS)
def test_16bit_stays_16bit_and_matches_8bit(chelsea, name, params):
    img16 = chelsea.astype(np.uint16) * 257
    out16 = run(name, img16, **params)
    assert out16.dtype == np.uint16 and out16.shape == img16.shape
    out8 = run(name, chelsea, **params)
    diff = np.abs(out16 / 257.0 - out8)
    if name == "threshold":
        # 8-bit luma is rounded to whole levels, 16-bit luma to 1/257 of one:
        # only pixels whose exact luma lies within a level of the cut may flip.
        flipped = diff.max(-1) > 0
        y = chelsea @ BT601
        assert np.all(np.abs(y[flipped] - params["level"]) <= 1.0)
    else:
        # Same formula at 65,536 steps: within one 8-bit rounding step.
        assert diff.max() <= 1.0


@pytest.mark.parametrize("name,params", OPS)
def test_grayscale_input_and_readonly_input(astronaut, name, params):
    for img in (astronaut, np.ascontiguousarray(astronaut[..., 1])):
        assert_pure(name, img, params)


@pytest.mark.parametrize("name,params,message", [
    ("brightness", {"amount": 1.5}, "amount must be between -1 and 1"),
    ("contrast", {"amount": -2}, "amount must be between -1 and 1"),
    ("gamma", {"gamma": 0.0}, "gamma must be between 0.1 and 10"),
    ("saturation", {"amount": 2}, "amount must be between -1 and 1"),
    ("hue", {"degrees": 200}, "degrees must be between -180 and 180"),
    ("grayscale", {"method": "bt2020"}, "method must be one of bt709, bt601, average"),
    ("threshold", {"level": 300}, "level must be between 0 and 255"),
    ("threshold", {"method": "mean"}, "method must be one of fixed, otsu"),
    ("posterize", {"levels": 1}, "levels must be between 2 and 64"),
    ("posterize", {"levels": 3.5}, "whole number"),
])
def test_out_of_range_rejected_before_work(name, params, message):
    assert_rejected_before_work(name, params, message)
