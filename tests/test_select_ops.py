"""Selection ops against independent implementations, on real photos.

Shapes against ``skimage.draw`` (hard edges: pixel centres; soft edges: a 16×
supersampled raster), the magic wand against ``skimage.segmentation.flood``,
grow/shrink against ``scipy.ndimage`` grey morphology, feather against
``cv2.GaussianBlur`` and ``scipy.ndimage.gaussian_filter``.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import scipy.ndimage as ndi
from skimage import draw
from skimage.segmentation import flood

from editor.core.context import OpError
from editor.core.selection import mask_sha256, mask_to_image
from editor.io import save_image
from editor.ops.registry import all_ops, get_op, run_select
from editor.ops.select import FALLOFF, disc


def select(name, image, selection=None, **params):
    return run_select(get_op(name), image, params, selection)


@pytest.fixture(scope="module")
def photo(astronaut):
    return np.ascontiguousarray(astronaut[:300, :400])


def supersampled_polygon(shape, points, factor=16):
    """Area coverage of a polygon by sampling ``factor``² points per pixel."""
    h, w = shape
    pts = np.asarray(points, float)
    rr, cc = draw.polygon(pts[:, 1] * factor - 0.5, pts[:, 0] * factor - 0.5,
                          (h * factor, w * factor))
    big = np.zeros((h * factor, w * factor), np.float32)
    big[rr, cc] = 1
    return big.reshape(h, factor, w, factor).mean(axis=(1, 3))


def test_every_selection_op_is_listed_and_documented():
    names = {s.name for s in all_ops(selects=True)}
    assert names == {"select_all", "select_none", "select_invert", "select_rect",
                     "select_ellipse", "select_polygon", "select_wand", "select_color",
                     "select_feather", "select_grow", "select_shrink", "select_border",
                     "select_transform", "select_mask"}
    for spec in all_ops(selects=True):
        assert spec.category == "Select" and spec.summary
        for p in spec.params:
            assert p.description, f"{spec.name}.{p.name} has no description"


# -- shapes -----------------------------------------------------------------------------

def test_rect_hard_and_soft(photo):
    m = select("select_rect", photo, x=10.25, y=20.3, width=30.5, height=10, antialias=False)
    rr, cc = draw.polygon(np.array([20.3, 20.3, 30.3, 30.3]) - 0.5,
                          np.array([10.25, 40.75, 40.75, 10.25]) - 0.5, photo.shape[:2])
    ref = np.zeros(photo.shape[:2], np.float32)
    ref[rr, cc] = 1
    np.testing.assert_array_equal(m, ref)
    soft = select("select_rect", photo, x=10.25, y=20.5, width=30.5, height=10)
    assert soft.sum() == pytest.approx(30.5 * 10)
    assert soft[25, 10] == 0.75 and soft[20, 20] == 0.5 and soft[20, 10] == 0.375
    assert soft[25, 20] == 1.0
    # a negative size extends up and left
    np.testing.assert_array_equal(
        select("select_rect", photo, x=40.75, y=30.5, width=-30.5, height=-10), soft)


def test_polygon_hard_matches_skimage(photo):
    rng = np.random.default_rng(3)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 40))
    radii = rng.uniform(30, 120, 40)
    pts = np.column_stack([200 + radii * np.cos(angles), 150 + radii * np.sin(angles)])
    m = select("select_polygon", photo, points=[tuple(p) for p in pts], antialias=False)
    rr, cc = draw.polygon(pts[:, 1] - 0.5, pts[:, 0] - 0.5, photo.shape[:2])
    ref = np.zeros(photo.shape[:2], np.float32)
    ref[rr, cc] = 1
    assert np.count_nonzero(m != ref) <= 2  # ties on an edge through a pixel centre
    assert m.sum() > 10_000


def test_polygon_soft_is_the_area_inside(photo):
    # a self-crossing lasso (the even-odd rule, like skimage's) partly off the image
    pts = [(-20.3, 10.7), (250.2, 40.1), (60.6, 280.9), (180.4, 290.2), (30.1, 120.5)]
    m = select("select_polygon", photo, points=pts)
    ref = supersampled_polygon(photo.shape[:2], pts)
    assert np.abs(m - ref).max() < 0.08
    assert np.abs(m - ref).mean() < 1e-3
    assert np.all(m[ref == 1] > 0.93) and np.all(m[ref == 0] < 0.07)
    assert np.count_nonzero(m == 1) > 0.9 * np.count_nonzero(ref == 1)


def test_ellipse_hard_matches_skimage_and_soft_area(photo):
    m = select("select_ellipse", photo, x=50.3, y=40.6, width=220.4, height=150.2,
               antialias=False)
    rr, cc = draw.ellipse(40.6 + 75.1 - 0.5, 50.3 + 110.2 - 0.5, 75.1, 110.2, photo.shape[:2])
    ref = np.zeros(photo.shape[:2], np.float32)
    ref[rr, cc] = 1
    assert np.count_nonzero(m != ref) <= 3
    soft = select("select_ellipse", photo, x=50.3, y=40.6, width=220.4, height=150.2)
    assert soft.sum() == pytest.approx(np.pi * 110.2 * 75.1, rel=2e-4)
    assert np.all(soft[m == 1][:] >= 0.45)


def test_modes_combine_like_gimp(photo):
    a = select("select_rect", photo, x=10, y=10, width=100, height=100)
    b = select("select_ellipse", photo, x=60, y=60, width=100, height=80)
    shape = dict(x=60, y=60, width=100, height=80)
    np.testing.assert_array_equal(select("select_ellipse", photo, a, **shape, mode="add"),
                                  np.maximum(a, b))
    np.testing.assert_array_equal(select("select_ellipse", photo, a, **shape,
                                         mode="subtract"), np.minimum(a, 1 - b))
    np.testing.assert_array_equal(select("select_ellipse", photo, a, **shape,
                                         mode="intersect"), np.minimum(a, b))
    np.testing.assert_array_equal(select("select_ellipse", photo, a, **shape), b)
    # nothing left selects nothing: no selection, as in GIMP
    assert select("select_rect", photo, a, x=200, y=200, width=5, height=5,
                  mode="intersect") is None
    assert select("select_rect", photo, a, x=0, y=0, width=400, height=300,
                  mode="subtract") is None
    assert select("select_rect", photo, None, x=0, y=0, width=5, height=5,
                  mode="add").sum() == 25


def test_all_none_invert(photo):
    assert select("select_all", photo).min() == 1.0
    assert select("select_none", photo) is None
    a = select("select_rect", photo, x=10, y=10, width=100.5, height=100)
    np.testing.assert_array_equal(select("select_invert", photo, a), 1 - a)
    assert select("select_invert", photo, None).min() == 1.0
    assert select("select_invert", photo, select("select_all", photo)) is None


# -- the magic wand and colour range ------------------------------------------------------

def max_channel_distance(image, seed):
    return np.abs(image.astype(np.int64) - np.asarray(seed, np.int64)).reshape(
        image.shape[:2] + (-1,)).max(axis=2)


@pytest.mark.parametrize("layout", ["rgb8", "rgba8", "rgb16", "gray8"])
def test_wand_matches_skimage_flood(photo, layout):
    image = {"rgb8": photo, "rgba8": np.dstack([photo, photo[..., 2]]),
             "rgb16": photo.astype(np.uint16) * 257 + photo[..., ::-1],
             "gray8": np.ascontiguousarray(photo[..., 1])}[layout]
    x, y = 230.6, 120.2  # the astronaut's suit
    seed = image[120, 230]
    dist = max_channel_distance(image, seed)
    tol = 30 * (257 if image.dtype == np.uint16 else 1)
    hard = select("select_wand", image, x=x, y=y, tolerance=30, antialias=False)
    ref = flood(dist, (120, 230), tolerance=tol, connectivity=1)
    np.testing.assert_array_equal(hard, ref.astype(np.float32))
    assert 2_000 < hard.sum() < image.shape[0] * image.shape[1] / 2
    # everywhere, not only the connected part
    glob = select("select_wand", image, x=x, y=y, tolerance=30, antialias=False,
                  contiguous=False)
    np.testing.assert_array_equal(glob, (dist <= tol).astype(np.float32))
    assert glob.sum() > hard.sum()
    # the soft edge: connected where above zero, falling off linearly past the tolerance
    soft = select("select_wand", image, x=x, y=y, tolerance=30)
    end = FALLOFF * tol
    support = flood(dist, (120, 230), tolerance=np.nextafter(end, 0), connectivity=1)
    np.testing.assert_array_equal(soft > 0, support)
    expected = np.clip((end - dist) / (end - tol), 0, 1)
    np.testing.assert_allclose(soft[support], expected[support], atol=1e-5)


def test_wand_outside_the_image_is_one_sentence(photo):
    with pytest.raises(OpError, match=r"^The point 500, 10 is outside the image: click"):
        select("select_wand", photo, x=500, y=10)


def test_select_color_is_a_soft_range(photo):
    color = (200, 200, 205)
    m = select("select_color", photo, color=color, tolerance=40)
    dist = max_channel_distance(photo, color)
    expected = np.clip((60 - dist) / 20.0, 0, 1)
    np.testing.assert_allclose(m, expected, atol=1e-6)
    assert (m == 1).sum() > 1000 and ((m > 0) & (m < 1)).sum() > 100
    # 16-bit: the same selection in its own units
    m16 = select("select_color", photo.astype(np.uint16) * 257, color=color, tolerance=40)
    np.testing.assert_allclose(m16, m, atol=1e-6)


# -- grow, shrink, border, feather, transform ----------------------------------------------------

@pytest.fixture(scope="module")
def lasso(photo):
    wand = select("select_wand", photo, x=230, y=120, tolerance=30)
    return select("select_ellipse", photo, wand, x=20, y=200, width=90, height=60, mode="add")


@pytest.mark.parametrize("pixels", [1, 4, 11])
def test_grow_shrink_border_match_scipy(photo, lasso, pixels):
    fp = disc(pixels).astype(bool)
    grown = ndi.grey_dilation(lasso, footprint=fp, mode="nearest")
    shrunk = ndi.grey_erosion(lasso, footprint=fp, mode="nearest")
    np.testing.assert_array_equal(select("select_grow", photo, lasso, pixels=pixels), grown)
    np.testing.assert_array_equal(select("select_shrink", photo, lasso, pixels=pixels), shrunk)
    np.testing.assert_allclose(select("select_border", photo, lasso, pixels=pixels),
                               grown - shrunk, atol=1e-7)


def test_grow_at_the_image_border(photo):
    corner = select("select_rect", photo, x=0, y=0, width=10, height=10)
    grown = select("select_grow", photo, corner, pixels=3)
    ref = ndi.grey_dilation(corner, footprint=disc(3).astype(bool), mode="nearest")
    np.testing.assert_array_equal(grown, ref)
    # shrinking keeps a selection that touches the border at the border
    assert select("select_shrink", photo, corner, pixels=3)[0, 0] == 1.0


@pytest.mark.parametrize("radius", [4, 20, 45])
def test_feather_is_a_gaussian(photo, lasso, radius):
    m = select("select_feather", photo, lasso, radius=radius)
    sigma = radius / 2
    ref = cv2.GaussianBlur(lasso, (0, 0), sigma)
    assert np.abs(m - ref).max() < 0.005
    scipy_ref = ndi.gaussian_filter(lasso, sigma, mode="mirror")
    assert np.abs(m - scipy_ref).max() < 0.006
    if sigma <= 8:  # blurred at full size: the same as OpenCV's
        assert np.abs(m - ref).max() < 1e-5


def test_feather_needs_a_selection(photo):
    with pytest.raises(OpError, match="Nothing is selected to feather"):
        select("select_feather", photo, None, radius=5)


def test_transform_moves_and_scales(photo):
    a = select("select_rect", photo, x=40, y=30, width=60.5, height=40)
    moved = select("select_transform", photo, a, dx=12, dy=-7)
    np.testing.assert_array_equal(moved, select("select_rect", photo, x=52, y=23,
                                                width=60.5, height=40))
    # scaling by 2 about the rectangle's corner doubles it
    big = select("select_transform", photo, a, scale_x=2, scale_y=2, cx=40, cy=30)
    ref = select("select_rect", photo, x=40, y=30, width=121, height=80)
    assert np.abs(big - ref).max() <= 0.6  # bilinear: a soft edge stays about a pixel wide
    assert big.sum() == pytest.approx(4 * a.sum(), rel=5e-3)
    np.testing.assert_array_equal(big[32:108, 42:158], 1.0)
    assert select("select_transform", photo, a, dx=1000) is None


# -- painted and loaded masks -----------------------------------------------------------------

def test_select_mask_reads_a_png_and_checks_it(photo, tmp_path):
    mask = select("select_ellipse", photo, x=30, y=40, width=200, height=100)
    path = tmp_path / "m.png"
    save_image(path, mask_to_image(mask))
    sha = mask_sha256(mask)
    loaded = select("select_mask", photo, file=str(path), sha256=sha)
    assert np.abs(loaded - mask).max() <= 0.5 / 65535 + 1e-7
    assert mask_sha256(loaded) == sha
    # 8-bit PNGs work too (white = inside)
    save_image(tmp_path / "m8.png", (mask * 255).round().astype(np.uint8))
    assert np.abs(select("select_mask", photo, file=str(tmp_path / "m8.png")) - mask).max() \
        <= 0.5 / 255 + 1e-6
    cases = [({"file": str(path), "sha256": "0" * 64}, "not the one the recipe recorded"),
             ({"file": str(tmp_path / "missing.png")}, "cannot be read"),
             ({"file": ""}, "painted by hand"),
             ]
    small = tmp_path / "small.png"
    save_image(small, np.zeros((10, 20), np.uint8))
    black = tmp_path / "black.png"
    save_image(black, np.zeros(photo.shape[:2], np.uint8))
    cases += [({"file": str(small)}, "is 20×10 pixels but the image is 400×300"),
              ({"file": str(black)}, "selects nothing")]
    for params, words in cases:
        with pytest.raises(OpError) as e:
            select("select_mask", photo, **params)
        text = str(e.value)
        assert words in text and text.endswith(".") and "\n" not in text, text
