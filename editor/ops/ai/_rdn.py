"""The packaged super-resolution networks: residual dense networks (RDN), in PyTorch.

Two packaged models share one topology (Zhang et al.'s RDN as idealo's
image-super-resolution builds it), with different sizes:

- **ESRGAN-slim** (npm ``@upscalerjs/esrgan-slim@1.0.0``, MIT, Kevin Scott):
  ``rdn-C1-D2-G4-G064``, scales 2, 3, 4 and 8, RGB in [0, 255]; small and fast.
- **RDN PSNR-small** (npm ``@upscalerjs/esrgan-legacy@1.0.0`` ``models/psnr-small``,
  MIT; idealo's "psnr-small" weights, Apache-2.0): ``rdn-C3-D10-G64-G064``,
  scale 2, RGB in [0, 1] (idealo trained it so); about 15 times the arithmetic
  of ESRGAN-slim and the better picture; it runs in bfloat16 where the CPU has it
  (float16 on CUDA), 2.2x faster for 0.05 dB.

With D blocks of C layers, G growth channels and G0 = 64::

    F_m1 = conv3x3(LR, G0)                      LR: RGB floats (0 to white)
    F_0  = conv3x3(F_m1, G0)
    block d (LRL_0 = F_0):  x = LRL_{d-1};  C times: x = cat(x, relu(conv3x3(x, G)))
                            LRL_d = conv1x1(x, G0) + LRL_{d-1}            (LFF_d)
    FDF  = conv3x3(conv1x1(cat(LRL_1 .. LRL_D), G0), G0) + F_m1         (GFF_1, GFF_2)
    up   = relu(conv3x3(relu(conv5x5(FDF, 64)), 32))                      (UPN1, UPN2)
    SR   = conv3x3(nearest_upsample(conv3x3(up, 3 s^2), s), 3)            (UPN3, SR)

All convolutions are "same" (odd kernels, symmetric zero padding). The
converted weights (``scripts/convert_esrgan_slim.py``, ``scripts/convert_rdn_psnr.py``)
are safetensors with the Keras layer names, ``F_m1.weight`` (OIHW) and
``F_m1.bias`` ...: ESRGAN-slim's in float16 (computed in float32), RDN
PSNR-small's as the package's own uint8 codes with each tensor's ``scale`` and
``min`` (float64), dequantized at load exactly as TF.js does (:func:`dequantize`).

One output pixel sees ``D*C + 8`` low-resolution pixels each side (one per 3x3
convolution, two for UPN1's 5x5, one for SR's 3x3 at high resolution); tiles
overlap by :attr:`RDNModel.halo`, two more, so a tiled run computes the same
pixels as a whole-image run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Output channels of the RDN's first layers and of every block (G0 in the RDN paper).
G0 = 64


@dataclass(frozen=True)
class RDNModel:
    """One packaged RDN: its topology, scales, value range and files.

    Attributes
    ----------
    name : str
        The op's model name (``upscale model=NAME``) and the weights' folder.
    title : str
        For people and progress messages.
    blocks, layers, growth : int
        D residual dense blocks of C 3x3 layers with G output channels each.
    scales : tuple of int
        The scales shipped (one network each).
    white : float
        Value of white at the input and output (255 or 1).
    script : str
        The script that converts the package into ``resources/models/NAME``.
    activation_channels : int
        About how many float32 channels of one low-resolution pixel are alive at
        once (sizes the tiles).
    tile_budget : int
        Bytes of activations one tile may allocate.
    half : bool
        Run in reduced precision where it pays: bfloat16 on a CPU that computes it
        natively, float16 on CUDA (``CONVOLVE_HALF=0`` turns both off).
    """

    name: str
    title: str
    blocks: int
    layers: int
    growth: int
    scales: tuple[int, ...]
    white: float
    script: str
    activation_channels: int
    tile_budget: int = 1 << 28
    half: bool = False

    @property
    def halo(self) -> int:
        """Low-resolution context pixels a tile needs each side (receptive field + 2)."""
        return self.blocks * self.layers + 10

    def weights_dir(self) -> Path:
        """``resources/models/NAME`` in the source tree."""
        return Path(__file__).resolve().parents[3] / "resources" / "models" / self.name

    def weights_file(self, scale: int) -> Path:
        """The converted safetensors of one scale."""
        return self.weights_dir() / f"{self.name}-x{scale}.safetensors"

    def layer_table(self, scale: int) -> list[tuple[str, int, int, int]]:
        """``(name, in, out, kernel)`` of every convolution, in the Keras graph's order."""
        rows = [("F_m1", 3, G0, 3), ("F_0", G0, G0, 3)]
        for d in range(1, self.blocks + 1):
            rows += [(f"F_{d}_{c}", G0 + (c - 1) * self.growth, self.growth, 3)
                     for c in range(1, self.layers + 1)]
            rows.append((f"LFF_{d}", G0 + self.layers * self.growth, G0, 1))
        up = 3 * scale * scale
        return rows + [("GFF_1", self.blocks * G0, G0, 1), ("GFF_2", G0, G0, 3),
                       ("UPN1", G0, 64, 5), ("UPN2", 64, 32, 3), ("UPN3", 32, up, 3),
                       ("SR", up, 3, 3)]


ESRGAN_SLIM = RDNModel("esrgan-slim", "ESRGAN-slim", blocks=2, layers=1, growth=4,
                       scales=(2, 3, 4, 8), white=255.0,
                       script="scripts/convert_esrgan_slim.py", activation_channels=300)
RDN_PSNR = RDNModel("rdn-psnr", "RDN PSNR-small", blocks=10, layers=3, growth=64,
                    scales=(2,), white=1.0, script="scripts/convert_rdn_psnr.py",
                    # measured: ~730 channels alive; 1 GB allows tiles of 512, which its
                    # halo of 40 makes ~1.4x faster per pixel than tiles of 266 (256 MB)
                    activation_channels=800, tile_budget=1 << 30,
                    # measured on a 512 px crop: 2.2x faster in bfloat16, Y-PSNR 0.05 dB
                    # lower (34.05 against 34.10; bicubic 31.95). ESRGAN-slim stays float32,
                    # as verified against UpscalerJS's own outputs.
                    half=True)

#: The packaged models by name.
MODELS = {m.name: m for m in (ESRGAN_SLIM, RDN_PSNR)}


def build(model: RDNModel, scale: int):
    """An uninitialised :class:`torch.nn.Module` of ``model``'s topology for ``scale``."""
    import torch
    from torch import nn
    from torch.nn import functional as F  # noqa: N812

    class RDN(nn.Module):
        def __init__(self, s: int):
            super().__init__()
            self.scale = s
            self.folded = None  # set by fold_upsampling()
            for name, cin, cout, k in model.layer_table(s):
                self.add_module(name, nn.Conv2d(cin, cout, k, padding=k // 2))

        def forward(self, x):  # x: (B, 3, H, W) floats, 0 to model.white
            relu = torch.relu
            f_m1 = self.F_m1(x)
            x = self.F_0(f_m1)
            gff = None
            w = self.GFF_1.weight
            for d in range(1, model.blocks + 1):
                feats = x
                for c in range(1, model.layers + 1):
                    feats = torch.cat([feats, relu(getattr(self, f"F_{d}_{c}")(feats))], 1)
                x = getattr(self, f"LFF_{d}")(feats) + x
                # GFF_1 over cat(LRL_1 .. LRL_D) as a running sum of its per-block
                # slices: the D-block concatenation (640 channels) is never held
                part = F.conv2d(x, w[:, (d - 1) * G0:d * G0])
                gff = part if gff is None else gff + part
            gff = gff + self.GFF_1.bias[None, :, None, None]
            fdf = self.GFF_2(gff) + f_m1
            up = self.UPN3(relu(self.UPN2(relu(self.UPN1(fdf)))))
            if self.folded is not None:
                return F.pixel_shuffle(self.folded(up), self.scale)
            up = F.interpolate(up, scale_factor=self.scale, mode="nearest")
            return self.SR(up)

    return RDN(scale)


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


def dequantize(state: dict) -> dict:
    """Float32 tensors from a stored state: uint8 codes decoded, float16 widened.

    A quantized tensor ``T`` is stored as ``T.codes`` (uint8), ``T.scale`` and
    ``T.min`` (float64 scalars, the numbers of the TF.js weights manifest) and
    decoded as TF.js's ``decodeWeights`` does: ``code * scale + min`` in double
    precision, rounded once to float32.
    """
    out = {}
    for key, t in state.items():
        if key.endswith(".codes"):
            base = key[:-len(".codes")]
            value = t.double() * state[f"{base}.scale"].double() + state[f"{base}.min"].double()
            out[base] = value.float()
        elif not key.endswith((".scale", ".min")):
            out[key] = t.float()
    return out


_CACHE: dict[tuple[str, int, str], object] = {}


def load(model: RDNModel, scale: int, device=None):
    """``model`` for ``scale`` with its packaged weights, in eval mode (cached)."""
    import torch
    from safetensors.torch import load_file

    from editor.ops.ai.models import ModelMissing

    if scale not in model.scales:
        raise ValueError(f"{model.title} has scales {model.scales}, not {scale}")
    device = device or torch.device("cpu")
    key = (model.name, scale, str(device))
    if key not in _CACHE:
        path = model.weights_file(scale)
        if not path.is_file():
            raise ModelMissing(f"the {model.title} x{scale} weights are missing ({path}); "
                               f"recreate them with: python {model.script}")
        net = build(model, scale)
        net.load_state_dict(dequantize(load_file(str(path))))
        net.eval().requires_grad_(False)
        fold_upsampling(net)
        net = net.to(device)
        if device.type == "cpu":
            net = net.to(memory_format=torch.channels_last)  # with NHWC input (run_tiled)
        _CACHE[key] = net
    return _CACHE[key]
