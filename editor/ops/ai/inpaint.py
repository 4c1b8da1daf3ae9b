"""Inpainting inside the selection with a model from the store (LaMa and the like, via spandrel).

The selection is the area to fill: the editor passes it as ``mask`` (``uses_mask``)
and blends the result through it, so pixels outside stay exactly as they were.
The network runs on a crop around the selection with room for context (LaMa's
Fourier convolutions see the whole crop), scaled down when that crop is larger
than the working size; only the filled area is then enlarged back.

References
----------
.. [1] R. Suvorov et al., "Resolution-robust Large Mask Inpainting with Fourier
   Convolutions" (LaMa), WACV 2022.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np

from editor.core.context import OpContext, OpError, null_context
from editor.core.image import split_alpha
from editor.ops.ai import _util
from editor.ops.registry import Label, Range, register_op


def context_box(mask: np.ndarray, grow: float = 0.5, least: int = 64
                ) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)``: the mask's bounding box grown by ``grow`` of its longer side
    (at least ``least`` pixels) each way, clipped to the image.

    Examples
    --------
    >>> m = np.zeros((400, 300), np.float32); m[100:120, 50:90] = 1
    >>> context_box(m)
    (36, 184, 0, 154)
    """
    ys, xs = np.nonzero(mask > 0)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    pad = max(least, int(grow * max(y1 - y0, x1 - x0)))
    h, w = mask.shape
    return (int(max(0, y0 - pad)), int(min(h, y1 + pad)),
            int(max(0, x0 - pad)), int(min(w, x1 + pad)))


@register_op("inpaint_model", title="Inpaint selection (model)", category="AI", heavy=True, ai=True,
             preview=False, uses_mask=True)
def inpaint(
    image: np.ndarray, *,
    model: Annotated[str, Label("Model")] = "",
    size: Annotated[int, Range(64, 4096, ui=(256, 2048)), Label("Working size")] = 1024,
    mask: np.ndarray | None = None,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Fill the selection with an inpainting model from the store (e.g. LaMa).

    Parameters
    ----------
    model : str
        Name of an inpainting model added with ``convolve models --add``.
    size : int
        Longest side of the crop around the selection that the network sees;
        a larger crop is scaled down for the network and its fill scaled back.

    Returns
    -------
    ndarray
        Same size and dtype; the editor keeps pixels outside the selection.

    References
    ----------
    .. [1] R. Suvorov et al., "Resolution-robust Large Mask Inpainting with
       Fourier Convolutions", WACV 2022.
    """
    from editor.ops.ai.models import run_on_device
    from editor.ops.ai.upscale import _store_entry, load_store_model

    ctx = ctx or null_context()
    if not model.strip():
        raise OpError("no inpainting model chosen; add one with: convolve models --add FILE")
    if mask is None or not np.any(mask > 0):
        raise OpError("inpaint fills the selection: select the area to fill first.")
    entry = _store_entry(model.strip(), ("inpaint",), "inpaint")
    ctx.extras["model"] = entry.name
    ctx.extras["model_sha256"] = entry.sha256
    color, alpha = split_alpha(image)
    y0, y1, x0, x1 = context_box(mask)
    crop = _util.rgb_float(color[y0:y1, x0:x1])
    m = np.ascontiguousarray(mask[y0:y1, x0:x1], np.float32)
    ch, cw = m.shape
    w, h = _util.working_size(m.shape, size)
    if (w, h) != (cw, ch):
        ctx.extras.setdefault("notes", []).append(
            f"inpainting ran at {w}x{h} (the area around the selection is {cw}x{ch})")
    small, small_m = _util.resize_float(crop, w, h), _util.resize_float(m, w, h)
    # any partly selected pixel is filled: the blend through the soft mask does the rest
    small_m = (small_m > 0.01).astype(np.float32)
    ctx.report(0.1, f"inpainting with {entry.name}")

    def work(device):
        import torch
        import torch.nn.functional as F

        desc = load_store_model(entry, device)
        req = desc.size_requirements
        mult = int(getattr(req, "multiple_of", 1) or 1)
        least = int(getattr(req, "minimum", 0) or 0)
        ph = max(least, -(-h // mult) * mult) - h
        pw = max(least, -(-w // mult) * mult) - w
        x = torch.from_numpy(np.ascontiguousarray(small.transpose(2, 0, 1)))[None].to(device)
        mk = torch.from_numpy(small_m)[None, None].to(device)
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")
            mk = F.pad(mk, (0, pw, 0, ph))
        ctx.check()
        with torch.inference_mode():
            y = desc(x, mk)
        return y[0, :, :h, :w].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()

    filled = run_on_device(work, ctx)
    ctx.check()
    filled = _util.resize_float(filled, cw, ch)
    out_rgb = _util.rgb_float(color)
    out_rgb[y0:y1, x0:x1] = filled
    out = _util.like_input(out_rgb, color)
    ctx.report(1.0, "inpainting done")
    if alpha is not None:
        out = np.dstack([out, alpha])
    return out
