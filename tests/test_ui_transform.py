"""The Transform form composes one matrix, shows it, and drives the affine op."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_form

from editor.ops import get_op
from editor.ops.geometry import compose_transform
from editor.ui.forms import form_class_for
from editor.ui.forms.transform_form import TransformForm

pytestmark = pytest.mark.gui


@pytest.fixture
def photo(astronaut):
    return np.ascontiguousarray(astronaut[100:220, 140:300])  # 160x120, real content


@pytest.fixture
def form(qtbot, photo):
    return make_form(qtbot, "affine", image=photo)


def shown_matrix(form):
    return np.array([float(form.findChild(type(form.cells[0]), f"m{i}{j}").text())
                     for i in range(3) for j in range(3)]).reshape(3, 3)


def test_affine_uses_transform_form():
    assert form_class_for("affine") is TransformForm


def test_controls_compose_emit_and_run(qtbot, form, photo):
    form.scale_x.setValue(1.5)
    form.scale_y.setValue(0.8)
    form.shear_x.setValue(0.1)
    form.reflect_h.setChecked(False)
    form.dx.setValue(4.0)
    with qtbot.waitSignal(form.paramsChanged, timeout=1000) as changed:
        form.angle.setValue(30.0)  # several changes in a row: one throttled emission
    params = changed.args[0]
    expected = compose_transform(width=160, height=120, scale_x=1.5, scale_y=0.8,
                                 shear_x=0.1, angle=30.0, dx=4.0)
    assert params["interpolation"] == "bilinear"
    assert np.allclose(np.reshape(params["matrix"], (3, 3)), expected)
    # The display shows the same matrix (4 decimals).
    assert np.allclose(shown_matrix(form), expected, atol=1e-4)
    # The emitted params run the affine op: same as warping with the composed matrix.
    out = get_op("affine")(photo, **params)
    ref = get_op("affine")(photo, matrix=expected.ravel().tolist())
    assert np.array_equal(out, ref) and not np.array_equal(out, photo)


def test_reflect_checkbox_commits_a_mirror(qtbot, form, photo):
    with qtbot.waitSignal(form.paramsCommitted, timeout=1000) as committed:
        form.reflect_h.click()  # as a mouse click would: toggles and emits
    out = get_op("affine")(photo, **committed.args[0])
    assert np.array_equal(out, photo[:, ::-1])  # exact: centres land on centres


def test_interpolation_choice_and_uniform_scale(qtbot, form):
    with qtbot.waitSignal(form.paramsCommitted, timeout=1000) as committed:
        form.interpolation.setCurrentIndex(form.interpolation.findData("bicubic"))
    assert committed.args[0]["interpolation"] == "bicubic"
    form.uniform.setChecked(True)
    form.scale_x.setValue(2.0)
    assert form.scale_y.value() == 2.0 and not form.scale_y.isEnabled()


def test_set_params_round_trips_and_reset(qtbot, form):
    m = compose_transform(width=160, height=120, scale_x=1.2, scale_y=0.9, angle=-40,
                          shear_x=0.3, reflect_h=True, dx=-7, dy=11)
    with qtbot.assertNotEmitted(form.paramsChanged, wait=60):
        form.set_params({"matrix": m.ravel().tolist(), "interpolation": "nearest"})
    assert np.allclose(np.reshape(form.params()["matrix"], (3, 3)), m)
    assert form.params()["interpolation"] == "nearest"
    assert form.reflect_h.isChecked() and abs(form.angle.value() + 40) < 0.01
    with qtbot.waitSignal(form.paramsChanged, timeout=1000) as changed:
        form.reset()
    assert np.allclose(changed.args[0]["matrix"], np.eye(3).ravel())


def test_pivot_follows_image_size(qtbot, form):
    form.angle.setValue(90.0)
    m = np.reshape(form.params()["matrix"], (3, 3))
    assert np.allclose(m @ [79.5, 59.5, 1], [79.5, 59.5, 1])  # the centre stays put
    assert "79.5, 59.5" in form.pivot.text()


def test_focus_in_and_out_commits_nothing_but_an_edit_commits(qtbot, form):
    """Qt sends editingFinished when the focus merely leaves a box: clicking into each box
    and away must not commit (it used to add an identity "Transform (matrix)" step)."""
    from PySide6.QtWidgets import QAbstractSpinBox

    committed = []
    form.paramsCommitted.connect(committed.append)
    boxes = [b for b in form.findChildren(QAbstractSpinBox) if b.objectName()]
    assert len(boxes) >= 5
    for box in boxes:
        box.editingFinished.emit()  # what a focus-out sends
    assert committed == []
    form.dx.setValue(7.0)
    form.dx.editingFinished.emit()
    assert len(committed) == 1
    assert np.reshape(committed[0]["matrix"], (3, 3))[0, 2] == pytest.approx(7.0)
