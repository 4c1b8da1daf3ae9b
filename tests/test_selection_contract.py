"""Every registered image op under a random soft selection (issue 10's contract).

On a real photo crop in 8-bit RGB, 8-bit RGBA and 16-bit RGB, with a random
soft mask (areas of 0, of 1 and feathered edges between): outside the mask the
output is bit-identical to the input; inside, ``out = m·op(img) + (1 − m)·img``
holds to one level against the op run on the whole image, which also checks
each local op's declared margin (an op that reads further than it declares
differs near the selection's edge). Geometry ops run on the whole image and
move the selection with it. The AI ops cheap enough here (those without
``heavy``) run too; the heavy ones are left to the AI tests.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_ops_contract import INPUTS, required_params

from editor.core.context import OpContext, OpError
from editor.core.image import max_value
from editor.ops import all_ops, run_op
from editor.ops.registry import transform_mask

LAYOUTS = ("rgb8", "rgba8", "rgb16")
SPECS = [s for s in all_ops() if not s.ai or not s.heavy]


def soft_mask(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Blobs of ones in zeros, with soft edges of every width in between."""
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), 6)
    noise /= np.abs(noise).max()
    mask = np.clip(noise * 4.0 + 0.3, 0.0, 1.0).astype(np.float32)
    assert (mask == 0).mean() > 0.2 and (mask == 1).mean() > 0.1
    assert ((mask > 0) & (mask < 1)).mean() > 0.1
    return mask


MASKS = {layout: soft_mask(INPUTS[layout].shape[:2]) for layout in LAYOUTS}


def test_specs_cover_the_registry():
    names = {s.name for s in SPECS}
    assert {"gaussian_blur", "invert", "brightness", "rotate", "classify"} <= names
    assert not any(s.selects for s in SPECS)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_op_writes_only_inside_the_selection(spec, layout):
    image = INPUTS[layout].copy()
    image.flags.writeable = False
    mask = MASKS[layout]
    params = required_params(spec)
    masked = run_op(spec, image, params, OpContext(selection=mask))
    if spec.transforms:
        # geometry runs on the whole image; the selection moves with it
        np.testing.assert_array_equal(masked, run_op(spec, image, params))
        moved = transform_mask(spec, params, mask)
        assert moved.shape == masked.shape[:2]
        return
    assert masked.shape == image.shape and masked.dtype == image.dtype
    outside = mask == 0
    np.testing.assert_array_equal(masked[outside], image[outside])
    if spec.uses_mask:
        return  # it fills the selection from around it: no unmasked result to compare
    whole = run_op(spec, image, params)
    m = mask if image.ndim == 2 else mask[..., None]
    expected = m * whole.astype(np.float64) + (1 - m) * image.astype(np.float64)
    err = np.abs(masked.astype(np.float64) - expected)
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() <= 1.0, (f"{spec.name}: off by {err.max():.1f} levels at {worst} "
                              f"(mask {mask[worst[:2]]:.3f})")
    inside = mask >= 1
    np.testing.assert_array_equal(masked[inside], whole[inside])


@pytest.mark.parametrize("spec", [s for s in SPECS if not s.transforms and not s.uses_mask],
                         ids=lambda s: s.name)
def test_full_and_empty_selections(spec):
    image = INPUTS["rgb8"]
    params = required_params(spec)
    full = np.ones(image.shape[:2], np.float32)
    np.testing.assert_array_equal(run_op(spec, image, params, OpContext(selection=full)),
                                  run_op(spec, image, params))
    with pytest.raises(OpError, match="The selection is empty"):
        run_op(spec, image, params, OpContext(selection=np.zeros(image.shape[:2], np.float32)))


def test_blend_is_exact_for_16_bit_and_alpha():
    """A half-selected pixel gets the mean of the two, rounded once, in its own units."""
    spec = next(s for s in all_ops() if s.name == "invert")
    image = INPUTS["rgb16"]
    mask = np.full(image.shape[:2], 0.5, np.float32)
    out = run_op(spec, image, {}, OpContext(selection=mask))
    top = max_value(image.dtype)
    expected = np.floor(0.5 * (top - image.astype(np.float64)) + 0.5 * image + 0.5)
    np.testing.assert_array_equal(out, expected.astype(np.uint16))


def test_blend_8_bit_keeps_bits_at_0_and_1_and_mixes_within_a_level(coffee):
    from editor.core.selection import blend

    result = cv2.GaussianBlur(coffee, (0, 0), 3)
    mask = soft_mask(coffee.shape[:2], seed=3)
    out = blend(coffee, result, mask)
    np.testing.assert_array_equal(out[mask == 0], coffee[mask == 0])
    np.testing.assert_array_equal(out[mask == 1], result[mask == 1])
    m = mask[..., None].astype(np.float64)
    expected = m * result + (1 - m) * coffee
    # rounded once, in float32 (OpenCV): a hair over half a level at most
    assert np.abs(out - expected).max() <= 0.51


def test_box_of_a_frozen_selection_is_found_once_and_never_stale(monkeypatch):
    from editor.core import selection

    scans = []
    real = selection._scan_box
    monkeypatch.setattr(selection, "_scan_box", lambda m: scans.append(1) or real(m))
    mask = np.zeros((300, 400), np.float32)
    mask[50:120, 70:90] = 0.5
    assert selection.bbox(mask) == (50, 120, 70, 90)
    mask[200:210, 300:310] = 1.0  # a writeable mask may change: scanned again
    assert selection.bbox(mask) == (50, 210, 70, 310)
    assert len(scans) == 2
    mask.flags.writeable = False  # as the history store hands selections out
    for margin in (0, 5, 0):
        selection.bbox(mask, margin)
    assert len(scans) == 3 and selection.bbox(mask, 5) == (45, 215, 65, 315)
    copy = mask.copy()  # another array (same values): its own scan
    copy.flags.writeable = False
    assert selection.bbox(copy) == (50, 210, 70, 310) and len(scans) == 4
    view = np.zeros((300, 400), np.float32)
    frozen_view = view[:]
    frozen_view.flags.writeable = False  # read-only, but its base is writeable
    view[1, 1] = 1.0
    assert selection.bbox(frozen_view) == (1, 2, 1, 2)
    view[5, 5] = 1.0
    assert selection.bbox(frozen_view) == (1, 6, 1, 6)


@pytest.mark.parametrize("name", ["harris", "shi_tomasi", "moravec"])
def test_detectors_report_only_points_inside_the_selection(name, astronaut):
    from editor.ops import get_op
    from editor.ops.overlays import find_overlay

    image = np.ascontiguousarray(astronaut[:200, :240])
    spec = get_op(name)
    whole = OpContext()
    run_op(spec, image, {}, whole)
    mask = np.zeros(image.shape[:2], np.float32)
    mask[40:140, 60:200] = 1.0
    mask[40:140, 60:70] = 0.5
    ctx = OpContext(selection=mask)
    out = run_op(spec, image, {}, ctx)
    np.testing.assert_array_equal(out, image)  # an overlay: the pixels stay
    all_pts = np.asarray(whole.extras["points"])
    pts = np.asarray(ctx.extras["points"])
    inside = mask[all_pts[:, 1].round().astype(int), all_pts[:, 0].round().astype(int)] > 0
    assert 0 < len(pts) < len(all_pts)
    np.testing.assert_array_equal(pts, all_pts[inside])
    overlay = find_overlay(ctx.extras)
    np.testing.assert_array_equal(overlay.image_points(), all_pts[inside])


#: AI ops cheap enough here with these parameters (the packaged classifier, one step)
CHEAP_AI = {"fgsm": {"epsilon": 2.0, "iterations": 1}}


@pytest.mark.parametrize("layout", ["rgb8", "rgba8"])
@pytest.mark.parametrize("name", sorted(CHEAP_AI))
def test_heavy_ai_op_writes_only_inside_the_selection(name, layout):
    from editor.ops import get_op

    spec = get_op(name)
    image = INPUTS[layout]
    mask = MASKS[layout]
    params = CHEAP_AI[name]
    masked = run_op(spec, image, params, OpContext(selection=mask))
    whole = run_op(spec, image, params)
    assert not np.array_equal(whole, image)
    np.testing.assert_array_equal(masked[mask == 0], image[mask == 0])
    m = mask[..., None]
    expected = m * whole.astype(np.float64) + (1 - m) * image.astype(np.float64)
    assert np.abs(masked.astype(np.float64) - expected).max() <= 1.0


def test_points_of_a_box_run_are_placed_in_the_image_and_confined():
    """An op run on the selection's box publishes box coordinates: they are moved to the
    image's and only those inside the selection are kept."""
    from editor.ops.overlays import PointsOverlay, confine_extras, find_overlay

    mask = np.zeros((100, 120), np.float32)
    mask[20:60, 30:90] = 1.0
    mask[20:60, 30:40] = 0.0  # a hole at the box's left
    found = np.array([[2.0, 3.0, 9.0], [15.0, 10.0, 8.0], [70.0, 45.0, 7.0]])  # box coords
    extras = {"points": found.tolist(), "overlay": PointsOverlay("harris", {}, found)}
    out = confine_extras(extras, mask, origin=(30, 20))
    # (2, 3) -> (32, 23) falls in the hole, (70, 45) -> (100, 65) outside the selection
    assert out["points"] == [[45.0, 30.0, 8.0]]
    np.testing.assert_array_equal(find_overlay(out).image_points(), [[45.0, 30.0, 8.0]])
    assert extras["points"] == found.tolist()  # the op's own dict is left as it was


def local_selection(shape: tuple[int, int]) -> np.ndarray:
    """A feathered rectangle well inside the image: a local edit's selection."""
    mask = np.zeros(shape, np.float32)
    mask[20:70, 30:100] = 1
    return cv2.GaussianBlur(mask, (0, 0), 3)


@pytest.mark.parametrize("layout", ["rgb8", "rgba8", "rgb16"])
@pytest.mark.parametrize("name", ["gaussian_blur", "brightness", "median", "invert"])
def test_a_local_edit_comes_back_as_its_box_with_the_same_bits_either_way(name, layout,
                                                                          monkeypatch):
    # The editor blends with the compiled kernel once it is loaded, the command line with
    # OpenCV: a recipe replays bit for bit only if both give the same pixels.
    from editor.core import kernels
    from editor.core.selection import Patch, bbox
    from editor.ops import get_op, run_op_local

    image = INPUTS[layout].copy()
    image.flags.writeable = False
    mask = local_selection(image.shape[:2])
    mask.flags.writeable = False  # as the history hands selections out
    spec = get_op(name)
    params = required_params(spec)
    kernels.warm_up_counters()
    blended, blend_into = [], kernels.blend_into
    monkeypatch.setattr(kernels, "blend_into", lambda *a: blended.append(a) or blend_into(*a))
    local = run_op_local(spec, image, params, OpContext(selection=mask))
    assert len(blended) == (image.dtype == np.uint8)  # the kernel blends 8-bit images
    assert isinstance(local, Patch) and local.base is image and local.box == bbox(mask)
    y0, y1, x0, x1 = local.box
    assert local.pixels.shape == image[y0:y1, x0:x1].shape and local.dtype == image.dtype
    monkeypatch.setattr(kernels, "_counters_ready", False)
    by_opencv = run_op(spec, image, params, OpContext(selection=mask))
    np.testing.assert_array_equal(local.array(), by_opencv)
    whole = run_op(spec, image, params)
    m = mask if image.ndim == 2 else mask[..., None]
    expected = m * whole.astype(np.float64) + (1 - m) * image.astype(np.float64)
    assert np.abs(by_opencv - expected).max() <= 1.0
    # the whole image, or no selection, is not a local edit
    full = np.ones(image.shape[:2], np.float32)
    assert isinstance(run_op_local(spec, image, params, OpContext(selection=full)), np.ndarray)
    assert isinstance(run_op_local(spec, image, params), np.ndarray)


@pytest.mark.parametrize("depth", [np.uint8, np.uint16])
@pytest.mark.parametrize("name, params", [("gaussian_blur", {"sigma": 0.6}),
                                          ("gaussian_blur", {"sigma": 4.0}),
                                          ("gaussian_blur", {"sigma": 9.0}),
                                          ("unsharp_mask", {"radius": 5.0})])
def test_a_hard_edged_selection_reads_enough_around_its_box(astronaut, depth, name, params):
    # The op runs on the selection's box grown by its margin, which for a Gaussian
    # depends on the depth (its kernel is longer at 16 bits). With a hard edge the
    # pixels at the box's edge are fully selected: a margin short by one pixel would
    # change them from the whole-image result.
    from editor.ops import get_op

    image = astronaut if depth == np.uint8 else astronaut.astype(np.uint16) * 257
    mask = np.zeros(image.shape[:2], np.float32)
    mask[150:330, 120:400] = 1
    spec = get_op(name)
    local = run_op(spec, image, params, OpContext(selection=mask))
    whole = run_op(spec, image, params)
    np.testing.assert_array_equal(local[150:330, 120:400], whole[150:330, 120:400])
    np.testing.assert_array_equal(local[mask == 0], image[mask == 0])
    margin = spec.margin_for(spec.bind(params), image.dtype)
    assert margin < spec.margin_for(spec.bind(params)) or depth == np.uint16
