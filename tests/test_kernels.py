"""The compiled kernels against the NumPy expressions they fuse, on real photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from editor.core.kernels import shift_luma


def shifted(image, luma, new_luma, table):
    """The NumPy reference: clip(image + table[new_luma] - luma) in int64."""
    change = table[new_luma].astype(np.int64) - luma
    top = np.iinfo(image.dtype).max
    return np.clip(image.astype(np.int64) + change[..., None], 0, top).astype(image.dtype)


@pytest.mark.parametrize("depth", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_shift_luma_matches_numpy_on_a_photo(astronaut, depth, channels):
    rgb = astronaut.astype(depth) * (257 if depth == np.uint16 else 1)
    image = {1: rgb[..., :1], 3: rgb, 4: np.dstack([rgb, rgb[..., :1]])}[channels]
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
    for kernel in (tone._clahe_tables_kernel(), tone._clahe_blend_kernel()):
        assert {"uint8", "uint16"} <= {str(sig[0].dtype) for sig in kernel.signatures}
