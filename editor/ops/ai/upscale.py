"""Super-resolution and restoration: the packaged RDN networks, and the user's own models.

``upscale`` enlarges an image 2, 3, 4 or 8 times with

- ``esrgan-slim`` (default, fast): UpscalerJS's small RDN networks, converted from
  npm ``@upscalerjs/esrgan-slim@1.0.0`` (MIT) to safetensors in
  ``resources/models/esrgan-slim`` by ``scripts/convert_esrgan_slim.py``;
- ``rdn-psnr`` (best quality, about 6 times slower): idealo's RDN "psnr-small"
  (Apache-2.0) from npm ``@upscalerjs/esrgan-legacy@1.0.0`` (MIT), converted by
  ``scripts/convert_rdn_psnr.py``; one x2 network, its result enlarged with
  Lanczos interpolation for x3, x4 and x8 (see :func:`_native_scale`);
- ``bicubic`` / ``lanczos``: OpenCV's interpolation, for comparison;
- the name of a super-resolution model added with ``convolve models --add``
  (any architecture spandrel knows: ESRGAN, Real-ESRGAN, SwinIR, HAT ...).

``restore`` runs a scale-1 restoration model from the store (denoise, JPEG
artefacts, deblur).

Large images run in tiles that overlap by a halo of context pixels, so the
networks see the same neighbourhood as in one pass: for the convolutional
networks (the RDNs, ESRGAN, Compact) a tiled result equals an untiled one;
between tiles the op reports progress and honours Cancel. Alpha is enlarged
with bicubic interpolation; the dtype (8 or 16 bit) is kept.

References
----------
.. [1] Y. Zhang et al., "Residual Dense Network for Image Super-Resolution",
   CVPR 2018 (the topology of both packaged networks).
.. [2] X. Wang et al., "ESRGAN: Enhanced Super-Resolution Generative
   Adversarial Networks", ECCV Workshops 2018.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import nullcontext
from typing import Annotated, Any, Literal

import numpy as np

from editor.core.context import OpContext, OpError, null_context
from editor.core.image import from_float, max_value, split_alpha
from editor.ops.ai import _rdn, _util, model_store
from editor.ops.registry import Label, Range, register_op

#: Names of the interpolations offered beside the networks.
CLASSICAL = {"bicubic": "INTER_CUBIC", "lanczos": "INTER_LANCZOS4"}
BUILTIN = _rdn.ESRGAN_SLIM.name
#: The best-quality packaged network (slower).
BEST = _rdn.RDN_PSNR.name

#: Context pixels around a tile of a user's model (convolutional SR nets see ~10-30
#: pixels; transformer windows are 8-16): the tile's border this wide is discarded.
DEFAULT_HALO = 32

#: Models kept loaded, by (path, size, device): a second run starts at once.
_LOADED: dict[tuple, Any] = {}


# -- tiling ------------------------------------------------------------------------

def tile_boxes(height: int, width: int, tile: int, halo: int
               ) -> Iterator[tuple[slice, slice, slice, slice]]:
    """``(rows, cols)`` of each tile with its halo, and of its core inside that window.

    Yields ``(in_rows, in_cols, core_rows, core_cols)``: the window to run (the
    tile grown by ``halo`` and clipped to the image) and, relative to that
    window, the part that is kept. The kept parts tile the image exactly.

    Examples
    --------
    >>> [(r.start, r.stop, c.start, c.stop) for r, c, _, _ in tile_boxes(10, 5, 4, 1)][:3]
    [(0, 5, 0, 5), (0, 5, 3, 5), (3, 9, 0, 5)]
    """
    for y0 in range(0, height, tile):
        y1 = min(height, y0 + tile)
        wy0, wy1 = max(0, y0 - halo), min(height, y1 + halo)
        for x0 in range(0, width, tile):
            x1 = min(width, x0 + tile)
            wx0, wx1 = max(0, x0 - halo), min(width, x1 + halo)
            yield (slice(wy0, wy1), slice(wx0, wx1),
                   slice(y0 - wy0, y1 - wy0), slice(x0 - wx0, x1 - wx0))


def run_tiled(net: Callable[[Any], Any], rgb: np.ndarray, scale: int, tile: int, halo: int,
              ctx: OpContext, device: Any, multiple: int = 1, minimum: int = 0,
              what: str = "upscale") -> np.ndarray:
    """Run ``net`` on ``rgb`` tile by tile and assemble the ``scale``-times larger result.

    Parameters
    ----------
    net : callable
        ``net(tensor (1, C, h, w)) -> tensor (1, C, h*scale, w*scale)``.
    rgb : ndarray
        ``(H, W, C)`` float32 in the network's value range.
    scale : int
        Output size / input size.
    tile, halo : int
        Tile side and context margin in input pixels.
    ctx : OpContext
        Progress after each tile; Cancel is honoured between tiles.
    device : torch.device
        Where the network runs.
    multiple, minimum : int
        The network's input size rules (spandrel's ``size_requirements``): each
        window is reflect-padded up to them and the padding cropped off after.

    Returns
    -------
    ndarray
        ``(H*scale, W*scale, C)`` float32.
    """
    import torch
    import torch.nn.functional as F

    h, w, c = rgb.shape
    out = np.empty((h * scale, w * scale, c), np.float32)
    boxes = list(tile_boxes(h, w, tile, halo))
    for n, (rows, cols, core_r, core_c) in enumerate(boxes):
        ctx.check()
        window = np.ascontiguousarray(rgb[rows, cols].transpose(2, 0, 1))
        x = torch.from_numpy(window)[None].to(device)
        wh, ww = window.shape[1:]
        ph = max(minimum, -(-wh // multiple) * multiple) - wh if multiple > 1 or minimum else 0
        pw = max(minimum, -(-ww // multiple) * multiple) - ww if multiple > 1 or minimum else 0
        if ph or pw:
            mode = "reflect" if ph < wh and pw < ww else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        if device.type == "cpu":
            # oneDNN's convolutions run 1.5-2x faster on NHWC than on NCHW here
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            y = net(x)
        y = y[0, :, :wh * scale, :ww * scale].float().permute(1, 2, 0).cpu().numpy()
        out[rows.start * scale + core_r.start * scale: rows.start * scale + core_r.stop * scale,
            cols.start * scale + core_c.start * scale: cols.start * scale + core_c.stop * scale] = \
            y[core_r.start * scale:core_r.stop * scale, core_c.start * scale:core_c.stop * scale]
        ctx.report((n + 1) / len(boxes), f"{what}: tile {n + 1} of {len(boxes)}")
    return out


# -- checks shared by the ops ---------------------------------------------------------

def _check_output_size(image: np.ndarray, scale: int) -> None:
    from editor.io.load import max_pixels_limit

    h, w = image.shape[:2]
    limit = max_pixels_limit()
    if h * w * scale * scale > limit:
        raise OpError(f"x{scale} of this {w} x {h} image would be {w * scale} x {h * scale} "
                      f"pixels, above the limit of {limit / 1e6:.0f} MP; crop it first.")


def _resize(a: np.ndarray, width: int, height: int, method: str) -> np.ndarray:
    import cv2

    return cv2.resize(a, (width, height), interpolation=getattr(cv2, CLASSICAL[method]))


def _classical(image: np.ndarray, scale: int, method: str) -> np.ndarray:
    """OpenCV bicubic / Lanczos enlargement in the image's own dtype (clipped)."""
    h, w = image.shape[:2]
    out = _resize(image.astype(np.float32), w * scale, h * scale, method)
    top = max_value(image.dtype)
    return np.clip(np.rint(out), 0, top).astype(image.dtype)


def _with_alpha(color: np.ndarray, alpha: np.ndarray | None, scale: int) -> np.ndarray:
    """Put back an alpha channel enlarged with bicubic interpolation."""
    if alpha is None:
        return color
    h, w = color.shape[:2]
    a = _classical(alpha, scale, "bicubic")
    return np.dstack([color, a])


# -- networks -----------------------------------------------------------------------

def _rdn_tile(model: _rdn.RDNModel, scale: int, requested: int) -> int:
    """Largest tile whose activations stay within the model's ``tile_budget`` (bytes):
    its low-resolution layers, and the 3*s^2-channel map before the pixel shuffle
    (s^2 output pixels each)."""
    per_px = 4 * (3 * scale * scale) * scale * scale + 4 * model.activation_channels
    return int(max(32, min(requested, (model.tile_budget / per_px) ** 0.5)))


def _native_scale(model: _rdn.RDNModel, scale: int) -> int:
    """The network to run for ``scale``: its own, else the largest below it.

    RDN PSNR-small has only x2. For x3, x4 and x8 its x2 is enlarged the rest of
    the way with Lanczos interpolation, which measured better than running the
    network again on its own output (``benchmarks/bench_upscale.py``'s photos, Y-PSNR
    over bicubic: x4 +0.89 dB against +0.64 dB for two passes, x8 +0.74 against
    +0.38 for three; x3 +1.04): the network was trained on bicubic-reduced
    photos, and its output is not one. It is also 5 (x4) to 21 (x8) times faster.
    """
    if scale in model.scales:
        return scale
    return max([s for s in model.scales if s <= scale], default=min(model.scales))


def _run_rdn(model: _rdn.RDNModel, rgb: np.ndarray, scale: int, tile: int,
             ctx: OpContext) -> np.ndarray:
    """A packaged RDN on ``(H, W, 3)`` float [0, 1], tiled; when it has no network of
    ``scale``, its largest below, enlarged the rest of the way with Lanczos."""
    from editor.ops.ai.models import autocast, run_on_device

    s = _native_scale(model, scale)

    def work(device):
        net = _rdn.load(model, s, device)
        # the networks work on RGB floats from 0 to model.white
        precision = autocast(device, cpu_bf16=True) if model.half else nullcontext()
        with precision:
            return run_tiled(net, rgb * model.white, s, _rdn_tile(model, s, tile), model.halo,
                             ctx, device, what=model.title) * (1.0 / model.white)

    out = run_on_device(work, ctx)
    if s != scale:
        ctx.extras.setdefault("notes", []).append(
            f"{model.title} x{scale}: its x{s} network, then Lanczos interpolation "
            f"x{scale / s:g}")
        h, w = rgb.shape[:2]
        out = _resize(out, w * scale, h * scale, "lanczos")
    return out


def load_store_model(entry: model_store.ModelEntry, device: Any):
    """The spandrel descriptor of a store entry on ``device`` (cached; checked unchanged)."""
    if not entry.ready:
        raise OpError(f"the model file of {entry.name} is missing or changed ({entry.path}); "
                      f"add it again with: convolve models --add FILE")
    key = (entry.path, entry.size, str(device))
    if key not in _LOADED:
        desc = model_store.spandrel_descriptor(entry.path)
        desc.to(device)
        _LOADED.clear()  # one user model at a time: they can be hundreds of MB
        _LOADED[key] = desc
    return _LOADED[key]


def run_store_model(entry: model_store.ModelEntry, rgb: np.ndarray, tile: int,
                    ctx: OpContext, what: str, mask: np.ndarray | None = None) -> np.ndarray:
    """A spandrel model from the store on ``(H, W, 3)`` float [0, 1], tiled."""
    from editor.ops.ai.models import run_on_device

    def work(device):
        desc = load_store_model(entry, device)
        cin = int(desc.input_channels)
        x = rgb
        if cin == 1:
            x = (rgb @ np.asarray((0.2126, 0.7152, 0.0722), np.float32))[..., None]
        elif cin != 3:
            raise OpError(f"{entry.name} takes {cin}-channel images; only RGB and grey "
                          "models can run here.")
        req = desc.size_requirements
        fp16 = device.type == "cuda" and getattr(desc, "supports_half", False)
        if fp16:
            desc.model.half()

        def net(t):
            return desc(t.half() if fp16 else t).float()

        out = run_tiled(net, np.ascontiguousarray(x), int(desc.scale), tile, DEFAULT_HALO,
                        ctx, device, multiple=int(getattr(req, "multiple_of", 1) or 1),
                        minimum=int(getattr(req, "minimum", 0) or 0), what=what)
        if out.shape[2] == 1:
            out = np.repeat(out, 3, axis=2)
        return np.clip(out[..., :3], 0.0, 1.0)

    return run_on_device(work, ctx)


_KIND_NOUN = {"upscale": "a super-resolution", "restore": "a restoration",
              "inpaint": "an inpainting", "diffusion": "a diffusion", "style": "a style",
              "classify": "a classifier", "features": "a feature"}


def _store_entry(name: str, kinds: tuple[str, ...], op: str) -> model_store.ModelEntry:
    try:
        entry = model_store.get(name)
    except model_store.ModelNotFound:
        raise OpError(f"no model named {name!r}; list them with: convolve models") from None
    if entry.kind not in kinds:
        def noun(kind):
            return _KIND_NOUN.get(kind, f"a {kind}")

        raise OpError(f"{name} is {noun(entry.kind)} model; {op} needs "
                      f"{' or '.join(noun(k) for k in kinds)} model.")
    return entry


# -- the ops --------------------------------------------------------------------------

@register_op("upscale", title="Upscale (super-resolution)", category="AI", alpha="process",
             keeps_shape=False, heavy=True, ai=True, preview=False)
def upscale(
    image: np.ndarray, *,
    scale: Annotated[Literal[2, 3, 4, 8], Label("Scale")] = 2,
    model: Annotated[str, Label("Model")] = BUILTIN,
    tile: Annotated[int, Range(64, 4096, ui=(128, 1024)), Label("Tile size")] = 512,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Enlarge the image 2, 3, 4 or 8 times with a super-resolution network.

    Parameters
    ----------
    scale : {2, 3, 4, 8}
        Output size / input size.
    model : str
        ``"esrgan-slim"`` (packaged, fast), ``"rdn-psnr"`` (packaged, the best
        quality, about 6 times slower: x2 of 1 MP takes ~13 s on a 2-core CPU
        with bfloat16, ~30 s without; a x2 network whose result Lanczos enlarges the rest of the
        way for x3, x4 and x8), ``"bicubic"`` or ``"lanczos"`` (plain
        interpolation, for comparison), or the name of a super-resolution model
        added with ``convolve models --add``; a model made for another scale runs
        at its own and its result is resampled to ``scale``.
    tile : int
        Tile side in input pixels; tiles overlap so no seams show. Smaller
        tiles use less memory.

    Returns
    -------
    ndarray
        ``scale`` times wider and taller, same dtype and channels (alpha
        enlarged with bicubic interpolation).

    Examples
    --------
    >>> out = upscale(np.zeros((40, 30, 3), np.uint8), scale=2, model="bicubic")
    >>> out.shape
    (80, 60, 3)
    """
    ctx = ctx or null_context()
    scale = int(scale)
    model = (model or BUILTIN).strip()
    color, alpha = split_alpha(image)
    _check_output_size(image, scale)
    h, w = color.shape[:2]
    if model.lower() in CLASSICAL:
        return _with_alpha(_classical(color, scale, model.lower()), alpha, scale)
    if min(h, w) < 4:
        raise OpError(f"upscale needs an image of at least 4 x 4 pixels; this one is {w} x {h}.")
    ctx.extras["model"] = model
    rgb = _util.rgb_float(color)
    packaged = _rdn.MODELS.get(model.lower())
    if packaged is not None:
        out = _run_rdn(packaged, rgb, scale, tile, ctx)
        ctx.extras["model_sha256"] = model_store.cached_sha256(
            packaged.weights_file(_native_scale(packaged, scale)))
    else:
        row = model.lower().rpartition("-x")
        if row[0] in _rdn.MODELS and row[2].isdigit():
            # the Models dialog lists the packaged networks per scale ("rdn-psnr-x2")
            raise OpError(f"{model} is a packaged network: choose model={row[0]} and "
                          f"scale={row[2]}.")
        entry = _store_entry(model, ("upscale",), "upscale")
        ctx.extras["model_sha256"] = entry.sha256
        out = run_store_model(entry, rgb, tile, ctx, f"upscale with {entry.name}")
        if out.shape[0] != h * scale or out.shape[1] != w * scale:
            native = out.shape[0] // h
            ctx.extras.setdefault("notes", []).append(
                f"{entry.name} is a x{native} model; its result was resampled to x{scale}")
            out = _util.resize_float(out, w * scale, h * scale)
    out = np.clip(out, 0.0, 1.0)
    if color.ndim == 2:
        result = _util.like_input(out, color)
    else:
        result = from_float(out, color.dtype)
    return _with_alpha(result, alpha, scale)


@register_op("restore", title="Restore (denoise, deblur, JPEG)", category="AI",
             heavy=True, ai=True, preview=False, margin=DEFAULT_HALO)
def restore(
    image: np.ndarray, *,
    model: Annotated[str, Label("Model")] = "",
    tile: Annotated[int, Range(64, 4096, ui=(128, 1024)), Label("Tile size")] = 512,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Clean the image with a restoration model from the store (scale 1).

    Parameters
    ----------
    model : str
        Name of a restoration model added with ``convolve models --add``
        (denoising, JPEG-artefact removal, deblurring; any architecture
        spandrel knows).
    tile : int
        Tile side in pixels; tiles overlap so no seams show.

    Returns
    -------
    ndarray
        Same size, dtype and channels; alpha passes through.
    """
    ctx = ctx or null_context()
    if not model.strip():
        raise OpError("no restoration model chosen; add one with: convolve models --add FILE")
    entry = _store_entry(model.strip(), ("restore",), "restore")
    h, w = image.shape[:2]
    if min(h, w) < 4:
        raise OpError(f"restore needs an image of at least 4 x 4 pixels; this one is {w} x {h}.")
    ctx.extras["model"] = entry.name
    ctx.extras["model_sha256"] = entry.sha256
    out = run_store_model(entry, _util.rgb_float(image), tile, ctx, f"restore with {entry.name}")
    if out.shape[:2] != (h, w):
        out = _util.resize_float(out, w, h)
    return _util.like_input(np.clip(out, 0.0, 1.0), image)


# -- the store's built-in rows ---------------------------------------------------------

@model_store.register_builtin
def _packaged_entries() -> list[model_store.ModelEntry]:
    slim, best = _rdn.ESRGAN_SLIM, _rdn.RDN_PSNR
    rows = []
    for model, s in [(slim, s) for s in slim.scales] + [(best, 2)]:
        path = model.weights_file(s)
        ready = path.is_file()
        if model is slim:
            source = "npm @upscalerjs/esrgan-slim@1.0.0"
            licence, arch = "MIT", "RDN (ESRGAN-slim)"
            purpose = f"super-resolution x{s} (upscale model=esrgan-slim scale={s}): fast"
        else:
            source = "idealo image-super-resolution psnr-small, via npm " \
                     "@upscalerjs/esrgan-legacy@1.0.0"
            licence, arch = "Apache-2.0 (weights, idealo); MIT (package)", "RDN (PSNR-small)"
            purpose = ("super-resolution x2; x3, x4, x8 its x2 + Lanczos "
                       "(upscale model=rdn-psnr): best quality, about 6x slower")
        rows.append(model_store.ModelEntry(
            name=f"{model.name}-x{s}", kind="upscale", path=str(path),
            sha256=model_store.cached_sha256(path) if ready else None,
            size=path.stat().st_size if ready else None,
            source=f"{source} (converted by {model.script})", licence=licence,
            architecture=arch, scale=s, ready=ready, purpose=purpose, builtin=True,
            extra={"install": f"python {model.script}"}))
    return rows
