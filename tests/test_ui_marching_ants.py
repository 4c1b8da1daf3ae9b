"""The selection outline (marching ants): traced levels, exact edges, speckle raster."""

from __future__ import annotations

import numpy as np
import pytest

from editor.ui.marching_ants import (
    MIN_SIDE,
    POINT_BUDGET,
    boundary_raster,
    trace_exact,
    trace_pyramid,
)

pytestmark = pytest.mark.gui


def poly_points(outline) -> np.ndarray:
    return np.concatenate([np.array([(q.x(), q.y()) for q in p]) for p in outline.polys])


def test_pyramid_levels_follow_a_rectangle_at_every_scale():
    mask = np.zeros((1500, 2000), np.float32)
    mask[300:900, 400:1600] = 1
    pyr = trace_pyramid(mask)
    assert pyr.bbox == (400.0, 300.0, 1600.0, 900.0)
    assert max(np.ceil(np.array(pyr.shape) / 2 ** (len(pyr.levels) - 1))) <= MIN_SIDE
    for k, level in enumerate(pyr.levels):
        pts = poly_points(level)
        f = 2 ** k
        # through the centres of the level's edge pixels: within half a level pixel
        assert abs(pts[:, 0].min() - 400) <= f / 2 + 1e-9
        assert abs(pts[:, 0].max() - 1600) <= f / 2 + 1e-9
        assert abs(pts[:, 1].min() - 300) <= f / 2 + 1e-9
        assert level.raster is None  # four corners: lines, no raster


def test_exact_trace_lies_on_pixel_edges_and_soft_edges_between():
    mask = np.zeros((60, 80), np.float32)
    mask[10:30, 20:50] = 1
    mask[10:30, 50] = 0.25  # a soft column: the 0.5 line is inside its left half
    out = trace_exact(mask, (0, 0, 80, 60))
    pts = poly_points(out)
    assert pts[:, 0].min() == pytest.approx(20.0)
    assert pts[:, 1].min() == pytest.approx(10.0) and pts[:, 1].max() == pytest.approx(30.0)
    # between the centre of column 49 (1.0) and of column 50 (0.25): 49.5 + 0.5 / 0.75
    assert pts[:, 0].max() == pytest.approx(49.5 + 0.5 / 0.75, abs=1e-6)


def test_empty_mask_has_no_outline():
    assert trace_pyramid(np.zeros((40, 40), np.float32)) is None


def test_speckle_gets_a_boundary_raster_instead_of_lines():
    rng = np.random.default_rng(1)
    speckle = np.repeat(np.repeat(rng.random((200, 200)) > 0.5, 3, 0), 3, 1)
    pyr = trace_pyramid(speckle.astype(np.float32))
    assert pyr.levels[0].points > POINT_BUDGET and pyr.levels[0].raster is not None
    r = pyr.levels[0].raster
    inside = speckle.astype(np.uint8)
    # raster pixels are exactly the inside pixels with an outside 4-neighbour
    pad = np.pad(inside, 1)
    outside_nb = (pad[:-2, 1:-1] == 0) | (pad[2:, 1:-1] == 0) | (pad[1:-1, :-2] == 0) \
        | (pad[1:-1, 2:] == 0)
    np.testing.assert_array_equal(r > 0, (inside == 1) & outside_nb)
    yy, xx = np.nonzero(r)
    np.testing.assert_array_equal(r[yy, xx], (yy + xx) % 8 + 1)
    assert boundary_raster(np.zeros((5, 5), np.uint8)).max() == 0
