"""ESRGAN-slim (UpscalerJS): a small RDN super-resolution network, in PyTorch.

The npm package ``@upscalerjs/esrgan-slim@1.0.0`` (MIT, Kevin Scott) ships
four Keras models (x2, x3, x4, x8) as TF.js layers, all of one topology
(``rdn-C1-D2-G4-G064-T10``: two residual dense blocks of one 4-channel
layer each)::

    F_m1 = conv3x3(LR, 64)                      LR: RGB floats in [0, 255]
    F_0  = conv3x3(F_m1, 64)
    LRL_1 = conv1x1(cat(F_0, relu(conv3x3(F_0, 4))), 64) + F_0
    LRL_2 = conv1x1(cat(LRL_1, relu(conv3x3(LRL_1, 4))), 64) + LRL_1
    FDF  = conv3x3(conv1x1(cat(LRL_1, LRL_2), 64), 64) + F_m1
    up   = relu(conv3x3(relu(conv5x5(FDF, 64)), 32))
    SR   = conv3x3(nearest_upsample(conv3x3(up, 3 s^2), s), 3)   RGB in [0, 255]

All convolutions are "same" (odd kernels, symmetric zero padding). The
converted weights (``scripts/convert_esrgan_slim.py``) are safetensors with
the Keras layer names: ``F_m1.weight`` (OIHW) and ``F_m1.bias`` ...

One output pixel sees at most 11 low-resolution pixels each side (nine 3x3 or
5x5 convolutions before the upsampling: 1+1+1+1+1+2+1+1+1, and SR's 3x3 at
high resolution adds one more); tiles overlap by :data:`HALO`, so a tiled run
computes the same pixels as a whole-image run.
"""

from __future__ import annotations

from pathlib import Path

#: Layer names and (in, out, kernel) of one model; UPN3's output is 3 * scale^2.
LAYERS = (("F_m1", 3, 64, 3), ("F_0", 64, 64, 3), ("F_1_1", 64, 4, 3), ("LFF_1", 68, 64, 1),
          ("F_2_1", 64, 4, 3), ("LFF_2", 68, 64, 1), ("GFF_1", 128, 64, 1),
          ("GFF_2", 64, 64, 3), ("UPN1", 64, 64, 5), ("UPN2", 64, 32, 3),
          ("UPN3", 32, None, 3), ("SR", None, 3, 3))

#: Scales the package ships.
SCALES = (2, 3, 4, 8)

#: Low-resolution pixels of context a tile needs each side (the receptive field is 11).
HALO = 12


def weights_dir() -> Path:
    """``resources/models/esrgan-slim`` in the source tree."""
    return Path(__file__).resolve().parents[3] / "resources" / "models" / "esrgan-slim"


def weights_file(scale: int) -> Path:
    """The converted safetensors of one scale."""
    return weights_dir() / f"esrgan-slim-x{scale}.safetensors"


def build(scale: int):
    """An uninitialised :class:`torch.nn.Module` of the ESRGAN-slim topology for ``scale``."""
    import torch
    from torch import nn

    class ESRGANSlim(nn.Module):
        def __init__(self, s: int):
            super().__init__()
            self.scale = s
            self.folded = None  # set by fold_upsampling()
            for name, cin, cout, k in LAYERS:
                cin = cin or 3 * s * s
                cout = cout or 3 * s * s
                self.add_module(name, nn.Conv2d(cin, cout, k, padding=k // 2))

        def forward(self, x):  # x: (B, 3, H, W) floats in [0, 255]
            relu = torch.relu
            f_m1 = self.F_m1(x)
            f_0 = self.F_0(f_m1)
            lrl_1 = self.LFF_1(torch.cat([f_0, relu(self.F_1_1(f_0))], 1)) + f_0
            lrl_2 = self.LFF_2(torch.cat([lrl_1, relu(self.F_2_1(lrl_1))], 1)) + lrl_1
            fdf = self.GFF_2(self.GFF_1(torch.cat([lrl_1, lrl_2], 1))) + f_m1
            up = self.UPN3(relu(self.UPN2(relu(self.UPN1(fdf)))))
            if self.folded is not None:
                return nn.functional.pixel_shuffle(self.folded(up), self.scale)
            up = nn.functional.interpolate(up, scale_factor=self.scale, mode="nearest")
            return self.SR(up)

    return ESRGANSlim(scale)


def fold_upsampling(net) -> None:
    """Replace "nearest x s, then SR's 3x3" by one 3x3 at low resolution + pixel shuffle.

    Output pixel ``(s*y + i, s*x + j)`` of SR sees the upsampled map at rows
    ``s*y + i + dy`` (dy in -1..1), which are low-resolution rows
    ``y + floor((i + dy) / s)``: so SR's taps are summed into a 3x3 kernel over
    the low-resolution map, one output channel per ``(o, i, j)``, in
    :func:`torch.nn.functional.pixel_shuffle`'s order. The result is the same
    (zero padding at the border corresponds too) without ever building the
    ``3 s^2``-channel map at ``s^2`` times the pixels (3 GB for a 256 px tile at x8).
    """
    import torch
    from torch import nn

    s = net.scale
    k = net.SR.weight.detach()  # (3, C, 3, 3)
    b = net.SR.bias.detach()
    cin = k.shape[1]
    kf = torch.zeros(3 * s * s, cin, 3, 3, dtype=k.dtype)
    for o in range(3):
        for i in range(s):
            for j in range(s):
                ch = (o * s + i) * s + j
                for dy in (-1, 0, 1):
                    ey = (i + dy) // s
                    for dx in (-1, 0, 1):
                        ex = (j + dx) // s
                        kf[ch, :, ey + 1, ex + 1] += k[o, :, dy + 1, dx + 1]
    conv = nn.Conv2d(cin, 3 * s * s, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(kf)
        conv.bias.copy_(b.repeat_interleave(s * s))
    net.folded = conv.requires_grad_(False)


_CACHE: dict[tuple[int, str], object] = {}


def load(scale: int, device=None):
    """The ESRGAN-slim model for ``scale`` with its packaged weights, in eval mode (cached)."""
    import torch
    from safetensors.torch import load_file

    from editor.ops.ai.models import ModelMissing

    if scale not in SCALES:
        raise ValueError(f"ESRGAN-slim has scales {SCALES}, not {scale}")
    device = device or torch.device("cpu")
    key = (scale, str(device))
    if key not in _CACHE:
        path = weights_file(scale)
        if not path.is_file():
            raise ModelMissing(f"the ESRGAN-slim x{scale} weights are missing ({path}); "
                               "recreate them with: python scripts/convert_esrgan_slim.py")
        net = build(scale)
        net.load_state_dict(load_file(str(path)))
        net.eval().requires_grad_(False)
        fold_upsampling(net)
        net = net.to(device)
        if device.type == "cpu":
            net = net.to(memory_format=torch.channels_last)  # with NHWC input (run_tiled)
        _CACHE[key] = net
    return _CACHE[key]
