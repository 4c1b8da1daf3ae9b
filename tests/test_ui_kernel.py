"""The kernel editor (editor/ui/forms/kernel_form.py): presets, cells, divisor, response."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_form
from PySide6.QtCore import Qt
from scipy import ndimage as ndi

from editor.ops import get_op
from editor.ops.filters import kernel_frequency_response, kernel_preset
from editor.ui.forms.kernel_form import KernelForm

pytestmark = pytest.mark.gui


@pytest.fixture
def form(qtbot):
    return make_form(qtbot, "convolve")


def choose(combo, text: str) -> None:
    combo.setCurrentIndex(combo.findText(text))


def test_registered_for_convolve_and_defaults(form):
    assert isinstance(form, KernelForm)
    assert form.params() == {"kernel": [[0, 0, 0], [0, 1, 0], [0, 0, 0]], "normalize": True,
                             "offset": 0.0}
    assert len(form.cells) == 3


def test_preset_gives_its_kernel_and_commits(form, qtbot):
    choose(form.size_combo, "5 × 5")
    with qtbot.waitSignal(form.paramsCommitted, timeout=1000) as sig:
        choose(form.preset_combo, "Gaussian")
    p = sig.args[0]
    np.testing.assert_array_equal(p["kernel"], kernel_preset("gaussian", 5))
    assert p["normalize"] is True and p["offset"] == 0
    assert form.divisor.value() == 256  # auto divisor = sum of the 1-4-6-4-1 binomial
    choose(form.preset_combo, "Sobel x")
    assert form.params()["offset"] == 128  # signed result shown around mid-gray
    np.testing.assert_array_equal(form.params()["kernel"], kernel_preset("sobel_x", 5))


def test_editing_a_cell_emits_params_changed(form, qtbot):
    choose(form.preset_combo, "Mean")
    cell = form.cells[0][2]
    with qtbot.waitSignal(form.paramsChanged, timeout=1000) as sig:
        cell.selectAll()
        qtbot.keyClicks(cell, "7")
    assert sig.args[0]["kernel"][0][2] == 7
    assert form.preset_combo.currentText() == "Custom"  # no longer the preset
    with qtbot.waitSignal(form.paramsCommitted, timeout=1000):
        qtbot.keyClick(cell, Qt.Key.Key_Return)


def test_manual_divisor_is_baked_into_the_kernel(form):
    choose(form.preset_combo, "Mean")
    form.auto_divisor.setChecked(False)
    form.divisor.setValue(3.0)
    p = form.params()
    assert p["normalize"] is False
    np.testing.assert_allclose(p["kernel"], np.ones((3, 3)) / 3)
    # the op applies exactly what the form describes
    img = (np.arange(100, dtype=np.uint8).reshape(10, 10) * 2)
    out = get_op("convolve")(img, **p)
    ref = np.clip(np.floor(ndi.convolve(img.astype(float), np.ones((3, 3)) / 3,
                                        mode="mirror") + 0.5), 0, 255)
    assert np.abs(out - ref).max() <= 1


def test_response_view_follows_the_kernel(form):
    choose(form.preset_combo, "Mean")
    view = form.response_view
    np.testing.assert_allclose(view.response, kernel_frequency_response(np.ones((3, 3)) / 9))
    assert "low-pass" in form.caption.text().lower()
    choose(form.preset_combo, "Laplacian")
    assert view.response[32, 32] == pytest.approx(0, abs=1e-12)
    assert "high-pass" in form.caption.text().lower()


def test_set_params_round_trip_and_size_change(form, qtbot):
    kernel = [[1, 2, 3, 2, 1]] * 5
    form.set_params({"kernel": kernel, "normalize": False, "offset": -20})
    assert form.size_combo.currentText() == "5 × 5"
    assert form.params() == {"kernel": [[float(v) for v in r] for r in kernel],
                             "normalize": False, "offset": -20.0}
    # a 3x1 kernel is centred in a 3x3 grid
    form.set_params({"kernel": [[1], [2], [1]], "normalize": True, "offset": 0})
    np.testing.assert_array_equal(form.params()["kernel"], [[0, 1, 0], [0, 2, 0], [0, 1, 0]])
    # growing a custom grid keeps the weights centred
    choose(form.size_combo, "7 × 7")
    k = np.array(form.params()["kernel"])
    assert k.shape == (7, 7) and k[2:5, 3].tolist() == [1, 2, 1] and k.sum() == 4
    with qtbot.waitSignal(form.paramsChanged, timeout=1000):
        form.reset()
    assert form.params()["kernel"] == [[0, 0, 0], [0, 1, 0], [0, 0, 0]]


def test_changes_are_throttled(form, qtbot):
    seen = []
    form.paramsChanged.connect(seen.append)
    cell = form.cells[1][1]
    for text in ("2", "3", "4", "5", "6"):
        cell.setText(text)
        cell.textEdited.emit(text)
    # the last value always arrives...
    qtbot.waitUntil(lambda: seen and seen[-1]["kernel"][1][1] == 6, timeout=1000)
    assert 1 <= len(seen) < 5  # ...but not one signal per keystroke
