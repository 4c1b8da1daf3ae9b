"""The classifier's features on a Dask cluster (`convolve train/predict --scheduler`).

Two copies of a real two-class set (faces and non-faces from scikit-image's
``lfw_subset``, with a truncated file): one trained here, one with its features
computed by two `dask worker` processes. The features cached, the trained head
and every prediction must be the same as on this machine, exactly.
"""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
import torch
from batch_support import dask_servers
from test_teach_train import write_lfw

import editor.cli as cli
from editor.teach.dataset import Dataset
from editor.teach.features import FeatureCache
from editor.teach.model import TeachModel
from editor.teach.predict import image_files, predict_files, write_csv
from editor.teach.train import TrainConfig, train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("teach-cluster")
    here = write_lfw(root / "here", per_class=20)
    there = root / "there"
    shutil.copytree(here, there)
    return root, here, there


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with dask_servers(tmp_path_factory.mktemp("dask"), n_workers=2) as servers:
        yield servers


def cached(ds_dir, tag="efficientnet_lite0-pooled"):
    """Cached feature of every image, by class and file name (None if not cached)."""
    ds = Dataset.open(ds_dir)
    cache = FeatureCache(ds.cache_dir, tag)
    paths, _ = ds.samples()
    return {(p.parent.name, p.name): cache.load(cache.key(p)) for p in paths}


def test_train_and_predict_on_the_cluster_match_this_machine(datasets, cluster, capsys,
                                                             monkeypatch):
    root, here, there = datasets
    # Workers run one torch thread each. Here too, so the last bits can match: the plain
    # (unfused) network a prediction runs rounds differently with 2 threads on some batch
    # sizes, as it does from one local run to the next when the thread count changes.
    monkeypatch.setenv("CONVOLVE_TORCH_THREADS", "1")
    config = TrainConfig(seed=0, epochs=10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        local = train(Dataset.open(here), config)
    assert any("corrupt.png" in str(w.message) for w in caught)

    model_path = root / "there.safetensors"
    code = cli.main(["train", str(there), "-o", str(model_path), "--epochs", "10", "--seed",
                     "0", "--scheduler", cluster.address, "--json", "-q"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert report["evaluation"] == local.evaluation.to_json()
    assert any("corrupt.png" in s for s in report["skipped"])

    # the workers' features were cached here, equal to those computed here
    mine, theirs = cached(here), cached(there)
    assert mine.keys() == theirs.keys()
    readable = [k for k in mine if k[1] != "corrupt.png"]
    assert len(readable) == 40
    for k in readable:
        assert theirs[k] is not None and np.array_equal(mine[k], theirs[k]), k
    # ... so the trained head is the same, to the bit
    remote_model = TeachModel.load(model_path)
    for name, tensor in local.model.trained_state().items():
        assert torch.equal(tensor, remote_model.trained_state()[name]), name

    # predictions for a folder: the frozen part on the workers, the head here
    files = image_files([here])
    found_here = predict_files(local.model, files, batch_size=16)
    found_there = predict_files(local.model, files, batch_size=16, scheduler=cluster.address)
    assert found_there.rows == found_here.rows
    assert found_there.skipped == found_here.skipped and len(found_here.skipped) == 1

    # and through the command line: the same CSV
    local.model.save(root / "here.safetensors")
    write_csv(found_here, root / "here.csv")
    code = cli.main(["predict", str(root / "here.safetensors"), str(here), "--csv",
                     str(root / "there.csv"), "--scheduler", cluster.address])
    assert code == 0, capsys.readouterr().err
    assert (root / "there.csv").read_text() == (root / "here.csv").read_text()


@pytest.mark.gui
def test_classifier_window_trains_with_features_from_the_cluster(qtbot, tmp_path, cluster):
    from test_teach_ui import lfw_frames

    from editor.ui.teach.window import ClassifierWindow

    win = ClassifierWindow(project=tmp_path / "p")
    qtbot.addWidget(win)
    for i, f in enumerate(lfw_frames(0, 8) + lfw_frames(100, 108)):
        win.dataset.add_image("Class 1" if i < 8 else "Class 2", f)
    panel = win.train_panel
    panel.widget("epochs").setValue(5)
    panel.cluster_box.setChecked(True)
    panel.train()  # no address yet: one sentence, nothing starts
    assert "scheduler's address" in win.status_label.text() and not win._jobs
    panel.scheduler_edit.setText(cluster.address)
    assert panel.scheduler() == cluster.address
    panel.train()
    qtbot.waitUntil(lambda: win.status_label.text().startswith("Trained in"), timeout=120000)
    features = cached(win.dataset.root)
    assert len(features) == 16 and all(v is not None and v.shape == (1280,)
                                       for v in features.values())
