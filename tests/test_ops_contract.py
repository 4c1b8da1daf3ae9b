"""The contract every registered operation keeps, checked over the whole registry.

On a real photo crop in four layouts (8-bit RGB, 8-bit RGBA, 16-bit RGB,
8-bit gray): dtype kept, shape kept when declared, alpha passed through when
declared, the read-only input never written, two runs identical, and every
parameter refusing out-of-range values with a message naming it.

AI operations (``spec.ai``) are left to the AI tests: they need weights and
minutes, not milliseconds.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_photo, photo_path

import editor.ops
from editor.core.context import OpContext
from editor.core.image import check_image
from editor.ops import ParamError, all_ops, run_op

CLASSICAL = [s for s in all_ops() if not s.ai]

#: Values for parameters that have no usable default, by parameter kind.
REQUIRED_BY_KIND = {"path": lambda: str(photo_path("chelsea.png"))}


def _inputs() -> dict[str, np.ndarray]:
    rgb = np.ascontiguousarray(load_photo("astronaut.png")[30:126, 140:268])
    # alpha with real structure (the red channel), not a constant
    rgba = np.dstack([rgb, rgb[..., 0]])
    # true 16-bit: low byte from a different channel so values are not v*257
    rgb16 = rgb.astype(np.uint16) * 256 + rgb[..., ::-1]
    gray = np.ascontiguousarray(rgb[..., 1])
    return {"rgb8": rgb, "rgba8": rgba, "rgb16": rgb16, "gray8": gray}


INPUTS = _inputs()


def required_params(spec) -> dict:
    return {p.name: REQUIRED_BY_KIND[p.kind]() for p in spec.params
            if p.kind in REQUIRED_BY_KIND and p.default in ("", None) and not p.optional}


def contract_context(spec, image: np.ndarray) -> OpContext | None:
    """A selection for ops that take one (fills refuse to run without): a soft-edged
    box in the middle; ``None`` for every other op."""
    if not spec.uses_mask:
        return None
    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.float32)
    mask[h // 3:h // 2, w // 3:w // 2] = 1.0
    mask[h // 3 - 1, w // 3:w // 2] = 0.5
    return OpContext(selection=mask)


def test_every_op_module_imported():
    assert editor.ops.IMPORT_ERRORS == {}


def test_registry_is_not_empty():
    assert len(CLASSICAL) >= 5


@pytest.mark.parametrize("layout", list(INPUTS))
@pytest.mark.parametrize("spec", CLASSICAL, ids=lambda s: s.name)
def test_output_contract(spec, layout):
    image = INPUTS[layout].copy()
    pristine = image.copy()
    image.flags.writeable = False  # any write to the input raises
    params = required_params(spec)
    out = run_op(spec, image, params, contract_context(spec, image))
    check_image(out)
    assert out.dtype == image.dtype
    if spec.keeps_shape:
        assert out.shape == image.shape
    if spec.alpha == "passthrough" and layout == "rgba8":
        np.testing.assert_array_equal(out[..., 3], image[..., 3])
    if image.ndim == 3:
        assert out.ndim == 3 and out.shape[2] == image.shape[2]
    assert not np.shares_memory(out, image), "returned the input (or a view of it)"
    np.testing.assert_array_equal(image, pristine)
    again = run_op(spec, image, params, contract_context(spec, image))
    np.testing.assert_array_equal(again, out)  # deterministic


def _bad_values(p) -> list:
    """Values that the declared parameter must refuse."""
    if p.kind in ("float", "int") and p.lo is not None:
        span = max(1.0, float(p.hi) - float(p.lo))
        bad = [p.hi + span, p.lo - span]
        return [int(v) if p.kind == "int" else v for v in bad] + [float("nan")]
    if p.kind == "choice":
        return ["bogus-choice"]
    if p.kind == "color":
        return [(300, 0, 0), (1, 2)]
    if p.kind == "bool":
        return ["maybe"]
    if p.kind == "matrix":
        return [[1.0, 2.0, 3.0, 4.0, 5.0]]
    if p.kind == "points" and p.lo is not None:
        return [[(p.hi + 1.0, p.lo)]]
    return []


@pytest.mark.parametrize("spec", [s for s in CLASSICAL if s.params], ids=lambda s: s.name)
def test_parameters_validated(spec):
    image = INPUTS["rgb8"]
    base = required_params(spec)
    checked = 0
    for p in spec.params:
        for value in _bad_values(p):
            with pytest.raises(ParamError) as e:
                run_op(spec, image, {**base, p.name: value})
            message = str(e.value)
            assert p.name in message and "\n" not in message, message
            checked += 1
    # every declared bound must be enforced; unbounded numeric params are a spec smell
    for p in spec.params:
        if p.kind in ("float", "int"):
            assert p.lo is not None and p.hi is not None, f"{spec.name}.{p.name} has no range"
    with pytest.raises(ParamError, match="no_such_param"):
        run_op(spec, image, {**base, "no_such_param": 1})
    assert checked or all(p.kind in ("path", "text", "kernel", "points") for p in spec.params)
