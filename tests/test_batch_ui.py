"""File ▸ Batch Process…: the dialog runs the edit history over a folder in the background.

The editor's own history (controller.recipe_json()) is applied to real photos
by the local engine; every output must be what `convolve apply` writes with
that recipe, the summary lists the truncated file and opens an output in the
editor; Cancel keeps the finished files and leaves no partial one.
"""

from __future__ import annotations

import pytest
from batch_support import (
    apply_reference,
    assert_outputs_match,
    corrupt_file,
    make_photo_set,
    part_files,
    write_recipe,
)
from conftest import wait_until_idle

from editor.io import verify_image
from editor.ui.batch_dialog import BatchDialog, install, open_batch_dialog

pytestmark = [pytest.mark.gui, pytest.mark.slow]


@pytest.fixture
def window(window, qtbot):
    w = window
    install(w)
    yield w
    dlg = getattr(w, "batch_dialog", None)
    if dlg is not None and dlg.running():
        dlg.cancel()
        qtbot.waitUntil(lambda: not dlg.running(), timeout=60000)


def edited(qtbot, w, photo):
    """Open ``photo`` and make two edits; returns the history's recipe JSON."""
    w.open_path(str(photo))
    qtbot.waitUntil(lambda: w.controller.document is not None, timeout=10000)
    w.controller.apply_op("saturation", {"amount": 0.3})
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == 1, timeout=10000)
    w.controller.apply_op("unsharp_mask", {"radius": 1.5, "amount": 0.8})
    qtbot.waitUntil(lambda: w.controller.undo_stack.count() == 2, timeout=10000)
    c = w.controller
    wait_until_idle(qtbot, lambda: c.preview_lane.busy() or c.apply_lane.busy()
                    or c.job_lane.busy())
    return c.recipe_json()


def test_dialog_applies_the_edit_history_to_a_folder(qtbot, window, tmp_path):
    w = window
    inp = tmp_path / "in"
    files = make_photo_set(inp, 12)
    broken = corrupt_file(inp / "broken.jpg", files[0])
    recipe_text = edited(qtbot, w, files[3])

    menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&File")
    assert w.batch_action in menu.actions()
    w.batch_action.trigger()
    dlg = w.batch_dialog
    assert isinstance(dlg, BatchDialog) and dlg.isVisible()
    assert dlg.history_radio.isChecked() and "2 steps" in dlg.history_radio.text()

    dlg.add_paths([inp])
    dlg.out_edit.setText(str(tmp_path / "out"))
    dlg.workers_spin.setValue(2)
    job = dlg.start()
    assert job is not None and dlg.stack.currentIndex() == 1
    # the batch runs on the dialog's lane: the editor's event loop goes on meanwhile
    qtbot.waitUntil(lambda: dlg.result is not None, timeout=120000)
    result = dlg.result
    assert not result.cancelled and result.count("done") == 12 and result.count("failed") == 1
    assert dlg.title_label.text().startswith("Finished: 12 done, 1 failed")
    assert dlg.failures.count() == 1 and str(broken) in dlg.failures.item(0).text()
    assert dlg.outputs.count() == 12 and dlg.outputs.isVisible()

    recipe = write_recipe(tmp_path / "history.json")
    recipe.write_text(recipe_text)
    refs = apply_reference(files, recipe, tmp_path / "ref", inp)
    refs = {name.replace(".", "_edit.", 1): ref for name, ref in refs.items()}
    assert_outputs_match(tmp_path / "out", refs)
    assert part_files(tmp_path / "out") == []

    # an output opens in the editor
    target = dlg.outputs.item(2).data(0x0100)
    dlg.open_output(dlg.outputs.item(2))
    qtbot.waitUntil(lambda: w.controller.document is not None
                    and str(w.controller.document.path) == target, timeout=10000)


def test_settings_are_checked_and_cancel_keeps_finished_files(qtbot, window, tmp_path):
    from batch_support import SLOW

    w = window
    dlg = open_batch_dialog(w)
    assert not dlg.history_radio.isEnabled()  # nothing edited: a saved recipe is needed
    assert dlg.start() is None and "Add photos" in dlg.settings_message.text()
    files = make_photo_set(tmp_path / "in", 40)
    dlg.add_paths([tmp_path / "in"])
    assert dlg.start() is None and "output folder" in dlg.settings_message.text()
    dlg.out_edit.setText(str(tmp_path / "out"))
    assert dlg.start() is None and "saved recipe" in dlg.settings_message.text()
    dlg.recipe_edit.setText(str(write_recipe(tmp_path / "slow.json", SLOW)))
    dlg.recipe_radio.setChecked(True)
    dlg.name_edit.setText("{stem}_{size}.{ext}")
    dlg.workers_spin.setValue(2)
    dlg.start()  # the plan is checked by the job: one sentence on the settings page
    qtbot.waitUntil(lambda: bool(dlg.error), timeout=60000)
    assert dlg.stack.currentIndex() == 0 and "{size}" in dlg.settings_message.text()

    dlg.name_edit.setText("{stem}.{ext}")
    dlg.start()
    out = tmp_path / "out"
    qtbot.waitUntil(lambda: len(list(out.glob("photo_*"))) >= 3, timeout=60000)
    dlg.cancel()
    qtbot.waitUntil(lambda: dlg.result is not None, timeout=60000)
    result = dlg.result
    assert result.cancelled and 0 < result.count("done") < len(files)
    assert result.count("pending") == len(files) - result.count("done")
    assert dlg.title_label.text().startswith("Cancelled: ")
    assert part_files(out) == []
    for p in out.glob("photo_*"):
        verify_image(p)


def test_current_edits_with_a_painted_selection_run_as_a_batch(qtbot, window, tmp_path):
    """A painted (not shape) selection in the history travels to the batch as a mask
    PNG beside the recipe; before, every photo failed until the recipe was saved."""
    import numpy as np

    from editor.io import load_image

    w = window
    inp = tmp_path / "in"
    photo = next(f for f in make_photo_set(inp, 3) if f.suffix == ".png")  # lossless out
    w.open_path(str(photo))
    qtbot.waitUntil(lambda: w.controller.document is not None, timeout=10000)
    c = w.controller
    h, wd = c.document.image.shape[:2]
    mask = np.zeros((h, wd), np.float32)
    mask[h // 4:h // 2, wd // 3:] = 1.0
    mask[h // 2:h // 2 + 6, wd // 3:] = 0.5
    c.set_selection(mask, "Paint Selection", op="select_mask")
    c.apply_op("invert", {})
    qtbot.waitUntil(lambda: c.undo_stack.count() == 2, timeout=10000)
    wait_until_idle(qtbot, lambda: c.preview_lane.busy() or c.apply_lane.busy()
                    or c.job_lane.busy())
    expected = c.document.image.copy()

    open_batch_dialog(w)
    dlg = w.batch_dialog
    dlg.add_paths([photo])
    dlg.out_edit.setText(str(tmp_path / "out"))
    dlg.workers_spin.setValue(1)
    assert dlg.start() is not None
    qtbot.waitUntil(lambda: dlg.result is not None or bool(dlg.error), timeout=120000)
    assert dlg.error == "" and dlg.result.count("done") == 1, dlg.error
    out = next((tmp_path / "out").iterdir())
    np.testing.assert_array_equal(load_image(out).pixels, expected)
