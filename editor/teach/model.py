"""A trained classifier: predict, save and load safely, export TorchScript and ONNX.

File format (``.safetensors``): the trained tensors only -- the head, plus the
last block when it was fine-tuned, or the whole small CNN -- with the
description in the safetensors header under ``"convolve_classifier"`` as JSON:
class names, backbone, input size and normalisation, training settings,
metrics and date. The frozen EfficientNet part comes from the installed
package, so a model file is a few kB. Reading it never unpickles anything.

Exports take RGB in ``[0, 1]``, shape ``(B, 3, S, S)`` (centre-cropped square,
resized to S), and return class *probabilities*; the normalisation is inside.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from editor.core.context import OpError
from editor.teach.backbones import BACKBONES, SMALL_CNN, backbone_info, build_net
from editor.teach.images import square_input, to_chw_float

META_KEY = "convolve_classifier"
FORMAT_VERSION = 1
MODEL_SUFFIX = ".safetensors"

#: Bounds on a model file's description, checked before anything is allocated:
#: a few hundred bytes of JSON must not be able to ask for gigabytes.
MAX_CLASSES = 1000
MAX_CLASS_NAME = 200
MAX_HIDDEN = 4096
MAX_META_BYTES = 1_000_000


class TeachModel:
    """A classifier network with its class names and description.

    Parameters
    ----------
    net : torch.nn.Module
        From :func:`editor.teach.backbones.build_net`, trained.
    meta : dict
        At least ``class_names``, ``backbone``, ``hidden``, ``fine_tuned``.
    """

    def __init__(self, net, meta: dict[str, Any]) -> None:
        self.net = net.eval()
        self.meta = meta
        info = backbone_info(meta["backbone"])
        self.meta.setdefault("input", {"size": info.size, "mean": list(info.mean),
                                       "std": list(info.std), "range": "RGB 0..1",
                                       "layout": "NCHW", "crop": "centre square"})

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["class_names"])

    @property
    def size(self) -> int:
        return int(self.meta["input"]["size"])

    @property
    def backbone(self) -> str:
        return str(self.meta["backbone"])

    # -- prediction ------------------------------------------------------
    def input_batch(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """RGB images of any size -> ``(B, 3, S, S)`` float32 in [0, 1]."""
        return to_chw_float([square_input(im, self.size) for im in images])

    def predict_batch(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Class probabilities ``(B, C)`` for RGB (or gray) ``uint8``/``uint16`` images."""
        return self.predict_input(self.input_batch(images))

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Class probabilities ``(C,)`` of one image."""
        return self.predict_batch([image])[0]

    def predict_input(self, x: np.ndarray) -> np.ndarray:
        """Probabilities for an already prepared ``(B, 3, S, S)`` [0, 1] batch.

        Runs where :meth:`run_device` says (CUDA in half precision when there is
        one, else the CPU in float32).
        """
        import torch

        from editor.ops.ai.models import autocast, memory_format
        from editor.teach.backbones import torch_threads

        device = self.run_device()
        with torch.inference_mode(), torch_threads(), autocast(device):
            t = torch.from_numpy(np.ascontiguousarray(x)).to(device)
            if device.type == "cuda":
                t = t.contiguous(memory_format=memory_format(device))
            logits = self.net(t)
            return logits.float().softmax(1).cpu().numpy()

    def run_device(self):
        """The device predictions run on: :func:`~editor.teach.backbones.teach_device`,
        chosen once per model; the network moves there on first use (channels-last
        on CUDA). Saving and exporting read the weights back to the CPU."""
        if getattr(self, "_device", None) is None:
            import torch

            from editor.ops.ai.models import memory_format, prepare_device
            from editor.teach.backbones import teach_device

            device = torch.device(teach_device())
            if next(self.net.parameters()).device != device:
                self.net.to(device)
                if device.type == "cuda":
                    prepare_device(device)
                    self.net.to(memory_format=memory_format(device))
            self._device = device
        return self._device

    # -- files -------------------------------------------------------------
    def trained_state(self) -> dict[str, Any]:
        """The tensors that training changed (what a model file holds)."""
        keep = ("head.",) if not (self.meta.get("fine_tuned") or self.backbone == SMALL_CNN) \
            else ("head.", "top.")
        return {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()
                if k.startswith(keep)}

    def save(self, path: str | Path) -> Path:
        """Write the model file (``.safetensors`` is appended when missing)."""
        from safetensors.torch import save

        from editor.core.atomic import atomic_write_bytes

        path = Path(path)
        if path.suffix != MODEL_SUFFIX:
            path = path.with_name(path.name + MODEL_SUFFIX)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = dict(self.meta, format_version=FORMAT_VERSION)
        meta.setdefault("date", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        # in memory first (a head is small), then one atomic write: a kill leaves the
        # old model or the new one, and its part file is cleaned like an export's
        atomic_write_bytes(path, save(self.trained_state(), metadata={META_KEY: json.dumps(meta)}))
        return path

    @classmethod
    def load(cls, path: str | Path, device: Any = "cpu") -> TeachModel:
        """Read a model file; :class:`OpError` with one clear sentence if it cannot be used.

        The description is bounded (:func:`check_meta`) and the tensor shapes
        in the safetensors header are compared with it before any network is
        built or any tensor read, so a hostile file is refused at no cost.
        """
        path = Path(path)
        meta = read_meta(path)
        check_meta(meta, path.name)
        n_classes = len(meta["class_names"])
        backbone = str(meta["backbone"])
        hidden = int(meta.get("hidden", 0))
        check_tensor_shapes(path, meta)
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError):
            raise OpError(f"{path.name} is damaged: its tensors cannot be read") from None
        net = build_net(backbone, n_classes, hidden)
        own = net.state_dict()
        bad = [k for k, v in tensors.items() if k not in own or own[k].shape != v.shape]
        expected = {k for k in own if k.startswith("head.")}
        missing = expected - set(tensors)
        if bad or missing:
            raise OpError(f"{path.name} does not fit the {backbone} backbone "
                          f"({len(bad)} mismatched, {len(missing)} missing tensors); "
                          "was it made by another version or network?")
        net.load_state_dict(tensors, strict=False)
        return cls(net.to(device).eval(), meta)

    # -- exports -------------------------------------------------------------
    def _prob_net(self):
        import torch
        from torch import nn

        class Probabilities(nn.Module):
            def __init__(self, net):
                super().__init__()
                self.net = net

            def forward(self, x):
                return torch.softmax(self.net(x), dim=1)

        self._device = None  # .cpu() below moves the network: the next prediction moves it back
        return Probabilities(self.net).eval().cpu()

    def export_torchscript(self, path: str | Path) -> Path:
        """TorchScript file (traced); class names in its extra file ``convolve.json``."""
        import torch

        path = Path(path)
        example = torch.rand(1, 3, self.size, self.size)
        with torch.no_grad(), warnings.catch_warnings():
            # tracing bakes the fixed input size into the "same" padding: intended here
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(self._prob_net(), example, check_trace=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.jit.save(traced, str(path),
                           _extra_files={"convolve.json": json.dumps(self.meta)})
        return path

    def export_onnx(self, path: str | Path, opset: int = 17) -> Path:
        """ONNX file with a dynamic batch axis; class names in its metadata_props."""
        import onnx
        import torch

        path = Path(path)
        example = torch.rand(1, 3, self.size, self.size)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(self._prob_net(), (example,), str(path), dynamo=False,
                              input_names=["image"], output_names=["probabilities"],
                              dynamic_axes={"image": {0: "batch"},
                                            "probabilities": {0: "batch"}},
                              opset_version=opset)
        proto = onnx.load(str(path))
        entry = proto.metadata_props.add()
        entry.key, entry.value = "convolve_classifier", json.dumps(self.meta)
        onnx.save(proto, str(path))
        return path


def read_meta(path: str | Path) -> dict[str, Any]:
    """The JSON description in a model file's header; :class:`OpError` if it has none."""
    path = Path(path)
    if not path.is_file():
        raise OpError(f"no model file at {path}")
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError):
        raise OpError(f"{path.name} is not a Convolve model file (.safetensors) or it is "
                      "damaged") from None
    if META_KEY not in header:
        raise OpError(f"{path.name} is a safetensors file but not a Convolve classifier")
    text = header[META_KEY]
    if len(text) > MAX_META_BYTES:
        raise OpError(f"{path.name} has a description of {len(text):,} bytes, more than a "
                      f"classifier's ({MAX_META_BYTES:,} at most)")
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError):
        raise OpError(f"{path.name} has a damaged description") from None
    if not isinstance(meta, dict):
        raise OpError(f"{path.name} has a damaged description")
    version = meta.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise OpError(f"{path.name} has a damaged description (format version {version!r})")
    if version > FORMAT_VERSION:
        raise OpError(f"{path.name} was written by a newer Convolve (format "
                      f"{version}); update to read it")
    return meta


def check_meta(meta: dict[str, Any], name: str) -> None:
    """Refuse a model description whose fields are missing, mistyped or out of bounds.

    Every field that sizes an allocation (class count, hidden units, input
    size) is bounded here, before a network is built from it.

    Raises
    ------
    OpError
        One sentence naming the file and the field.
    """
    def bad(what: str) -> OpError:
        return OpError(f"{name} is not a usable classifier: {what}")

    names = meta.get("class_names")
    if not isinstance(names, list) or not names:
        raise bad("its description has no list of class names")
    if len(names) > MAX_CLASSES:
        raise bad(f"it lists {len(names):,} classes, more than {MAX_CLASSES}")
    if not all(isinstance(n, str) and 0 < len(n) <= MAX_CLASS_NAME for n in names):
        raise bad(f"its class names must be text of 1 to {MAX_CLASS_NAME} characters")
    backbone = meta.get("backbone")
    if not isinstance(backbone, str):
        raise bad("its description names no backbone")
    try:
        info = backbone_info(backbone)
    except OpError:
        raise bad(f"unknown backbone {backbone!r} (this Convolve knows "
                  f"{', '.join(BACKBONES)})") from None
    hidden = meta.get("hidden", 0)
    if not _is_int(hidden) or not 0 <= hidden <= MAX_HIDDEN:
        raise bad(f"its hidden layer size {hidden!r} is not a whole number from 0 to "
                  f"{MAX_HIDDEN}")
    if not isinstance(meta.get("fine_tuned", False), bool):
        raise bad("its fine_tuned field is not true or false")
    spec = meta.get("input")
    if spec is None:
        return
    if not isinstance(spec, dict):
        raise bad("its input description is not a table")
    size = spec.get("size", info.size)
    if not _is_int(size) or size != info.size:
        raise bad(f"its input size {size!r} does not fit the {backbone} backbone, which "
                  f"takes {info.size} px")
    for key in ("mean", "std"):
        values = spec.get(key, [0.5] * 3)
        if (not isinstance(values, list) or len(values) != 3
                or not all(_is_number(v) and math.isfinite(v) for v in values)
                or (key == "std" and not all(v > 0 for v in values))):
            raise bad(f"its input {key} is not three finite numbers"
                      + (" above 0" if key == "std" else ""))


def check_tensor_shapes(path: str | Path, meta: dict[str, Any]) -> None:
    """Compare the head tensor shapes in the safetensors header with the description.

    Reads the header only (no tensor data), so a file whose tensors do not
    match its own description is refused before anything is allocated.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    info = backbone_info(meta["backbone"])
    n, hidden, d = len(meta["class_names"]), int(meta.get("hidden", 0)), info.feature_dim
    expected = ({"head.1.weight": (n, d), "head.1.bias": (n,)} if hidden == 0 else
                {"head.1.weight": (hidden, d), "head.1.bias": (hidden,),
                 "head.4.weight": (n, hidden), "head.4.bias": (n,)})
    try:
        with safe_open(str(path), framework="pt") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError):
        raise OpError(f"{path.name} is damaged: its tensor table cannot be read") from None
    for key, shape in expected.items():
        if shapes.get(key) != shape:
            found = "missing" if key not in shapes else f"of shape {list(shapes[key])}"
            raise OpError(f"{path.name} does not match its own description: tensor {key} is "
                          f"{found}, expected {list(shape)} for {n} classes and "
                          f"{hidden} hidden units")
    stray = [k for k in shapes if not k.startswith(("head.", "top."))]
    if stray:
        raise OpError(f"{path.name} holds tensors a classifier does not have "
                      f"({', '.join(sorted(stray)[:3])})")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
