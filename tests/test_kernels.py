"""The compiled kernels against the NumPy expressions they fuse, on real photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from editor.core.kernels import byte_counts, rgb_luma_counts, shift_luma


def shifted(image, luma, new_luma, table):
    """The NumPy reference: clip(image + table[new_luma] - luma) in int64."""
    change = table[new_luma].astype(np.int64) - luma
    top = np.iinfo(image.dtype).max
    return np.clip(image.astype(np.int64) + change[..., None], 0, top).astype(image.dtype)


@pytest.mark.parametrize("depth", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])  # 2: the loop for any channel count
def test_shift_luma_matches_numpy_on_a_photo(astronaut, depth, channels):
    rgb = astronaut.astype(depth) * (257 if depth == np.uint16 else 1)
    image = {1: rgb[..., :1], 2: rgb[..., :2], 3: rgb,
             4: np.dstack([rgb, rgb[..., :1]])}[channels]
    image = np.ascontiguousarray(image[3:500, 7:391])  # odd sizes, rows not aligned
    luma = cv2.cvtColor(np.ascontiguousarray(rgb[3:500, 7:391]), cv2.COLOR_RGB2GRAY)
    top = np.iinfo(depth).max
    # a steep, non-monotone table: big changes both ways, so both clips are hit
    table = ((np.arange(top + 1) * 7) % (top + 1)).astype(depth)
    out = shift_luma(image, luma, luma, table)
    np.testing.assert_array_equal(out, shifted(image, luma, luma, table))
    assert (out == 0).any() and (out == top).any()
    # without a table, new_luma is the new luma itself
    np.testing.assert_array_equal(shift_luma(image, luma, table[luma]), out)


def test_shift_luma_reads_strided_inputs_and_leaves_them_alone(coffee):
    image = coffee[::2, ::3]  # a view with steps: copied to rows first
    luma = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    before = coffee.copy()
    new = np.ascontiguousarray(255 - luma[:, ::-1])
    out = shift_luma(image, luma, new)
    np.testing.assert_array_equal(out, shifted(image, luma, new, np.arange(256, dtype=np.uint8)))
    np.testing.assert_array_equal(coffee, before)


def test_warm_up_compiles_every_kernel_for_both_depths():
    # scripts/setup.sh runs warm_up() so no user waits for the compiler on a first edit;
    # an op module that owns a kernel registers its own warm-up (core never imports ops)
    import editor.ops  # noqa: F401  (registers the ops' warm-ups)
    from editor.core import kernels
    from editor.ops import color, tone

    kernels.warm_up()
    depths = {str(sig[0].dtype) for sig in kernels._shift_kernel().signatures}
    assert {"uint8", "uint16"} <= depths
    depths = {str(sig[0].dtype) for sig in color._hue_saturation_kernel().signatures}
    assert {"uint8", "uint16"} <= depths
    for kernel in (tone._clahe_tables_kernel(), kernels.clahe_blend_kernel()):
        assert {"uint8", "uint16"} <= {str(sig[0].dtype) for sig in kernel.signatures}
    assert kernels._count_kernel().signatures


def test_byte_counts_match_opencv_on_a_photo_of_any_layout(astronaut):
    # odd sizes (a tail of under 8 values), a strided view and the pooled channels
    for image in (astronaut, astronaut[3:500, 7:391], astronaut[::3, ::2, 1], astronaut[:1, :5]):
        flat = np.ascontiguousarray(image).reshape(1, -1)
        expected = cv2.calcHist([flat], [0], None, [256], [0, 256]).ravel()
        counts = byte_counts(image)
        assert counts.dtype == np.int64 and counts.shape == (256,)
        np.testing.assert_array_equal(counts, expected)
    assert byte_counts(np.empty((0, 3), np.uint8)).sum() == 0


def test_byte_counts_stay_exact_past_float32():
    # one value 2**25 + 3 times: calcHist's float32 counts cannot hold that number
    n = (1 << 25) + 3
    flat = np.full(n, 200, np.uint8)
    flat[:5] = 7
    counts = byte_counts(flat)
    assert counts[200] == n - 5 and counts[7] == 5 and counts.sum() == n
    with pytest.raises(TypeError, match="uint8"):
        byte_counts(np.zeros(4, np.uint16))


BT709 = np.array([0.2126, 0.7152, 0.0722], np.float32)


def opencv_counts(color):
    """R, G, B counts and those of cv2.transform's BT.709 luma: what the histogram
    panel counted before the compiled pass."""
    color = np.ascontiguousarray(color)
    planes = [color[..., c] for c in range(3)] + [cv2.transform(color, BT709[None])]
    return np.stack([np.bincount(p.ravel(), minlength=256) for p in planes])


def test_rgb_luma_counts_equal_opencv_over_every_colour():
    # all 2**24 colours once: every luma rounding OpenCV makes, exact halves included
    code = np.arange(1 << 24, dtype=np.uint32).reshape(4096, 4096)
    every = np.stack([code >> 16, (code >> 8) & 255, code & 255], -1).astype(np.uint8)
    counts = rgb_luma_counts(every, BT709)
    assert (counts[:3] == 1 << 16).all()  # each value 65,536 times in each channel
    np.testing.assert_array_equal(counts, opencv_counts(every))


@pytest.mark.parametrize("layout", ["rgb", "odd", "rgba"])
def test_rgb_luma_counts_on_a_photo_of_any_layout(astronaut, layout):
    color = {"rgb": astronaut, "odd": astronaut[3:500, 7:392],  # an odd width: one lane
             "rgba": np.dstack([astronaut, astronaut[..., :1]])[..., :3]}[layout]
    np.testing.assert_array_equal(rgb_luma_counts(color, BT709), opencv_counts(color))
    with pytest.raises(TypeError, match="uint8"):
        rgb_luma_counts(color.astype(np.uint16), BT709)


def test_rgb_luma_counts_refuse_more_pixels_than_their_counters_hold():
    huge = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (1 << 16, 1 << 15, 3))  # no memory
    with pytest.raises(ValueError, match="2\\*\\*31"):
        rgb_luma_counts(huge, BT709)


def test_the_ops_histogram_counts_alike_before_and_after_the_counters_load(coffee, monkeypatch):
    from editor.core import kernels
    from editor.ops.tone import histogram

    kernels.warm_up_counters()
    assert kernels.counters_ready()
    for image in (coffee, coffee[..., 1], coffee[5:301, 7:333]):
        compiled = histogram(image)
        monkeypatch.setattr(kernels, "_counters_ready", False)
        np.testing.assert_array_equal(histogram(image), compiled)
        monkeypatch.setattr(kernels, "_counters_ready", True)


def _blend_case(rng, shape):
    original = rng.integers(0, 256, shape, np.uint8)
    result = rng.integers(0, 256, shape, np.uint8)
    mask = rng.random(shape[:2], dtype=np.float32)
    mask[mask < 0.3], mask[mask > 0.7] = 0, 1  # outside, inside, and a soft edge
    mask[: shape[0] // 3, : shape[1] // 3] = 1  # runs of ones the kernel passes over
    return original, result, mask


@pytest.mark.parametrize("channels", [1, 2, 3, 4])  # 2: the loop for any channel count
def test_blend_into_gives_opencvs_blend_bit_for_bit(coffee, channels):
    from editor.core.kernels import blend_into

    rng = np.random.default_rng(channels)
    for shape in [(301, 333), (64, 1), (1, 200), (3000, 1000)]:  # the last shared on the pool
        original, result, mask = _blend_case(rng, shape + ((channels,) if channels > 1 else ()))
        expected = cv2.blendLinear(result, original, mask, np.float32(1) - mask)
        blend_into(result, original, mask)
        np.testing.assert_array_equal(result, expected)
    # a photo under a feathered ellipse: the case the editor meets
    mask = np.zeros(coffee.shape[:2], np.float32)
    cv2.ellipse(mask, (300, 200), (180, 120), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 6)
    blurred = cv2.GaussianBlur(coffee, (0, 0), 4)
    expected = cv2.blendLinear(blurred, coffee, mask, np.float32(1) - mask)
    blend_into(blurred, coffee, mask)
    np.testing.assert_array_equal(blurred, expected)


def test_blend_into_writes_a_box_of_a_bigger_image_and_nothing_around_it(astronaut):
    from editor.core.kernels import blend_into

    original, result, mask = _blend_case(np.random.default_rng(7), astronaut.shape)
    original[...] = astronaut
    box = (slice(37, 402), slice(91, 455))
    expected = cv2.blendLinear(np.ascontiguousarray(result[box]),
                               np.ascontiguousarray(original[box]),
                               np.ascontiguousarray(mask[box]), np.float32(1) - mask[box])
    around = result.copy()
    original.flags.writeable = False  # the state it blends over is read-only
    blend_into(result[box], original[box], mask[box])
    np.testing.assert_array_equal(result[box], expected)
    around[box] = expected
    np.testing.assert_array_equal(result, around)  # not a byte outside the box
    # rows that are not runs of memory (a transposed view) take OpenCV's pass
    r, o, m = (np.ascontiguousarray(a.swapaxes(0, 1)) for a in (around, original, mask))
    t = r.swapaxes(0, 1).copy().swapaxes(0, 1)  # writable, column-major
    blend_into(t, o, m)
    np.testing.assert_array_equal(t, cv2.blendLinear(r, o, m, np.float32(1) - m))
    with pytest.raises(ValueError, match="read-only"):
        blend_into(original, result, mask)


def test_blend_into_over_a_frozen_selections_runs_reads_only_its_edge(coffee):
    from editor.core.kernels import blend_into
    from editor.core.selection import soft_runs

    mask = np.zeros(coffee.shape[:2], np.float32)
    cv2.ellipse(mask, (300, 200), (180, 120), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 5)
    assert soft_runs(mask, (0, 400, 0, 600)) is None  # writable: not remembered
    mask.flags.writeable = False
    box = (60, 340, 100, 500)
    runs = soft_runs(mask, box)
    assert soft_runs(mask, box) is runs  # found once per selection
    (y0, y1, x0, x1), inside = box, mask[60:340, 100:500]
    below = np.zeros(inside.shape, bool)
    for y, a, b in runs:
        below[y, a:b] = True
    np.testing.assert_array_equal(below, inside < 1)  # every value below 1, nothing else
    blurred = cv2.GaussianBlur(coffee, (0, 0), 4)[y0:y1, x0:x1]
    expected = cv2.blendLinear(blurred, coffee[y0:y1, x0:x1], inside, np.float32(1) - inside)
    poisoned = inside.copy()
    poisoned[inside >= 1] = np.nan  # the inside is never read: a NaN there would show
    blend_into(blurred, coffee[y0:y1, x0:x1], poisoned, runs)
    np.testing.assert_array_equal(blurred, expected)
