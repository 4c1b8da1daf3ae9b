"""Teachable classifier end to end without Qt: train on a real two-class set (faces
vs non-faces from scikit-image's ``lfw_subset``, BSD-licensed), evaluate, save/load,
export, attack, explain, and the command line."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from editor.core.context import OpContext, OpError
from editor.teach.dataset import Dataset
from editor.teach.train import TrainConfig, train


def write_lfw(root: Path, per_class: int = 100, corrupt: bool = True) -> Path:
    """lfw_subset as a folder per class: 100 faces and 100 non-faces, 25x25 gray PNGs."""
    import skimage.data
    from PIL import Image

    x = skimage.data.lfw_subset()
    for i, im in enumerate(x):
        if i % 100 >= per_class:
            continue
        d = root / ("face" if i < 100 else "not_face")
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray((im * 255).round().astype(np.uint8)).save(d / f"{i:03d}.png")
    if corrupt:
        (root / "face" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return root


@pytest.fixture(scope="module")
def lfw_dir(tmp_path_factory):
    return write_lfw(tmp_path_factory.mktemp("lfw"))


@pytest.fixture(scope="module")
def trained(lfw_dir):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(Dataset.open(lfw_dir), TrainConfig(seed=0, epochs=30))
    return result, [str(w.message) for w in caught]


def _lfw_rgb(indices):
    import skimage.data

    x = skimage.data.lfw_subset()
    return [np.repeat((x[i] * 255).round().astype(np.uint8)[..., None], 3, 2) for i in indices]


def test_heldout_accuracy_is_well_above_chance(trained):
    result, _ = trained
    ev = result.evaluation
    assert result.model.backbone == "efficientnet_lite0"
    assert len(result.split[1]) == 30  # 15 % of each class
    readable = [p for p in result.split[1] if "corrupt" not in p]
    assert ev.on_test_split and ev.paths == readable
    # faces vs non-faces is easy for ImageNet features: the issue asks for >= 95 %
    assert ev.accuracy >= 0.95
    assert np.sum(ev.confusion) == len(ev.paths)
    assert set(result.split[1]).isdisjoint(result.split[0])
    # curves: one entry per epoch, the training loss falls
    assert len(result.history) == 30
    assert result.history[-1].train_loss < result.history[0].train_loss / 2


def test_corrupt_image_is_skipped_with_a_warning(trained):
    result, messages = trained
    assert any("corrupt.png" in m for m in messages)
    assert any("corrupt.png" in m for m in result.skipped)
    assert not any("corrupt.png" in p for p in result.evaluation.paths)


def test_retraining_is_reproducible_and_reads_the_cache(trained, lfw_dir):
    first, _ = trained
    messages = []
    ctx = OpContext(progress=lambda f, m: messages.append(m))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = train(Dataset.open(lfw_dir), TrainConfig(seed=0, epochs=30), ctx)
    # every feature came from the cache: no batch of new images was computed
    assert not any("new images" in m and not m.startswith("features: 0/") for m in messages)
    imgs = _lfw_rgb([3, 50, 120, 180])
    np.testing.assert_array_equal(first.model.predict_batch(imgs),
                                  again.model.predict_batch(imgs))
    assert again.split == first.split


def test_confusion_cells_list_the_misclassified(trained):
    ev = trained[0].evaluation
    for t in range(2):
        for k in range(2):
            assert len(ev.cell(t, k)) == ev.confusion[t][k]
    assert len(ev.misclassified()) == len(ev.paths) - np.trace(ev.confusion)


def test_save_and_load_predict_the_same(trained, tmp_path):
    from editor.teach.model import TeachModel

    model = trained[0].model
    path = model.save(tmp_path / "faces")
    assert path.suffix == ".safetensors" and path.stat().st_size < 100_000
    loaded = TeachModel.load(path)
    assert loaded.class_names == ["face", "not_face"]
    meta = loaded.meta
    assert meta["backbone"] == "efficientnet_lite0"
    assert meta["input"]["mean"] == [0.5] * 3 and meta["input"]["size"] == 224
    assert meta["metrics"]["test_accuracy"] >= 0.95 and meta["date"]
    imgs = _lfw_rgb(range(0, 200, 17))
    np.testing.assert_allclose(loaded.predict_batch(imgs), model.predict_batch(imgs),
                               atol=1e-6)


def test_exports_loaded_on_their_own_predict_the_same(trained, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    import onnx

    model = trained[0].model
    x = model.input_batch(_lfw_rgb([1, 60, 110, 199]))
    app = model.predict_input(x)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated in 2.14
        ts = torch.jit.load(str(model.export_torchscript(tmp_path / "m.pt")))
    with torch.no_grad():
        np.testing.assert_allclose(ts(torch.from_numpy(x)).numpy(), app, atol=1e-5)

    onnx_path = model.export_onnx(tmp_path / "m.onnx")
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"image": x})[0]
    # ONNX Runtime fuses conv + batch-norm differently: 1e-4 on probabilities
    np.testing.assert_allclose(out, app, atol=1e-4)
    props = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert json.loads(props["convolve_classifier"])["class_names"] == ["face", "not_face"]


def test_bad_model_files_give_clear_errors(trained, tmp_path):
    from safetensors.torch import save_file

    from editor.teach.model import META_KEY, TeachModel

    good = trained[0].model.save(tmp_path / "good.safetensors")
    raw = good.read_bytes()
    cases = {
        "truncated.safetensors": raw[: len(raw) // 2],
        "noise.safetensors": bytes(range(256)) * 4,
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(OpError, match=name):
            TeachModel.load(tmp_path / name)
    save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(OpError, match="not a Convolve classifier"):
        TeachModel.load(tmp_path / "plain.safetensors")
    meta = dict(trained[0].model.meta)
    state = trained[0].model.trained_state()
    for backbone, message in (("small_cnn", "does not fit"), ("resnet50", "unknown backbone")):
        save_file(state, str(tmp_path / f"{backbone}.safetensors"),
                  metadata={META_KEY: json.dumps(dict(meta, backbone=backbone))})
        with pytest.raises(OpError, match=message):
            TeachModel.load(tmp_path / f"{backbone}.safetensors")
    with pytest.raises(OpError, match="no model file"):
        TeachModel.load(tmp_path / "missing.safetensors")


def test_robustness_report(trained):
    from editor.ops import get_op
    from editor.teach.robustness import robustness_report

    result = trained[0]
    names = ["face", "not_face"]
    labels = [names.index(Path(p).parent.name) for p in result.split[1]]
    report = robustness_report(result.model, result.split[1], labels,
                               epsilons=(0.0, 16.0),
                               values={"brightness": [0.0, 0.8], "rotation": [0, 90],
                                       "blur": [0, 4], "jpeg": [100, 5]})
    fg = report.sweep("fgsm")
    assert fg.points[0].accuracy == pytest.approx(report.clean_accuracy)
    assert fg.points[0].flipped == 0
    # FGSM at 16/255 aims every pixel at the loss: accuracy must collapse
    assert fg.points[-1].accuracy < report.clean_accuracy - 0.3
    assert fg.points[-1].example is not None and "->" in fg.points[-1].example_label
    bright = report.sweep("brightness")
    zero = next(p for p in bright.points if p.value == 0)
    assert zero.flipped == 0 and zero.accuracy == pytest.approx(report.clean_accuracy)
    rot = report.sweep("rotation")
    assert rot.available and [p.value for p in rot.points] == [0, 90]
    try:
        get_op("gaussian_blur")
        has_blur = True
    except KeyError:
        has_blur = False
    assert report.sweep("blur").available == has_blur
    jpeg = report.sweep("jpeg")
    assert [p.value for p in jpeg.points][0] == 100
    json.dumps(report.to_json())


def test_gradcam_matches_hook_based_reference(trained):
    from editor.teach.explain import gradcam, overlay

    model = trained[0].model
    img = _lfw_rgb([7])[0]
    cam, idx, prob = gradcam(model, img)
    assert cam.shape == img.shape[:2] and cam.max() == pytest.approx(1.0) and cam.min() >= 0
    assert idx == int(model.predict(img).argmax())

    # independent path: hooks on the full forward pass (normalise -> trunk -> top -> head)
    net = model.net
    acts = {}
    handle = net.top.register_forward_hook(lambda m, i, o: acts.update(a=o))
    import cv2

    small = cv2.resize(img, (224, 224), interpolation=cv2.INTER_LINEAR)
    x = torch.from_numpy(small.transpose(2, 0, 1).astype(np.float32) / 255)[None]
    with torch.enable_grad():
        logits = net(x)
        acts["a"].retain_grad()
        logits[0, idx].backward()
    handle.remove()
    a, g = acts["a"].detach(), acts["a"].grad
    ref = torch.relu((g.mean((2, 3), keepdim=True) * a).sum(1, keepdim=True))
    ref = torch.nn.functional.interpolate(ref, size=img.shape[:2], mode="bilinear",
                                          align_corners=False)[0, 0]
    ref = (ref / ref.max()).numpy()
    np.testing.assert_allclose(cam, ref, atol=1e-4)
    out = overlay(img, cam)
    assert out.shape == img.shape and out.dtype == np.uint8


def test_cli_train_and_predict(lfw_dir, tmp_path, capsys, trained):
    from editor.cli import main

    model = tmp_path / "m.safetensors"
    assert main(["train", str(lfw_dir), "-o", str(model), "--epochs", "10", "--seed", "0",
                 "-q"]) == 0
    out = capsys.readouterr()
    assert "held-out images: " in out.out and "corrupt.png" in out.err
    csv_path = tmp_path / "pred.csv"
    assert main(["predict", str(model), str(lfw_dir / "face"), str(lfw_dir / "not_face"),
                 "--csv", str(csv_path)]) == 0
    import csv

    rows = list(csv.DictReader(csv_path.open()))
    assert len(rows) == 200 and set(rows[0]) == {"path", "predicted", "probability", "face",
                                                 "not_face"}
    right = sum(r["predicted"] == Path(r["path"]).parent.name for r in rows)
    assert right >= 190  # 85 % of them were training images
    assert "corrupt.png" in capsys.readouterr().err  # skipped with a warning, not a crash
    # errors: one line on stderr, usage errors exit 2
    assert main(["predict", str(tmp_path / "nope.safetensors"), str(lfw_dir)]) == 2
    assert main(["train", str(tmp_path / "nope"), "-o", str(model)]) == 2
    assert main(["train", str(lfw_dir), "-o", str(model), "--epochs", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("convolve: ") for line in err)
    onnx_out = tmp_path / "m.onnx"
    assert main(["export-model", str(model), "--onnx", str(onnx_out)]) == 0
    assert onnx_out.stat().st_size > 1_000_000


def test_small_cnn_fallback_when_weights_are_missing(lfw_dir, monkeypatch, tmp_path):
    import editor.teach.train as train_mod
    from editor.teach.model import TeachModel

    monkeypatch.setattr(train_mod, "pretrained_available", lambda: False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train(Dataset.open(lfw_dir), TrainConfig(seed=0, epochs=10))
    assert result.model.backbone == "small_cnn"
    assert any("more photos" in n for n in result.notes)
    # trained from scratch on 170 photos: clearly better than chance, not as good as transfer
    assert result.evaluation.accuracy >= 0.8
    loaded = TeachModel.load(result.model.save(tmp_path / "cnn"))
    imgs = _lfw_rgb([0, 150])
    np.testing.assert_allclose(loaded.predict_batch(imgs), result.model.predict_batch(imgs),
                               atol=1e-6)


def test_fine_tuning_the_last_block(tmp_path):
    from editor.teach.model import TeachModel

    root = write_lfw(tmp_path / "small", per_class=30, corrupt=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = train(Dataset.open(root), TrainConfig(seed=0, epochs=5, fine_tune=True,
                                                       augment_copies=1))
    assert result.model.meta["fine_tuned"]
    assert result.evaluation.accuracy >= 0.8
    state = result.model.trained_state()
    assert any(k.startswith("top.") for k in state)  # the tuned block is saved
    loaded = TeachModel.load(result.model.save(tmp_path / "ft"))
    imgs = _lfw_rgb([2, 130])
    np.testing.assert_allclose(loaded.predict_batch(imgs), result.model.predict_batch(imgs),
                               atol=1e-5)


def test_cancel_stops_training(lfw_dir):
    from editor.core.context import Cancelled

    ctx = OpContext()
    calls = []

    def on_epoch(stats):
        calls.append(stats)
        ctx.cancel()

    with pytest.raises(Cancelled), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(Dataset.open(lfw_dir), TrainConfig(seed=0, epochs=30), ctx, on_epoch=on_epoch)
    assert len(calls) == 1


def test_training_needs_two_classes_with_images(tmp_path):
    ds = Dataset.create(tmp_path / "p", ["A", "B"])
    ds.add_image("A", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(OpError, match="'B' has no images"):
        train(ds)


def test_adam_matches_torch_optim():
    from editor.teach.train import Adam

    torch.manual_seed(0)
    a = torch.nn.Linear(20, 3)
    b = torch.nn.Linear(20, 3)
    b.load_state_dict(a.state_dict())
    ours = Adam(a.parameters(), lr=0.01, weight_decay=1e-3)
    ref = torch.optim.Adam(b.parameters(), lr=0.01, weight_decay=1e-3)
    x, y = torch.randn(64, 20), torch.randint(0, 3, (64,))
    for _ in range(25):
        for net, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    # torch's own update (the functional form), so bit for bit the same
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, atol=0, rtol=0)


def test_adam_step_does_not_import_triton():
    """A torch optimizer object imports torch._dynamo and triton, whose LLVM segfaults in
    a Qt process that loaded Mesa's (reproduced with a QOpenGLWidget under xvfb-run);
    the trainer's Adam must keep to the functional form, which imports neither."""
    from conftest import dynamo_after

    _, imported = dynamo_after("import torch\n"
                               "from editor.teach.train import Adam\n"
                               "net = torch.nn.Linear(4, 2)\n"
                               "opt = Adam(net.parameters(), lr=0.1)\n"
                               "net(torch.ones(1, 4)).sum().backward()\n"
                               "opt.step()\n")
    assert imported == []


def test_inference_copy_folds_batch_norm_without_changing_features():
    """The fast copy used for feature extraction (batch norm folded into the convolutions,
    channels-last) gives the original network's features on real faces to float32
    rounding (1e-4 on features of magnitude ~1), and leaves the original's weights
    contiguous for safetensors."""
    from editor.ops.ai.efficientnet import inference_copy
    from editor.teach.backbones import EFFICIENTNET, build_net
    from editor.teach.images import square_input, to_chw_float

    net = build_net(EFFICIENTNET, 2)
    fast = inference_copy(net.trunk)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.trunk.modules())
    x = torch.from_numpy(to_chw_float([square_input(img, 224) for img in _lfw_rgb(range(4))]))
    x = net.normalize(x)
    with torch.inference_mode():
        want = net.trunk(x)
        got = fast(x.contiguous(memory_format=torch.channels_last))
    assert float(want.abs().mean()) > 0.05
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-4)
    assert all(p.is_contiguous() for p in net.parameters())


def test_predict_files_reports_each_file_skips_unreadable_and_cancels(trained, lfw_dir):
    from editor.core.context import Cancelled
    from editor.teach.images import read_rgb
    from editor.teach.predict import image_files, predict_files

    model = trained[0].model
    files = image_files([lfw_dir / "face"])
    assert len(files) == 101 and files == sorted(files)  # 100 faces and the corrupt file
    reports = []
    found = predict_files(model, files, OpContext(progress=lambda f, m: reports.append((f, m))),
                          batch_size=16)
    assert [m for _f, m in reports[:-1]] == [f.name for f in files]
    assert [f for f, _m in reports] == sorted(f for f, _m in reports) and reports[-1][0] == 1.0
    assert len(found.rows) == 100 and len(found.skipped) == 1
    assert "corrupt.png" in found.skipped[0]
    first = [read_rgb(f, max_side=2 * model.size) for f in files[:16]]
    np.testing.assert_allclose([r.probabilities for r in found.rows[:16]],
                               model.predict_batch(first), atol=1e-6)
    assert found.counts()["face"] >= 95
    # Cancel is checked between files: the job stops within one file
    seen = []

    def progress(_fraction, name):
        seen.append(name)
        if len(seen) == 5:
            ctx.cancel()

    ctx = OpContext(progress=progress)
    with pytest.raises(Cancelled):
        predict_files(model, files, ctx, batch_size=16)
    assert len(seen) == 5
