"""VGG's deep 3x3 convolutions by Winograd's minimal filtering, F(4x4, 3x3), on the CPU.

A direct 3x3 convolution spends 9 multiply-adds per output value and input
channel. Winograd's F(4x4, 3x3) (Lavin & Gray [1]_) makes each 4x4 output tile
from a 6x6 input tile with 36: a quarter of the arithmetic, moved into one
matrix product per tile position (36 of them, batched), at the price of
transforming the tiles in and out. On a 2-core AVX2 CPU, where oneDNN's direct
convolutions already run near the cores' float32 peak, that pays for VGG's deep
layers and not for its shallow ones (``benchmarks/bench_ai.py --only layers``,
forward and input gradient at 384 px): 1.1-2.2x faster per layer from conv3_1
on, 1.4x over those layers; slower than oneDNN for 64 and 128 channels, where
the transforms cost more than the products save.

The transformed kernels are 4x the weights (310 MB for VGG16's deep layers, both
directions): worth making for an iterative op's hundreds of passes, not for one
pass, and not worth keeping for the life of the cached network. So the route is
taken only inside :func:`kernels_kept`, which style transfer and Deep Dream hold
around their loops; the kernels are freed when the last holder leaves.

Only frozen networks use it (the pixels get gradients, never the weights): the
input's gradient of a convolution is the convolution of the output's gradient
with the kernels flipped and transposed, so the backward pass is the same
transform with a second set of kernels. The error against float64 is about 5e-6
of the largest output, a few times that of float32 direct convolution (1-2e-6).
``CONVOLVE_WINOGRAD=0`` turns it off.

References
----------
.. [1] A. Lavin, S. Gray, "Fast Algorithms for Convolutional Neural Networks",
   CVPR 2016.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Iterator
from typing import Any

#: Input-channel x output-channel products from which a layer runs by Winograd
#: on the CPU: VGG's conv3_1 (128 -> 256) and deeper. Forward at 384 px, conv2_2
#: (128 -> 128) measured 1.6x slower than oneDNN, conv3_1 1.6x faster.
MIN_CHANNEL_PRODUCT = 128 * 256

# F(4x4, 3x3): input transform B^T, kernel transform G, output transform A^T
_BT = ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
       (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1))
_G = ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
      (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))
_AT = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))


def enabled() -> bool:
    """False when ``CONVOLVE_WINOGRAD=0`` (for comparisons and as a way out)."""
    return os.environ.get("CONVOLVE_WINOGRAD", "1") != "0"


def applies(conv, x) -> bool:
    """Whether ``conv`` (an ``nn.Conv2d``) on ``x`` runs by :func:`conv3x3`: a
    frozen 3x3, stride-1, padding-1 convolution of a deep layer, one float32
    image on the CPU with no autocast (bfloat16 goes to oneDNN), inside
    :func:`kernels_kept`."""
    import torch

    return (conv.__dict__.get("_winograd") is not None and enabled()
            and x.device.type == "cpu" and x.dtype == torch.float32
            and x.dim() == 4 and x.shape[0] == 1
            and conv.in_channels * conv.out_channels >= MIN_CHANNEL_PRODUCT
            and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
            and conv.padding == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
            and not conv.weight.requires_grad and not torch.is_autocast_enabled("cpu"))


def kernel_transform(weight):
    """``G w G^T`` of each ``(out, in, 3, 3)`` kernel, as ``(36, in, out)``.

    One matrix product, ``kron(G, G)`` times the 9 taps of every kernel, written
    straight in the layout the batched product reads (a batched ``G w G^T`` took
    5x as long). Agrees with float64 to ~3e-8.
    """
    import torch

    g = torch.tensor(_G, dtype=torch.float64)
    o, i = weight.shape[:2]
    taps = weight.detach().permute(2, 3, 1, 0).reshape(9, i * o)
    return torch.mm(torch.kron(g, g).to(taps.dtype), taps).view(36, i, o)


def _matrices(device) -> tuple[Any, Any]:
    import torch

    return (torch.tensor(_BT, dtype=torch.float32, device=device),
            torch.tensor(_AT, dtype=torch.float32, device=device))


def _transform(x, u, bias):
    """``conv2d(x, w, bias, padding=1)`` for ``x`` ``(1, C, H, W)`` and ``u`` the
    :func:`kernel_transform` of ``w``; the result is channels-last."""
    import torch

    _, c, h, w = x.shape
    cout = u.shape[2]
    th, tw = -(-h // 4), -(-w // 4)  # 4x4 output tiles; the last ones overhang
    bt, at = _matrices(x.device)
    padded = x.new_zeros((4 * th + 2, 4 * tw + 2, c))
    padded[1:h + 1, 1:w + 1] = x.permute(0, 2, 3, 1)[0]  # a view when channels-last
    # the 36 taps of every 6x6 tile (tiles overlap by 2): tap (i, j) of all tiles
    # is one strided slice, so 36 copies gather them
    taps = x.new_empty((6, 6, th, tw, c))
    for i in range(6):
        for j in range(6):
            taps[i, j] = padded[i:i + 4 * th:4, j:j + 4 * tw:4]
    n = th * tw * c
    # B^T d B, one axis at a time (a 36 x 36 Kronecker product costs 1.4x more)
    rows = torch.mm(bt, taps.view(6, 6 * n)).view(6, 6, n)
    v = torch.matmul(bt, rows).view(36, th * tw, c)
    m = torch.bmm(v, u)  # the products: (36, tiles, out)
    # A^T m A, again one axis at a time
    rows = torch.mm(at, m.view(6, -1)).view(4, 6, th * tw * cout)
    tiles = torch.matmul(at, rows).view(4, 4, th, tw, cout)
    out = torch.empty((1, cout, h, w), dtype=x.dtype, device=x.device,
                      memory_format=torch.channels_last)
    dest = out.permute(0, 2, 3, 1)[0]
    whole = tiles.permute(2, 0, 3, 1, 4).reshape(4 * th, 4 * tw, cout)[:h, :w]
    if bias is None:
        dest.copy_(whole)
    else:
        torch.add(whole, bias, out=dest)
    return out


@functools.cache
def _function():
    import torch

    class WinogradConv3x3(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, conv):
            ctx.conv = conv
            return _transform(x, transformed(conv, "forward"), conv.bias)

        @staticmethod
        def backward(ctx, grad):
            # d conv(x, w) / dx applied to grad: the convolution of grad with w's
            # kernels flipped and in/out swapped, same padding
            grad = grad.contiguous(memory_format=torch.channels_last)
            return _transform(grad, transformed(ctx.conv, "backward"), None), None

    return WinogradConv3x3


def transformed(conv, direction: str):
    """The module's transformed kernels for ``direction`` ("forward": ``w``;
    "backward": ``w`` flipped and transposed), made on first use and kept while
    :func:`kernels_kept` holds the module (its weights are frozen)."""
    cache = conv.__dict__.get("_winograd")
    if cache is None or direction not in cache:
        w = conv.weight
        kernels = kernel_transform(w if direction == "forward" else w.transpose(0, 1).flip(2, 3))
        if cache is None:  # the last holder left between a pass and its backward
            return kernels
        cache[direction] = kernels
    return cache[direction]


_HOLD = threading.Lock()


@contextlib.contextmanager
def kernels_kept(net) -> Iterator[None]:
    """Within: ``net``'s deep 3x3 convolutions (modules with ``takes_winograd``)
    run by Winograd on the CPU, their transformed kernels made on first use; on
    leaving, when no other job holds them, the kernels are freed. Jobs on the
    same cached network may hold it at once."""
    convs = [m for m in net.modules() if getattr(m, "takes_winograd", False)]
    with _HOLD:
        for m in convs:
            m.__dict__["_winograd_holders"] = m.__dict__.get("_winograd_holders", 0) + 1
            m.__dict__.setdefault("_winograd", {})
    try:
        yield
    finally:
        with _HOLD:
            for m in convs:
                m.__dict__["_winograd_holders"] -= 1
                if not m.__dict__["_winograd_holders"]:
                    del m.__dict__["_winograd"]


def conv3x3(conv, x):
    """``conv(x)`` by Winograd F(4x4, 3x3), differentiable in ``x`` (see :func:`applies`)."""
    return _function().apply(x, conv)
