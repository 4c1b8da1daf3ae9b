"""The networks under the classifier: frozen EfficientNet-Lite0 or -Lite2, or a small CNN.

Every classifier is one :class:`torch.nn.Module` (built by :func:`build_net`)
that takes RGB in ``[0, 1]`` of shape ``(B, 3, S, S)`` and returns logits; the
normalisation is inside it, so an exported TorchScript or ONNX file needs no
preprocessing code besides "centre-crop, resize, divide by 255". It is split
into three parts so training can cache what is frozen:

``trunk``  normalised input -> intermediate map (frozen; cached for fine-tuning)
``top``    intermediate map -> last feature map ``(B, D, h, w)`` (Grad-CAM's layer)
``head``   globally pooled ``(B, D)`` features -> class logits (always trained)

With EfficientNet-Lite0 the trunk is the stem and the first 15 MBConv blocks,
the top is the last block and the 1x1 head convolution (1280 channels);
EfficientNet-Lite2 (larger, 260 px input, chosen per project) is split the same
way after its 20th block. The
small CNN (used when the pretrained weights are missing) has an empty trunk and
is trained whole.

torch is imported inside functions only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EFFICIENTNET = "efficientnet_lite0"
EFFICIENTNET_LITE2 = "efficientnet_lite2"
SMALL_CNN = "small_cnn"
#: The pretrained (frozen) backbones and their EfficientNet-Lite variant.
PRETRAINED = {EFFICIENTNET: 0, EFFICIENTNET_LITE2: 2}


@dataclass(frozen=True)
class BackboneInfo:
    """What a backbone expects and gives."""

    name: str
    size: int                 # square input side in pixels
    mean: tuple[float, ...]   # per channel, applied to [0, 1] RGB
    std: tuple[float, ...]
    feature_dim: int          # channels of the last feature map
    pretrained: bool
    title: str


BACKBONES = {
    EFFICIENTNET: BackboneInfo(EFFICIENTNET, 224, (0.5,) * 3, (0.5,) * 3, 1280, True,
                               "EfficientNet-Lite0 (ImageNet, frozen)"),
    EFFICIENTNET_LITE2: BackboneInfo(EFFICIENTNET_LITE2, 260, (0.5,) * 3, (0.5,) * 3, 1280,
                                     True, "EfficientNet-Lite2 (ImageNet, frozen; larger, "
                                     "slower)"),
    SMALL_CNN: BackboneInfo(SMALL_CNN, 96, (0.5,) * 3, (0.5,) * 3, 128, False,
                            "small CNN trained from scratch"),
}


def backbone_info(name: str) -> BackboneInfo:
    """The :class:`BackboneInfo` of a known backbone; ``OpError`` for an unknown name."""
    from editor.core.context import OpError

    try:
        return BACKBONES[name]
    except KeyError:
        raise OpError(f"unknown backbone {name!r}; this Convolve knows "
                      f"{', '.join(BACKBONES)}") from None


def pretrained_available(backbone: str = EFFICIENTNET) -> bool:
    """True when ``backbone``'s packaged weights (EfficientNet-Lite0 by default) are
    installed."""
    try:
        from editor.ops.ai.models import efficientnet_weights_file

        efficientnet_weights_file(PRETRAINED[backbone])
        return True
    except Exception:  # noqa: BLE001  (ModelMissing or the module itself missing)
        return False


def _classes():
    """Build the torch module classes once (torch is imported here, not at import time)."""
    global _CLASSES
    if _CLASSES is not None:
        return _CLASSES
    import torch
    import torch.nn.functional as F
    from torch import nn

    class Normalize(nn.Module):
        def __init__(self, mean, std):
            super().__init__()
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

        def forward(self, x):
            return (x - self.mean) / self.std

    class EffTrunk(nn.Module):
        """Stem and all MBConv blocks but the last (shares the loaded network's modules)."""

        def __init__(self, net):
            super().__init__()
            self.stem, self.bn0 = net._conv_stem, net._bn0
            self.blocks = nn.Sequential(*list(net._blocks)[:-1])

        def forward(self, x):
            return self.blocks(F.relu6(self.bn0(self.stem(x))))

    class EffTop(nn.Module):
        """Last MBConv block and the 1280-channel head convolution."""

        def __init__(self, net):
            super().__init__()
            self.block = net._blocks[-1]
            self.conv, self.bn = net._conv_head, net._bn1

        def forward(self, x):
            return F.relu6(self.bn(self.conv(self.block(x))))

    class SmallCNN(nn.Sequential):
        """Four conv-BN-ReLU-pool stages, 16..128 channels: ~100 k parameters."""

        def __init__(self):
            layers, cin = [], 3
            for i, cout in enumerate((16, 32, 64, 128)):
                layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                           nn.ReLU(inplace=True)]
                if i < 3:
                    layers.append(nn.MaxPool2d(2))
                cin = cout
            super().__init__(*layers)

    class TeachNet(nn.Module):
        """normalize -> trunk -> top -> global average pool -> head."""

        def __init__(self, normalize, trunk, top, head):
            super().__init__()
            self.normalize, self.trunk, self.top, self.head = normalize, trunk, top, head

        def feature_map(self, x):
            return self.top(self.trunk(self.normalize(x)))

        def features(self, x):
            return self.feature_map(x).mean(dim=(2, 3))

        def forward(self, x):
            return self.head(self.features(x))

    _CLASSES = dict(Normalize=Normalize, EffTrunk=EffTrunk, EffTop=EffTop, SmallCNN=SmallCNN,
                    TeachNet=TeachNet)
    return _CLASSES


_CLASSES: dict[str, Any] | None = None


def make_head(feature_dim: int, n_classes: int, hidden: int = 0, dropout: float = 0.2):
    """Logistic regression (``hidden=0``) or one hidden ReLU layer, as ``nn.Sequential``."""
    from torch import nn

    if hidden <= 0:
        return nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, n_classes))
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, hidden), nn.ReLU(),
                         nn.Dropout(dropout), nn.Linear(hidden, n_classes))


def build_net(backbone: str, n_classes: int, hidden: int = 0, device: Any = "cpu"):
    """The full classifier network (see the module docstring), in eval mode.

    Parameters
    ----------
    backbone : {"efficientnet_lite0", "efficientnet_lite2", "small_cnn"}
    n_classes : int
    hidden : int
        Hidden units of the head (0: logistic regression).
    device : str or torch.device

    Raises
    ------
    ModelMissing
        A pretrained backbone was asked for and its weights are not installed.
    """
    from torch import nn

    info = backbone_info(backbone)
    c = _classes()
    norm = c["Normalize"](info.mean, info.std)
    head = make_head(info.feature_dim, n_classes, hidden)
    if backbone in PRETRAINED:
        from editor.ops.ai.efficientnet import load_efficientnet_lite

        net = load_efficientnet_lite(PRETRAINED[backbone], "cpu")
        trunk, top = c["EffTrunk"](net), c["EffTop"](net)
        for p in trunk.parameters():
            p.requires_grad_(False)
    else:
        trunk, top = nn.Identity(), c["SmallCNN"]()
    model = c["TeachNet"](norm, trunk, top, head)
    model.backbone_name = backbone  # a plain attribute: not in the state_dict
    return model.eval().to(device)


def teach_device():
    """Where the classifier's frozen network runs: CUDA when there is one (and the
    editor's "force CPU" setting or ``CONVOLVE_DEVICE=cpu`` does not say otherwise),
    else the CPU. Heads train on the CPU anyway: they are a few kilobytes."""
    from editor.ops.ai.models import pick_device

    return pick_device()


class torch_threads:  # noqa: N801  (used as a ``with`` statement, like a function)
    """Run a block with ``n`` torch threads (``None``: :func:`best_threads`), then restore."""

    def __init__(self, n: int | None = None) -> None:
        self.n = n

    def __enter__(self):
        import torch

        self.old = torch.get_num_threads()
        torch.set_num_threads(self.n or best_threads())
        return self

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.old)


_BEST_THREADS: int | None = None


def best_threads() -> int:
    """Thread count for CNN inference, measured once per process.

    On a busy machine (other programs on every core) OpenMP's worker threads
    wait for each other, and a 2-thread pass can take several times longer than
    a 1-thread one. So both are timed on a small convolution and the faster
    wins; ``CONVOLVE_TORCH_THREADS`` overrides.
    """
    global _BEST_THREADS
    import os

    env = os.environ.get("CONVOLVE_TORCH_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    if _BEST_THREADS is not None:
        return _BEST_THREADS
    import time

    import torch
    import torch.nn.functional as F

    most = torch.get_num_threads()
    if most <= 1:
        _BEST_THREADS = 1
        return 1
    gen = torch.Generator().manual_seed(0)  # leave the global RNG alone (seeded training)
    # big enough that thread start-up does not decide it (a 4-image probe picked one
    # thread on a quiet 2-core machine about half the time)
    x, w = torch.rand(16, 32, 56, 56, generator=gen), torch.rand(64, 32, 3, 3, generator=gen)
    timings = {}
    with torch.inference_mode():
        for n in (1, most, 1, most):
            torch.set_num_threads(n)
            t0 = time.perf_counter()
            for _ in range(3):
                F.conv2d(x, w, padding=1)
            timings[n] = min(timings.get(n, 1e9), time.perf_counter() - t0)
    torch.set_num_threads(most)
    # many threads must be clearly faster to be worth their worst case
    _BEST_THREADS = most if timings[most] < 0.8 * timings[1] else 1
    return _BEST_THREADS
