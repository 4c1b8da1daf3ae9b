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
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from editor.core.context import OpError
from editor.teach.backbones import SMALL_CNN, backbone_info, build_net
from editor.teach.images import square_input, to_chw_float

META_KEY = "convolve_classifier"
FORMAT_VERSION = 1
MODEL_SUFFIX = ".safetensors"


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
        """Probabilities for an already prepared ``(B, 3, S, S)`` [0, 1] batch."""
        import torch

        from editor.teach.backbones import torch_threads

        device = next(self.net.parameters()).device
        with torch.inference_mode(), torch_threads():
            logits = self.net(torch.from_numpy(np.ascontiguousarray(x)).to(device))
            return logits.softmax(1).float().cpu().numpy()

    # -- files -------------------------------------------------------------
    def trained_state(self) -> dict[str, Any]:
        """The tensors that training changed (what a model file holds)."""
        keep = ("head.",) if not (self.meta.get("fine_tuned") or self.backbone == SMALL_CNN) \
            else ("head.", "top.")
        return {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()
                if k.startswith(keep)}

    def save(self, path: str | Path) -> Path:
        """Write the model file (``.safetensors`` is appended when missing)."""
        from safetensors.torch import save_file

        path = Path(path)
        if path.suffix != MODEL_SUFFIX:
            path = path.with_name(path.name + MODEL_SUFFIX)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = dict(self.meta, format_version=FORMAT_VERSION)
        meta.setdefault("date", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        tmp = path.with_name(path.name + ".tmp")
        save_file(self.trained_state(), str(tmp), metadata={META_KEY: json.dumps(meta)})
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path, device: Any = "cpu") -> TeachModel:
        """Read a model file; :class:`OpError` with one clear sentence if it cannot be used."""
        path = Path(path)
        meta = read_meta(path)
        try:
            n_classes = len(meta["class_names"])
            backbone = str(meta["backbone"])
            hidden = int(meta.get("hidden", 0))
        except (KeyError, TypeError, ValueError):
            raise OpError(f"{path.name} has an incomplete description (class names, "
                          "backbone)") from None
        backbone_info(backbone)  # unknown backbone -> clear OpError
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise OpError(f"{path.name} is damaged ({e})") from None
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
    except (SafetensorError, OSError, ValueError) as e:
        raise OpError(f"{path.name} is not a Convolve model file (.safetensors) or it is "
                      f"damaged ({e})") from None
    if META_KEY not in header:
        raise OpError(f"{path.name} is a safetensors file but not a Convolve classifier")
    try:
        meta = json.loads(header[META_KEY])
    except ValueError:
        raise OpError(f"{path.name} has a damaged description") from None
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise OpError(f"{path.name} was written by a newer Convolve (format "
                      f"{meta.get('format_version')}); update to read it")
    return meta
