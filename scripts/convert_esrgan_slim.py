"""Convert npm ``@upscalerjs/esrgan-slim@1.0.0`` (TF.js layers) to PyTorch safetensors.

Usage::

    python scripts/convert_esrgan_slim.py [PACKAGE.tgz | PACKAGE_DIR]

Without an argument it runs ``npm pack @upscalerjs/esrgan-slim@1.0.0`` in a
temporary folder (install npm with ``apt-get install npm`` when missing).
Writes ``resources/models/esrgan-slim/esrgan-slim-x{2,3,4,8}.safetensors``
(float16: the four models fit the 5 MB of packaged weights beside RDN
PSNR-small; the editor computes in float32), the package's ``LICENSE`` and
``PROVENANCE.json`` (source, licence, SHA-256 of every input and output file,
and the verification figures).

Verification: each model.json's layer graph is *interpreted* here in NumPy
(Conv2D "same"/"valid" as explicit correlations over HWIO kernels in NHWC,
Activation, Concatenate, Add, UpSampling2D nearest) straight from the TF.js
topology and weights, independently of the hand-written PyTorch module in
``editor/ops/ai/_rdn.py``; both run on a 24x20 crop of a real photo and the
largest absolute difference (on the 0-255 output scale) is printed and
recorded, for the float32 conversion (refused above 1e-2) and for the network
as stored (float16 weights).

Second check, against the real runtime: the package ships ``assets/fixture.png``
(128x128) and ``assets/samples/{2,3,4}x/result.png``, the outputs UpscalerJS
itself produced with TF.js. The stored networks run on the fixture and the
8-bit results are compared with those files (differences in levels recorded).

The helpers here serve ``scripts/convert_rdn_psnr.py`` too.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PACKAGE = "@upscalerjs/esrgan-slim@1.0.0"
TOLERANCE = 1e-2


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(arg: str | None, work: Path, package: str) -> tuple[Path, Path | None]:
    """The unpacked package folder, and the tarball if there is one."""
    if arg and Path(arg).is_dir():
        return Path(arg), None
    if arg:
        tgz = Path(arg)
    else:
        if shutil.which("npm") is None:
            sys.exit("npm is needed: apt-get install npm (or pass the package .tgz)")
        subprocess.run(["npm", "pack", package, "--silent"], cwd=work, check=True,
                       stdout=subprocess.DEVNULL)
        tgz = next(work.glob("*.tgz"))
    with tarfile.open(tgz) as tar:
        tar.extractall(work / "unpacked", filter="data")
    return work / "unpacked" / "package", tgz


def read_weights(model_dir: Path) -> tuple[dict, dict[str, np.ndarray], dict[str, tuple]]:
    """model.json, its weights by Keras name (``F_0/kernel`` ...) as float32 HWIO, and the
    uint8-quantized ones as ``(codes, scale, min)``.

    A quantized weight is decoded as TF.js's ``decodeWeights`` does it:
    ``code * scale + min`` in double precision (JavaScript numbers), stored into
    a ``Float32Array`` (one rounding to float32).
    """
    spec = json.loads((model_dir / "model.json").read_text())
    tensors: dict[str, np.ndarray] = {}
    quantized: dict[str, tuple] = {}
    for group in spec["weightsManifest"]:
        blob = b"".join((model_dir / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            n = int(np.prod(w["shape"]))
            q = w.get("quantization")
            if w["dtype"] != "float32" or (q and q["dtype"] != "uint8"):
                raise SystemExit(f"unexpected weight encoding: {w}")
            if q:
                codes = np.frombuffer(blob, np.uint8, n, offset).reshape(w["shape"])
                quantized[w["name"]] = (codes, float(q["scale"]), float(q["min"]))
                value = (codes.astype(np.float64) * q["scale"] + q["min"]).astype(np.float32)
                offset += n
            else:
                value = np.frombuffer(blob, "<f4", n, offset).reshape(w["shape"])
                offset += 4 * n
            tensors[w["name"]] = value
        if offset != len(blob):
            raise SystemExit(f"{model_dir}: {len(blob) - offset} bytes left over")
    return spec, tensors, quantized


# -- an independent NumPy interpreter of the Keras graph ---------------------------

def np_conv(x: np.ndarray, k: np.ndarray, b: np.ndarray, padding: str) -> np.ndarray:
    """Keras Conv2D, stride 1, NHWC: ``y[h, w, o] = sum k[i, j, c, o] x[h+i-p, w+j-p, c] + b``."""
    kh, kw = k.shape[:2]
    if padding == "same":
        x = np.pad(x, ((0, 0), (kh // 2, (kh - 1) // 2), (kw // 2, (kw - 1) // 2), (0, 0)))
    n, h, w, _ = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    y = np.zeros((n, oh, ow, k.shape[3]), np.float64)
    for i in range(kh):
        for j in range(kw):
            y += np.einsum("nhwc,co->nhwo", x[:, i:i + oh, j:j + ow], k[i, j].astype(np.float64))
    return y + b


def run_keras_graph(spec: dict, tensors: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Evaluate the functional model's layers in order, as TF.js would.

    ``spec`` is model.json (or any dict with its ``modelTopology``); ``x`` is NHWC.
    """
    config = spec["modelTopology"]["model_config"]["config"]
    values: dict[str, np.ndarray] = {}
    for layer in config["layers"]:
        cls, name, cfg = layer["class_name"], layer["name"], layer["config"]
        ins = [values[node[0]] for node in layer["inbound_nodes"][0]] \
            if layer["inbound_nodes"] else []
        if cls == "InputLayer":
            out = x.astype(np.float64)
        elif cls == "Conv2D":
            assert cfg["strides"] == [1, 1] and cfg["dilation_rate"] == [1, 1]
            out = np_conv(ins[0], tensors[f"{name}/kernel"], tensors[f"{name}/bias"],
                          cfg["padding"])
            assert cfg["activation"] == "linear"
        elif cls == "Activation":
            assert cfg["activation"] == "relu"
            out = np.maximum(ins[0], 0)
        elif cls == "Concatenate":
            out = np.concatenate(ins, axis=cfg["axis"])
        elif cls == "Add":
            out = sum(ins)
        elif cls == "UpSampling2D":
            assert cfg["interpolation"] == "nearest"
            sy, sx = cfg["size"]
            out = ins[0].repeat(sy, axis=1).repeat(sx, axis=2)
        else:
            raise SystemExit(f"layer {cls} not handled")
        values[name] = out
    return values[config["output_layers"][0][0]]


def test_input() -> np.ndarray:
    """A 24x20 crop of a real photo (scikit-image's astronaut), NHWC RGB floats 0-255."""
    try:
        from skimage import data

        img = data.astronaut()[180:200, 200:224]
    except ImportError:  # pragma: no cover - a deterministic stand-in
        img = np.random.default_rng(0).integers(0, 256, (20, 24, 3))
    return img.astype(np.float32)[None]


def compare_with_sample(net, fixture: Path, sample: Path, white: float = 255.0) -> dict | None:
    """The net on the package's fixture vs the package's TF.js result (8 bit).

    ``white``: the input value UpscalerJS gave white (its ``inputRange``).
    """
    import torch
    from PIL import Image

    if not (fixture.is_file() and sample.is_file()):
        return None
    rgb = np.asarray(Image.open(fixture).convert("RGB"), np.float32) * (white / 255.0)
    ref = np.asarray(Image.open(sample).convert("RGB"), np.int64)
    with torch.no_grad():
        out = net(torch.from_numpy(rgb.transpose(2, 0, 1).copy())[None])[0]
    ours = np.clip(np.rint(out.permute(1, 2, 0).numpy() * (255.0 / white)), 0, 255)
    diff = np.abs(ours.astype(np.int64) - ref)
    return {"max_levels": int(diff.max()), "identical_fraction": float(np.mean(diff == 0)),
            "mean_abs_levels": float(diff.mean())}


def torch_state(model, scale: int, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keras weights as a PyTorch state: ``NAME.weight`` OIHW (HWIO transposed 3,2,0,1)."""
    state = {}
    for name, *_ in model.layer_table(scale):
        state[f"{name}.weight"] = np.ascontiguousarray(tensors[f"{name}/kernel"]
                                                       .transpose(3, 2, 0, 1))
        state[f"{name}.bias"] = tensors[f"{name}/bias"]
    return state


def net_from_file(model, scale: int, path: Path):
    """The network exactly as the editor loads it (dequantized, eval), without folding."""
    from safetensors.torch import load_file

    from editor.ops.ai import _rdn

    net = _rdn.build(model, scale)
    net.load_state_dict(_rdn.dequantize(load_file(str(path))))
    return net.eval()


def graph_diff(net, spec: dict, tensors: dict[str, np.ndarray], x: np.ndarray,
               white: float) -> float:
    """Largest |PyTorch - NumPy graph| on ``x`` (NHWC, 0-255), on the 0-255 scale."""
    import torch

    x = x * (white / 255.0)
    with torch.no_grad():
        ours = net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    ref = run_keras_graph(spec, tensors, x).transpose(0, 3, 1, 2)
    return float(np.abs(ours - ref).max()) * (255.0 / white)


def convert(model, scale: int, model_dir: Path, target: Path, pkg: Path, sample: Path,
            encode: Callable[[dict, dict], dict], source: str) -> dict:
    """Convert, store, verify one network; its PROVENANCE record.

    ``encode(state, quantized)`` turns the float32 OIHW state (and the package's
    uint8 codes) into the tensors to store.
    """
    import torch
    from safetensors.numpy import save_file

    from editor.ops.ai import _rdn

    spec, tensors, quantized = read_weights(model_dir)
    state = torch_state(model, scale, tensors)
    net = _rdn.build(model, scale)
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    x = test_input()
    diff = graph_diff(net.eval(), spec, tensors, x, model.white)
    print(f"x{scale}: max |PyTorch - NumPy graph| = {diff:.2e} (float32 conversion, on 0-255)")
    if diff > TOLERANCE:
        raise SystemExit(f"x{scale}: conversion differs by {diff} > {TOLERANCE}")
    # one metadata key: safetensors writes several in a varying order, and the
    # file's SHA-256 should not change from one run of this script to the next
    save_file(encode(state, quantized), str(target), metadata={"source": source})
    target.chmod(0o644)  # safetensors creates it private; it is a committed resource
    stored = net_from_file(model, scale, target)
    diff_stored = graph_diff(stored, spec, tensors, x, model.white)
    print(f"x{scale}: as stored ({target.name}): max |PyTorch - NumPy graph| = "
          f"{diff_stored:.2e}")
    # UpscalerJS feeds every RDN RGB in [0, 255] (its inputRange), whatever ``model.white``
    vs_runtime = compare_with_sample(stored, pkg / "assets" / "fixture.png", sample)
    if vs_runtime:
        print(f"x{scale}: vs UpscalerJS's own sample output: max {vs_runtime['max_levels']} "
              f"level(s), {vs_runtime['identical_fraction']:.4%} of values identical")
    return {
        "vs_upscalerjs_sample": vs_runtime,
        "file": target.name,
        "sha256": sha256(target),
        "source_model_json_sha256": sha256(model_dir / "model.json"),
        "source_weights_sha256": sha256(model_dir / "group1-shard1of1.bin"),
        "max_abs_diff_vs_numpy_graph": diff,
        "max_abs_diff_vs_numpy_graph_as_stored": diff_stored,
    }


def provenance_head(meta: dict, tgz: Path | None, script: str, fmt: str) -> dict:
    """The package part of PROVENANCE.json."""
    return {
        "package": f"npm {meta['name']}@{meta['version']}",
        "licence": meta["license"],
        "author": meta.get("author"),
        "repository": meta.get("repository", {}).get("url"),
        "converted_by": script,
        "format": fmt,
        "package_tgz_sha256": sha256(tgz) if tgz else None,
        "models": {},
    }


def start(model, package: str, script: str, fmt: str) -> tuple[Path, Path, dict, dict]:
    """Fetch and unpack the package (the command line's argument, else npm) and make the
    output folder: ``(work folder, package folder, package.json, PROVENANCE head)``."""
    work = Path(tempfile.mkdtemp(prefix=f"{model.name}-"))
    pkg, tgz = fetch(sys.argv[1] if len(sys.argv) > 1 else None, work, package)
    meta = json.loads((pkg / "package.json").read_text())
    model.weights_dir().mkdir(parents=True, exist_ok=True)
    return work, pkg, meta, provenance_head(meta, tgz, script, fmt)


def finish(out: Path, pkg: Path, provenance: dict, work: Path) -> None:
    """Copy the licence, write PROVENANCE.json, report the size, clean up."""
    shutil.copy(pkg / "LICENSE", out / "LICENSE")
    (out / "PROVENANCE.json").write_text(json.dumps(provenance, indent=1) + "\n")
    total = sum(p.stat().st_size for p in out.iterdir())
    every = sum(p.stat().st_size for p in out.parent.rglob("*.safetensors"))
    print(f"wrote {out} ({total / 1e6:.2f} MB); all packaged weights: {every / 1e6:.2f} MB")
    shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    from editor.ops.ai import _rdn

    model = _rdn.ESRGAN_SLIM
    work, pkg, meta, provenance = start(
        model, PACKAGE, "scripts/convert_esrgan_slim.py",
        "safetensors, float16 (the editor computes in float32), PyTorch Conv2d OIHW "
        "(Keras HWIO transposed 3,2,0,1); input and output RGB floats in [0, 255]")

    def encode(state, _quantized):
        return {k: v.astype(np.float16) for k, v in state.items()}

    for s in model.scales:
        provenance["models"][f"x{s}"] = convert(
            model, s, pkg / "models" / f"x{s}", model.weights_file(s), pkg,
            pkg / "assets" / "samples" / f"{s}x" / "result.png", encode,
            f"{meta['name']}@{meta['version']} models/x{s} (scale {s})")
    finish(model.weights_dir(), pkg, provenance, work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
