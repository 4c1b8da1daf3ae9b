"""Neural style transfer (Gatys et al.): optimise the pixels to match Gram matrices.

The image ``x`` minimises ``style_weight * sum_l |G_l(x) - G_l(style)|^2 +
content_weight * |F(x) - F(content)|^2 + tv_weight * TV(x)``, where ``G_l`` is
the Gram matrix (channel correlations) of VGG layer ``l`` -- ``relu1_1`` ...
``relu5_1`` -- and ``F`` the activations of the deep layer ``relu4_2``, with
average instead of max pooling as in the paper.

Work done once, not per iteration: the style Grams and the content target are
computed under ``torch.inference_mode``; the network stops at ``relu5_1``; its
parameters need no gradients; on the CPU it runs channels-last. With
``multiscale`` the optimisation starts at half size and the upsampled result
seeds the full-size run, which reaches a given loss in fewer full-size
iterations (see ``benchmarks/bench_ai.py``).

References
----------
.. [1] L. Gatys, A. Ecker, M. Bethge, "Image Style Transfer Using Convolutional
   Neural Networks", CVPR 2016.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

import numpy as np

from editor.core.context import OpContext, OpError, null_context
from editor.ops.ai import _fullsize, _util
from editor.ops.registry import Kind, Label, Range, register_op

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYER = "relu4_2"


def gram(f):
    """Gram matrix ``(B, C, C)`` of activations ``(B, C, H, W)``, divided by C*H*W.

    Differentiable, with a backward pass of its own: autograd's for ``F F^T``
    costs two matrix products and a sum of two activation-sized gradients, while
    the Gram matrix's symmetry gives ``dF = (dG + dG^T) F`` in one product. Both
    passes read a channels-last activation in place, as the ``(H W, C)`` matrix its
    memory already is, where a reshape to ``(C, H W)`` would copy it. An
    iteration at 384 px took 1.11 s instead of 1.40 s on a 2-core CPU.
    """
    return _gram_function().apply(f)


def _channels_last(f) -> bool:
    import torch

    return f.is_contiguous(memory_format=torch.channels_last) and not f.is_contiguous()


def _pixel_rows(f):
    """``f`` ``(B, C, H, W)`` as ``(B, H W, C)``: a view in either memory layout."""
    b, c, h, w = f.shape
    if _channels_last(f):
        return f.permute(0, 2, 3, 1).reshape(b, h * w, c)
    return f.reshape(b, c, h * w).transpose(1, 2)


@functools.cache
def _gram_function():
    import torch

    class Gram(torch.autograd.Function):
        @staticmethod
        def forward(ctx, f):
            ctx.save_for_backward(f)
            rows = _pixel_rows(f)
            return rows.transpose(1, 2) @ rows / f[0].numel()

        @staticmethod
        def backward(ctx, grad):
            f, = ctx.saved_tensors
            b, c, h, w = f.shape
            sym = (grad + grad.transpose(1, 2)) / f[0].numel()
            if _channels_last(f):
                # (H W, C) rows times the C x C matrix: the gradient comes out
                # channels-last, the layout of the activation it flows back into
                return (_pixel_rows(f) @ sym).view(b, h, w, c).permute(0, 3, 1, 2)
            return (sym @ f.reshape(b, c, h * w)).view(b, c, h, w)

    return Gram


def total_variation(x):
    """Mean absolute difference of neighbouring pixels (smoothness prior)."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + \
        (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


class StyleLoss:
    """The Gatys objective with its fixed targets computed once.

    Call it on an image tensor to get ``(total, style, content)``. ``check`` (an
    :meth:`OpContext.check <editor.core.context.OpContext.check>`) runs after every
    layer of every pass, forward and backward, so Cancel does not wait for a whole
    evaluation (seconds at a large working size on a CPU). With
    ``starts_at_content`` the first call must be on ``content`` itself (an
    optimisation that starts from the photo): the content target is read off that
    call's pass instead of a pass of its own.
    """

    def __init__(self, net, content, style, style_weight=1e6, content_weight=1.0,
                 tv_weight=0.0, style_layers=STYLE_LAYERS, content_layer=CONTENT_LAYER,
                 check=None, starts_at_content=False):
        import torch

        self.net = net
        self.check = check
        self.layers = tuple(style_layers) + (content_layer,)
        self.style_layers, self.content_layer = tuple(style_layers), content_layer
        self.weights = (style_weight, content_weight, tv_weight)
        with torch.inference_mode():
            # fixed targets: computed once without autograd bookkeeping
            grams = {k: gram(v) for k, v in self._features(style, self.style_layers).items()}
            target = None if starts_at_content else \
                self._features(content, [content_layer])[content_layer]
        # inference tensors cannot enter a graph; one clone each makes them normal
        self.grams = {k: v.clone() for k, v in grams.items()}
        # starts_at_content: the first call is on ``content`` itself, and its pass gives
        # the target, a forward pass sooner to the first preview
        self.content = None if target is None else target.clone()

    def _features(self, x, layers):
        """The network's activations, in half precision where that pays (CUDA fp16, CPU bf16),
        returned as float32 so Gram matrices and losses are summed in float32."""
        from editor.ops.ai.models import autocast, memory_format

        with autocast(x.device, cpu_bf16=True):
            # the optimiser's pixels stay contiguous (L-BFGS flattens them with view);
            # the network gets a copy in the layout its kernels prefer
            feats = self.net(x.contiguous(memory_format=memory_format(x.device)), layers,
                             self.check)
        return {k: v.float() for k, v in feats.items()}

    def __call__(self, x):
        import torch.nn.functional as F

        feats = self._features(x, self.layers)
        if self.content is None:
            self.content = feats[self.content_layer].detach().clone()
        style = sum(F.mse_loss(gram(feats[k]), self.grams[k]) for k in self.style_layers)
        content = F.mse_loss(feats[self.content_layer], self.content)
        sw, cw, tw = self.weights
        total = sw * style + cw * content
        if tw:
            total = total + tw * total_variation(x)
        return total, style, content


def _optimise(loss_fn, x, steps, optimizer, ctx, offset, total_steps, partial_every,
              on_partial, history, clock=None):
    import torch

    from editor.ops.ai.optim import Adam, optimizers_without_dynamo

    x = x.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    if optimizer == "lbfgs":
        # one iteration per step() call: the history persists in opt.state, so this
        # costs the same closure evaluations as one call with max_iter=steps, while
        # giving progress and Cancel after every iteration
        optimizers_without_dynamo()  # 2.7 s sooner to the first preview
        opt = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=50,
                                tolerance_grad=0.0, tolerance_change=0.0)
    else:
        opt = Adam([x], lr=0.02)
    last = {}

    def closure():
        opt.zero_grad()
        with torch.enable_grad():
            total, style, content = loss_fn(x)
            total.backward()
        last.update(total=float(total.detach()), style=float(style.detach()),
                    content=float(content.detach()))
        return total

    for k in range(steps):
        if optimizer == "lbfgs":
            opt.step(closure)
        else:
            closure()
            opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)  # Adam's steps are small; keep the pixels valid as we go
        history.append(dict(last))
        n = offset + k + 1
        ctx.report(n / total_steps, f"iteration {n}/{total_steps}, loss {last['total']:.3g}")
        if on_partial is None or offset + k + 1 >= total_steps:
            continue
        if partial_every and (k + 1) % partial_every == 0:
            on_partial(x)
        elif not partial_every and clock.due():
            on_partial(x)
            clock.emitted()
    return x.detach()


def stylize_rgb(content_rgb: np.ndarray, style_rgb: np.ndarray, *, steps: int = 80,
                style_weight: float = 1e6, content_weight: float = 1.0,
                tv_weight: float = 0.0, optimizer: str = "lbfgs", init: str = "content",
                seed: int = 0, multiscale: bool = False, network: str = "vgg16",
                device: Any = None, ctx: OpContext | None = None, on_partial=None,
                partial_every: int | None = 10, random_weights: bool = False,
                clock: _util.PartialClock | None = None) -> dict[str, Any]:
    """Style transfer on float ``(H, W, 3)`` [0, 1] arrays at their given sizes.

    ``on_partial(rgb)`` receives the image every ``partial_every`` iterations, or,
    with ``partial_every=None``, whenever ``clock`` (a
    :class:`~editor.ops.ai._util.PartialClock`, made here when not given) says one
    is due: at least every ~2 s however slow an iteration is.

    Returns
    -------
    dict
        ``image`` (float RGB at the content's size), ``history`` (per iteration
        ``total``, ``style``, ``content`` losses), ``start`` (losses of the
        initial image).
    """
    import torch
    import torch.nn.functional as F

    from editor.ops.ai.models import run_on_device
    from editor.ops.ai.vgg import feature_net
    from editor.ops.ai.winograd import kernels_kept

    ctx = ctx or null_context()
    if clock is None and on_partial is not None and not partial_every:
        clock = _util.PartialClock()

    def work(dev):
        from editor.ops.ai.models import memory_format

        net = feature_net(network, dev, pool="avg", random_weights=random_weights)
        with kernels_kept(net):
            cl = memory_format(dev)

            def tensor(a):
                return _util.to_tensor(a, dev).contiguous(memory_format=cl)

            content, style = tensor(content_rgb), tensor(style_rgb)
            gen = torch.Generator().manual_seed(int(seed))
            if init == "noise":
                x = torch.rand(content.shape, generator=gen).to(dev)
            else:
                x = content.clone()
            history: list[dict] = []
            # Multiscale spends the same budget in full-size iterations (a half-size one
            # costs a quarter): 3/4 of them at half size, then 3/4 at full size, 15/16 of
            # the work in all. Measured (benchmarks/bench_ai.py, 80 steps): it ends at or
            # below the single-scale loss; with half and half it ended 1.2x above it.
            coarse_steps = 3 * steps // 4 if multiscale else 0
            fine_steps = max(1, 3 * steps // 4) if multiscale else steps
            total = coarse_steps + fine_steps
            kw = dict(style_weight=style_weight, content_weight=content_weight,
                      tv_weight=tv_weight)

            def emit(t):
                if on_partial is not None:
                    if t.shape[-2:] != content.shape[-2:]:
                        t = F.interpolate(t, size=content.shape[-2:], mode="bilinear")
                    on_partial(_util.to_numpy(t))

            # a single-scale run from the photo evaluates the photo first: the content
            # target comes from that pass instead of one of its own
            full_loss = StyleLoss(net, content, style, check=ctx.check,
                                  starts_at_content=init == "content" and not coarse_steps, **kw)
            start = None
            if coarse_steps:
                with torch.inference_mode():
                    start = [float(v) for v in full_loss(x)]
                # half size: a quarter of the work per iteration finds the large-scale
                # arrangement; the full-size run then only refines it
                def half(t):
                    return F.interpolate(t, scale_factor=0.5, mode="bilinear",
                                         antialias=True).contiguous(memory_format=cl)

                coarse = StyleLoss(net, half(content), half(style), check=ctx.check, **kw)
                xs = _optimise(coarse, half(x), coarse_steps, optimizer, ctx, 0, total,
                               partial_every, emit, history, clock)
                x = F.interpolate(xs, size=content.shape[-2:], mode="bicubic").clamp(0, 1)
            x = _optimise(full_loss, x, fine_steps, optimizer, ctx, coarse_steps, total,
                          partial_every, emit, history, clock)
            names = ("total", "style", "content")
            # both optimisers evaluate the loss where they stand before each step, so a
            # single-scale run's first entry is the start: no extra pass at full size
            # (a third of an iteration) before the first preview
            return {"image": _util.to_numpy(x),
                    "start": (dict(zip(names, start, strict=True)) if start is not None
                              else {k: history[0][k] for k in names}),
                    "history": history}

    return run_on_device(work, ctx, device)


@register_op("style_transfer", title="Style transfer", category="AI", heavy=True, ai=True,
             preview=False)
def style_transfer(
    image: np.ndarray, *,
    style: Annotated[str, Kind("path", "image file of the painting"), Label("Style image")] = "",
    size: Annotated[int, Range(32, 2048, ui=(64, 768)), Label("Working size")] = 384,
    steps: Annotated[int, Range(1, 1000, ui=(1, 300)), Label("Iterations")] = 80,
    style_weight: Annotated[float, Range(0.0, 1e9, ui=(1e4, 1e7), scale="log")] = 1e6,
    content_weight: Annotated[float, Range(0.0, 1e3, ui=(0.0, 10.0))] = 1.0,
    tv_weight: Annotated[float, Range(0.0, 1e3, ui=(0.0, 10.0))] = 0.0,
    optimizer: Annotated[Literal["lbfgs", "adam"], Label("Optimiser")] = "lbfgs",
    init: Annotated[Literal["content", "noise"], Label("Start from")] = "content",
    seed: Annotated[int, Range(0, 2**31 - 1, ui=(0, 999))] = 0,
    multiscale: Annotated[bool, Label("Coarse to fine")] = False,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Repaint the photo in the style of a painting (Gatys et al.).

    Parameters
    ----------
    style : str
        Path of the style image (a painting). The editor passes an open image
        through :func:`stylize_image` instead.
    size : int
        Working size: the longer side the optimisation runs at (the result is
        enlarged back to the photo's size). The style image is scaled to the
        same longer side.
    steps : int
        Optimiser iterations.
    style_weight : float
        Weight of the Gram-matrix (style) loss.
    content_weight : float
        Weight of the relu4_2 (content) loss.
    tv_weight : float
        Weight of the total-variation smoothness loss.
    optimizer : {"lbfgs", "adam"}
        L-BFGS converges in far fewer iterations; Adam is steadier on a GPU.
    init : {"content", "noise"}
        Start from the photo or from uniform noise (seeded).
    seed : int
        Seed of the noise start (same seed, same result on the CPU).
    multiscale : bool
        Start at half size: ``3 steps / 4`` half-size iterations (a quarter of the
        work each), then ``3 steps / 4`` at full size; 15/16 of the single-scale
        work, reaching the same loss or lower.

    Returns
    -------
    ndarray
        The stylised image, same size and dtype. ``ctx.extras["losses"]`` has
        the loss history, ``ctx.extras["start"]`` the starting losses.

    References
    ----------
    .. [1] L. Gatys, A. Ecker, M. Bethge, "Image Style Transfer Using
       Convolutional Neural Networks", CVPR 2016.
    """
    ctx = ctx or null_context()
    _util.check_min_size(image, "Style transfer")
    params = dict(size=size, steps=steps, style_weight=style_weight,
                  content_weight=content_weight, tv_weight=tv_weight, optimizer=optimizer,
                  init=init, seed=seed, multiscale=multiscale)
    return stylize_image(image, _util.read_image(style), ctx=ctx, **params)


def stylize_image(image: np.ndarray, style_image: np.ndarray, *, size: int = 384,
                  steps: int = 80, style_weight: float = 1e6, content_weight: float = 1.0,
                  tv_weight: float = 0.0, optimizer: str = "lbfgs", init: str = "content",
                  seed: int = 0, multiscale: bool = False, ctx: OpContext | None = None
                  ) -> np.ndarray:
    """:func:`style_transfer` with the style given as an image array (an open document)."""
    ctx = ctx or null_context()
    try:
        from editor.core.image import check_image

        check_image(style_image)
    except ValueError as e:
        raise OpError(f"style image: {e}") from None
    _util.check_min_size(style_image, "Style transfer", of="a style image")
    content = _util.at_working_size(image, size, ctx, "style transfer")
    sw, sh = _util.working_size(style_image.shape, size)
    _util.check_min_size(np.empty((sh, sw, 0)), "Style transfer",
                         of="a style image (at the working size)")
    style_rgb = _util.resize_float(_fullsize.rgb_float(style_image, ctx), sw, sh)
    fh, fw = image.shape[:2]

    def finish(rgb):
        # at the photo's size: one resize, then strips that honour Cancel
        up = _util.resize_float(rgb, fw, fh)
        return _fullsize.like_input(up, image, ctx)

    result = stylize_rgb(content, style_rgb, steps=steps, style_weight=style_weight,
                         content_weight=content_weight, tv_weight=tv_weight,
                         optimizer=optimizer, init=init, seed=seed, multiscale=multiscale,
                         ctx=ctx, on_partial=lambda rgb: ctx.emit_partial(finish(rgb)),
                         partial_every=None, clock=_util.PartialClock(first=True))
    ctx.extras["losses"] = result["history"]
    ctx.extras["start"] = result["start"]
    return finish(result["image"])
