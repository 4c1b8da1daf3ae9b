"""Deep Dream: gradient ascent on the pixels to amplify what a layer responds to.

Multi-scale as in Google's notebook: the image is processed from the smallest
octave up; at each octave the detail the dream has added so far is enlarged
and added to that octave's copy of the photo, then ``steps`` gradient-ascent
steps on ``0.5 * mean(activation**2)`` are taken with a random jitter (a
circular shift undone after each step, which hides the grid of the network's
strides). Gradients are divided by their mean absolute value, so
``step_size`` is the mean change per step in 1/255 units.

References
----------
.. [1] A. Mordvintsev, C. Olah, M. Tyka, "Inceptionism: Going Deeper into
   Neural Networks", Google Research blog, 2015, and the deepdream notebook.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np

from editor.core.context import OpContext, null_context
from editor.ops.ai import _fullsize, _util
from editor.ops.ai.explain import LAYERS, NETWORKS
from editor.ops.registry import Label, Range, register_op


def layer_energy(net, x, layer: str, check=None):
    """``0.5 * mean(activation ** 2)`` of ``layer`` (the dream's objective).

    ``check`` runs after every layer, forward and backward (Cancel within a layer).
    """
    # float32 for the square and the mean: a half-precision activation (CUDA) squared
    # overflows float16's 65504
    return 0.5 * net(x, [layer], check)[layer].float().pow(2).mean()


def dream_rgb(rgb: np.ndarray, *, network: str = "efficientnet_lite0",
              layer: str = "block5c",
              octaves: int = 3, octave_scale: float = 1.4, steps: int = 20,
              step_size: float = 1.5, jitter: int = 16, seed: int = 0,
              device: Any = None, ctx: OpContext | None = None,
              on_octave=None, random_weights: bool = False, on_partial=None,
              clock: _util.PartialClock | None = None) -> np.ndarray:
    """Dream on a float ``(H, W, 3)`` [0, 1] image; returns the dreamt float image.

    ``on_octave(detail, k)`` receives the detail added so far (at the working
    size) after each octave. ``on_partial(detail)`` receives it (at the current
    octave's size) between octaves too, whenever ``clock`` (a
    :class:`~editor.ops.ai._util.PartialClock`) says one is due, so the canvas
    is never more than about two seconds behind.
    """
    import torch

    from editor.ops.ai.models import autocast, memory_format, run_on_device
    from editor.ops.ai.vgg import check_layers, feature_net
    from editor.ops.ai.winograd import kernels_kept

    ctx = ctx or null_context()
    check_layers(network, [layer])
    h, w = rgb.shape[:2]
    # the smallest octaves stop at the networks' minimum (relu5_x needs 32 px)
    low = _util.MIN_SIDE
    sizes = [(max(low, round(w / octave_scale ** i)), max(low, round(h / octave_scale ** i)))
             for i in reversed(range(octaves))]
    total = octaves * steps
    rng = np.random.default_rng(seed)
    shifts = rng.integers(-jitter, jitter + 1, size=(total, 2)) if jitter else \
        np.zeros((total, 2), int)
    lr = step_size / 255.0
    if on_partial is not None and clock is None:
        clock = _util.PartialClock()

    def work(dev):
        net = feature_net(network, dev, random_weights=random_weights)
        with kernels_kept(net):
            cl = memory_format(dev)
            detail = np.zeros((sizes[0][1], sizes[0][0], 3), np.float32)
            k = 0
            for o, (ow, oh) in enumerate(sizes):
                base = _util.to_tensor(_util.resize_float(rgb, ow, oh), dev)
                detail = _util.resize_float(detail, ow, oh)
                x = (base + _util.to_tensor(detail, dev)).contiguous(memory_format=cl)
                for _ in range(steps):
                    dy, dx = (int(s) for s in shifts[k])
                    x = torch.roll(x, (dy, dx), (2, 3)).detach().requires_grad_(True)
                    # float16 on CUDA; bfloat16 on a CPU that has it (models.half_dtype)
                    with torch.enable_grad(), autocast(dev, cpu_bf16=True):
                        loss = layer_energy(net, x, layer, ctx.check)
                        grad, = torch.autograd.grad(loss, x)
                    with torch.no_grad():
                        x = x + (lr / (grad.abs().mean() + 1e-12)) * grad
                        x = torch.roll(x, (-dy, -dx), (2, 3)).clamp_(0, 1)
                    k += 1
                    ctx.report(k / total, f"octave {o + 1}/{octaves}, iteration {k}/{total}, "
                                          f"loss {float(loss.detach()):.3g}")
                    if on_partial is not None and k < total and clock.due():
                        on_partial(_util.to_numpy(x) - _util.to_numpy(base))
                        clock.emitted()
                detail = _util.to_numpy(x) - _util.to_numpy(base)
                if on_octave is not None:
                    on_octave(detail, o)
                    if clock is not None:
                        clock.emitted()
            return detail

    detail = run_on_device(work, ctx, device)
    return np.clip(rgb + detail, 0, 1)


@register_op("deep_dream", title="Deep Dream", category="AI", heavy=True, ai=True,
             preview=False)
def deep_dream(
    image: np.ndarray, *,
    network: NETWORKS = "efficientnet_lite0",
    layer: LAYERS = "block5c",
    octaves: Annotated[int, Range(1, 8)] = 3,
    octave_scale: Annotated[float, Range(1.1, 2.0, step=0.005)] = 1.4,
    steps: Annotated[int, Range(1, 200, ui=(1, 80)), Label("Steps per octave")] = 20,
    step_size: Annotated[float, Range(0.1, 10.0, ui=(0.1, 5.0), unit="/255", step=0.01)] = 1.5,
    jitter: Annotated[int, Range(0, 64)] = 16,
    seed: Annotated[int, Range(0, 2**31 - 1, ui=(0, 999))] = 0,
    max_size: Annotated[int, Range(64, 4096, ui=(128, 1024)), Label("Working size")] = 512,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Amplify the patterns a layer sees (eyes, fur, animal faces at relu4_x).

    Parameters
    ----------
    network : {"efficientnet_lite0", "vgg16", "vgg19", "googlenet"}
        Feature network. ``efficientnet_lite0`` (packaged) needs a fiftieth of
        VGG16's arithmetic up to the dream layer, and a step runs about 15x
        faster on a CPU (``benchmarks/bench_ai.py``): a dream in seconds, with
        softer, more photographic animals. ``vgg16`` (packaged) gives the classic
        look of the tutorials, bolder and more painterly. The
        others are optional downloads (GoogLeNet is Google's original).
    layer : str
        Layer whose activations are maximised, one of the network's
        (:data:`~editor.ops.ai.vgg.DREAM_LAYERS` names each one's usual choice):
        shallow layers give strokes and textures, ``relu4_x`` (VGG),
        ``inception4x`` (GoogLeNet) and ``block5x`` (EfficientNet) eyes and animal
        faces.
    octaves : int
        Number of scales, processed from the smallest.
    octave_scale : float
        Size ratio between neighbouring octaves.
    steps : int
        Gradient-ascent steps per octave.
    step_size : float
        Mean pixel change per step, in 1/255 units.
    jitter : int
        Largest random shift in pixels applied before each step.
    seed : int
        Seed of the jitter sequence (same seed, same dream).
    max_size : int
        Working size: the longer side the dream is computed at. A larger photo
        gets the dream's detail enlarged and added, keeping its own sharpness.

    Returns
    -------
    ndarray
        The dreamt image, same size and dtype. The canvas gets the image after
        every octave, and in between at least every ~2 s, through
        ``ctx.emit_partial``.

    References
    ----------
    .. [1] A. Mordvintsev, C. Olah, M. Tyka, "Inceptionism", Google Research
       blog, 2015.
    """
    ctx = ctx or null_context()
    _util.check_min_size(image, "Deep Dream")
    rgb = _util.at_working_size(image, max_size, ctx, "Deep Dream")
    fh, fw = image.shape[:2]

    def compose(detail: np.ndarray) -> np.ndarray:
        # the dream's detail, enlarged to the photo: its own pixels stay sharp. At the
        # photo's size this runs in row strips that honour Cancel.
        up = _util.resize_float(detail, fw, fh)
        out = np.empty((fh, fw) if image.ndim == 2 else (fh, fw, 3), image.dtype)
        for rows in _fullsize.row_slices(fh, fw, ctx):
            full = _util.rgb_float(image[rows])
            out[rows] = _util.like_input(np.clip(full + up[rows], 0, 1), image)
        return out

    def on_octave(detail, o):
        if o < octaves - 1:
            # the smaller octaves' detail, enlarged, shows the dream growing
            ctx.emit_partial(compose(detail))

    # between octaves too, at least every ~2 s (a large working size takes longer)
    dreamt = dream_rgb(rgb, network=network, layer=layer, octaves=octaves,
                       octave_scale=octave_scale, steps=steps, step_size=step_size,
                       jitter=jitter, seed=seed, ctx=ctx, on_octave=on_octave,
                       on_partial=lambda d: ctx.emit_partial(compose(d)),
                       clock=_util.PartialClock())
    out = compose(dreamt - rgb)
    ctx.emit_partial(out)
    return out
