"""The registry reads parameter specs from signatures and validates values."""

from typing import Annotated, Literal

import numpy as np
import pytest

from editor.core.context import OpContext
from editor.ops.registry import (
    Kind,
    ParamError,
    Range,
    get_op,
    register_op,
    run_op,
    unregister_op,
)


@pytest.fixture
def demo_op():
    @register_op("demo_box", title="Demo box", category="Test")
    def demo_box(
        image, *,
        size: Annotated[int, Range(1, 99, ui=(1, 25), unit="px")] = 3,
        mode: Literal["a", "b"] = "a",
        fill: Annotated[tuple, Kind("color")] = (0, 0, 0),
        target: int | None = None,
        ctx=None,
    ):
        """Demo.

        Parameters
        ----------
        size : int
            Box size in pixels.
        mode : {"a", "b"}
            Which mode.
        """
        ctx.extras["size_seen"] = size
        return image.copy()

    yield get_op("demo_box")
    unregister_op("demo_box")


def test_signature_becomes_specs(demo_op):
    size, mode, fill, target = demo_op.params
    assert (size.kind, size.lo, size.hi, size.ui_lo, size.ui_hi, size.unit) == (
        "int", 1, 99, 1, 25, "px")
    assert size.description == "Box size in pixels."
    assert (mode.kind, mode.choices, mode.default) == ("choice", ("a", "b"), "a")
    assert fill.kind == "color"
    assert target.optional and target.kind == "int"


def test_out_of_range_is_rejected_before_work(demo_op):
    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ParamError, match="size must be between 1 and 99, got 100"):
        run_op(demo_op, img, {"size": 100})
    with pytest.raises(ParamError, match="mode must be one of a, b"):
        run_op(demo_op, img, {"mode": "c"})
    with pytest.raises(ParamError, match="unknown parameter sigma"):
        run_op(demo_op, img, {"sigma": 1})
    with pytest.raises(ParamError, match="whole number"):
        run_op(demo_op, img, {"size": 2.5})


def test_cli_text_parsing(demo_op):
    parsed = demo_op.parse_args(["size=7", "mode=b", "fill=#ff8000", "target=auto"])
    assert parsed == {"size": 7, "mode": "b", "fill": (255, 128, 0), "target": None}
    with pytest.raises(ParamError, match="cannot read"):
        demo_op.parse_args(["size=big"])


def test_pixel_params_scale_with_preview(demo_op):
    ctx = OpContext(preview_scale=0.25)
    run_op(demo_op, np.zeros((8, 8, 3), np.uint8), {"size": 9}, ctx)
    assert ctx.extras["size_seen"] == 2


def test_alpha_passes_through_untouched():
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (6, 7, 4), dtype=np.uint8)
    out = get_op("invert")(rgba)
    assert np.array_equal(out[..., 3], rgba[..., 3])
    assert np.array_equal(out[..., :3], 255 - rgba[..., :3])


def test_a_local_edit_never_writes_into_the_image_it_was_given(coffee):
    # an op may hand its input back unchanged: the patch must then hold pixels of its
    # own, not a view that a later write to the caller's image would change
    from editor.core import kernels
    from editor.core.selection import Patch

    @register_op("demo_same", title="Demo same", category="Test", alpha="all")
    def demo_same(image, *, ctx=None):
        """Demo: the input itself."""
        return image

    try:
        kernels.warm_up_counters()
        image = coffee.copy()
        mask = np.zeros(image.shape[:2], np.float32)
        mask[50:150, 60:200] = 0.5
        local = run_op(get_op("demo_same"), image, {}, OpContext(selection=mask))
        np.testing.assert_array_equal(image, coffee)
        np.testing.assert_array_equal(local, coffee)
        from editor.ops import run_op_local

        patch = run_op_local(get_op("demo_same"), image, {}, OpContext(selection=mask))
        assert isinstance(patch, Patch) and not np.may_share_memory(patch.pixels, image)
        image[...] = 0
        np.testing.assert_array_equal(patch.array()[50:150, 60:200], coffee[50:150, 60:200])
    finally:
        unregister_op("demo_same")
