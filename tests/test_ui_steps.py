"""Slider steps fit the parameter: every op's sliders, from its spec (issue 13)."""

from __future__ import annotations

import math

import pytest
from conftest import make_form
from PySide6.QtWidgets import QAbstractSlider, QSlider

from editor.ops import all_ops
from editor.ops.params import Param, default_step
from editor.ui.forms import form_class_for

pytestmark = pytest.mark.gui


def number_fields(form) -> dict:
    """The number fields of a form (generic, custom, or a custom one around a generic)."""
    fields = dict(getattr(form, "editors", {}))
    fields.update(getattr(getattr(form, "inner", None), "editors", {}))
    return {name: f for name, f in fields.items() if hasattr(f, "scale")}


def one_step(field) -> float:
    """How much one arrow-key step of the slider changes the value, from mid-range."""
    mid = field.scale.steps // 2
    field.set_value(field.scale.value(mid))  # also unticks "auto"
    before = field.value()
    field.slider.triggerAction(QAbstractSlider.SliderAction.SliderSingleStepAdd)
    return field.value() - before


@pytest.mark.parametrize("spec", all_ops(), ids=lambda s: s.name)
def test_every_slider_steps_fit_its_range(qtbot, spec):
    form = form_class_for(spec.name)(spec)
    qtbot.addWidget(form)
    fields = number_fields(form)
    sliders = {id(f.slider) for f in fields.values()}
    for slider in form.findChildren(QSlider):
        assert id(slider) in sliders, f"{spec.name}: a slider not made from a spec"
    for name, f in fields.items():
        sc, p = f.scale, f.param
        if sc.log:  # a position is a fixed fraction of the slider, ~2.3 % of the value
            assert sc.steps >= 100, (spec.name, name)
            continue
        d = one_step(f)
        span = sc.hi - sc.lo
        declared = p.step
        assert declared is not None and d >= declared * (1 - 1e-9), (spec.name, name, d)
        if p.kind == "int" and span / declared <= 100:
            assert d == declared, (spec.name, name, d)  # every allowed value is a position
        else:
            assert d <= span / 100 * (1 + 1e-9), (spec.name, name, d, span)
        if p.kind == "float":  # the spin box's arrows step like the slider
            assert f.spin.singleStep() == pytest.approx(declared), (spec.name, name)
        assert f.slider.pageStep() == max(1, round(sc.steps / 10))


def test_transform_rotation_steps_a_tenth_of_a_degree(qtbot):
    form = make_form(qtbot, "affine", (360, 500))
    rotation = form.editors["angle"]
    assert one_step(rotation) == pytest.approx(0.1)
    # a drag: the slider spans the straightening range, so a pixel is a fraction of a
    # degree (it spanned 360° before: 1.5° a pixel)
    width = rotation.slider.width()
    assert (rotation.scale.hi - rotation.scale.lo) / width <= 0.6
    form.set_params({"matrix": [0, 1, 0, -1, 0, 0, 0, 0, 1]})  # a quarter turn: typed
    assert abs(form.angle.value()) == pytest.approx(90)
    assert rotation.slider.value() in (0, rotation.scale.steps)  # pinned at an end


@pytest.mark.parametrize("lo,hi,unit,integer,expected", [
    (0.0, 1.0, "", False, 0.01),         # a fraction
    (-180.0, 180.0, "°", False, 0.1),    # an angle
    (0.0, 20.0, "px", False, 0.1),       # a blur radius
    (-1000.0, 1000.0, "px", False, 1.0),  # a translation
    (0.5, 5.0, "px", False, 0.01),
    (1, 50, "", True, 1),
])
def test_default_step(lo, hi, unit, integer, expected):
    assert default_step(lo, hi, integer, unit) == expected
    p = Param("x", "int" if integer else "float", lo, lo=lo, hi=hi, unit=unit)
    scale = p.slider()
    assert scale.step == expected
    assert math.isclose(scale.value(scale.steps // 2 + 1) - scale.value(scale.steps // 2),
                        expected, rel_tol=1e-9) or integer
