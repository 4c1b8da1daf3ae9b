"""Geometry ops against independent implementations on a real photo.

The ops resample with OpenCV, so the references here are *not* OpenCV: scipy.ndimage,
scikit-image, Pillow, and direct NumPy formulations of the kernels (Keys bicubic,
Lanczos, exact box areas). Convention throughout: pixel centres at integer
coordinates, y down, matrices map input positions to output positions.

Tolerances: a reference in float64 and our uint8 result differ by the final rounding,
so |diff| <= 0.5 (+ a hair for float noise) is "the same resampling"; where a reference
rounds differently (Pillow's 8-bit intermediate pass) or ties break differently
(nearest at exactly half a pixel) the test says so next to the bound.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
from conftest import psnr, reporting_context

from editor.core.context import Cancelled, OpContext
from editor.ops import ParamError, get_op
from editor.ops.geometry import (
    PIXEL_LIMIT,
    compose_transform,
    decompose_transform,
    rotation_matrix,
    warp,
)

ROUNDING = 0.5 + 1e-3  # float reference vs uint8 result: rounding only


@pytest.fixture(scope="module")
def img(astronaut):
    """A 200x160 crop of a real photo with a face, edges and texture."""
    return np.ascontiguousarray(astronaut[60:260, 120:280])


# -- independent references -----------------------------------------------------

def keys(t, a=-0.75):
    """Keys' cubic convolution kernel (a = -0.75, the value OpenCV uses)."""
    t = np.abs(t)
    return np.where(t <= 1, (a + 2) * t**3 - (a + 3) * t**2 + 1,
                    np.where(t < 2, a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a, 0.0))


def lanczos(a):
    return lambda t: np.where(np.abs(t) < a, np.sinc(t) * np.sinc(t / a), 0.0)


def triangle(t):
    return np.maximum(0.0, 1.0 - np.abs(t))


def resize_weights(n_in, n_out, kernel, support, antialias=False):
    """(n_out, n_in) matrix of a separable resize, half-pixel centres.

    Without antialias: taps around c = (j + 0.5) * n_in / n_out - 0.5, indices clamped
    (OpenCV's replicated border). With antialias: the kernel is widened by the shrink
    factor and the window clipped and renormalised at the borders (Pillow's rule).
    """
    sc = n_in / n_out
    w = np.zeros((n_out, n_in))
    for j in range(n_out):
        if not antialias:
            c = (j + 0.5) * sc - 0.5
            f = int(np.floor(c))
            for i in range(f - support + 1, f + support + 1):
                w[j, min(max(i, 0), n_in - 1)] += kernel(c - i)
        else:
            fs = max(sc, 1.0)
            c = (j + 0.5) * sc
            lo, hi = max(int(c - support * fs + 0.5), 0), min(int(c + support * fs + 0.5), n_in)
            i = np.arange(lo, hi)
            k = kernel((i - c + 0.5) / fs)
            w[j, lo:hi] = k / k.sum()
    return w


def area_weights(n_in, n_out):
    """Exact overlap of each output pixel's footprint with each input pixel."""
    sc = n_in / n_out
    w = np.zeros((n_out, n_in))
    for j in range(n_out):
        a, b = j * sc, (j + 1) * sc
        for i in range(int(np.floor(a)), min(int(np.ceil(b)), n_in)):
            w[j, i] = max(0.0, min(b, i + 1) - max(a, i)) / sc
    return w


def separable(image, wy, wx):
    rows = np.tensordot(wy, image.astype(float), axes=(1, 0))          # (h_out, w_in, c)
    return np.clip(np.tensordot(wx, rows, axes=(1, 1)).transpose(1, 0, 2), 0, 255)


def source_coords(m, shape):
    """Input (x, y) of every output pixel through the inverse of forward matrix m."""
    h, w = shape
    yy, xx = np.mgrid[:h, :w].astype(float)
    p = np.linalg.inv(m) @ np.stack([xx.ravel(), yy.ravel(), np.ones(xx.size)])
    return (p[0] / p[2]).reshape(h, w), (p[1] / p[2]).reshape(h, w)


def interior(xs, ys, shape, margin=3):
    """Output pixels whose whole (4x4) source neighbourhood lies inside the image."""
    h, w = shape[:2]
    return (xs > margin) & (xs < w - 1 - margin) & (ys > margin) & (ys < h - 1 - margin)


def scipy_warp(image, m, order):
    xs, ys = source_coords(m, image.shape[:2])
    planes = [ndi.map_coordinates(image[..., c].astype(float), [ys, xs], order=order)
              for c in range(image.shape[2])]
    return np.dstack(planes), xs, ys


def keys_warp(image, m):
    """Bicubic (Keys) warp written out in NumPy: 16 taps per output pixel."""
    xs, ys = source_coords(m, image.shape[:2])
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    f = image.astype(float)
    out = 0.0
    for dy in range(-1, 3):
        for dx in range(-1, 3):
            yi = np.clip(y0 + dy, 0, image.shape[0] - 1)
            xi = np.clip(x0 + dx, 0, image.shape[1] - 1)
            out = out + f[yi, xi] * (keys(ys - y0 - dy) * keys(xs - x0 - dx))[..., None]
    return np.clip(out, 0, 255), xs, ys


# -- warps ----------------------------------------------------------------------

@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic"])
def test_affine_matches_independent_resampler(img, interpolation):
    h, w = img.shape[:2]
    m = compose_transform(width=w, height=h, angle=23, scale_x=1.1, shear_x=0.2, dx=3.3)
    out = get_op("affine")(img, matrix=m.ravel().tolist(), interpolation=interpolation)
    if interpolation == "bicubic":
        ref, xs, ys = keys_warp(img, m)
    else:
        ref, xs, ys = scipy_warp(img, m, order=0 if interpolation == "nearest" else 1)
    d = np.abs(out.astype(float) - ref)[interior(xs, ys, img.shape)]
    if interpolation == "nearest":
        # Same pixel picked except where a source coordinate falls within float noise of
        # a half pixel and the two libraries break the tie differently (~0.01 %).
        assert (d == 0).mean() > 0.999
    else:
        assert d.max() <= ROUNDING


def test_rotate_matches_skimage_and_turns_counter_clockwise(img):
    from skimage.transform import rotate as sk_rotate

    out = get_op("rotate")(img, angle=30)
    ref = sk_rotate(img.astype(float), 30, order=1, preserve_range=True)
    h, w = img.shape[:2]
    m = compose_transform(width=w, height=h, angle=30)
    xs, ys = source_coords(m, (h, w))
    d = np.abs(out.astype(float) - ref)[interior(xs, ys, img.shape, margin=1)]
    assert d.max() <= ROUNDING  # skimage's rotate is counter-clockwise about the centre


def test_rotate_quarter_turn_is_rot90(img):
    square = np.ascontiguousarray(img[:150, :150])
    for interpolation in ("nearest", "bilinear", "bicubic"):
        out = get_op("rotate")(square, angle=90, interpolation=interpolation)
        assert np.array_equal(out, np.rot90(square))  # exact: centres land on centres
    tall = get_op("rotate")(img, angle=-90, expand=True, interpolation="bicubic")
    assert np.array_equal(tall, np.rot90(img, k=-1))
    assert np.array_equal(get_op("rotate")(img, angle=360), img)


def test_rotate_expand_holds_whole_image(img):
    out = get_op("rotate")(img, angle=45, expand=True, fill=(255, 0, 255))
    h, w = img.shape[:2]
    side = np.ceil((w + h) / np.sqrt(2) - 1e-6)
    assert out.shape == (side, side, 3)
    assert (out[0, 0] == (255, 0, 255)).all()  # a corner is fill
    # The whole photo survives: the non-fill area is the photo's area, up to edge blur.
    content = ~np.all(out == (255, 0, 255), axis=2)
    assert abs(content.sum() - w * h) / (w * h) < 0.03


# the last three leave a strip of rows (one a core) all fill
@pytest.mark.parametrize("dx,dy", [(7, -4), (-5, 9), (0, 3), (500, 0), (2, 150), (-3, -120),
                                   (0, 199)])
def test_translate_integer_is_exact_shift(img, dx, dy):
    out = get_op("translate")(img, dx=dx, dy=dy, fill=(10, 20, 30))
    ref = np.dstack([ndi.shift(img[..., c], (dy, dx), order=0, cval=v)
                     for c, v in enumerate((10, 20, 30))])
    assert np.array_equal(out, ref)


def test_translate_subpixel_matches_scipy(img):
    out = get_op("translate")(img, dx=2.25, dy=-1.5, interpolation="bilinear")
    ref, xs, ys = scipy_warp(img, np.array([[1, 0, 2.25], [0, 1, -1.5], [0, 0, 1.0]]), 1)
    assert np.abs(out - ref)[interior(xs, ys, img.shape)].max() <= ROUNDING


def test_shear_matches_scipy(img):
    h, w = img.shape[:2]
    out = get_op("shear")(img, sx=0.3, sy=-0.1)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    # Written out by hand rather than with compose_transform: x' = x + sx y about centre.
    m = np.array([[1, 0.3, -0.3 * cy], [-0.1, 1, 0.1 * cx], [0, 0, 1.0]])
    ref, xs, ys = scipy_warp(img, m, order=1)
    assert np.abs(out - ref)[interior(xs, ys, img.shape)].max() <= ROUNDING


def test_affine_identity_exact_and_perspective(img):
    assert np.array_equal(get_op("affine")(img, matrix=[1, 0, 0, 0, 1, 0]), img)
    p = np.array([[1.0, 0.05, 2.0], [0.02, 0.95, 1.0], [4e-4, -2e-4, 1.0]])
    out = get_op("affine")(img, matrix=p.ravel().tolist())
    ref, xs, ys = scipy_warp(img, p, order=1)
    assert np.abs(out - ref)[interior(xs, ys, img.shape)].max() <= ROUNDING


def test_composed_matrix_hits_expected_pixels():
    # One bright pixel on black: after a composed transform it lands exactly where the
    # matrix sends its centre (quarter turn, mirror, whole-pixel shift: no resampling
    # blur, so one pixel in, one pixel out; scale 3 makes it a centred 3x3 block).
    image = np.zeros((61, 61), np.uint8)
    image[25, 28] = 255
    for scale, block in ((1, 1), (3, 3)):
        m = compose_transform(width=61, height=61, angle=90, reflect_h=True,
                              scale_x=scale, scale_y=scale, dx=3, dy=-2)
        x, y, _ = m @ [28, 25, 1]
        out = get_op("affine")(image, matrix=m.ravel().tolist(), interpolation="nearest")
        ys, xs = np.nonzero(out)
        assert len(xs) == block * block
        assert (xs.mean(), ys.mean()) == (x, y)
    m = compose_transform(width=61, height=41, angle=90, reflect_h=True, scale_x=2,
                          scale_y=2, dx=3, dy=-2)
    assert np.allclose(m, compose_transform(width=61, height=41, dx=3, dy=-2)
                       @ compose_transform(width=61, height=41, angle=90)
                       @ compose_transform(width=61, height=41, scale_x=2, scale_y=2)
                       @ compose_transform(width=61, height=41, reflect_h=True))


def test_composition_is_matrix_product_and_decomposes():
    kw = dict(width=300, height=200)
    m = compose_transform(**kw, scale_x=1.3, scale_y=0.7, angle=33, shear_x=0.25,
                          reflect_h=True, dx=12, dy=-5)
    c = np.array([149.5, 99.5])
    lin = (rotation_matrix(33) @ [[1, 0.25, 0], [0, 1, 0], [0, 0, 1]]
           @ np.diag([1.3, 0.7, 1]) @ np.diag([-1, 1, 1]))
    expected = lin.copy()
    expected[:2, 2] = c - lin[:2, :2] @ c + [12, -5]
    assert np.allclose(m, expected)
    back = compose_transform(**kw, **decompose_transform(m, **kw))
    assert np.allclose(back, m)


def test_resampling_once_blurs_less_than_step_by_step(img):
    # Rotate 60° as six steps of 10° vs once with the product matrix; the reference is
    # a high-order (quintic spline) rotation of the same photo in float.
    gray = np.ascontiguousarray(img[..., 1])
    h, w = gray.shape
    step = compose_transform(width=w, height=h, angle=10)
    once = get_op("affine")(gray, matrix=np.linalg.matrix_power(step, 6).ravel().tolist())
    stepped = gray
    for _ in range(6):
        stepped = get_op("affine")(stepped, matrix=step.ravel().tolist())
    m = np.linalg.matrix_power(step, 6)
    xs, ys = source_coords(m, (h, w))
    truth = ndi.map_coordinates(gray.astype(float), [ys, xs], order=5)
    disk = (np.hypot(np.mgrid[:h, :w][1] - (w - 1) / 2, np.mgrid[:h, :w][0] - (h - 1) / 2)
            < min(h, w) / 2 - 6)
    p_once, p_stepped = psnr(once[disk], truth[disk]), psnr(stepped[disk], truth[disk])
    assert p_once > p_stepped + 3, (p_once, p_stepped)


# -- resize ---------------------------------------------------------------------

@pytest.mark.parametrize("interpolation,size,weights,tol", [
    # OpenCV's uint8 bilinear resize uses 11-bit fixed-point weights: <= 1 level.
    ("bilinear", (237, 311), lambda a, b: resize_weights(a, b, triangle, 1), 1.0),
    ("bicubic", (237, 311), lambda a, b: resize_weights(a, b, keys, 2), ROUNDING),
    ("bicubic", (71, 93), lambda a, b: resize_weights(a, b, keys, 2), ROUNDING),
    ("area", (71, 93), area_weights, ROUNDING),
    # OpenCV's Lanczos-4 keeps float32 weights it computes by a sin recurrence: up to
    # 2 levels from the exact sinc product on sharp edges.
    ("lanczos", (237, 311), lambda a, b: resize_weights(a, b, lanczos(4), 4), 2.0),
])
def test_resize_matches_numpy_kernels(img, interpolation, size, weights, tol):
    w, h = size
    out = get_op("resize")(img, width=w, height=h, interpolation=interpolation)
    ref = separable(img, weights(img.shape[0], h), weights(img.shape[1], w))
    assert out.shape == (h, w, 3)
    assert np.abs(out - ref).max() <= tol


def test_resize_lanczos_shrink_is_antialiased(img):
    out = get_op("resize")(img, width=71, height=93, interpolation="lanczos")
    ref = separable(img, resize_weights(200, 93, lanczos(3), 3, True),
                    resize_weights(160, 71, lanczos(3), 3, True))
    d = np.abs(out - ref)
    # Pillow rounds and clips to 8 bits between its horizontal and vertical passes
    # (Lanczos overshoots at edges), the reference does not: a few levels at most.
    assert d.max() <= 4 and np.percentile(d, 99) <= 1.0 and d.mean() < 0.4


def test_resize_nearest_matches_pillow_and_area_block_mean(img):
    from PIL import Image

    out = get_op("resize")(img, width=237, height=311, interpolation="nearest")
    assert np.array_equal(out, np.asarray(Image.fromarray(img).resize((237, 311),
                                                                      Image.NEAREST)))
    half = get_op("resize")(img, scale=0.5, interpolation="area")
    block = img.reshape(100, 2, 80, 2, 3).astype(float).mean(axis=(1, 3))
    assert np.abs(half - block).max() <= ROUNDING


def test_resize_size_rules(img):
    op = get_op("resize")
    assert op(img, width=80).shape == (100, 80, 3)        # aspect kept from width
    assert op(img, height=50).shape == (50, 40, 3)        # aspect kept from height
    assert op(img, scale=1.5).shape == (300, 240, 3)
    assert op(img, width=10, height=30).shape == (30, 10, 3)
    with pytest.raises(ParamError, match="MP limit"):
        op(img, width=100_000, height=100_000)   # refused before allocating 30 GB
    with pytest.raises(ParamError, match="scale must be between"):
        op(img, scale=20)
    with pytest.raises(ParamError, match="interpolation must be one of"):
        op(img, interpolation="sinc")
    assert PIXEL_LIMIT == 250_000_000


# -- crop, flip, rotate90 ---------------------------------------------------------

def test_crop_copies_rectangle_and_refuses_outside(img):
    out = get_op("crop")(img, x=10, y=20, width=30, height=40)
    assert np.array_equal(out, img[20:60, 10:40]) and not np.shares_memory(out, img)
    assert get_op("crop")(img, x=150).shape == (200, 10, 3)  # 0 = to the edge
    with pytest.raises(ParamError, match="reaches past the 160x200 image"):
        get_op("crop")(img, x=150, width=20)
    with pytest.raises(ParamError, match="x must be between"):
        get_op("crop")(img, x=-1)


def test_flip_and_rotate90_are_lossless(img):
    assert np.array_equal(get_op("flip")(img), img[:, ::-1])
    assert np.array_equal(get_op("flip")(img, axis="vertical"), img[::-1])
    for turns in range(-3, 4):
        assert np.array_equal(get_op("rotate90")(img, turns=turns), np.rot90(img, -turns))


# -- canvas size: Pillow's paste on a new canvas is the reference ------------------

#: (old, new) -> left offset of the image for anchors left, centre, right, worked out
#: by hand: the centre shares the change, the odd pixel after the image when growing
#: and before it when cutting
CANVAS_OFFSETS = {(160, 171): (0, 5, 11), (160, 150): (0, -5, -10), (160, 160): (0, 0, 0),
                  (200, 187): (0, -7, -13), (200, 200): (0, 0, 0), (200, 400): (0, 100, 200)}
ANCHOR_GRID = {"top_left": (0, 0), "top": (1, 0), "top_right": (2, 0), "left": (0, 1),
               "center": (1, 1), "right": (2, 1), "bottom_left": (0, 2), "bottom": (1, 2),
               "bottom_right": (2, 2)}


def pillow_canvas(plane: np.ndarray, size: tuple[int, int], at: tuple[int, int],
                  value: int) -> np.ndarray:
    """One channel pasted at ``at`` on a ``size`` canvas of ``value`` (Pillow crops it)."""
    from PIL import Image

    mode = "L" if plane.dtype == np.uint8 else "I;16"
    canvas = Image.new(mode, size, value)
    canvas.paste(Image.fromarray(np.ascontiguousarray(plane)), at)
    return np.asarray(canvas)


@pytest.mark.parametrize("anchor", list(ANCHOR_GRID))
@pytest.mark.parametrize("new", [(171, 187), (150, 400), (160, 200)])
def test_canvas_size_matches_pillow_paste(img, anchor, new):
    w, h = new
    col, row = ANCHOR_GRID[anchor]
    at = (CANVAS_OFFSETS[(160, w)][col], CANVAS_OFFSETS[(200, h)][row])
    fill = (12, 200, 90)
    out = get_op("canvas_size")(img, width=w, height=h, anchor=anchor, fill=fill)
    ref = np.dstack([pillow_canvas(img[..., c], (w, h), at, fill[c]) for c in range(3)])
    assert out.dtype == np.uint8 and np.array_equal(out, ref)


def test_canvas_size_alpha_gray_uint16_and_keep(img):
    op = get_op("canvas_size")
    rgba = np.dstack([img, img[..., 1]])
    out = op(rgba, width=171, height=150, anchor="bottom_right", fill=(255, 0, 0))
    at = (CANVAS_OFFSETS[(160, 171)][2], -50)
    ref = [pillow_canvas(rgba[..., c], (171, 150), at, v)
           for c, v in enumerate((255, 0, 0, 0))]  # new area transparent
    assert np.array_equal(out, np.dstack(ref))
    gray = np.ascontiguousarray(img[..., 0])
    out = op(gray, width=400, anchor="left", fill=(255, 128, 0))
    luma = round(0.2126 * 255 + 0.7152 * 128 + 0.0722 * 0)
    assert np.array_equal(out, pillow_canvas(gray, (400, 200), (0, 0), luma))
    img16 = img.astype(np.uint16) * 257 + 3
    out = op(img16, height=187, anchor="bottom", fill=(255, 255, 255))
    ref = [pillow_canvas(img16[..., c], (160, 187), (0, -13), 65535) for c in range(3)]
    assert out.dtype == np.uint16 and np.array_equal(out, np.dstack(ref))
    assert np.array_equal(op(img), img)  # 0 x 0 keeps the size: the same pixels


def test_canvas_size_preview_scale_and_limits(img):
    ctx = OpContext(preview_scale=0.5)
    small = img[::2, ::2]
    out = get_op("canvas_size")(small, width=400, height=300, anchor="top_left", ctx=ctx)
    assert out.shape == (150, 200, 3) and np.array_equal(out[:100, :80], small)
    with pytest.raises(ParamError, match="above the 250 MP limit"):
        get_op("canvas_size")(img, width=100_000, height=100_000)
    with pytest.raises(ParamError, match="anchor"):
        get_op("canvas_size")(img, anchor="middle")


# -- policy: dtype, alpha, preview scale, errors, cancel ----------------------------

def test_uint16_stays_uint16(img):
    img16 = img.astype(np.uint16) * 257
    for name, params in [("rotate", {"angle": 17}), ("resize", {"scale": 0.6}),
                         ("resize", {"scale": 0.6, "interpolation": "lanczos"}),
                         ("shear", {"sx": 0.2}), ("translate", {"dx": 1.5}),
                         ("affine", {"matrix": [1, 0, 0.5, 0, 1, 0]})]:
        out16 = get_op(name)(img16, **params)
        out8 = get_op(name)(img, **params)
        assert out16.dtype == np.uint16
        # Same geometry at 16 bits: within one 8-bit level (+ rounding) of the 8-bit result.
        assert np.abs(out16 / 257.0 - out8).max() <= 1.5, name


def test_alpha_moves_with_pixels_and_is_transparent_outside(img):
    alpha = np.full(img.shape[:2], 200, np.uint8)
    alpha[50:80, 40:90] = 30
    rgba = np.dstack([img, alpha])
    out = get_op("rotate")(rgba, angle=90, fill=(255, 255, 255), expand=True)
    assert np.array_equal(out, np.rot90(rgba))
    out = get_op("translate")(rgba, dx=-10, fill=(255, 0, 0))
    assert (out[:, -10:, 3] == 0).all() and (out[:, -10:, 0] == 255).all()
    assert np.array_equal(out[:, :-10], rgba[:, 10:])
    out = get_op("rotate")(rgba, angle=20, interpolation="nearest")
    assert out[0, 0, 3] == 0 and set(np.unique(out[..., 3])) <= {0, 30, 200}
    gray = get_op("translate")(img[..., 0].copy(), dx=5, fill=(255, 255, 255))
    assert (gray[:, :5] == 255).all()   # grayscale fill is the colour's luma


def test_preview_scale_makes_proxy_match_full_result(img):
    full = get_op("crop")(img, x=40, y=60, width=80, height=100)
    proxy = img[::2, ::2]
    ctx = OpContext(preview_scale=0.5)
    small = get_op("crop")(proxy, ctx=ctx, x=40, y=60, width=80, height=100)
    assert small.shape[:2] == (50, 40) and np.array_equal(small, full[::2, ::2])
    assert get_op("crop")(proxy, ctx=OpContext(preview_scale=0.5), x=0).shape == proxy.shape
    assert get_op("resize")(proxy, ctx=OpContext(preview_scale=0.5),
                            width=100).shape == (62, 50, 3)
    m = [1, 0, 20, 0, 1, 10]   # 20 px right at full size -> 10 px on the half proxy
    out = get_op("affine")(proxy, ctx=OpContext(preview_scale=0.5), matrix=m,
                           interpolation="nearest")
    assert np.array_equal(out[5:, 10:], proxy[:-5, :-10])
    out = get_op("translate")(proxy, ctx=OpContext(preview_scale=0.5), dx=20, dy=10)
    assert np.array_equal(out[5:, 10:], proxy[:-5, :-10])


def test_bad_parameters_fail_clearly_before_work(img):
    with pytest.raises(ParamError, match="singular"):
        get_op("affine")(img, matrix=[1, 2, 0, 2, 4, 0])
    with pytest.raises(ParamError, match="singular"):
        get_op("shear")(img, sx=1, sy=1)
    with pytest.raises(ParamError, match="6 \\(2x3\\) or 9"):
        get_op("affine")(img, matrix=[1, 0, 0, 1])
    with pytest.raises(ParamError, match="angle must be between -360 and 360"):
        get_op("rotate")(img, angle=400)
    with pytest.raises(ParamError, match="sx must be between -4 and 4"):
        get_op("shear")(img, sx=5)
    with pytest.raises(ParamError, match="fill must be three values"):
        get_op("rotate")(img, angle=5, fill=(0, 0, 300))


def test_warp_cancels_between_strips(img, monkeypatch):
    import editor.ops.geometry as geometry

    monkeypatch.setattr(geometry, "_STRIP_PIXELS", 1000)
    ctx, reports = reporting_context(cancel_when=lambda f, m: f > 0.3)
    with pytest.raises(Cancelled):
        warp(img, rotation_matrix(5), ctx=ctx)
    assert 0.3 < reports.fractions[-1] < 1.0
    # Strips agree with one whole call (OpenCV rounds each row's start position, so a
    # rare pixel may differ by one level).
    monkeypatch.setattr(geometry, "_STRIP_PIXELS", 10**9)
    whole = warp(img, rotation_matrix(5), interpolation="bicubic")
    monkeypatch.setattr(geometry, "_STRIP_PIXELS", 1000)
    strips = warp(img, rotation_matrix(5), interpolation="bicubic")
    assert np.abs(whole.astype(int) - strips).max() <= 1


def test_input_never_modified(img):
    before = img.copy()
    img.flags.writeable = False
    try:
        for name in ("resize", "rotate", "translate", "shear", "affine", "crop", "flip",
                     "rotate90"):
            get_op(name)(img)
    finally:
        img.flags.writeable = True
    assert np.array_equal(img, before)
