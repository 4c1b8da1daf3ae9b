"""Recipes: JSON round trip (tuples included), validation, atomic save, replay."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

import editor
from editor.core.context import Cancelled, OpContext
from editor.core.recipe import Recipe, RecipeError, RecipeStep
from editor.ops import ParamError, get_op, run_op


@pytest.fixture(scope="module")
def crop(chelsea) -> np.ndarray:
    return np.ascontiguousarray(chelsea[60:156, 150:278])


#: Steps whose parameters need JSON's help: a colour tuple, points, a matrix,
#: ints and choices. Each is a real registered op.
STEPS = [
    ("rotate", {"angle": 12.5, "expand": True, "fill": (250, 10, 40),
                "interpolation": "bicubic"}),
    ("curves", {"points": [(0.0, 10.0), (128.0, 150.0), (255.0, 240.0)]}),
    ("affine", {"matrix": [1.0, 0.1, -3.0, 0.05, 0.9, 2.0], "fill": (0, 128, 255)}),
    ("posterize", {"levels": 7}),
    ("brightness", {"amount": 0.123456789}),
]


def by_hand(image: np.ndarray) -> np.ndarray:
    """The same chain through run_op directly, with the original Python values."""
    for name, params in STEPS:
        image = run_op(get_op(name), image, params)
    return image


def test_round_trip_gives_identical_pixels(crop, tmp_path):
    recipe = Recipe([RecipeStep(n, dict(p)) for n, p in STEPS])
    text = recipe.to_json()
    doc = json.loads(text)
    assert doc["convolve"] == editor.__version__ and doc["format"] == 1
    assert doc["steps"][0] == {"op": "rotate", "params": {
        "angle": 12.5, "expand": True, "fill": [250, 10, 40], "interpolation": "bicubic"}}
    again = Recipe.from_json(text)
    assert again.steps[0].params["fill"] == (250, 10, 40)  # tuple restored
    assert again.steps[3].params["levels"] == 7 and isinstance(again.steps[3].params["levels"],
                                                               int)
    assert again.steps[4].params["amount"] == 0.123456789  # floats survive exactly
    expected = by_hand(crop)
    np.testing.assert_array_equal(again.apply(crop), expected)
    recipe.save(tmp_path / "r.json")
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temp file left
    np.testing.assert_array_equal(Recipe.load(tmp_path / "r.json").apply(crop), expected)


def test_apply_leaves_input_and_reports_progress(crop):
    frozen = crop.copy()
    frozen.flags.writeable = False
    seen: list[float] = []
    ctx = OpContext(progress=lambda f, m: seen.append(f))
    Recipe([RecipeStep("invert", {}), RecipeStep("flip", {})]).apply(frozen, ctx)
    assert seen == sorted(seen) and seen[0] == 0.0 and seen[-1] == 1.0
    assert 0.5 in seen  # second of two steps starts half-way
    np.testing.assert_array_equal(frozen, crop)


def test_cancel_stops_and_extras_pass_through(crop):
    event = threading.Event()
    event.set()
    with pytest.raises(Cancelled):
        Recipe([RecipeStep("invert", {})]).apply(crop, OpContext(cancel_event=event))
    ctx = OpContext()
    ctx.extras["before"] = 1
    Recipe([RecipeStep("invert", {})]).apply(crop, ctx)
    assert ctx.extras["before"] == 1


@pytest.mark.parametrize("text,error,words", [
    ("{not json", RecipeError, "not valid JSON"),
    ('{"steps": 3}', RecipeError, "steps"),
    ('{"format": 99, "steps": []}', RecipeError, "newer"),
    ('{"steps": [{"params": {}}]}', RecipeError, "step 1"),
    ('{"steps": [{"op": "no_such_op"}]}', ParamError, "no_such_op"),
    ('{"steps": [{"op": "invert"}, {"op": "brightness", "params": {"amount": 5}}]}',
     ParamError, "step 2: brightness: amount must be between -1 and 1"),
    ('{"steps": [{"op": "brightness", "params": {"amout": 0.1}}]}', ParamError, "amout"),
    ('{"steps": [{"op": "rotate", "params": {"fill": [1, 2]}}]}', ParamError, "fill"),
    ('{"steps": [{"op": "invert", "params": [1]}]}', RecipeError, "params"),
])
def test_invalid_recipes_rejected_with_one_sentence(text, error, words):
    with pytest.raises(error) as e:
        Recipe.from_json(text)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_load_names_the_file(tmp_path):
    (tmp_path / "bad.json").write_text('{"steps": [{"op": "nope"}]}')
    with pytest.raises(ParamError, match="bad.json"):
        Recipe.load(tmp_path / "bad.json")
    with pytest.raises(OSError):
        Recipe.load(tmp_path / "missing.json")


def test_bare_list_and_append():
    r = Recipe.from_json('[{"op": "invert"}]')
    r.append("flip", {"axis": "vertical"})
    assert [s.op for s in r] == ["invert", "flip"] and len(r) == 2
