"""Grad-CAM on the user's own classifier: where it looks when it decides.

:mod:`editor.ops.ai.explain` holds the one Grad-CAM core
(:func:`~editor.ops.ai.explain.grad_cam`); the packaged ImageNet network feeds it
there, and this module feeds it any :class:`~editor.teach.model.TeachModel` through
its ``feature_map`` and ``head``.

References
----------
.. [1] R. Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks
   via Gradient-based Localization", ICCV 2017.
"""

from __future__ import annotations

import numpy as np

from editor.core.image import as_rgb, to_uint8


def gradcam(model, image: np.ndarray, class_index: int | None = None,
            max_side: int | None = None) -> tuple[np.ndarray, int, float]:
    """Grad-CAM heat map of ``model`` for one class.

    The whole image is fed with its shorter side at the model's input size (no
    crop: the network pools globally, so the map covers every pixel).

    Parameters
    ----------
    model : TeachModel
    image : ndarray
        RGB or gray, ``uint8``/``uint16``.
    class_index : int, optional
        Class to explain; the predicted class when None.
    max_side : int, optional
        Cap on the longer side fed to the network (default 2 x input size).

    Returns
    -------
    cam : ndarray
        float32 ``(H, W)`` in [0, 1] at the image's size.
    class_index : int
    probability : float
        Softmax probability of that class for the fed image.
    """
    import cv2
    import torch

    from editor.ops.ai.explain import grad_cam

    rgb = as_rgb(to_uint8(image))
    h, w = rgb.shape[:2]
    size = model.size
    scale = size / min(h, w)
    cap = max_side or 2 * size
    scale = min(scale, cap / max(h, w)) if max(h, w) * scale > cap else scale
    sw, sh = max(32, round(w * scale)), max(32, round(h * scale))
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1
                       else cv2.INTER_LINEAR)
    net = model.net
    device = next(net.parameters()).device
    x = torch.from_numpy(small.transpose(2, 0, 1).astype(np.float32) / 255.0)[None].to(device)
    return grad_cam(net.feature_map, net.head, x, (h, w), class_index)


def overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a JET-coloured heat map over ``image``; RGB ``uint8`` out."""
    import cv2

    rgb = as_rgb(to_uint8(image))
    heat = cv2.applyColorMap(np.clip(cam * 255, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(rgb, 1.0 - alpha, heat, alpha, 0.0)
