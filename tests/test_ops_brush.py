"""Brush ops (clone stamp, heal) and straighten, checked against independent references."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from editor.core.context import OpContext
from editor.ops import get_op, run_op
from editor.ops.brush import brush_mask, brush_profile, stroke_box
from editor.ops.geometry import largest_rotated_rect, straighten_crop

STROKE = [(60.0, 80.0), (120.5, 95.0), (170.0, 60.0), (210.0, 140.0)]


# -- the stroke mask ----------------------------------------------------------------

def _dense_distance(shape, points):
    """Distance from every pixel centre to the polyline, by sampling it every 0.02 px."""
    samples = []
    for a, b in zip(points[:-1], points[1:], strict=True):
        n = max(2, int(math.hypot(b[0] - a[0], b[1] - a[1]) / 0.02))
        t = np.linspace(0, 1, n)[:, None]
        samples.append(np.asarray(a) * (1 - t) + np.asarray(b) * t)
    pts = np.concatenate(samples).astype(np.float32)
    yy, xx = np.mgrid[:shape[0], :shape[1]].astype(np.float32)
    best = np.full(shape, np.inf, np.float32)
    for chunk in np.array_split(pts, max(1, len(pts) // 500)):
        d = np.hypot(xx[..., None] - chunk[:, 0], yy[..., None] - chunk[:, 1]).min(axis=-1)
        np.minimum(best, d, out=best)
    return best


def test_hard_stroke_covers_the_pixels_within_its_radius():
    shape = (160, 240)
    size = 21.0
    m = brush_mask(shape, STROKE, size, hardness=1.0)
    d = _dense_distance(shape, STROKE)
    r = size / 2
    assert np.all(m[d <= r - 0.51] == 1.0)  # the core is fully painted
    assert np.all(m[d >= r + 0.51] == 0.0)  # nothing beyond the antialiased rim
    rim = (d > r - 0.49) & (d < r + 0.49)
    np.testing.assert_allclose(m[rim], np.clip(r + 0.5 - d[rim], 0, 1), atol=0.03)


def test_soft_stroke_falls_off_with_distance_only():
    shape = (160, 240)
    m = brush_mask(shape, STROKE, 40.0, hardness=0.25)
    d = _dense_distance(shape, STROKE)
    np.testing.assert_allclose(m, brush_profile(d, 40.0, 0.25), atol=0.02)
    assert np.all(m[d <= 5.0 - 0.05] == 1.0)  # the hard core: a quarter of the 20 px radius
    # strictly decreasing through the falloff
    ring = np.linspace(5.5, 19.5, 15)
    prof = brush_profile(ring, 40.0, 0.25)
    assert np.all(np.diff(prof) < 0) and prof[-1] < 0.05


def test_stroke_outside_its_box_is_zero_and_self_crossing_does_not_build_up():
    shape = (120, 120)
    loop = [(30, 30), (90, 90), (90, 30), (30, 90), (30, 30)]
    m = brush_mask(shape, loop, 16, hardness=0.5)
    y0, y1, x0, x1 = stroke_box(shape, loop, 16)
    assert m.max() == 1.0 and m.min() >= 0.0
    outside = np.ones(shape, bool)
    outside[y0:y1, x0:x1] = False
    assert not m[outside].any()
    assert stroke_box(shape, [(-100, -100)], 10) is None
    assert not brush_mask(shape, [], 10).any()


# -- clone --------------------------------------------------------------------------

def _clone_reference(image, points, size, hardness, opacity, dx, dy):
    """Clone by whole-image shifts in float, skipping sources outside the image."""
    h, w = image.shape[:2]
    a = brush_mask(image.shape, points, size, hardness) * opacity
    img = image.astype(np.float64)
    src = np.zeros_like(img)
    valid = np.zeros((h, w), bool)
    ys, xs = np.mgrid[:h, :w]
    sy, sx = ys + dy, xs + dx
    inside = (sy >= 0) & (sy < h) & (sx >= 0) & (sx < w)
    src[inside] = img[sy[inside], sx[inside]]
    valid[inside] = True
    a = np.where(valid, a, 0.0)
    a = a[..., None] if image.ndim == 3 else a
    out = np.floor(img + a * (src - img) + 0.5)
    return out.astype(image.dtype)


@pytest.mark.parametrize("dx, dy", [(70, -25), (-150, 40), (0, 300)])
def test_clone_matches_a_numpy_reference(astronaut, dx, dy):
    img = np.ascontiguousarray(astronaut[100:300, 100:400])
    params = dict(points=STROKE, size=30.0, hardness=0.4, opacity=0.8, dx=dx, dy=dy)
    out = run_op(get_op("clone"), img, params)
    ref = _clone_reference(img, STROKE, 30.0, 0.4, 0.8, dx, dy)
    assert np.abs(out.astype(int) - ref).max() <= 1
    changed = np.any(out != img, axis=-1)
    assert changed.sum() > 500 or dy == 300  # dy=300 takes every source from outside
    if dy == 300:
        np.testing.assert_array_equal(out, img)


def test_clone_hard_brush_copies_the_source_pixels_exactly(astronaut):
    img = astronaut.copy()
    out = run_op(get_op("clone"), img, dict(points=[(200, 200), (260, 210)], size=25,
                                            hardness=1.0, opacity=1.0, dx=-120, dy=90))
    core = brush_mask(img.shape, [(200, 200), (260, 210)], 25, 1.0) == 1.0
    ys, xs = np.nonzero(core)
    np.testing.assert_array_equal(out[ys, xs], img[ys + 90, xs - 120])
    untouched = brush_mask(img.shape, [(200, 200), (260, 210)], 25, 1.0) == 0
    np.testing.assert_array_equal(out[untouched], img[untouched])


def test_clone_stays_inside_the_selection(astronaut):
    img = astronaut.copy()
    sel = np.zeros(img.shape[:2], np.float32)
    sel[:, :230] = 1.0  # the stroke crosses x = 230
    ctx = OpContext(selection=sel)
    params = dict(points=[(200, 200), (260, 200)], size=30, hardness=1.0, dx=0, dy=150)
    out = run_op(get_op("clone"), img, params, ctx)
    np.testing.assert_array_equal(out[:, 230:], img[:, 230:])
    assert np.any(out[:, :230] != img[:, :230])


def test_clone_preview_matches_the_full_result(astronaut):
    params = dict(points=STROKE, size=30.0, hardness=0.5, dx=80, dy=40)
    full = run_op(get_op("clone"), astronaut, params)
    proxy = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    prev = run_op(get_op("clone"), proxy, params, OpContext(preview_scale=0.5))
    small_full = cv2.resize(full, (256, 256), interpolation=cv2.INTER_AREA)
    diff = np.abs(prev.astype(int) - small_full.astype(int))
    # the stroke lands in the same place: the proxy's edit mirrors the full one
    assert np.mean(diff) < 1.5 and np.any(prev != proxy)


# -- heal -----------------------------------------------------------------------------

@pytest.mark.parametrize("method, flag", [("telea", cv2.INPAINT_TELEA),
                                          ("navier_stokes", cv2.INPAINT_NS)])
def test_heal_matches_opencv_inpaint_on_the_stroke(chelsea, method, flag):
    img = chelsea.copy()
    points = [(120, 100), (200, 130), (260, 110)]
    out = run_op(get_op("heal"), img, dict(points=points, size=9, hardness=0.7,
                                           method=method))
    alpha = brush_mask(img.shape, points, 9, 0.7)
    filled = cv2.inpaint(img, (alpha > 0).astype(np.uint8), 5.0, flag)
    ref = np.floor(img + alpha[..., None] * (filled.astype(np.float64) - img) + 0.5)
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1
    np.testing.assert_array_equal(out[alpha == 0], img[alpha == 0])


def test_heal_removes_a_drawn_wire(coffee):
    """A dark wire painted across the photo, healed: the true pixels come back closely."""
    truth = coffee.copy()
    wire = [(40, 250), (300, 200), (560, 260)]
    damaged = truth.copy()
    line = brush_mask(truth.shape, wire, 4, 1.0) > 0
    damaged[line] = (10, 10, 10)
    healed = run_op(get_op("heal"), damaged, dict(points=wire, size=8, hardness=1.0))
    before = np.abs(damaged[line].astype(int) - truth[line]).mean()
    after = np.abs(healed[line].astype(int) - truth[line]).mean()
    assert after < before / 4, (before, after)


def test_heal_uint16_and_gray(astronaut):
    rgb16 = astronaut.astype(np.uint16) * 257
    gray = np.ascontiguousarray(astronaut[..., 1])
    for img in (rgb16, gray):
        out = run_op(get_op("heal"), img, dict(points=[(100, 100), (160, 120)], size=10))
        assert out.dtype == img.dtype and np.any(out != img)


# -- straighten -------------------------------------------------------------------

def _opaque(w, h):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return np.dstack([rgb, np.full((h, w), 255, np.uint8)])


def _largest_centred_valid(valid):
    """Brute force: the largest-area rectangle centred in ``valid`` holding only True."""
    oh, ow = valid.shape
    best = 0
    for cw in range(1, ow + 1):
        x0 = (ow - cw) // 2
        rows = valid[:, x0:x0 + cw].all(axis=1)
        c = oh // 2
        if not rows[c]:
            break
        top = c
        while top > 0 and rows[top - 1]:
            top -= 1
        bot = c
        while bot < oh - 1 and rows[bot + 1]:
            bot += 1
        best = max(best, cw * (bot - top + 1))
    return best


@pytest.mark.parametrize("w, h", [(120, 90), (90, 120), (200, 40)])
@pytest.mark.parametrize("angle", [-44.0, -5.0, 0.7, 5.0, 17.3, 30.0])
def test_straighten_leaves_no_empty_corner_and_crops_little_more(w, h, angle):
    img = _opaque(w, h)
    for interp in ("bilinear", "bicubic"):
        out = run_op(get_op("straighten"), img, {"angle": angle, "interpolation": interp})
        assert out.shape[2] == 4
        # alpha 0 is the fill outside the rotated photo: any trace of it shows here
        assert out[..., 3].min() == 255, (angle, interp, out.shape)
    # the same rotation with the whole canvas: which pixels are pure image
    rotated = run_op(get_op("rotate"), img, {"angle": angle, "expand": True})
    valid = rotated[..., 3] == 255
    best = _largest_centred_valid(valid)
    x, y, cw, ch = straighten_crop(w, h, angle)
    assert valid[y:y + ch, x:x + cw].all()
    assert cw * ch >= 0.95 * best - 2 * (cw + ch), (cw * ch, best)
    # and it is the rotation's own pixels, cropped (to 1 level: the crop's shift is folded
    # into the matrix, which moves OpenCV's fixed-point sample positions by a hair)
    bil = run_op(get_op("straighten"), img, {"angle": angle})
    assert bil.shape[:2] == (ch, cw)
    assert np.abs(bil.astype(int) - rotated[y:y + ch, x:x + cw]).max() <= 1


def test_largest_rotated_rect_against_sampling():
    """The closed form is the best centred rectangle, found here by a fine search."""
    for w, h, angle in [(400, 300, 10), (300, 400, 25), (500, 100, 30), (100, 100, 45)]:
        rw, rh = largest_rotated_rect(w, h, angle)
        t = math.radians(angle)
        c, s = math.cos(t), math.sin(t)

        def fits(a, b, w=w, h=h, c=c, s=s):
            # the corners of the a x b box, rotated back, lie in the w x h box
            for sx in (-1, 1):
                for sy in (-1, 1):
                    x, y = sx * a / 2, sy * b / 2
                    u, v = c * x - s * y, s * x + c * y
                    if abs(u) > w / 2 + 1e-6 or abs(v) > h / 2 + 1e-6:
                        return False
            return True

        assert fits(rw, rh)
        best = 0.0
        for a in np.linspace(1, max(w, h), 800):
            lo, hi = 0.0, float(max(w, h))
            for _ in range(40):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if fits(a, mid) else (lo, mid)
            best = max(best, a * lo)
        assert rw * rh >= best * 0.999, (w, h, angle, rw * rh, best)


def test_straighten_levels_a_tilted_horizon(astronaut):
    """A photo turned by 5°, straightened by -5°: the middle matches the original."""
    tilted = run_op(get_op("rotate"), astronaut, {"angle": 5.0, "expand": True})
    level = run_op(get_op("straighten"), tilted, {"angle": -5.0})
    h, w = level.shape[:2]
    oh, ow = astronaut.shape[:2]
    a = level[h // 2 - 100:h // 2 + 100, w // 2 - 100:w // 2 + 100].astype(float)
    b = astronaut[oh // 2 - 100:oh // 2 + 100, ow // 2 - 100:ow // 2 + 100].astype(float)
    assert np.abs(a - b).mean() < 6.0


def test_heal_exemplar_is_the_exemplar_fill_of_the_stroke(chelsea):
    """The heal works on a window around the stroke: the same pixels as filling the
    stroke's hole in the whole photo with editor.ops.retouch.fill_exemplar."""
    from editor.ops.retouch import fill_exemplar

    img = chelsea.copy()
    points = [(150, 200), (190, 215), (230, 205)]
    out = run_op(get_op("heal"), img, dict(points=points, size=16, hardness=0.6,
                                           method="exemplar"))
    alpha = brush_mask(img.shape, points, 16, 0.6)
    filled = fill_exemplar(img, alpha > 0, 9)
    ref = np.floor(img + alpha[..., None] * (filled.astype(np.float64) - img) + 0.5)
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1
    np.testing.assert_array_equal(out[alpha == 0], img[alpha == 0])
    assert np.any(out[alpha > 0.5] != img[alpha > 0.5])
