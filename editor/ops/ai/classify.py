"""Classify an image with the packaged EfficientNet-Lite0 (top-k ImageNet labels).

References
----------
.. [1] M. Tan, Q. Le, "EfficientNet", ICML 2019 (Lite variant, TF model garden).
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np

from editor.core.context import OpContext, null_context
from editor.ops.ai import _util
from editor.ops.registry import Label, Range, register_op


def predict(model, image: np.ndarray, device: Any, ctx: OpContext | None = None) -> Any:
    """Softmax probabilities ``(1000,)`` (a CPU tensor) for one image.

    With ``ctx`` the image is read in strips that honour Cancel.
    """
    import torch

    from editor.ops.ai.efficientnet import preprocess

    x = preprocess(image, device=device, ctx=ctx)
    with torch.inference_mode():
        return model(x).softmax(1)[0].float().cpu()


def top_labels(probs, top: int = 5) -> list[tuple[str, int, float]]:
    """``[(label, class index, probability), ...]`` best first."""
    from editor.ops.ai.efficientnet import IMAGENET_CLASSES

    values, indices = probs.topk(top)
    return [(IMAGENET_CLASSES[int(i)], int(i), float(v))
            for v, i in zip(values, indices, strict=True)]


def classify_image(image: np.ndarray, top: int = 5, device: Any = None,
                   ctx: OpContext | None = None) -> list[tuple[str, int, float]]:
    """Top-``top`` ImageNet classes of ``image`` as ``(label, index, probability)``.

    Examples
    --------
    >>> import numpy as np
    >>> len(classify_image(np.zeros((64, 64, 3), np.uint8), top=3))
    3
    """
    from editor.ops.ai.efficientnet import shared_classifier
    from editor.ops.ai.models import run_on_device

    ctx = ctx or null_context()

    def work(dev):
        return top_labels(predict(shared_classifier(dev), image, dev, ctx), top)

    return run_on_device(work, ctx, device)


@register_op("classify", title="Classify", category="AI", ai=True, preview=False)
def classify(
    image: np.ndarray, *,
    top: Annotated[int, Range(1, 20), Label("Classes shown")] = 5,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Name what the photo shows: the top ImageNet classes with probabilities.

    The image is left unchanged; the classes go to ``ctx.extras["scores"]`` as
    ``[(label, class index, probability), ...]``. The shorter side is resized to
    224 px and the centre square is classified (the network's training view).

    Parameters
    ----------
    top : int
        How many classes to list.

    Returns
    -------
    ndarray
        A copy of the input image.

    References
    ----------
    .. [1] M. Tan, Q. Le, "EfficientNet", ICML 2019.
    """
    ctx = ctx or null_context()
    _util.check_min_size(image, "Classify")
    ctx.report(0.0, "classifying")
    scores = classify_image(image, top, ctx=ctx)
    ctx.extras["scores"] = scores
    ctx.report(1.0, f"{scores[0][0]} ({scores[0][2]:.0%})")
    return image.copy()
