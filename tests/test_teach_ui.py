"""The Classifier window driven offscreen, with a video file standing in for the camera:
capture into two classes, train, predict live, save, load, export."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6.QtMultimedia")

pytestmark = pytest.mark.gui


def write_video(path, frames, fps: float = 10.0, size: int = 160) -> str:
    """An MP4 (mp4v) of RGB frames, each upscaled to ``size`` px, via OpenCV."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
    assert writer.isOpened()
    for f in frames:
        rgb = cv2.resize(f, (size, size), interpolation=cv2.INTER_CUBIC)
        writer.write(np.ascontiguousarray(rgb[..., ::-1]))
    writer.release()
    return str(path)


def lfw_frames(start: int, stop: int) -> list[np.ndarray]:
    import skimage.data

    x = skimage.data.lfw_subset()[start:stop]
    return [np.repeat((im * 255).round().astype(np.uint8)[..., None], 3, 2) for im in x]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    return {"face": write_video(d / "faces.mp4", lfw_frames(0, 60)),
            "other": write_video(d / "others.mp4", lfw_frames(100, 160)),
            "face_test": write_video(d / "faces_test.mp4", lfw_frames(80, 100))}


def record(qtbot, win, video, name, n):
    win.capture.open_video(video)
    qtbot.waitUntil(lambda: win.source.latest is not None, timeout=15000)
    win.capture.rate_spin.setValue(15)
    win.capture.card(name).record_button.pressed.emit()
    qtbot.waitUntil(lambda: len(win.dataset.images(name)) >= n, timeout=30000)
    win.capture.card(name).record_button.released.emit()


def test_capture_train_predict_save_load_export(qtbot, tmp_path, videos):
    from editor.teach.dataset import Dataset
    from editor.teach.model import TeachModel
    from editor.ui.teach.window import ClassifierWindow

    win = ClassifierWindow(project=tmp_path / "proj")
    qtbot.addWidget(win)
    win.show()
    assert win.dataset.class_names == ["Class 1", "Class 2"]
    win.capture.rename_class("Class 1", "Face")
    win.capture.card("Class 2").name_edit.setText("Other")
    win.capture.card("Class 2").name_edit.editingFinished.emit()
    assert win.dataset.class_names == ["Face", "Other"]

    record(qtbot, win, videos["face"], "Face", 40)
    record(qtbot, win, videos["other"], "Other", 40)
    assert win.capture.card("Face").model.rowCount() >= 40
    # the dataset is on disk: reopening the folder gives the same classes and counts
    reopened = Dataset.open(tmp_path / "proj")
    assert reopened.counts() == win.dataset.counts()

    win.train_panel.widget("epochs").setValue(20)
    epochs = []
    win.lane.jobPartial.connect(lambda _j, s: epochs.append(s))
    with qtbot.waitSignal(win.trainingFinished, timeout=240000) as blocker:
        win.train_panel.train_button.click()
    result = blocker.args[0]
    assert len(epochs) == 20 and len(win.train_panel.loss_plot.series["train"][1]) == 20
    # held-out frames of the same faces and non-faces: clearly separable
    assert result.evaluation.accuracy >= 0.9
    assert win.train_panel.confusion.rowCount() == 2
    cells = win.train_panel.confusion
    assert [[int(cells.item(r, c).text()) for c in range(2)] for r in range(2)] \
        == result.evaluation.confusion
    win.train_panel.confusion.cellClicked.emit(0, 0)  # a cell opens its thumbnails
    assert win.train_panel.cell_dialog.isVisible()
    assert str(result.evaluation.confusion[0][0]) in win.train_panel.cell_dialog.windowTitle()

    # live prediction on unseen faces played as the camera
    win.capture.open_video(videos["face_test"])
    probs = []
    win.predicted.connect(probs.append)
    qtbot.waitUntil(lambda: len(probs) >= 10, timeout=60000)
    assert np.mean([p[0] for p in probs]) > 0.5  # mostly "Face"
    assert win.use.live_fps > 0

    win.use.cam_box.setChecked(True)
    qtbot.waitUntil(lambda: win.use.cam_overlay is not None, timeout=30000)
    win.source.stop()

    saved = win.save_model(tmp_path / "face.safetensors")
    loaded = TeachModel.load(saved)
    frame = lfw_frames(90, 91)[0]
    np.testing.assert_allclose(loaded.predict(frame), win.model.predict(frame), atol=1e-6)
    with qtbot.waitSignal(win.modelChanged, timeout=60000):
        win.load_model(saved)
    assert win.model.class_names == ["Face", "Other"]
    win.export(tmp_path / "face.onnx")
    qtbot.waitUntil(lambda: (tmp_path / "face.onnx").exists() and not win.busy(),
                    timeout=120000)


def test_confusion_cell_and_augmentation_preview(qtbot, tmp_path):
    from editor.ui.teach.window import ClassifierWindow

    win = ClassifierWindow(project=tmp_path / "p")
    qtbot.addWidget(win)
    for i, f in enumerate(lfw_frames(0, 6)):
        win.dataset.add_image("Class 1" if i < 3 else "Class 2", f)
    win.train_panel.preview_augmentation()
    dialog = win.train_panel.augment_dialog
    assert dialog is not None and dialog.windowTitle()
    win.capture.card("Class 1").refresh()
    assert win.capture.card("Class 1").count_label.text() == "3 images"
    win.capture.card("Class 1").view.selectAll()
    win.capture.card("Class 1").delete_selected()
    assert win.dataset.counts()["Class 1"] == 0


def test_no_camera_gives_a_clear_message(qtbot, tmp_path, monkeypatch):
    from PySide6.QtMultimedia import QMediaDevices

    from editor.ui.teach.window import ClassifierWindow

    monkeypatch.setattr(QMediaDevices, "videoInputs", staticmethod(lambda: []))
    win = ClassifierWindow(project=tmp_path / "p")
    qtbot.addWidget(win)
    assert not win.source.open_camera(0)
    assert "No camera" in win.capture.view.text()
    win.capture.snap("Class 1")
    assert "No camera frame" in win.status_label.text()
    # import still works without a camera
    from PIL import Image

    src = tmp_path / "a.png"
    Image.fromarray(lfw_frames(0, 1)[0]).save(src)
    win.capture.import_files("Class 1", [str(src)])
    qtbot.waitUntil(lambda: win.dataset.counts()["Class 1"] == 1, timeout=10000)


def test_install_adds_a_menu_action(qtbot):
    from PySide6.QtWidgets import QMainWindow

    from editor.ui.teach import install

    mw = QMainWindow()
    qtbot.addWidget(mw)
    mw.menuBar().addMenu("&Help")
    install(mw)
    titles = [a.text() for a in mw.menuBar().actions()]
    assert titles == ["&Classifier", "&Help"]
    assert mw.classifier_action.text().startswith("Open")
