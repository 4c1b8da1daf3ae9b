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
from editor.ops.ai import _util
from editor.ops.registry import Range, register_op


def attack(image: np.ndarray, epsilon: float = 2.0, iterations: int = 5,
           target_class: int | None = None, device: Any = None,
           ctx: OpContext | None = None) -> dict[str, Any]:
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
    rgb = _util.rgb_float(image)

    def work(dev):
        model = shared_classifier(dev)
        before = predict(model, image, dev)
        source = int(before.argmax())
        x0 = _util.to_tensor(rgb, dev)
        label = torch.tensor([source if target_class is None else target_class], device=dev)
        sign = 1.0 if target_class is None else -1.0  # ascend away / descend towards
        x = x0.clone()
        for k in range(iterations):
            x.requires_grad_(True)
            with torch.enable_grad():
                loss = F.cross_entropy(model(model_input(x)), label)
                grad, = torch.autograd.grad(loss, x)
            with torch.no_grad():
                x = x + sign * step * grad.sign()
                x = (x0 + (x - x0).clamp(-eps, eps)).clamp(0, 1)  # project onto the ball
            ctx.report((k + 1) / iterations,
                       f"iteration {k + 1}/{iterations}, loss {float(loss.detach()):.3g}")
        return before, _util.to_numpy(x)

    before, attacked_rgb = run_on_device(work, ctx, device)
    # quantise exactly as the image will be stored, then judge the stored image
    top = max_value(image.dtype)
    delta = np.clip(np.rint((attacked_rgb - rgb) * top), -np.floor(eps * top + 1e-6),
                    np.floor(eps * top + 1e-6))
    attacked = image.copy()
    color = attacked if image.ndim == 2 else attacked[..., :3]
    if image.ndim == 2:
        delta = delta @ np.asarray([0.2126, 0.7152, 0.0722], np.float32)
        delta = np.rint(delta)
        color[...] = np.clip(image.astype(np.int64) + delta, 0, top)
    else:
        color[...] = np.clip(image[..., :3].astype(np.int64) + delta, 0, top)
    after = predict(shared_classifier(ctx.extras.get("device", "cpu")), attacked,
                    ctx.extras.get("device", "cpu"))
    amp = float(np.abs(delta).max()) or 1.0
    pert = np.clip(0.5 + 0.5 * delta / amp, 0, 1)
    if pert.ndim == 2:
        pert = np.repeat(pert[..., None], 3, axis=2)
    return {
        "image": attacked,
        "before": top_labels(before, 3),
        "after": top_labels(after, 3),
        "changed": int(before.argmax()) != int(after.argmax()),
        "psnr": _util.psnr(image, attacked),
        "perturbation": (pert * 255 + 0.5).astype(np.uint8),
    }


@register_op("fgsm", title="Adversarial attack (FGSM)", category="AI", heavy=True, ai=True,
             preview=False)
def fgsm(
    image: np.ndarray, *,
    epsilon: Annotated[float, Range(0.0, 32.0, ui=(0.0, 16.0), unit="/255", step=0.5)] = 2.0,
    iterations: Annotated[int, Range(1, 200, ui=(1, 50))] = 5,
    target_class: Annotated[int | None, Range(0, 999)] = None,
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
    result = attack(image, epsilon, iterations, target_class, ctx=ctx)
    for key in ("before", "after", "changed", "psnr", "perturbation"):
        ctx.extras[key] = result[key]
    ctx.report(1.0, f"{result['before'][0][0]} -> {result['after'][0][0]}, "
                    f"PSNR {result['psnr']:.1f} dB")
    return result["image"]
