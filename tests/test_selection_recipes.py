"""Selections in recipes, on the command line, in projects and in the recovery journal.

A recipe interleaves selection steps with edits; painted masks are written
beside it as 16-bit PNGs named by their SHA-256, and ``convolve apply
--recipe`` replays the session bit-exactly. ``--mask`` confines a command-line
edit, refusing bad masks in one sentence with nothing written. A project or a
crashed session comes back with the selection of every history state.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_photo
from PIL import Image

from editor.cli import main
from editor.core.context import OpContext
from editor.core.recipe import Recipe
from editor.core.recovery import pending_recoveries
from editor.core.selection import mask_sha256, mask_to_image, quantize
from editor.io import load_image, save_image
from editor.io.masks import save_recipe
from editor.ops import get_op, run_op
from editor.ops.registry import run_select, transform_mask
from tests.test_pipeline import make_controller, open_array, settle


@pytest.fixture(scope="module")
def photo():
    return np.ascontiguousarray(load_photo("chelsea.png")[40:240, 60:360])


def painted(shape, seed=1):
    """A quick-mask stroke: a soft blob, rounded to 16 bits as the GUI commits it."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    m = np.clip(1.5 - np.hypot((yy - 90) / 40.0, (xx - 200) / 70.0), 0, 1)
    return quantize(m.astype(np.float32))


def session_steps(shape, painted_sha):
    """Edits and selections as a user makes them: shapes, a painted mask, a wand,
    feathering, geometry that moves the selection, and a deselect."""
    return [
        ("select_ellipse", {"x": 30.5, "y": 20.25, "width": 150, "height": 110}),
        ("gaussian_blur", {"sigma": 2.0}),
        ("select_rect", {"x": 120, "y": 100, "width": 90.5, "height": 60, "mode": "add"}),
        ("brightness", {"amount": 0.25}),
        ("select_mask", {"sha256": painted_sha}),
        ("invert", {}),
        ("flip", {"axis": "horizontal"}),
        ("select_feather", {"radius": 6.0}),
        ("hue_saturation", {"saturation": 0.5}) if _has("hue_saturation") else
        ("brightness", {"amount": -0.1}),
        ("select_wand", {"x": 60, "y": 150, "tolerance": 40}),
        ("select_grow", {"pixels": 3}),
        ("gaussian_blur", {"sigma": 1.5}),
        ("rotate90", {}) if _has("rotate90") else ("flip", {"axis": "vertical"}),
        ("select_polygon", {"points": [(10, 10), (150, 30), (90, 140)], "mode": "subtract"}),
        ("brightness", {"amount": 0.1}),
        ("select_none", {}),
        ("brightness", {"amount": -0.05}),
    ]


def _has(name):
    try:
        get_op(name)
        return True
    except KeyError:
        return False


def step_by_step(image, steps, masks):
    """What the commit pipeline does, step by step: a selection op makes the selection
    (a painted mask is committed as it is), an op runs under it, geometry moves it."""
    selection = None
    for op, params in steps:
        spec = get_op(op)
        if op == "select_mask":
            selection = masks[params["sha256"]]
        elif spec.selects:
            selection = run_select(spec, image, params, selection)
        else:
            image = run_op(spec, image, params, OpContext(selection=selection))
            selection = transform_mask(spec, params, selection)
    return image, selection


@pytest.mark.parametrize("depth", [8, 16])
def test_recipe_with_masks_replays_bit_exactly_through_the_cli(photo, tmp_path, depth,
                                                              monkeypatch, capsys):
    image = photo if depth == 8 else photo.astype(np.uint16) * 257 + photo[..., ::-1]
    mask = painted(image.shape)
    sha = mask_sha256(mask)
    steps = session_steps(image.shape, sha)
    expected, selection = step_by_step(image, steps, {sha: mask})
    assert selection is None and not np.array_equal(expected, image)
    recipe = Recipe()
    for op, params in steps:
        recipe.append(op, params)
    folder = tmp_path / "recipes"
    folder.mkdir()
    written = save_recipe(recipe, folder / "look.recipe.json", {sha: mask})
    assert written == [f"look-mask-{sha[:8]}.png"]
    saved = load_image(folder / written[0]).pixels
    assert saved.dtype == np.uint16 and np.array_equal(saved, mask_to_image(mask))
    save_image(tmp_path / "in.png", image)
    monkeypatch.chdir(tmp_path)  # the mask is found beside the recipe, not in the cwd
    assert main(["apply", "in.png", "-o", "out.png", "--recipe",
                 str(folder / "look.recipe.json")]) == 0
    out = load_image(tmp_path / "out.png").pixels
    np.testing.assert_array_equal(out, expected)
    # Recipe.apply says where the selection ended
    ctx = OpContext()
    Recipe.load(folder / "look.recipe.json").apply(image, ctx)
    assert ctx.selection_result is None
    # another mask under the same name is refused in one sentence, nothing written
    save_image(folder / written[0], mask_to_image(painted(image.shape)[::-1].copy()))
    assert main(["apply", "in.png", "-o", "out2.png", "--recipe",
                 str(folder / "look.recipe.json")]) == 1
    err = capsys.readouterr().err.strip()
    assert "its SHA-256 differs" in err and "\n" not in err
    assert not (tmp_path / "out2.png").exists()


def test_recipe_reports_the_selection_it_ends_with(photo):
    recipe = Recipe()
    recipe.append("select_rect", {"x": 10, "y": 10, "width": 50, "height": 40})
    recipe.append("flip", {"axis": "horizontal"})
    recipe.append("invert", {})
    ctx = OpContext()
    out = recipe.apply(photo, ctx)
    sel = ctx.selection_result
    assert sel is not None and sel[10:50, -60:-10].min() == 1 and sel.sum() == 50 * 40
    flipped = photo[:, ::-1]
    np.testing.assert_array_equal(out[sel == 0], flipped[sel == 0])
    np.testing.assert_array_equal(out[sel == 1], 255 - flipped[sel == 1])
    # started from a selection: it is the one the steps run under
    start = np.zeros(photo.shape[:2], np.float32)
    start[:20] = 1
    inv = Recipe()
    inv.append("invert", {})
    ctx = OpContext(selection=start)
    out = inv.apply(photo, ctx)
    assert ctx.selection_result is start
    np.testing.assert_array_equal(out[20:], photo[20:])
    np.testing.assert_array_equal(out[:20], 255 - photo[:20])


# -- convolve apply --mask ---------------------------------------------------------------

def test_cli_mask_confines_the_edit_and_saves_it_in_the_recipe(photo, tmp_path, capsys):
    save_image(tmp_path / "in.png", photo)
    mask = np.zeros(photo.shape[:2], np.uint8)
    mask[50:150, 100:250] = 255
    mask[50:150, 100] = 128
    save_image(tmp_path / "mask.png", mask)
    assert main(["apply", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"),
                 "--mask", str(tmp_path / "mask.png"), "--op", "invert",
                 "--save-recipe", str(tmp_path / "r.json")]) == 0
    out = load_image(tmp_path / "out.png").pixels
    np.testing.assert_array_equal(out[mask == 0], photo[mask == 0])
    np.testing.assert_array_equal(out[mask == 255], 255 - photo[mask == 255])
    half = out[50:150, 100].astype(int)
    assert np.abs(half - 127.5).max() <= 1  # 128/255 of the way from v to 255 - v... ~ mid
    # the recipe starts from the mask, saved beside it
    assert main(["apply", str(tmp_path / "in.png"), "-o", str(tmp_path / "again.png"),
                 "--recipe", str(tmp_path / "r.json")]) == 0
    np.testing.assert_array_equal(load_image(tmp_path / "again.png").pixels, out)
    assert Recipe.load(tmp_path / "r.json").steps[0].op == "select_mask"


def test_cli_mask_errors_are_one_sentence_and_write_nothing(photo, tmp_path, capsys):
    save_image(tmp_path / "in.png", photo)
    save_image(tmp_path / "small.png", np.zeros((10, 20), np.uint8))
    save_image(tmp_path / "black.png", np.zeros(photo.shape[:2], np.uint8))
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    cases = [("small.png", "is 20×10 pixels but the image is 300×200"),
             ("black.png", "selects nothing"),
             ("junk.png", "cannot be read"),
             ("missing.png", "no such mask file")]
    for name, words in cases:
        out = tmp_path / f"out-{name}"
        code = main(["apply", str(tmp_path / "in.png"), "-o", str(out), "--mask",
                     str(tmp_path / name), "--op", "invert"])
        err = capsys.readouterr().err.strip()
        assert code in (1, 2), (name, err)
        assert words in err and "\n" not in err and "Traceback" not in err, err
        assert not out.exists()


# -- projects and the recovery journal -------------------------------------------------------

def gui_session(qtbot, c, photo):
    """A session with selection steps, a painted mask, an edit under each, geometry."""
    doc = open_array(qtbot, c, photo)
    c.select("select_ellipse", {"x": 30.5, "y": 20.25, "width": 150, "height": 110})
    c.apply_op("gaussian_blur", {"sigma": 2.0})
    c.set_selection(painted(photo.shape) * 0.999, "Quick Mask", op="select_mask")
    c.apply_op("invert", {})
    c.apply_op("flip", {"axis": "horizontal"})
    c.select("select_feather", {"radius": 6.0})
    c.apply_op("brightness", {"amount": 0.2})
    c.select("select_none", {})
    settle(qtbot, c)
    states = []
    for i in range(c.undo_stack.count() + 1):
        c.undo_stack.setIndex(i)
        states.append((doc.image.copy(), None if doc.selection() is None
                       else doc.selection().copy()))
    c.undo_stack.setIndex(c.undo_stack.count() - 1)  # saved with a redo step
    settle(qtbot, c)
    return states


def assert_same_states(c, states):
    assert c.undo_stack.count() == len(states) - 1
    for i, (image, selection) in enumerate(states):
        c.undo_stack.setIndex(i)
        doc = c.document
        np.testing.assert_array_equal(doc.image, image, err_msg=f"state {i}")
        if selection is None:
            assert doc.selection() is None, f"state {i}"
        else:
            np.testing.assert_array_equal(doc.selection(), selection, err_msg=f"state {i}")


def test_gui_recipe_with_a_painted_mask_replays_through_the_cli(qtbot, tmp_path,
                                                                 monkeypatch, photo):
    c = make_controller(qtbot, tmp_path, monkeypatch)
    gui_session(qtbot, c, photo)
    c.undo_stack.setIndex(c.undo_stack.count())
    settle(qtbot, c)
    written = c.save_recipe(str(tmp_path / "session.json"))
    assert len(written) == 1 and (tmp_path / written[0]).is_file()
    save_image(tmp_path / "in.png", photo)
    assert main(["apply", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"),
                 "--recipe", str(tmp_path / "session.json")]) == 0
    np.testing.assert_array_equal(load_image(tmp_path / "out.png").pixels, c.document.image)
    c.shutdown()


def test_project_keeps_every_states_selection(qtbot, tmp_path, monkeypatch, photo):
    c = make_controller(qtbot, tmp_path, monkeypatch)
    states = gui_session(qtbot, c, photo)
    done = []
    c.io.save_project(str(tmp_path / "work"), on_done=done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=20000)
    c.shutdown()
    c2 = make_controller(qtbot, tmp_path, monkeypatch)
    opened = []
    c2.io.open_project(done[0], on_done=lambda: opened.append(True))
    qtbot.waitUntil(lambda: bool(opened), timeout=20000)
    settle(qtbot, c2)
    assert c2.undo_stack.index() == len(states) - 2
    assert_same_states(c2, states)
    c2.shutdown()


def test_recovery_keeps_every_states_selection(qtbot, tmp_path, monkeypatch, photo):
    c = make_controller(qtbot, tmp_path, monkeypatch)
    states = gui_session(qtbot, c, photo)
    c.io.writer.wait(10)
    c.journal.abandon()  # what a crash leaves
    (rec,) = pending_recoveries(tmp_path / "recovery")
    c2 = make_controller(qtbot, tmp_path, monkeypatch)
    done = []
    c2.restore(rec, on_done=lambda: done.append(True))
    qtbot.waitUntil(lambda: bool(done), timeout=20000)
    settle(qtbot, c2)
    assert_same_states(c2, states)
    c2.shutdown()
    c.shutdown()


def test_painted_mask_png_round_trip_is_exact(tmp_path):
    m = painted((200, 300))
    path = tmp_path / "m.png"
    save_image(path, mask_to_image(m))
    with Image.open(path) as im:
        assert im.mode.startswith("I;16") or im.mode == "I"
    from editor.ops.select import load_mask

    np.testing.assert_array_equal(load_mask(path, (200, 300), mask_sha256(m)), m)


def test_batch_replays_selection_steps_and_mask_files(photo, tmp_path, monkeypatch, capsys):
    """convolve batch runs the recipe's selection steps like apply does; a mask file is
    read from the recipe's folder on the workers; a photo of another size fails alone."""
    photos = tmp_path / "in"
    photos.mkdir()
    save_image(photos / "a.png", photo)
    save_image(photos / "b.png", np.ascontiguousarray(photo[::-1]))
    save_image(photos / "c.png", np.ascontiguousarray(photo[:100]))
    mask = painted(photo.shape)
    sha = mask_sha256(mask)
    recipe = Recipe()
    recipe.append("select_rect", {"x": 20, "y": 10, "width": 120.5, "height": 90})
    recipe.append("select_mask", {"sha256": sha})
    recipe.append("invert", {})
    folder = tmp_path / "recipes"
    folder.mkdir()
    save_recipe(recipe, folder / "look.json", {sha: mask})
    monkeypatch.chdir(tmp_path)
    code = main(["batch", str(folder / "look.json"), str(photos), "-o", str(tmp_path / "out"),
                 "--workers", "1", "-q"])
    out, err = capsys.readouterr()
    assert code == 1 and "2 done, 1 failed" in out, out + err
    assert "c.png" in err and "is 300×200 pixels but the image is 300×100" in err
    for name in ("a.png", "b.png"):
        assert main(["apply", str(photos / name), "-o", str(tmp_path / f"ref-{name}"),
                     "--recipe", str(folder / "look.json")]) == 0
        np.testing.assert_array_equal(load_image(tmp_path / "out" / name).pixels,
                                      load_image(tmp_path / f"ref-{name}").pixels)
    assert not (tmp_path / "out" / "c.png").exists()
