"""The generic parameter form: widgets per kind, throttled changes, commits."""

import math
from typing import Annotated, Literal

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSlider, QSpinBox

from editor.ops.registry import Kind, Range, register_op, unregister_op
from editor.ui.forms import form_class_for
from editor.ui.forms.param_form import ParamForm

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def spec():
    @register_op("form_test_op", title="Form test", category="Test")
    def form_test_op(image, *,
                     radius: Annotated[float, Range(0.0, 100.0, ui=(0.0, 20.0), unit="px")] = 2.0,
                     count: Annotated[int, Range(1, 9)] = 3,
                     mode: Literal["fast", "exact"] = "fast",
                     clip: bool = True,
                     threshold: Annotated[float | None, Range(0.0, 1.0)] = None,
                     tint: Annotated[tuple, Kind("color")] = (255, 0, 0),
                     kernel: Annotated[list, Kind("kernel")] = ((0, 1, 0), (1, -4, 1), (0, 1, 0)),
                     ctx=None):
        """Exercise every widget.

        Parameters
        ----------
        radius : float
            Blur radius.
        count : int
            How many passes.
        mode : {"fast", "exact"}
            Speed or accuracy.
        clip : bool
            Clip the result.
        threshold : float or None
            Cut-off; None picks one automatically.
        tint : color
            Colour of the overlay.
        kernel : kernel
            Convolution weights.
        """
        return image

    yield form_test_op.spec
    unregister_op("form_test_op")


def test_widgets_follow_the_param_kinds(qtbot, spec):
    assert form_class_for("form_test_op") is ParamForm
    form = ParamForm(spec)
    qtbot.addWidget(form)
    radius = form.editors["radius"]
    assert isinstance(radius.slider, QSlider) and isinstance(radius.spin, QDoubleSpinBox)
    assert radius.spin.suffix() == " px" and radius.spin.maximum() == 100.0
    assert isinstance(form.editors["count"].spin, QSpinBox)
    assert isinstance(form.editors["mode"].widget, QComboBox)
    assert isinstance(form.editors["clip"].widget, QCheckBox)
    assert isinstance(form.editors["kernel"].widget, QLineEdit)
    assert form.editors["threshold"].auto.isChecked()  # None = auto
    assert radius.widget.toolTip() == "<qt>Blur radius. (px)</qt>"
    assert form.params() == {"radius": 2.0, "count": 3, "mode": "fast", "clip": True,
                             "threshold": None, "tint": (255, 0, 0),
                             "kernel": ((0, 1, 0), (1, -4, 1), (0, 1, 0))}


def test_spin_box_accepts_the_hard_range_beyond_the_slider(qtbot, spec):
    form = ParamForm(spec)
    qtbot.addWidget(form)
    form.editors["radius"].spin.setValue(60.0)
    assert form.params()["radius"] == 60.0
    assert form.editors["radius"].slider.value() == form.editors["radius"].slider.maximum()


def test_changes_are_throttled_and_the_last_value_is_delivered(qtbot, spec):
    form = ParamForm(spec)
    qtbot.addWidget(form)
    changed, committed = [], []
    form.paramsChanged.connect(changed.append)
    form.paramsCommitted.connect(committed.append)
    slider = form.editors["radius"].slider
    slider.setSliderDown(True)
    for v in range(0, 200, 2):  # 100 moves, no event delivered in between
        slider.setValue(v)
    last = pytest.approx(198 * 20 / slider.maximum())
    # the first move is sent at once; the last arrives when the throttle interval ends
    qtbot.waitUntil(lambda: changed and changed[-1]["radius"] == last, timeout=1000)
    assert 1 <= len(changed) <= 3
    assert not committed
    slider.setSliderDown(False)
    assert committed and committed[-1]["radius"] == changed[-1]["radius"]


def test_set_params_reset_and_text_parsing(qtbot, spec):
    form = ParamForm(spec)
    qtbot.addWidget(form)
    changed = []
    form.paramsChanged.connect(changed.append)
    form.set_params({"radius": 7.5, "mode": "exact", "clip": False, "threshold": 0.4})
    assert not changed  # programmatic: no signal
    p = form.params()
    assert (p["radius"], p["mode"], p["clip"], p["threshold"]) == (7.5, "exact", False, 0.4)
    edit = form.editors["kernel"].edit
    edit.setText("1, 2; 3, 4")
    edit.editingFinished.emit()
    assert form.params()["kernel"] == [[1.0, 2.0], [3.0, 4.0]]
    edit.setText("1, 2; 3")  # ragged: rejected, value kept, shown in red
    edit.editingFinished.emit()
    assert form.params()["kernel"] == [[1.0, 2.0], [3.0, 4.0]]
    assert "d05050" in edit.styleSheet()
    form.reset()
    assert form.params()["radius"] == 2.0 and form.params()["threshold"] is None
    assert changed[-1] == form.params()


def test_every_parameter_kind_has_a_field():
    from editor.ops.params import PARAM_KINDS
    from editor.ui.forms.fields import FIELDS

    assert set(PARAM_KINDS) <= set(FIELDS)


def test_rows_show_declared_labels(qtbot):
    from editor.ops import get_op

    form = ParamForm(get_op("style_transfer"))
    qtbot.addWidget(form)
    labels = {name: label.text() for name, label in form.labels.items()}
    assert labels["tv_weight"] == "TV weight"
    assert labels["size"] == "Working size" and labels["multiscale"] == "Coarse to fine"
    assert form.labels["tv_weight"].buddy() is form.editors["tv_weight"].widget


def test_log_slider_keeps_the_exact_value_in_the_spin_box(qtbot):
    from editor.ops import get_op

    form = ParamForm(get_op("shi_tomasi"))
    qtbot.addWidget(form)
    quality = form.editors["quality"]
    slider, spin = quality.slider, quality.spin
    slider.setValue(slider.maximum() // 2)  # the middle of 0.001 … 1
    assert form.params()["quality"] == pytest.approx(math.sqrt(0.001 * 1.0), rel=0.01)
    seen = []
    for i in range(slider.maximum() + 1):
        slider.setValue(i)
        seen.append(form.params()["quality"])
    assert all(a < b for a, b in zip(seen, seen[1:], strict=False))  # every position counts
    assert seen[0] == 0.001 and seen[-1] == 1.0
    spin.setValue(0.01234)  # typed: kept as typed, the slider follows
    assert form.params()["quality"] == 0.01234
    assert slider.value() == quality.scale.position(0.01234)
    assert spin.decimals() >= 5  # 0.00123 is still three digits
    corners = form.editors["max_corners"]
    corners.slider.setValue(corners.slider.maximum() // 2)
    assert 40 <= form.params()["max_corners"] <= 50  # sqrt(2000) = 44.7


def test_points_shown_in_the_line_edit_read_back(qtbot):
    """Curves' points were shown as '0, 0; 255, 255', which the points parser refuses:
    confirming the line edit unchanged turned it red."""
    from editor.ops import get_op

    form = ParamForm(get_op("curves"))
    qtbot.addWidget(form)
    committed = []
    form.paramsCommitted.connect(committed.append)
    edit = form.editors["points"].edit
    edit.editingFinished.emit()
    assert "d05050" not in edit.styleSheet()
    assert committed and committed[-1]["points"] == [(0.0, 0.0), (255.0, 255.0)]


def test_one_field_can_be_replaced(qtbot, spec):
    from editor.ui.forms.fields import Field

    class Fixed(Field):
        def __init__(self, param, form):
            super().__init__(param, form)
            self.widget = QLineEdit("fixed")

        def value(self):
            return 4

        def set_value(self, value):
            pass

    form = ParamForm(spec, fields={"count": Fixed})
    qtbot.addWidget(form)
    assert isinstance(form.editors["count"], Fixed) and form.params()["count"] == 4
    assert form.labels["count"].text() == "Count"
    assert isinstance(form.editors["radius"].slider, QSlider)
