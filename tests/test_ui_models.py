"""The Models dialog (Help ▸ AI Models…) and the AI dock's Upscale / Fast style tabs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_main_window, open_image, wait_until_idle
from PySide6.QtCore import Qt

pytestmark = pytest.mark.gui
torch = pytest.importorskip("torch")


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVOLVE_MODELS_DIR", str(tmp_path / "store"))
    return tmp_path / "store"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, store, chelsea):
    from editor.ui import ai_panels, models_dialog

    monkeypatch.setenv("CONVOLVE_RECOVERY_DIR", str(tmp_path / "recovery"))
    w = make_main_window(qtbot, tmp_path, size=(1200, 800))
    ai_panels.install(w)
    models_dialog.install(w)
    open_image(qtbot, w, chelsea[::2, ::2], tmp_path / "cat.png")
    return w


def names(dlg) -> list[str]:
    return [dlg.table.item(r, 0).text() for r in range(dlg.table.rowCount())]


def test_help_menu_opens_the_dialog_add_and_remove(qtbot, window, tmp_path):
    pytest.importorskip("spandrel")
    from test_model_store import make_model, save_model

    help_menu = next(a.menu() for a in window.menuBar().actions()
                     if a.text().replace("&", "") == "Help")
    assert window.models_action in help_menu.actions()
    window.models_action.trigger()
    dlg = window.models_dialog
    qtbot.waitUntil(lambda: not dlg.busy and dlg.table.rowCount() > 0, timeout=20000)
    rows = names(dlg)
    assert "esrgan-slim-x4" in rows and not any("(yours)" in n for n in rows)
    assert "rdn-psnr-x2" in rows  # the best-quality packaged network
    # a built-in cannot be removed
    dlg.table.selectRow(rows.index("esrgan-slim-x4"))
    assert not dlg.remove_button.isEnabled()

    path = save_model(make_model("compact"), tmp_path / "tiny.pth")
    dlg.add_path(str(path))
    qtbot.waitUntil(lambda: not dlg.busy and "tiny  (yours)" in names(dlg), timeout=30000)
    r = names(dlg).index("tiny  (yours)")
    assert dlg.table.item(r, 3).text() == "RealESRGAN Compact"
    assert dlg.table.item(r, 4).text() == "×4" and dlg.table.item(r, 2).text() == "ready"
    assert dlg.table.item(r, 8).toolTip() == dlg.entries[r].sha256
    assert "Added tiny: super-resolution x4" in dlg.status.text()

    dlg.table.selectRow(r)
    assert dlg.remove_button.isEnabled()
    qtbot.mouseClick(dlg.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dlg.busy and "tiny  (yours)" not in names(dlg), timeout=20000)
    assert path.exists() and "Removed tiny" in dlg.status.text()


def test_refused_file_is_one_sentence_in_the_dialog(qtbot, window, tmp_path):
    (tmp_path / "notes.pth").write_text("not weights")
    window.models_action.trigger()
    dlg = window.models_dialog
    qtbot.waitUntil(lambda: not dlg.busy and dlg.table.rowCount() > 0, timeout=20000)
    before = dlg.table.rowCount()
    dlg.add_path(str(tmp_path / "notes.pth"))
    qtbot.waitUntil(lambda: not dlg.busy and "not a model" in dlg.status.text(),
                    timeout=20000)
    assert "\n" not in dlg.status.text() and dlg.table.rowCount() == before


def test_upscale_tab_doubles_the_image_in_one_undo_step(qtbot, window):
    panel, c = window.ai_panel, window.controller
    original = c.current_image().copy()
    tab = panel.upscale_tab
    panel.tabs.setCurrentWidget(tab)
    combo = tab.form.editors["model"].combo
    assert combo.itemText(0) == "esrgan-slim"
    assert combo.itemText(1) == "rdn-psnr"
    assert "best quality" in combo.itemData(1, Qt.ItemDataRole.ToolTipRole)
    field = tab.form.editors["model"]
    assert "fast" in field.hint.text()  # the default's hint, under the box
    combo.setCurrentIndex(1)
    assert "best quality" in field.hint.text() and not field.hint.isHidden()
    assert tab.params()["model"] == "rdn-psnr"
    combo.setCurrentIndex(0)
    tab.form.set_params({"scale": 2})
    qtbot.mouseClick(tab.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: c.undo_stack.count() == 1, timeout=60000)
    wait_until_idle(qtbot, lambda: c.apply_lane.busy(), timeout=10000)
    h, w = original.shape[:2]
    assert c.current_image().shape == (2 * h, 2 * w, 3)
    c.undo()
    qtbot.waitUntil(lambda: c.current_image().shape == original.shape, timeout=5000)
    np.testing.assert_array_equal(c.current_image(), original)


def test_fast_style_tab_restyles(qtbot, window):
    pytest.importorskip("onnxruntime")
    panel, c = window.ai_panel, window.controller
    original = c.current_image().copy()
    tab = panel.fast_style_tab
    panel.tabs.setCurrentWidget(tab)
    tab.form.set_params({"style": "17-woven-stripes"})
    qtbot.mouseClick(tab.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: c.undo_stack.count() == 1, timeout=60000)
    out = c.current_image()
    assert out.shape == original.shape
    assert np.abs(out.astype(int) - original).mean() > 20


def test_painting_field_only_for_from_painting(qtbot, window):
    panel = window.ai_panel
    tab = panel.fast_style_tab
    panel.tabs.setCurrentWidget(tab)
    painting = tab.style_field.widget
    assert not painting.isEnabled()
    tab.form.editors["style"].widget.setCurrentText("from-painting")
    assert painting.isEnabled()
    tab.form.editors["style"].widget.setCurrentText("03-neon-ribbons")
    assert not painting.isEnabled()
    tab.form.set_params({"style": "from-painting"})
    assert painting.isEnabled()
