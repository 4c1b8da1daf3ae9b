"""The AI panels agree with themselves and pick classes by name (issue 13)."""

from __future__ import annotations

import pytest
from conftest import make_form, make_main_window, open_image
from PySide6.QtCore import Qt
from test_ai_ui import idle

from editor.ui.forms.class_field import GradCamForm, ImageNetClassField, imagenet_names

pytestmark = pytest.mark.gui


@pytest.fixture
def gradcam_form(qtbot):
    return make_form(qtbot, "gradcam")


def test_the_tools_docks_grad_cam_form_picks_the_class_by_name(qtbot, gradcam_form):
    form = gradcam_form
    assert isinstance(form, GradCamForm)
    field = form.editors["class_index"]
    assert isinstance(field, ImageNetClassField)
    combo = field.combo
    assert combo.count() == 1001 and combo.itemText(0).startswith("auto")
    assert form.params()["class_index"] is None  # the default: auto
    assert combo.itemText(282) == "tabby (281)"
    # typing part of a name offers the classes that contain it
    completer = combo.completer()
    completer.setCompletionPrefix("tabb")
    assert completer.completionCount() >= 1
    assert completer.currentCompletion() == "tabby (281)"
    committed = []
    form.paramsCommitted.connect(committed.append)
    combo.lineEdit().setText("espresso")  # a unique name, typed
    combo.lineEdit().editingFinished.emit()
    assert form.params()["class_index"] == 967 and committed[-1]["class_index"] == 967
    assert combo.currentText() == "espresso (967)"
    combo.lineEdit().setText("no such class")  # back to the class shown
    combo.lineEdit().editingFinished.emit()
    assert form.params()["class_index"] == 967 and combo.currentText() == "espresso (967)"
    combo.lineEdit().setText("281")  # an index works too
    combo.lineEdit().editingFinished.emit()
    assert form.params()["class_index"] == 281
    form.set_params({"class_index": None})
    assert combo.currentIndex() == 0 and form.params()["class_index"] is None


def test_every_class_has_one_entry(gradcam_form):
    names = imagenet_names()
    assert len(names) == 1000 and names[281] == "tabby"
    combo = gradcam_form.editors["class_index"].combo
    texts = [combo.itemText(i) for i in range(combo.count())]
    assert len(set(texts)) == len(texts)


def test_fgsm_target_is_picked_by_name(qtbot):
    form = make_form(qtbot, "fgsm")
    combo = form.editors["target_class"].combo
    assert combo.itemText(0) == "auto: any other class"
    combo.setCurrentIndex(combo.findData(954))
    assert form.params()["target_class"] == 954 and "banana" in combo.currentText()


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, chelsea):
    from editor.ui import ai_panels

    monkeypatch.setenv("CONVOLVE_RECOVERY_DIR", str(tmp_path / "recovery"))
    w = make_main_window(qtbot, tmp_path, size=(1280, 720))
    ai_panels.install(w)
    open_image(qtbot, w, chelsea, tmp_path / "cat.png")
    return w


def test_classify_grad_cam_and_fgsm_tabs_name_the_same_class(qtbot, window):
    panel = window.ai_panel
    window.panels["AI"].raise_()
    qtbot.mouseClick(panel.classify_tab.button, Qt.MouseButton.LeftButton)
    idle(qtbot, window)
    top = panel.classify_tab.rows[0][0].text()  # "tabby (281)"
    top_p = panel.classify_tab.rows[0][1].format()  # "39.3%"
    assert top.endswith(")") and "(" in top
    panel.tabs.setCurrentWidget(panel.network_tab)
    tab = panel.network_tab
    tab.mode.setCurrentIndex(tab.mode.findData("gradcam"))
    assert tab.cam_button.isVisible() and not tab.maps_button.isVisible()
    assert tab.cam_box.isVisible() and not tab.maps_box.isVisible()
    tab.gradcam()
    idle(qtbot, window)
    caption = tab.caption.text()
    assert f"explains {top}, Classify's top class: {top_p}" in caption
    assert tab.view.has_image()
    window.controller.undo()  # the overlay was an edit; FGSM reads the photo again
    idle(qtbot, window)
    panel.tabs.setCurrentWidget(panel.fgsm_tab)
    panel.fgsm_tab.form.set_params({"iterations": 1, "epsilon": 1.0})
    panel.fgsm_tab.run()
    idle(qtbot, window)
    assert panel.fgsm_tab.goal.text().startswith(f"Pushed away from {top}")
    assert panel.fgsm_tab.before.text().startswith(f"before: {top} {top_p}")


def test_network_tab_shows_one_mode_and_the_picture_in_view(qtbot, window):
    panel = window.ai_panel
    window.panels["AI"].raise_()
    panel.tabs.setCurrentWidget(panel.network_tab)
    tab = panel.network_tab
    qtbot.wait(50)
    tab.show_maps()
    idle(qtbot, window)
    assert tab.view.has_image() and "most active" in tab.caption.text()
    # the picture is on screen at 1280x720, not scrolled out of the dock
    qtbot.wait(50)
    top_left = tab.view.mapTo(tab.scroll.viewport(), tab.view.rect().topLeft())
    bottom = top_left.y() + tab.view.height()
    assert 0 <= top_left.y() and bottom <= tab.scroll.viewport().height()  # all of it
    assert tab.view.height() >= 110
