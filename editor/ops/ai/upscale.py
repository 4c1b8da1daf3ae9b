"""Super-resolution and restoration: the packaged ESRGAN-slim, and the user's own models.

``upscale`` enlarges an image 2, 3, 4 or 8 times with

- ``esrgan-slim`` (default): UpscalerJS's small RDN networks, converted from
  npm ``@upscalerjs/esrgan-slim@1.0.0`` (MIT) to safetensors in
  ``resources/models/esrgan-slim`` by ``scripts/convert_esrgan_slim.py``;
- ``bicubic`` / ``lanczos``: OpenCV's interpolation, for comparison;
- the name of a super-resolution model added with ``convolve models --add``
  (any architecture spandrel knows: ESRGAN, Real-ESRGAN, SwinIR, HAT ...).

``restore`` runs a scale-1 restoration model from the store (denoise, JPEG
artefacts, deblur).

Large images run in tiles that overlap by a halo of context pixels, so the
networks see the same neighbourhood as in one pass: for the convolutional
networks (ESRGAN-slim, ESRGAN, Compact) a tiled result equals an untiled one;
between tiles the op reports progress and honours Cancel. Alpha is enlarged
with bicubic interpolation; the dtype (8 or 16 bit) is kept.

References
----------
.. [1] Y. Zhang et al., "Residual Dense Network for Image Super-Resolution",
   CVPR 2018 (the RDN topology of ESRGAN-slim).
.. [2] X. Wang et al., "ESRGAN: Enhanced Super-Resolution Generative
   Adversarial Networks", ECCV Workshops 2018.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

import numpy as np

from editor.core.context import OpContext, OpError, null_context
from editor.core.image import from_float, max_value, split_alpha
from editor.ops.ai import _util, model_store
from editor.ops.registry import Label, Range, register_op

#: Names of the interpolations offered beside the networks.
CLASSICAL = {"bicubic": "INTER_CUBIC", "lanczos": "INTER_LANCZOS4"}
BUILTIN = "esrgan-slim"

#: Bytes of float32 activations one tile may allocate (ESRGAN-slim's widest tensor
#: is its 3*s^2-channel map after the nearest upsampling: s^2 output pixels each).
TILE_BUDGET = 1 << 28

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

def _esrgan_slim_tile(scale: int, requested: int) -> int:
    """Largest tile whose widest activation stays within :data:`TILE_BUDGET`."""
    per_px = 4 * (3 * scale * scale) * scale * scale + 4 * 300  # upsampled map + LR layers
    return int(max(32, min(requested, (TILE_BUDGET / per_px) ** 0.5)))


def _run_esrgan_slim(rgb: np.ndarray, scale: int, tile: int, ctx: OpContext) -> np.ndarray:
    from editor.ops.ai import _esrgan_slim
    from editor.ops.ai.models import run_on_device

    def work(device):
        net = _esrgan_slim.load(scale, device)
        # the network works on RGB floats in [0, 255]
        out = run_tiled(net, rgb * 255.0, scale, _esrgan_slim_tile(scale, tile),
                        _esrgan_slim.HALO, ctx, device, what="ESRGAN-slim")
        return out * (1.0 / 255.0)

    return run_on_device(work, ctx)


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
        ``"esrgan-slim"`` (packaged), ``"bicubic"`` or ``"lanczos"`` (plain
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
    if model.lower() == BUILTIN:
        out = _run_esrgan_slim(rgb, scale, tile, ctx)
        from editor.ops.ai import _esrgan_slim

        ctx.extras["model_sha256"] = model_store.cached_sha256(_esrgan_slim.weights_file(scale))
    else:
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
def _esrgan_slim_entries() -> list[model_store.ModelEntry]:
    from editor.ops.ai import _esrgan_slim

    rows = []
    for s in _esrgan_slim.SCALES:
        path = _esrgan_slim.weights_file(s)
        ready = path.is_file()
        rows.append(model_store.ModelEntry(
            name=f"{BUILTIN}-x{s}", kind="upscale", path=str(path),
            sha256=model_store.cached_sha256(path) if ready else None,
            size=path.stat().st_size if ready else None,
            source="npm @upscalerjs/esrgan-slim@1.0.0 (converted by "
                   "scripts/convert_esrgan_slim.py)",
            licence="MIT", architecture="RDN (ESRGAN-slim)", scale=s, ready=ready,
            purpose=f"super-resolution x{s} (upscale model=esrgan-slim scale={s})",
            builtin=True))
    return rows
