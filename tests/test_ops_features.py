"""Corner detectors and HOG against OpenCV / scikit-image on real photos."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.data
import skimage.feature as skf

from editor.core.context import OpContext, OpError
from editor.ops import ParamError, get_op
from editor.ops.features import (
    find_peaks,
    gray_float,
    harris_response,
    hog_cells,
    hog_descriptor,
    hog_glyphs,
    moravec_response,
)


def _run(name, image, **params):
    ctx = OpContext()
    out = get_op(name)(image, ctx, **params)
    return out, np.asarray(ctx.extras["points"]).reshape(-1, 3), ctx


def _matched(a: np.ndarray, b: np.ndarray, tol: float) -> float:
    """Fraction of points in ``a`` with a point of ``b`` within ``tol`` pixels."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    d = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    return float(np.mean(d.min(axis=1) <= tol))


def _skimage_reflect(func, gray: np.ndarray, **kw) -> np.ndarray:
    """Run a skimage corner measure on a reflect-padded copy and crop back.

    skimage pads with zeros, which makes the image border a strong "corner" that
    also dominates ``threshold_rel``; we use OpenCV's reflect-101 border, which is
    NumPy's ``mode="reflect"``. Padding by 12 px (> 4 sigma) makes them comparable.
    """
    pad = 12
    ext = np.pad(gray.astype(np.float64), pad, mode="reflect")
    return func(ext, **kw)[pad:-pad, pad:-pad]


def _photo_crop(photo):
    return np.ascontiguousarray(photo[60:316, 80:336])


# -- Harris -------------------------------------------------------------------------

@pytest.mark.parametrize("block, k", [(2, 0.04), (3, 0.06), (5, 0.05)])
def test_harris_response_matches_cv2_corner_harris(astronaut, block, k):
    """With a box window, our response equals cv2.cornerHarris up to one constant.

    OpenCV scales its Sobel derivatives by 1 / (2**(ksize-1) * block) before the
    products (cornerEigenValsVecs); the response is 4th order in them, so the two
    differ by that factor to the 4th power. Tolerance: float32 sums of ~1e9-sized
    products in a different order agree to ~1e-5 of the peak response.
    """
    gray = gray_float(_photo_crop(astronaut))
    ours = harris_response(gray, k=k, block=block, ksize=3)
    ref = cv2.cornerHarris(gray, block, 3, k)
    scale = (1.0 / (4 * block)) ** 4
    assert np.abs(ours * scale - ref).max() <= 1e-4 * np.abs(ref).max()
    assert np.corrcoef(ours.ravel(), ref.ravel())[0, 1] > 0.9999


def test_harris_response_close_to_skimage(astronaut):
    """Gaussian window vs skimage.feature.corner_harris (same Sobel and sigma).

    skimage pads with zeros, we reflect, so only the interior (8 px in) is
    compared; the Gaussian kernels are truncated slightly differently (cv2 at
    ~4 sigma rounded to odd size, scipy at 4 sigma), hence correlation, not equality.
    """
    gray = gray_float(_photo_crop(astronaut))
    ours = harris_response(gray, k=0.05, sigma=1.5)
    ref = skf.corner_harris(gray.astype(np.float64), method="k", k=0.05, sigma=1.5)
    inner = (slice(8, -8), slice(8, -8))
    assert np.corrcoef(ours[inner].ravel(), ref[inner].ravel())[0, 1] > 0.995


@pytest.mark.parametrize("source", ["checkerboard", "photo"])
def test_harris_corners_match_skimage_corner_peaks(astronaut, source):
    if source == "checkerboard":
        img = skimage.data.checkerboard()  # 200x200, 25 px squares
        # a slight blur, else exact ties on the synthetic squares make peaks arbitrary
        img = cv2.GaussianBlur(img, (0, 0), 1.0)
    else:
        img = _photo_crop(astronaut)
    sigma, thr = 1.5, 0.05
    out, pts, ctx = _run("harris", img, k=0.05, sigma=sigma, threshold=thr)
    gray = gray_float(img).astype(np.float64)
    resp = _skimage_reflect(skf.corner_harris, gray, k=0.05, sigma=sigma)
    ref = skf.corner_peaks(resp, min_distance=3,
                           threshold_rel=thr, exclude_border=False)[:, ::-1]
    assert len(pts) > (40 if source == "checkerboard" else 20)
    # within 2 px both ways (Gaussian truncation differs a little: cv2 vs scipy)
    assert _matched(pts, ref, 2.0) >= 0.9
    assert _matched(ref, pts.astype(float), 2.0) >= 0.9
    if source == "checkerboard":
        assert len(pts) == 49  # the 7x7 inner crossings of the 8x8 board
    json.dumps(ctx.extras["points"])  # JSON-able Python floats
    assert list(pts[:, 2]) == sorted(pts[:, 2], reverse=True)


def test_harris_burn_marks_corners_keeps_dtype_and_alpha(chelsea):
    img = np.ascontiguousarray(chelsea[:200, :256])
    alpha = np.full(img.shape[:2], 77, np.uint8)
    out, pts, _ = _run("harris", np.dstack([img, alpha]), output="burn")
    assert out.shape == (200, 256, 4) and out.dtype == np.uint8
    assert np.array_equal(out[..., 3], alpha)
    changed = np.any(out[..., :3] != img, axis=2)
    assert changed.any()
    x, y = np.rint(pts[0, :2]).astype(int)
    assert changed[y, x]  # a marker is drawn on the strongest corner
    assert tuple(out[y, x, :3]) == (255, 32, 32)
    # 16-bit stays 16-bit and finds the same corners
    out16, pts16, _ = _run("harris", img.astype(np.uint16) * 257, output="burn")
    assert out16.dtype == np.uint16
    assert _matched(pts16, pts, 0.5) > 0.98


def test_harris_rejects_bad_params():
    for bad in ({"k": 0.5}, {"k": 0.0}, {"sigma": 0}, {"threshold": 2}):
        with pytest.raises(ParamError, match="harris"):
            get_op("harris").bind(bad)


# -- Moravec ------------------------------------------------------------------------

def test_moravec_square_has_four_corners_and_no_edge_points():
    img = np.zeros((128, 160), np.uint8)
    img[40:90, 30:110] = 200
    _, pts, _ = _run("moravec", img, window=5, threshold=0.1)
    corners = np.array([[30, 40], [109, 40], [30, 89], [109, 89]], float)
    assert len(pts) == 4
    assert _matched(corners, pts, 3.0) == 1.0  # the shifts are one-sided: up to 2 px bias


def test_moravec_on_photo_and_bad_window(coffee):
    img = np.ascontiguousarray(coffee[:200, :256])
    out, pts, _ = _run("moravec", img, window=7, threshold=0.05)
    assert 5 < len(pts) < 2000 and out.shape == img.shape
    # Moravec corners should be Harris-like: most lie near a strong Harris response
    resp = harris_response(gray_float(img), sigma=2.0)
    big = cv2.dilate((resp > 0.001 * resp.max()).astype(np.uint8), np.ones((7, 7)))
    assert np.mean(big[pts[:, 1].astype(int), pts[:, 0].astype(int)] > 0) > 0.8
    with pytest.raises(ParamError, match="odd"):
        get_op("moravec")(img, window=4)
    with pytest.raises(ParamError):
        get_op("moravec").bind({"window": 17})


@pytest.mark.parametrize("op", ["harris", "moravec"])
@pytest.mark.parametrize("case", ["photo", "tiled", "plateaus"])
def test_corners_in_bands_are_those_of_the_whole_response(astronaut, op, case):
    """The response and its maxima band by band (a 3072-px-wide photo in 19 bands)
    against the whole-image response and find_peaks: the same corners, scores and
    order. Flat synthetic corners touch, and go through find_peaks' plateau merging."""
    img = {"photo": astronaut, "tiled": np.tile(astronaut, (6, 6, 1)),
           "plateaus": np.pad(np.full((100, 140, 3), 255, np.uint8), ((50, 50), (80, 80), (0, 0)))
           }[case]
    gray = gray_float(img)
    if op == "harris":
        _, pts, _ = _run("harris", img, sigma=2.0)
        response, radius, threshold = harris_response(gray, 0.05, 2.0), 4, 0.01
    else:
        _, pts, _ = _run("moravec", img, window=7)
        response, radius, threshold = moravec_response(gray, 7), 3, 0.1
    expected = find_peaks(response, threshold * float(response.max()), radius)
    assert len(pts) > (3 if case == "plateaus" else 100)
    np.testing.assert_array_equal(pts, expected)


# -- Shi-Tomasi ---------------------------------------------------------------------

def _min_eigenvalue_box(gray: np.ndarray, block: int = 3) -> np.ndarray:
    """Shi-Tomasi measure in NumPy/SciPy: Sobel 3 and an unnormalised box window,
    reflect-101 border (scipy's "mirror"): the definition OpenCV documents."""
    g = gray.astype(np.float64)
    gx = ndi.sobel(g, axis=1, mode="mirror")
    gy = ndi.sobel(g, axis=0, mode="mirror")
    a, b, c = (ndi.uniform_filter(p, block, mode="mirror") * block * block
               for p in (gx * gx, gx * gy, gy * gy))
    return (a + c) / 2 - np.sqrt(((a - c) / 2) ** 2 + b**2)


def test_shi_tomasi_matches_numpy_definition(astronaut):
    """Implemented with cv2.goodFeaturesToTrack, so checked against NumPy/SciPy.

    The reference re-does the documented algorithm: the minimum eigenvalue with a
    3x3 box, local maxima above quality * max, greedy strongest-first selection at
    least 10 px apart. OpenCV scales derivatives by 1/12 (1 / (4 * block)), so its
    eigenvalues are ours / 144; float32 vs float64 gives ~1e-6 relative error.
    """
    img = _photo_crop(astronaut)
    _, pts, ctx = _run("shi_tomasi", img, max_corners=60, quality=0.05)
    lam = _min_eigenvalue_box(gray_float(img))
    cand = (lam == ndi.maximum_filter(lam, 3, mode="mirror")) & (lam >= 0.05 * lam.max())
    ys, xs = np.nonzero(cand)
    accepted: list[tuple[int, int]] = []
    for i in np.argsort(-lam[ys, xs], kind="stable"):
        if all((xs[i] - ax) ** 2 + (ys[i] - ay) ** 2 >= 100 for ax, ay in accepted):
            accepted.append((xs[i], ys[i]))
            if len(accepted) == 60:
                break
    ref = np.array(accepted, float)
    assert len(pts) == 60
    assert _matched(pts, ref, 0.5) >= 0.95
    x, y = pts[:, 0].astype(int), pts[:, 1].astype(int)
    assert np.allclose(pts[:, 2], lam[y, x] / 144, rtol=1e-4)
    assert all(p[2] > 0 for p in ctx.extras["points"])


@pytest.mark.parametrize("name, corners, quality, tiles", [
    ("astronaut", 60, 0.05, 1), ("coffee", 1000, 0.01, 1), ("chelsea", 10000, 0.001, 1),
    ("coffee", 500, 0.01, 8)])
def test_shi_tomasi_selects_as_opencv_does(name, corners, quality, tiles):
    """The response in bands and our selection against cv2.goodFeaturesToTrack on the
    same luma: the same corners in the same order. One band (a small photo) gives
    OpenCV's response bit for bit; the coffee photo tiled 8 x 8 (3200 x 4800) runs
    in 30 bands, where a box sum may differ in the last bit."""
    img = np.tile(getattr(skimage.data, name)(), (tiles, tiles, 1))
    _, pts, _ = _run("shi_tomasi", img, max_corners=corners, quality=quality)
    ref, scores = cv2.goodFeaturesToTrackWithQuality(gray_float(img), corners, quality,
                                                     10.0, None)
    ref = ref.reshape(-1, 2)
    assert len(pts) == len(ref) > 50
    same = np.all(pts[:, :2] == ref, axis=1)
    assert same.all() if tiles == 1 else same.mean() >= 0.99
    np.testing.assert_allclose(pts[:, 2], scores.ravel(), rtol=1e-5)


def test_shi_tomasi_handles_tiny_and_flat_images():
    assert len(_run("shi_tomasi", np.zeros((2, 2, 3), np.uint8))[1]) == 0
    assert len(_run("shi_tomasi", np.full((40, 50, 3), 90, np.uint8))[1]) == 0


def test_shi_tomasi_strongest_agree_with_skimage(astronaut):
    """skimage's corner_shi_tomasi uses a Gaussian window (sigma 1) instead of the
    3x3 box, which reorders weaker corners; the 20 strongest still agree within
    2 px for at least 70 % (measured 75 %)."""
    img = _photo_crop(astronaut)
    _, pts, _ = _run("shi_tomasi", img, max_corners=60, quality=0.05)
    resp = _skimage_reflect(skf.corner_shi_tomasi, gray_float(img), sigma=1)
    ref = skf.corner_peaks(resp, min_distance=10, threshold_rel=0.05, num_peaks=60,
                           exclude_border=False)[:, ::-1]
    assert _matched(pts[:20], ref, 2.0) >= 0.7


def test_shi_tomasi_max_corners_and_quality(coffee):
    img = np.ascontiguousarray(coffee[:200, :256])
    _, few, _ = _run("shi_tomasi", img, max_corners=5)
    assert len(few) == 5
    _, strict, _ = _run("shi_tomasi", img, max_corners=1000, quality=0.5)
    _, loose, _ = _run("shi_tomasi", img, max_corners=1000, quality=0.01)
    assert len(strict) < len(loose)
    with pytest.raises(ParamError):
        get_op("shi_tomasi").bind({"max_corners": 0})


# -- HOG ------------------------------------------------------------------------------

@pytest.mark.parametrize("cell, block, bins", [(8, 2, 9), (8, 3, 9), (6, 2, 8), (16, 1, 12)])
def test_hog_descriptor_matches_skimage(astronaut, cell, block, bins):
    """Same algorithm as skimage (central differences, dominant channel, hard bins,
    L2-Hys); we compute in float32, it in float64: agreement to 1e-5 absolute on
    values in [0, 0.2+]."""
    img = astronaut[:200, :240]
    ours = hog_descriptor(img, cell, block, bins)
    ref = skf.hog(img, orientations=bins, pixels_per_cell=(cell, cell),
                  cells_per_block=(block, block), block_norm="L2-Hys", channel_axis=-1)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-5


def test_hog_gray_and_visualisation(chelsea):
    img = np.ascontiguousarray(chelsea[:160, :200])
    gray = img[..., 0]
    ref_desc, ref_vis = skf.hog(gray, orientations=9, pixels_per_cell=(8, 8),
                                cells_per_block=(2, 2), block_norm="L2-Hys", visualize=True)
    assert np.abs(hog_descriptor(gray, 8, 2, 9) - ref_desc).max() < 1e-5
    ctx = OpContext()
    vis = get_op("hog")(gray, ctx, cell=8, block=2, bins=9, output="burn")
    assert vis.shape == gray.shape and vis.dtype == np.uint8
    assert ctx.extras["hog_length"] == ref_desc.size
    # same glyphs as skimage's drawing, before our display scaling
    glyphs = hog_glyphs(hog_cells(gray, 8, 9), 8)
    assert np.allclose(glyphs, ref_vis, atol=1e-4 * ref_vis.max())
    # the op shows them scaled (strongest 0.5 % of bins saturate)
    assert np.corrcoef(vis.ravel().astype(float), ref_vis.ravel())[0, 1] > 0.9
    assert np.mean(vis == 255) < 0.03  # ~1 % here: lines of saturated bins + centres
    rgb = get_op("hog")(np.dstack([img, np.full(img.shape[:2], 9, np.uint8)]), output="burn")
    assert rgb.shape == (160, 200, 4) and np.all(rgb[..., 3] == 9)
    assert get_op("hog")(img.astype(np.uint16) * 257, output="burn").dtype == np.uint16


def test_hog_too_small_image_is_a_clear_error():
    with pytest.raises(OpError, match="at least 64x64"):
        get_op("hog")(np.zeros((40, 40), np.uint8), cell=32, block=2)
    with pytest.raises(ParamError):
        get_op("hog").bind({"bins": 1})


# -- overlay (the default) versus burn -------------------------------------------------

CORNER_PARAMS = {"harris": {"sigma": 1.5, "threshold": 0.01},
                 "shi_tomasi": {"max_corners": 300, "quality": 0.01},
                 "moravec": {"window": 5, "threshold": 0.05}}


@pytest.mark.parametrize("name", list(CORNER_PARAMS))
def test_corner_overlay_leaves_pixels_and_matches_burn(astronaut, name):
    """Detect (the default) leaves every pixel; burn draws the same corners as before."""
    from editor.ops.features import mark_points
    from editor.ops.overlays import PointsOverlay, find_overlay

    img = np.ascontiguousarray(astronaut[100:356, 120:376])
    out, pts, ctx = _run(name, img, **CORNER_PARAMS[name])
    np.testing.assert_array_equal(out, img)
    assert not np.shares_memory(out, img)
    ov = find_overlay(ctx.extras)
    assert isinstance(ov, PointsOverlay) and ov.op == name
    assert ov.count() == len(pts) > 10 and ov.summary() == f"{len(pts)} corners"
    np.testing.assert_array_equal(ov.image_points(), pts)
    bound = get_op(name).bind(CORNER_PARAMS[name])
    assert ov.params == {k: v for k, v in bound.items() if k != "output"}  # what Burn reuses
    burnt, burnt_pts, bctx = _run(name, img, output="burn", **CORNER_PARAMS[name])
    np.testing.assert_array_equal(burnt_pts, pts)  # the detector's result is the same
    np.testing.assert_array_equal(burnt, mark_points(img, pts))
    assert "overlay" not in bctx.extras and not np.array_equal(burnt, img)
    columns, rows = ov.table()
    assert columns == ["x", "y", "score"]
    np.testing.assert_array_equal(rows, pts)


def test_hog_overlay_holds_the_cell_histograms(chelsea):
    from editor.ops.overlays import CellsOverlay, find_overlay

    img = np.ascontiguousarray(chelsea[:160, :200])
    ctx = OpContext()
    out = get_op("hog")(img, ctx, cell=8, block=2, bins=9)
    np.testing.assert_array_equal(out, img)
    ov = find_overlay(ctx.extras)
    assert isinstance(ov, CellsOverlay) and ov.cell == 8 and ov.count() == 20 * 25
    np.testing.assert_array_equal(ov.hist, hog_cells(img, 8, 9))
    assert ctx.extras["hog_length"] == hog_descriptor(img, 8, 2, 9).size
    # the glyph lines: bin 0 (gradients near 0 degrees, a vertical edge) is vertical
    assert np.allclose(ov.directions()[0], [np.sin(np.pi / 18), -np.cos(np.pi / 18)])
    columns, rows = ov.table()
    assert columns[:3] == ["cx", "cy", "size"] and len(columns) == 3 + 9
    assert rows[0, :3].tolist() == [4.0, 4.0, 8.0] and rows[-1, :2].tolist() == [196.0, 156.0]
    np.testing.assert_allclose(rows[:, 3:], hog_cells(img, 8, 9).reshape(-1, 9))


def test_overlay_placed_from_a_preview_proxy_lands_in_image_coordinates():
    """A proxy's corners, placed with the proxy's scale and origin, sit on the full-size ones.

    On the checkerboard (corners that survive halving): the crossings found on a
    half-size crop of the lower right, placed back, land within a proxy pixel of
    the crossings found at full size.
    """
    from editor.ops.overlays import find_overlay, place_extras

    board = cv2.GaussianBlur(skimage.data.checkerboard(), (0, 0), 1.0)
    crop = board[60:, 80:]  # 140 x 120
    half = cv2.resize(crop, (60, 70), interpolation=cv2.INTER_AREA)
    ctx = OpContext(preview_scale=0.5)
    get_op("harris")(half, ctx, sigma=3.0, threshold=0.05)
    placed = place_extras(ctx.extras, 2.0, (80.0, 60.0))
    ov = find_overlay(placed)
    assert ov.preview and ov.scale == 2.0 and ov.origin == (80.0, 60.0)
    _, full, _ = _run("harris", board, sigma=3.0, threshold=0.05)
    assert ov.count() >= 9
    assert _matched(ov.image_points(), full, 2.0) == 1.0
    np.testing.assert_allclose(np.asarray(placed["points"])[:, :2], ov.image_points()[:, :2])
