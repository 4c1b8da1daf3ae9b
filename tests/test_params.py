"""Parameter kinds (one object per kind), labels and log sliders, over the whole registry."""

from __future__ import annotations

import math
from typing import Annotated

import pytest

from editor.ops import all_ops, get_op
from editor.ops.params import (
    PARAM_KINDS,
    Kind,
    Label,
    Param,
    ParamError,
    ParamKind,
    Range,
    SliderScale,
    default_label,
)
from editor.ops.registry import register_op, unregister_op

ALL_PARAMS = [(s, p) for s in all_ops() for p in s.params]
NUMERIC = [(s, p) for s, p in ALL_PARAMS if p.type.numeric and p.lo is not None]
LOG = [(s, p) for s, p in NUMERIC if p.scale == "log"]


def _id(sp):
    return f"{sp[0].name}.{sp[1].name}"


#: Values of each kind beyond the registry's defaults, to round-trip through text.
SAMPLES = {
    "float": [0.0, -1.5, 0.1, 1e-7, 123456789.0, 2.0 / 3.0],
    "int": [0, 7, -3, 100000],
    "bool": [True, False],
    "color": [(0, 0, 0), (255, 128, 7)],
    "points": [[(0.0, 0.0), (64.0, 40.5), (255.0, 255.0)], []],
    "stroke": [[(10.5, 3.0), (2000.0, 1500.25)], [(7.0, 8.0)], []],
    "matrix": [[1.0, 0.0, 3.5, 0.0, 1.0, -2.0], [1, 0, 0, 0, 1, 0, 0.001, 0, 1]],
    "kernel": [[[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]], [[0.25]], [[-1, 0, 1]]],
    "text": ["hello", "a b"],
    "path": ["/tmp/some photo.png"],
}


def test_every_kind_is_an_object_registered_once():
    assert set(PARAM_KINDS) == {"float", "int", "bool", "choice", "path", "color", "points",
                                "stroke", "matrix", "kernel", "text"}
    for name, kind in PARAM_KINDS.items():
        assert isinstance(kind, ParamKind) and kind.name == name
    for _spec, p in ALL_PARAMS:
        assert p.type is PARAM_KINDS[p.kind]


@pytest.mark.parametrize("sp", ALL_PARAMS, ids=_id)
def test_default_round_trips_through_its_kinds_text(sp):
    """parse(format(v)) gives v back, for the command line and for a form's line edit."""
    _spec, p = sp
    if p.default is None or (p.kind == "path" and p.default == ""):
        pytest.skip("no default value to write")
    expected = p.validate(p.default)
    for spaced in (False, True):
        text = p.format(p.default, spaced=spaced)
        assert p.validate(p.parse(text)) == expected, (text, spaced)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_sample_values_round_trip_for_each_kind(kind):
    p = Param("x", kind, SAMPLES[kind][0])
    for value in SAMPLES[kind]:
        for spaced in (False, True):
            text = p.format(value, spaced=spaced)
            assert p.validate(p.parse(text)) == p.validate(value), (text, spaced)


def test_choice_and_optional_round_trip():
    p = Param("mode", "choice", "a", choices=("a", "b_c", 3))
    for c in p.choices:
        assert p.parse(p.format(c)) == c
    q = Param("size", "int", None, lo=1, hi=9, optional=True)
    assert q.format(None) == "auto" and q.parse(q.format(None)) is None


def test_points_shown_in_a_form_are_points_again():
    """The form used to show curve points as '0, 0; 255, 255', which reads back as
    one-number points and was refused; the kind now writes its own syntax."""
    p = get_op("curves").param("points")
    assert p.format(p.default, spaced=True) == "0:0, 255:255"


def test_unknown_kind_and_bad_log_range_fail_where_declared():
    with pytest.raises(TypeError, match="unknown parameter kind"):
        Kind("colour")
    with pytest.raises(TypeError, match="above zero"):
        Range(0.0, 10.0, scale="log")
    with pytest.raises(TypeError, match="linear"):
        Range(1.0, 10.0, scale="exp")
    with pytest.raises(ParamError, match="cannot read 'big' as int"):
        Param("n", "int", 1).parse("big")


# -- labels -----------------------------------------------------------------------------

def test_labels_come_from_names_with_acronyms_kept():
    assert default_label("tv_weight") == "TV weight"
    assert default_label("clahe_clip") == "CLAHE clip"
    assert default_label("fft_size") == "FFT size"
    assert default_label("class_id") == "Class ID"
    assert default_label("rgb_gain") == "RGB gain"
    assert default_label("radius_px") == "Radius px"
    assert default_label("sigma") == "Sigma"
    assert get_op("style_transfer").param("tv_weight").label == "TV weight"


def test_declared_labels_win_and_reach_json():
    @register_op("label_demo", title="Label demo", category="Test")
    def label_demo(image, *, n: Annotated[int, Range(1, 9), Label("Passes")] = 1, ctx=None):
        return image

    try:
        p = get_op("label_demo").param("n")
        assert p.label == "Passes" and p.to_json()["label"] == "Passes"
    finally:
        unregister_op("label_demo")
    assert get_op("deep_dream").param("max_size").label == "Working size"


@pytest.mark.parametrize("sp", ALL_PARAMS, ids=_id)
def test_every_label_reads_as_words(sp):
    label = sp[1].label
    assert label and "_" not in label and label == label.strip()
    assert label[0].isupper() or label.split()[0] in ("dx", "dy", "sx", "sy", "k", "px")


# -- log sliders ------------------------------------------------------------------------

@pytest.mark.parametrize("sp", NUMERIC, ids=_id)
def test_ranges_spanning_three_decades_have_a_log_slider(sp):
    p = sp[1]
    if p.ui_lo > 0 and p.ui_hi / p.ui_lo >= 1000:
        assert p.scale == "log", f"{p.name}: {p.ui_lo:g} … {p.ui_hi:g} spans decades"


def test_the_log_sliders_asked_for_are_declared():
    for op, name in (("style_transfer", "style_weight"), ("fft_filter", "cutoff"),
                     ("shi_tomasi", "quality")):
        assert get_op(op).param(name).scale == "log"


@pytest.mark.parametrize("sp", LOG, ids=_id)
def test_log_slider_is_monotonic_round_trips_and_centres_geometrically(sp):
    p = sp[1]
    s = p.slider()
    values = [s.value(i) for i in range(s.steps + 1)]
    assert all(a <= b for a, b in zip(values, values[1:], strict=False))
    assert values[0] == pytest.approx(p.ui_lo) and values[-1] == pytest.approx(p.ui_hi)
    for i, v in enumerate(values):
        # the slider lands where it was for the value it set (an int may cover
        # several positions near 1: then the value, not the position, comes back)
        assert s.value(s.position(v)) == v
        if p.kind == "float":
            assert s.position(v) == i
    middle = s.value(s.steps // 2)
    geometric = math.sqrt(p.ui_lo * p.ui_hi)
    assert abs(math.log10(middle / geometric)) < 0.01  # within 2.3 %
    # and linear spacing would have put the middle near half the top instead
    assert middle < (p.ui_lo + p.ui_hi) / 4


def test_linear_slider_mapping_is_the_one_the_form_always_had():
    s = SliderScale(0.0, 20.0, step=0.1)
    assert s.steps == 200 and s.value(99) == pytest.approx(9.9) and s.position(9.9) == 99
    assert s.position(60.0) == s.steps  # beyond the slider: clamped to its end
    i = SliderScale(1, 25, integer=True)
    assert i.steps == 24 and i.value(2) == 3 and i.position(3) == 2
