"""The Hue / Saturation form (editor/ui/forms/hsl_form.py), per range and Colorize, and
Brightness / Contrast as one form, in the real window on real photos."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_form, settle
from PIL import Image
from PySide6.QtCore import QCoreApplication
from test_ui_curves import one_step_settled, open_with_tool
from test_ui_main import drag_slider

from editor.ops import get_op
from editor.ops.color import HUE_RANGES
from editor.ui.forms.hsl_form import HueSaturationForm
from editor.ui.forms.param_form import ParamForm

pytestmark = pytest.mark.gui


@pytest.fixture
def form(qtbot):
    return make_form(qtbot, "hue_saturation", (340, 300))


def move_slider(qtbot, field, position: int) -> None:
    """Drag ``field``'s slider to ``position`` and let go."""
    field.slider.setSliderDown(True)
    field.slider.setValue(position)
    QCoreApplication.processEvents()
    field.slider.setSliderDown(False)


def test_one_panel_with_every_range_and_the_specs_ranges(form):
    assert isinstance(form, HueSaturationForm)
    spec = get_op("hue_saturation")
    assert form.params() == spec.defaults()
    keys = [form.range_combo.itemData(i) for i in range(form.range_combo.count())]
    assert keys == ["master", *HUE_RANGES]
    for name, ed in form.editors.items():
        p = spec.param(name)
        if p.kind == "float":
            assert (ed.spin.minimum(), ed.spin.maximum()) == (p.lo, p.hi), name


def test_sliders_follow_the_chosen_range(qtbot, form):
    committed = []
    form.paramsCommitted.connect(committed.append)
    form.select_range("greens")
    sliders = form.sliders()
    assert sliders["saturation"] is form.editors["greens_saturation"]
    assert sliders["saturation"].widget.isVisible()
    assert not form.editors["saturation"].widget.isVisible()  # master's page is hidden
    move_slider(qtbot, sliders["saturation"], sliders["saturation"].slider.minimum())
    qtbot.waitUntil(lambda: bool(committed), timeout=2000)
    p = committed[-1]
    assert p["greens_saturation"] == -100.0
    assert all(v == get_op("hue_saturation").defaults()[k] for k, v in p.items()
               if k != "greens_saturation")
    assert form.range_combo.itemText(form.range_combo.findData("greens")).endswith("•")
    assert not form.range_combo.itemText(form.range_combo.findData("reds")).endswith("•")
    # another range keeps its own values; coming back shows the greens' again
    form.select_range("blues")
    assert form.sliders()["saturation"].value() == 0.0
    form.select_range("greens")
    assert form.sliders()["saturation"].value() == -100.0
    # the hue bars are the op on every hue: greens (120 deg) lost their colour
    after = form.bars.after[0]
    green = after[120 * after.shape[0] // 360]
    assert int(green.max()) - int(green.min()) <= 1
    red = after[0]
    assert int(red.max()) - int(red.min()) > 200


def test_colorize_swaps_the_sliders(qtbot, form):
    form.colorize.widget.setChecked(True)
    qtbot.waitUntil(lambda: form.pages.currentIndex() == form.page_index["colorize"],
                    timeout=2000)
    assert not form.range_combo.isEnabled()
    assert form.sliders()["hue"] is form.editors["colorize_hue"]
    assert form.params()["colorize"] is True
    spec = get_op("hue_saturation").param("colorize_hue")
    assert form.sliders()["hue"].spin.maximum() == spec.hi


# -- in the real window ------------------------------------------------------------------

@pytest.fixture
def photo_file(tmp_path, astronaut):
    path = tmp_path / "astronaut-crop.png"
    Image.fromarray(np.ascontiguousarray(astronaut[0:240, 100:420])).save(path)
    return path


def test_per_range_edit_commits_the_op_and_leaves_other_hues(qtbot, window, photo_file):
    from skimage.color import rgb2hsv

    w = window
    doc, original, form = open_with_tool(qtbot, w, photo_file, "hue_saturation")
    assert isinstance(form, HueSaturationForm)
    form.select_range("reds")
    sat = form.sliders()["saturation"]
    move_slider(qtbot, sat, sat.slider.minimum())
    one_step_settled(qtbot, w)
    p = form.params()
    assert p["reds_saturation"] == -100.0
    np.testing.assert_array_equal(doc.image, get_op("hue_saturation")(original, **p))
    hue = rgb2hsv(original)[..., 0] * 360
    gray = original.max(-1) == original.min(-1)
    far = (np.abs((hue + 180) % 360 - 180) > 30.5) | gray
    np.testing.assert_array_equal(doc.image[far], original[far])
    near = (np.abs((hue + 180) % 360 - 180) < 29.5) & ~gray
    assert near.mean() > 0.05  # the astronaut's suit patches and flag are red
    assert (doc.image[near].max(-1).astype(int) - doc.image[near].min(-1)).max() <= 1
    # Colorize in the same session: still one undo step, the op's colorize result
    form.colorize.widget.setChecked(True)
    qtbot.waitUntil(lambda: not w.controller.apply_lane.busy()
                    and form.params()["colorize"], timeout=5000)
    settle(qtbot, w)
    assert w.controller.undo_stack.count() == 1
    np.testing.assert_array_equal(doc.image,
                                  get_op("hue_saturation")(original, **form.params()))


def test_brightness_contrast_is_one_form(qtbot, window, photo_file):
    w = window
    doc, original, form = open_with_tool(qtbot, w, photo_file, "brightness_contrast")
    assert isinstance(form, ParamForm) and set(form.editors) == {"brightness", "contrast"}
    b = form.editors["brightness"].slider
    drag_slider(qtbot, form, "brightness", range(b.value() + 10, b.value() + 31, 10))
    c = form.editors["contrast"].slider
    drag_slider(qtbot, form, "contrast", range(c.value() + 10, c.value() + 41, 10))
    qtbot.waitUntil(lambda: not w.controller.apply_lane.busy()
                    and w.controller.undo_stack.count() == 1, timeout=5000)
    settle(qtbot, w)
    p = form.params()
    assert p["brightness"] > 0 and p["contrast"] > 0
    np.testing.assert_array_equal(doc.image, get_op("brightness_contrast")(original, **p))
