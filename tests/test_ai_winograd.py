"""Winograd F(4x4, 3x3) convolutions for VGG's deep layers (editor/ops/ai/winograd.py),
checked against PyTorch's direct convolution in float64."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from editor.ops.ai import winograd


def _frozen_conv(cin: int, cout: int, seed: int = 0) -> nn.Conv2d:
    torch.manual_seed(seed)
    conv = nn.Conv2d(cin, cout, 3, padding=1)
    conv.requires_grad_(False)
    return conv


@pytest.mark.parametrize("size", [(4, 4), (13, 22), (37, 50), (1, 1), (2, 7)])
@pytest.mark.parametrize("layout", ["channels_last", "contiguous"])
def test_forward_and_input_gradient_match_direct_convolution(size, layout):
    """Sizes that are and are not multiples of the 4x4 tile, and smaller than one."""
    conv = _frozen_conv(128, 256)
    fmt = getattr(torch, f"{layout}_format" if layout == "contiguous" else layout)
    torch.manual_seed(1)
    x = torch.rand(1, 128, *size).contiguous(memory_format=fmt).requires_grad_(True)
    grad_out = torch.randn(1, 256, *size)

    y = winograd.conv3x3(conv, x)
    y.backward(grad_out)

    x64 = x.detach().double().requires_grad_(True)
    ref = F.conv2d(x64, conv.weight.double(), conv.bias.double(), padding=1)
    ref.backward(grad_out.double())
    scale = ref.abs().max().item()
    assert y.shape == ref.shape and y.is_contiguous(memory_format=torch.channels_last)
    assert (y.double() - ref).abs().max().item() <= 3e-5 * scale
    gscale = x64.grad.abs().max().item()
    assert (x.grad.double() - x64.grad).abs().max().item() <= 3e-5 * gscale
    # and the float32 direct convolution is no closer to float64 by an order of magnitude
    direct = F.conv2d(x.detach(), conv.weight, conv.bias, padding=1)
    assert (y.double() - ref).abs().max() <= 30 * (direct.double() - ref).abs().max() + 1e-6


class _Capable(nn.Conv2d):
    takes_winograd = True


def test_applies_only_where_it_pays_and_while_held(monkeypatch):
    deep, shallow = _frozen_conv(128, 256), _frozen_conv(128, 128)
    deep.__class__ = shallow.__class__ = _Capable
    x = torch.rand(1, 128, 16, 16)
    assert not winograd.applies(deep, x)  # one pass: the kernels' transform costs more
    held = nn.Sequential(deep, shallow)
    with winograd.kernels_kept(held):
        _applies_where_it_pays(deep, shallow, x, monkeypatch)


def test_kernels_are_kept_while_any_job_holds_them_then_freed():
    conv = _frozen_conv(128, 256)
    conv.__class__ = _Capable
    x = torch.rand(1, 128, 8, 8)
    net = nn.Sequential(conv)
    with winograd.kernels_kept(net):
        winograd.conv3x3(conv, x)
        kept = winograd.transformed(conv, "forward")
        assert kept.shape == (36, 128, 256)
        with winograd.kernels_kept(net):  # a second job on the same cached network
            assert winograd.transformed(conv, "forward") is kept
        assert winograd.applies(conv, x)  # the first still holds it
        assert winograd.transformed(conv, "forward") is kept
    assert "_winograd" not in conv.__dict__ and not winograd.applies(conv, x)
    # a backward pass after the last holder left still gets its kernels, made for it
    y = winograd.conv3x3(conv, x.requires_grad_(True))
    y.sum().backward()
    assert x.grad is not None and "_winograd" not in conv.__dict__


def _applies_where_it_pays(deep, shallow, x, monkeypatch):
    assert winograd.applies(deep, x)
    assert not winograd.applies(shallow, x)  # slower than oneDNN there
    assert not winograd.applies(deep, torch.rand(2, 128, 16, 16))  # one image at a time
    assert not winograd.applies(deep, x.double())
    assert not winograd.applies(deep, x.to("meta"))  # any other device: cuDNN's own choice
    deep.weight.requires_grad_(True)  # weights that want gradients
    assert not winograd.applies(deep, x)
    deep.weight.requires_grad_(False)
    deep.stride = (2, 2)
    assert not winograd.applies(deep, x)
    deep.stride = (1, 1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not winograd.applies(deep, x)
    monkeypatch.setenv("CONVOLVE_WINOGRAD", "0")
    assert not winograd.applies(deep, x)


def test_vgg_takes_the_route_in_its_deep_layers_with_the_same_features(monkeypatch):
    """Random weights (no package needed): the deep layers go through the transform, and
    the features and the pixels' gradient are those of the direct convolutions."""
    from editor.ops.ai.vgg import feature_net

    net = feature_net("vgg16", random_weights=True)
    layers = ["relu2_2", "relu3_1", "relu4_2", "relu5_1"]
    torch.manual_seed(2)
    image = torch.rand(1, 3, 64, 88).contiguous(memory_format=torch.channels_last)

    def run():
        x = image.clone().requires_grad_(True)
        feats = net(x, layers)
        sum((f ** 2).mean() for f in feats.values()).backward()
        return {k: v.detach() for k, v in feats.items()}, x.grad

    calls = []
    real = winograd._transform
    monkeypatch.setattr(winograd, "_transform",
                        lambda x, u, b: calls.append(x.shape[1]) or real(x, u, b))
    direct_feats, direct_grad = run()
    assert calls == []  # not held: one pass would not pay for the kernels' transform
    with winograd.kernels_kept(net):
        feats, grad = run()
    # forward: conv3_1 ... conv5_1 (7 layers); backward: the same 7
    assert len(calls) == 14 and set(calls[:7]) == {128, 256, 512}
    for k in layers:
        scale = direct_feats[k].abs().max().item()
        assert (feats[k] - direct_feats[k]).abs().max().item() <= 1e-4 * scale, k
    assert (grad - direct_grad).abs().max().item() <= 1e-4 * direct_grad.abs().max().item()
