"""The Classifier's Use panel in the real editor window (offscreen): a folder to CSV gives
the same file as ``convolve predict --csv``, and "Send to canvas" lands the Grad-CAM overlay
as one undo step through the commit pipeline, recomputed on the image it lands on."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings

pytestmark = pytest.mark.gui

CLASSES = {"Cat": "chelsea.png", "Coffee": "coffee.png", "Rocket": "rocket.jpg"}


def crops(image: np.ndarray, n: int, seed: int) -> list[np.ndarray]:
    """``n`` random square crops (half to nine tenths of the short side) of a photo."""
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    out = []
    for _ in range(n):
        s = int(min(h, w) * rng.uniform(0.5, 0.9))
        y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        out.append(np.ascontiguousarray(image[y:y + s, x:x + s]))
    return out


@pytest.fixture(scope="module")
def pets(tmp_path_factory, photos):
    """A model trained on crops of three real photos, saved, and a folder of new crops."""
    from editor.teach.dataset import Dataset
    from editor.teach.train import TrainConfig, train

    root = tmp_path_factory.mktemp("pets")
    ds = Dataset.create(root / "project", list(CLASSES))
    new = root / "new"
    for k, (name, photo) in enumerate(CLASSES.items()):
        for img in crops(photos[photo], 10, seed=k):
            ds.add_image(name, img)
        sub = new / name.lower()
        sub.mkdir(parents=True)
        for i, img in enumerate(crops(photos[photo], 3, seed=100 + k)):
            Image.fromarray(img).save(sub / f"{i}.png")
    (new / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    cache = new / ".cache"  # a project's feature cache is never classified
    cache.mkdir()
    Image.fromarray(crops(photos["coffee.png"], 1, seed=7)[0]).save(cache / "x.png")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train(ds, TrainConfig(epochs=10, seed=0))
    path = result.model.save(root / "pets.safetensors")
    return result.model, path, new


@pytest.fixture
def editor(qtbot, tmp_path, monkeypatch, chelsea):
    """The editor's main window with a photo open, and its Classifier window."""
    from editor.ui.main_window import MainWindow
    from editor.ui.teach import open_classifier

    monkeypatch.setenv("CONVOLVE_RECOVERY_DIR", str(tmp_path / "recovery"))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    mw = MainWindow(settings=settings, load_registry=False, install_panels=False)
    mw.load_registry(sync=True)
    mw._confirm = lambda doing: True
    mw.show()
    qtbot.addWidget(mw)
    photo = tmp_path / "cat.png"
    Image.fromarray(np.ascontiguousarray(chelsea[::2, ::2])).save(photo)
    mw.open_path(str(photo))
    qtbot.waitUntil(lambda: mw.controller.document is not None, timeout=10000)
    win = open_classifier(mw, tmp_path / "project")
    qtbot.addWidget(win)
    return mw, win


def idle(qtbot, mw, win, timeout=60000):
    c = mw.controller
    qtbot.waitUntil(lambda: not (win.busy() or c.pipeline.busy() or c.apply_lane.busy()),
                    timeout=timeout)
    qtbot.wait(20)


def test_classify_folder_writes_the_same_csv_as_the_cli(qtbot, editor, pets, tmp_path,
                                                        capsys):
    from editor.cli import main

    mw, win = editor
    _model, path, folder = pets
    with qtbot.waitSignal(win.modelChanged, timeout=60000):
        win.load_model(path)
    window_csv, cli_csv = tmp_path / "window.csv", tmp_path / "cli.csv"
    win.use.classify_folder(str(folder), window_csv)
    idle(qtbot, mw, win)
    assert "skipped 1 unreadable" in win.status_label.text()
    assert main(["predict", str(path), str(folder), "--csv", str(cli_csv)]) == 0
    assert "broken.jpg" in capsys.readouterr().err
    assert window_csv.read_bytes() == cli_csv.read_bytes()
    import csv

    rows = list(csv.DictReader(window_csv.open()))
    assert [r["path"] for r in rows] == [str(p) for p in sorted(folder.rglob("*.png"))
                                         if ".cache" not in p.parts]
    # new crops of the training photos: the model knows them
    right = sum(r["predicted"].lower() == r["path"].split("/")[-2] for r in rows)
    assert right >= 8 and len(rows) == 9


def _classified(qtbot, mw, win, model):
    win.set_model(model)
    win.use.classify_canvas()
    qtbot.waitUntil(win.use.send_button.isEnabled, timeout=60000)
    return win.use._explained[1]


def test_send_to_canvas_is_one_undo_step_of_the_overlay(qtbot, editor, pets):
    from editor.teach.predict import explain_image

    mw, win = editor
    model = pets[0]
    c = mw.controller
    k = _classified(qtbot, mw, win, model)
    assert model.class_names[k] == "Cat"
    base = c.current_image().copy()
    steps = c.undo_stack.count()
    req = win.use.send_to_canvas()
    idle(qtbot, mw, win)
    assert req.outcome == "committed" and req.rebased == 0
    assert c.undo_stack.count() == steps + 1
    assert c.undo_stack.text(steps) == "Classifier Grad-CAM"
    expected = explain_image(model, base, k)[2]
    np.testing.assert_array_equal(c.current_image(), expected)
    assert np.abs(expected.astype(int) - base).mean() > 10  # the overlay is visible
    c.undo()
    idle(qtbot, mw, win)
    np.testing.assert_array_equal(c.current_image(), base)


def test_send_to_canvas_queued_behind_an_edit_uses_the_edited_image(qtbot, editor, pets):
    from editor.ops import get_op, run_op
    from editor.teach.predict import explain_image

    mw, win = editor
    model = pets[0]
    c = mw.controller
    k = _classified(qtbot, mw, win, model)
    base = c.current_image().copy()
    steps = c.undo_stack.count()
    c.apply_op("invert")
    req = win.use.send_to_canvas()  # waits in the queue while invert runs
    assert req in c.pipeline.pending()
    idle(qtbot, mw, win)
    assert req.outcome == "committed"
    assert c.undo_stack.count() == steps + 2
    inverted = run_op(get_op("invert"), base, {})
    np.testing.assert_array_equal(c.current_image(), explain_image(model, inverted, k)[2])
    assert not np.array_equal(c.current_image(), explain_image(model, base, k)[2])


def test_send_to_canvas_is_recomputed_when_the_image_moves_while_it_runs(qtbot, editor,
                                                                        pets):
    from editor.teach.predict import explain_image

    mw, win = editor
    model = pets[0]
    c = mw.controller
    k = _classified(qtbot, mw, win, model)
    base = c.current_image().copy()
    c.apply_op("invert")
    idle(qtbot, mw, win)
    steps = c.undo_stack.count()
    req = win.use.send_to_canvas()  # starts on the inverted image...
    c.undo()                        # ...and the user goes back to the original meanwhile
    idle(qtbot, mw, win)
    assert req.outcome == "committed" and req.rebased == 1
    np.testing.assert_array_equal(c.current_image(), explain_image(model, base, k)[2])
    # the undone invert is replaced by the one Grad-CAM step
    assert c.undo_stack.count() == steps
    assert c.undo_stack.text(c.undo_stack.index() - 1) == "Classifier Grad-CAM"


def test_send_to_canvas_needs_a_canvas_classification(qtbot, editor, pets):
    mw, win = editor
    win.set_model(pets[0])
    assert not win.use.send_button.isEnabled()
    assert win.use.send_to_canvas() is None
    assert win.status_label.text() == "Classify the canvas image first."
    k = _classified(qtbot, mw, win, pets[0])
    assert k >= 0
    win.set_model(pets[0])  # a model (re)loaded: the classification is stale
    assert not win.use.send_button.isEnabled()
