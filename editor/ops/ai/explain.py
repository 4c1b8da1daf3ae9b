"""What the network sees: activation maps of a layer, and Grad-CAM heat maps.

References
----------
.. [1] M. Zeiler, R. Fergus, "Visualizing and Understanding Convolutional
   Networks", ECCV 2014.
.. [2] R. Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks
   via Gradient-based Localization", ICCV 2017.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np

from editor.core.context import OpContext, OpError, null_context
from editor.ops.ai import _fullsize, _util
from editor.ops.registry import Label, Range, register_op

NETWORKS = Literal["vgg16", "vgg19", "googlenet", "efficientnet_lite0"]
LAYERS = Literal[
    "relu1_1", "relu1_2", "pool1", "relu2_1", "relu2_2", "pool2",
    "relu3_1", "relu3_2", "relu3_3", "relu3_4", "pool3",
    "relu4_1", "relu4_2", "relu4_3", "relu4_4", "pool4",
    "relu5_1", "relu5_2", "relu5_3", "relu5_4", "pool5",
    "conv1", "conv2", "conv3", "inception3a", "inception3b", "inception4a", "inception4b",
    "inception4c", "inception4d", "inception4e", "inception5a", "inception5b",
    "stem", "block1a", "block2a", "block2b", "block3a", "block3b", "block4a", "block4b",
    "block4c", "block5a", "block5b", "block5c", "block6a", "block6b", "block6c", "block6d",
    "block7a", "head",
]


def activation_maps(image: np.ndarray, network: str = "vgg16", layer: str = "relu3_1",
                    size: int = 224, device: Any = None,
                    ctx: OpContext | None = None) -> np.ndarray:
    """Activations of ``layer`` for ``image`` as float32 ``(C, h, w)``.

    The image is resized so its longer side is ``size`` (aspect kept).
    """
    import torch

    from editor.ops.ai.models import run_on_device
    from editor.ops.ai.vgg import check_layers, feature_net

    ctx = ctx or null_context()
    check_layers(network, [layer])
    rgb = _util.at_working_size(image, size, ctx, "the network view")

    def work(dev):
        net = feature_net(network, dev)
        with torch.inference_mode():
            return net(_util.to_tensor(rgb, dev), [layer], ctx.check)[layer][0].float() \
                .cpu().numpy()

    return run_on_device(work, ctx, device)


def feature_grid(maps: np.ndarray, channels: int = 16) -> tuple[np.ndarray, list[int]]:
    """Grid of the ``channels`` most active maps, each stretched to [0, 1] on its own.

    Returns the grid (float ``(H, W)``) and the channel indices shown, strongest first.
    """
    order = np.argsort(-maps.mean(axis=(1, 2)), kind="stable")[:channels]
    tiles = maps[order]
    lo = tiles.min(axis=(1, 2), keepdims=True)
    hi = tiles.max(axis=(1, 2), keepdims=True)
    tiles = (tiles - lo) / np.maximum(hi - lo, 1e-8)
    # deep layers are a few pixels across: enlarge (nearest, so pixels stay honest)
    factor = max(1, int(np.ceil(96 / max(tiles.shape[1:]))))
    tiles = tiles.repeat(factor, axis=1).repeat(factor, axis=2)
    return _util.grid(tiles), [int(i) for i in order]


@register_op("feature_maps", title="Feature maps", category="AI", alpha="process",
             keeps_shape=False, heavy=True, ai=True, preview=False)
def feature_maps(
    image: np.ndarray, *,
    network: NETWORKS = "vgg16",
    layer: LAYERS = "relu3_1",
    channels: Annotated[int, Range(1, 512, ui=(1, 64)), Label("Maps shown")] = 16,
    size: Annotated[int, Range(32, 1024, ui=(64, 512)), Label("Working size")] = 224,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Show a layer's activation maps as a grid (what the network sees).

    Parameters
    ----------
    network : {"vgg16", "vgg19", "googlenet", "efficientnet_lite0"}
        Feature network; vgg16 and efficientnet_lite0 are packaged, the others
        are optional downloads.
    layer : str
        Layer to show: ``reluB_I``/``poolB`` for VGG, ``inception4c`` etc. for
        GoogLeNet, ``block5c`` etc. for EfficientNet-Lite0.
    channels : int
        How many maps to show (the most active ones, strongest first).
    size : int
        Working size: the image's longer side in pixels before it enters the network.

    Returns
    -------
    ndarray
        A grey grid image of the maps (a new size), in the input's dtype.
        ``ctx.extras["channels"]`` lists the channel indices shown.

    References
    ----------
    .. [1] M. Zeiler, R. Fergus, "Visualizing and Understanding Convolutional
       Networks", ECCV 2014.
    """
    ctx = ctx or null_context()
    _util.check_min_size(image, "Showing feature maps")
    ctx.report(0.0, f"reading {layer}")
    maps = activation_maps(image, network, layer, size, ctx=ctx)
    tiles, shown = feature_grid(maps, channels)
    ctx.extras["channels"] = shown
    ctx.extras["layer_shape"] = tuple(maps.shape)
    ctx.report(1.0, f"{layer}: {maps.shape[0]} maps of {maps.shape[2]}x{maps.shape[1]}")
    return _util.out_dtype(tiles, image)


def grad_cam(feature_map, head, x, out_size: tuple[int, int],
             class_index: int | None = None) -> tuple[np.ndarray, int, float]:
    """Grad-CAM of a network that pools its last feature map globally into a head.

    The one core behind :func:`gradcam_map` (the packaged ImageNet classifier) and
    :func:`editor.teach.explain.gradcam` (the user's own classifier).

    Parameters
    ----------
    feature_map : callable
        ``x -> (1, K, h, w)`` activations of the last convolutional layer.
    head : callable
        ``(1, K)`` globally averaged features -> ``(1, N)`` class logits.
    x : torch.Tensor
        The network input ``(1, 3, H', W')``, already normalised.
    out_size : (int, int)
        ``(height, width)`` the map is enlarged to (bilinear, half-pixel centres).
    class_index : int, optional
        Class to explain; the top class when None.

    Returns
    -------
    cam : ndarray
        float32 ``(height, width)`` in [0, 1]: ``ReLU(sum_k alpha_k A_k)`` with
        ``alpha_k`` the spatially pooled gradients of the class logit, divided
        by its maximum.
    class_index : int
        The class explained.
    probability : float
        Its softmax probability.

    References
    ----------
    .. [1] R. Selvaraju et al., "Grad-CAM", ICCV 2017, eq. 1-2.
    """
    import torch
    import torch.nn.functional as F

    with torch.enable_grad():
        feats = feature_map(x).detach().requires_grad_(True)
        logits = head(feats.mean(dim=(2, 3)))
        probs = logits.detach().softmax(1)[0]
        idx = int(probs.argmax()) if class_index is None else int(class_index)
        grad, = torch.autograd.grad(logits[0, idx], feats)
    weights = grad.mean(dim=(2, 3), keepdim=True)  # alpha_k: spatially pooled gradients
    cam = F.relu((weights * feats.detach()).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=out_size, mode="bilinear", align_corners=False)[0, 0]
    cam = cam / cam.max().clamp_min(1e-12)
    return cam.float().cpu().numpy(), idx, float(probs[idx])


def gradcam_map(image: np.ndarray, class_index: int | None = None, size: int = 224,
                device: Any = None, ctx: OpContext | None = None
                ) -> tuple[np.ndarray, int, float]:
    """Grad-CAM of EfficientNet-Lite0's last convolutional layer for one class.

    The class and its probability are the classifier's own reading of the image,
    the one Classify and FGSM report (:func:`editor.ops.ai.classify.predict`: the
    centre square at 224 px). The heat map is computed on the whole image with
    its shorter side at ``size`` (no crop: the net pools globally, so the map
    covers every pixel, the corners Classify does not see included).

    Returns
    -------
    cam : ndarray
        float32 ``(H, W)`` in [0, 1] at the image's size.
    class_index : int
        The class explained (Classify's top class when ``class_index`` is None).
    probability : float
        Its probability as Classify reports it.
    """
    from editor.ops.ai.classify import predict
    from editor.ops.ai.efficientnet import EFFNET_INPUT, shared_classifier
    from editor.ops.ai.models import run_on_device

    ctx = ctx or null_context()
    rgb = _fullsize.rgb_float(image, ctx)
    h, w = rgb.shape[:2]
    scale = size / min(h, w)
    # cap the long side so a panorama does not blow up the activations
    sw, sh = _util.working_size((round(h * scale), round(w * scale)), 4 * size)
    small = _util.resize_float(rgb, sw, sh)
    del rgb
    ctx.check()

    def work(dev):
        model = shared_classifier(dev)
        probs = predict(model, image, dev, ctx)  # the class as Classify sees it
        idx = int(probs.argmax()) if class_index is None else int(class_index)
        x = (_util.to_tensor(small, dev) - EFFNET_INPUT["mean"][0]) / EFFNET_INPUT["std"][0]
        cam, _, _ = grad_cam(model.feature_map, model._fc, x, (h, w), idx)
        return cam, idx, float(probs[idx])

    return run_on_device(work, ctx, device)


@register_op("gradcam", title="Grad-CAM", category="AI", heavy=True, ai=True, preview=False)
def gradcam(
    image: np.ndarray, *,
    class_index: Annotated[int | None, Range(0, 999), Label("Class")] = None,
    alpha: Annotated[float, Range(0.0, 1.0, step=0.01), Label("Overlay opacity")] = 0.5,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Overlay a Grad-CAM heat map: where the classifier looked for a class.

    Parameters
    ----------
    class_index : int or None
        ImageNet class to explain (0..999); None (auto) explains the class
        Classify puts first.
    alpha : float
        Opacity of the heat map over the photo.

    Returns
    -------
    ndarray
        The photo with the JET-coloured heat map blended in, same size and dtype.
        ``ctx.extras["class"]`` is ``(label, index, probability)``, the
        class explained with its probability as Classify reports it;
        ``ctx.extras["cam"]`` is the heat map in [0, 1].

    References
    ----------
    .. [1] R. Selvaraju et al., "Grad-CAM", ICCV 2017.
    """
    _util.check_min_size(image, "Grad-CAM")
    from editor.ops.ai.efficientnet import IMAGENET_CLASSES

    ctx = ctx or null_context()
    if class_index is not None and not 0 <= class_index < 1000:
        raise OpError("class_index must be an ImageNet class 0..999")
    ctx.report(0.0, "computing Grad-CAM")
    cam, idx, prob = gradcam_map(image, class_index, ctx=ctx)
    ctx.extras["class"] = (IMAGENET_CLASSES[idx], idx, prob)
    ctx.extras["cam"] = cam
    h, w = image.shape[:2]
    out = np.empty((h, w) if image.ndim == 2 else (h, w, 3), image.dtype)
    for rows in _fullsize.row_slices(h, w, ctx):
        blended = (1 - alpha) * _util.rgb_float(image[rows]) + alpha * _util.colormap(cam[rows])
        out[rows] = _util.like_input(blended, image)
    ctx.report(1.0, f"Grad-CAM for {IMAGENET_CLASSES[idx]} ({prob:.0%})")
    return out
