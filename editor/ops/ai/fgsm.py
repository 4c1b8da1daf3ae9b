"""Adversarial attack: FGSM and its iterative variant (BIM) on the packaged classifier.

The weights are frozen and the *pixels* are optimised: each step moves every
pixel by the sign of the loss gradient, and the total change stays inside an
L-infinity ball of radius epsilon. The gradient flows through the same
resize-and-crop the classifier's preprocessing applies, so the attack is made
on the image at its own resolution and survives being saved as 8-bit.

References
----------
.. [1] I. Goodfellow, J. Shlens, C. Szegedy, "Explaining and Harnessing
   Adversarial Examples", ICLR 2015 (FGSM).
.. [2] A. Kurakin, I. Goodfellow, S. Bengio, "Adversarial examples in the
   physical world", ICLR 2017 workshop (the iterative variant, BIM).
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np

from editor.core.context import OpContext, OpError, null_context
from editor.core.image import max_value
from editor.ops.ai import _fullsize, _util
from editor.ops.registry import Label, Range, register_op


def attack(image: np.ndarray, epsilon: float = 2.0, iterations: int = 5,
           target_class: int | None = None, device: Any = None,
           ctx: OpContext | None = None, on_partial=None) -> dict[str, Any]:
    """Run the attack and return the attacked image with everything the UI shows.

    Parameters
    ----------
    image : ndarray
        uint8/uint16 image (alpha ignored here; the op passes it through).
    epsilon : float
        L-infinity radius in units of 1/255 of the full range.
    iterations : int
        1 is FGSM; more steps of size ``2.5 * epsilon / iterations`` stay in the
        same epsilon ball (BIM / projected gradient descent without random start).
    target_class : int or None
        None: push away from the predicted class. An index: pull towards it.
    on_partial : callable, optional
        Receives the attacked image so far (input dtype, as it would be stored)
        between iterations, at least every ~2 s (:class:`_util.PartialClock`); a
        12 MP photo takes about a second per iteration on a CPU.

    Returns
    -------
    dict
        ``image`` (attacked, input dtype and layout), ``before``/``after``
        (top-3 ``(label, index, prob)``), ``psnr`` (dB), ``perturbation``
        (RGB uint8, amplified to the full range), ``changed`` (bool).
    """
    import torch
    import torch.nn.functional as F

    from editor.ops.ai.classify import predict, top_labels
    from editor.ops.ai.efficientnet import model_input, shared_classifier
    from editor.ops.ai.models import run_on_device

    ctx = ctx or null_context()
    if target_class is not None and not 0 <= target_class < 1000:
        raise OpError("target_class must be an ImageNet class 0..999 or auto")
    eps = float(epsilon) / 255.0
    step = eps if iterations == 1 else 2.5 * eps / iterations
    # Everything at the photo's size runs in row strips or between checks: one
    # iteration on a 12 MP photo is about a second of separate passes (resize
    # forward, network, resize backward, step, projection), each followed by a check.
    rgb = _fullsize.rgb_float(image, ctx)

    def work(dev):
        model = shared_classifier(dev)
        x0 = _fullsize.chw_tensor(rgb, dev, ctx)
        with torch.inference_mode():
            # the classifier's own preprocessing of the same float pixels: the same
            # numbers as predict(model, image), without converting the photo again
            before = model(model_input(x0)).softmax(1)[0].float().cpu()
        source = int(before.argmax())
        label = torch.tensor([source if target_class is None else target_class], device=dev)
        sign = 1.0 if target_class is None else -1.0  # ascend away / descend towards
        x = x0.clone()
        clock = _util.PartialClock()
        for k in range(iterations):
            ctx.check()
            x.requires_grad_(True)
            with torch.enable_grad():
                small = model_input(x)
                ctx.check()
                loss = F.cross_entropy(model(small), label)
                grad, = torch.autograd.grad(loss, x)
            ctx.check()
            with torch.no_grad():
                # x + sign * step * sign(grad), then onto the ball: the same arithmetic
                # as the out-of-place form, in place so no 12 MP temporaries are made
                x = x.detach().add_(grad.sign_(), alpha=sign * step)
                del grad
                ctx.check()
                x.sub_(x0).clamp_(-eps, eps).add_(x0).clamp_(0, 1)
            ctx.report((k + 1) / iterations,
                       f"iteration {k + 1}/{iterations}, loss {float(loss.detach()):.3g}")
            if on_partial is not None and k + 1 < iterations and clock.due():
                on_partial(_quantise(image, rgb, _util.to_numpy(x), eps, ctx)[0])
                clock.emitted()
        return before, _util.to_numpy(x)

    before, attacked_rgb = run_on_device(work, ctx, device)
    ctx.check()
    attacked, delta = _quantise(image, rgb, attacked_rgb, eps, ctx)
    del attacked_rgb
    after = predict(shared_classifier(ctx.extras.get("device", "cpu")), attacked,
                    ctx.extras.get("device", "cpu"), ctx)
    amp = max((float(np.abs(delta[rows]).max(initial=0.0))
               for rows in _fullsize.row_slices(*delta.shape[:2], ctx)), default=0.0) or 1.0
    pert = np.empty(image.shape[:2] + (3,), np.uint8)
    for rows in _fullsize.row_slices(*delta.shape[:2], ctx):
        p = np.clip(0.5 + 0.5 * delta[rows] / amp, 0, 1)
        if p.ndim == 2:
            p = np.repeat(p[..., None], 3, axis=2)
        pert[rows] = (p * 255 + 0.5).astype(np.uint8)
    return {
        "image": attacked,
        "before": top_labels(before, 3),
        "after": top_labels(after, 3),
        "changed": int(before.argmax()) != int(after.argmax()),
        "psnr": _psnr(image, attacked, ctx),
        "perturbation": pert,
    }


def _quantise(image: np.ndarray, rgb: np.ndarray, attacked_rgb: np.ndarray, eps: float,
              ctx: OpContext) -> tuple[np.ndarray, np.ndarray]:
    """The attacked image as it will be stored, and the change in levels (row strips).

    The change is rounded to whole levels and kept inside the epsilon ball, so the
    stored image is judged, not the float one.
    """
    top = max_value(image.dtype)
    lim = np.floor(eps * top + 1e-6)
    attacked = image.copy()
    color = attacked if image.ndim == 2 else attacked[..., :3]
    delta = None
    for rows in _fullsize.row_slices(*image.shape[:2], ctx):
        d = np.clip(np.rint((attacked_rgb[rows] - rgb[rows]) * top), -lim, lim)
        if image.ndim == 2:
            d = np.rint(d @ np.asarray([0.2126, 0.7152, 0.0722], np.float32))
            color[rows] = np.clip(image[rows].astype(np.int64) + d, 0, top)
        else:
            color[rows] = np.clip(image[rows, :, :3].astype(np.int64) + d, 0, top)
        if delta is None:
            delta = np.empty(image.shape[:2] + d.shape[2:], d.dtype)
        delta[rows] = d
    return attacked, delta


def _psnr(a: np.ndarray, b: np.ndarray, ctx: OpContext) -> float:
    """:func:`_util.psnr` summed exactly in integers, row strip by row strip."""
    total = 0
    for rows in _fullsize.row_slices(*a.shape[:2], ctx):
        d = a[rows].astype(np.int64) - b[rows].astype(np.int64)
        total += int(np.dot(d.ravel(), d.ravel()))
    if total == 0:
        return float("inf")
    peak = float(max_value(a.dtype))
    return 10 * np.log10(peak * peak / (total / a.size))


@register_op("fgsm", title="Adversarial attack (FGSM)", category="AI", heavy=True, ai=True,
             preview=False)
def fgsm(
    image: np.ndarray, *,
    epsilon: Annotated[float, Range(0.0, 32.0, ui=(0.0, 16.0), unit="/255", step=0.1)] = 2.0,
    iterations: Annotated[int, Range(1, 200, ui=(1, 50))] = 5,
    target_class: Annotated[int | None, Range(0, 999), Label("Target class")] = None,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Fool the classifier with a change too small to see.

    Parameters
    ----------
    epsilon : float
        Largest change of any pixel, in steps of 1/255 of the full range.
    iterations : int
        1 is FGSM; more is the iterative variant inside the same epsilon ball.
    target_class : int or None
        None (auto): any other class; an ImageNet index: that class.

    Returns
    -------
    ndarray
        The attacked image, same size and dtype. ``ctx.extras`` holds
        ``before``/``after`` top-3 predictions, ``psnr`` and ``perturbation``
        (the change amplified to the full range).

    References
    ----------
    .. [1] I. Goodfellow et al., "Explaining and Harnessing Adversarial
       Examples", ICLR 2015.
    """
    ctx = ctx or null_context()
    _util.check_min_size(image, "The adversarial attack")
    result = attack(image, epsilon, iterations, target_class, ctx=ctx,
                    on_partial=ctx.emit_partial)
    for key in ("before", "after", "changed", "psnr", "perturbation"):
        ctx.extras[key] = result[key]
    ctx.report(1.0, f"{result['before'][0][0]} -> {result['after'][0][0]}, "
                    f"PSNR {result['psnr']:.1f} dB")
    return result["image"]
