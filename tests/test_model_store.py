"""The model store: built-in rows, adding / refusing / removing user models, safe loading.

Models are built in the test with random weights from spandrel's own architecture
classes (ESRGAN's RRDBNet, Real-ESRGAN Compact, SwinIR, DnCNN), saved as ``.pth``
and ``.safetensors`` in a temporary folder: no downloads. The registry lives in
``$CONVOLVE_MODELS_DIR`` (a temporary folder here).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import pytest
import torch

from editor.core.context import OpError
from editor.ops.ai import model_store as ms

spandrel = pytest.importorskip("spandrel")


@pytest.fixture(autouse=True)
def store_folder(tmp_path, monkeypatch):
    folder = tmp_path / "store"
    monkeypatch.setenv("CONVOLVE_MODELS_DIR", str(folder))
    return folder


def make_model(kind: str):
    """A small random-weight network of a spandrel architecture (seeded)."""
    torch.manual_seed(0)
    if kind == "esrgan":
        from spandrel.architectures.ESRGAN import ESRGAN

        return ESRGAN(num_filters=16, num_blocks=1, scale=2)
    if kind == "compact":
        from spandrel.architectures.Compact import Compact

        return Compact(num_feat=16, num_conv=2, upscale=4)
    if kind == "compact1":
        from spandrel.architectures.Compact import Compact

        return Compact(num_feat=16, num_conv=2, upscale=1)
    if kind == "swinir":
        from spandrel.architectures.SwinIR import SwinIR

        return SwinIR(img_size=32, embed_dim=12, depths=[1], num_heads=[2], window_size=4,
                      upscale=2, upsampler="pixelshuffledirect", mlp_ratio=2.0)
    raise ValueError(kind)


def save_model(model, path):
    """Save a state_dict as .pth (torch's zip pickle) or .safetensors."""
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if str(path).endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


class _Payload:
    """Pickles into a call that would create ``marker`` if anything ran it."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_builtins_listed_with_source_licence_hash():
    rows = {e.name: e for e in ms.list_models()}
    for s in (2, 3, 4, 8):
        e = rows[f"esrgan-slim-x{s}"]
        assert e.builtin and e.kind == "upscale" and e.scale == s and e.ready
        assert e.licence == "MIT" and "esrgan-slim@1.0.0" in e.source
        assert len(e.sha256) == 64 and e.size > 400_000  # float16
    best = rows["rdn-psnr-x2"]
    assert best.builtin and best.kind == "upscale" and best.scale == 2 and best.ready
    assert "Apache-2.0" in best.licence and "esrgan-legacy@1.0.0" in best.source
    assert "best quality" in best.purpose and best.extra["install"].endswith("convert_rdn_psnr.py")
    assert rows["efficientnet_lite0"].kind == "classify"
    assert all(e.builtin for e in rows.values())  # nothing added yet


def test_builtin_hash_is_the_recorded_provenance():
    from editor.ops.ai import _rdn

    for model in _rdn.MODELS.values():
        prov = json.loads((model.weights_dir() / "PROVENANCE.json").read_text())
        for s in model.scales:
            entry = ms.get(f"{model.name}-x{s}")
            assert entry.sha256 == prov["models"][f"x{s}"]["sha256"]
            assert entry.sha256 == ms.sha256_file(entry.path)


@pytest.mark.parametrize("arch,suffix,name,scale,kind", [
    ("esrgan", ".pth", "ESRGAN", 2, "upscale"),
    ("compact", ".safetensors", "RealESRGAN Compact", 4, "upscale"),
    ("swinir", ".pth", "SwinIR", 2, "upscale"),
    ("compact1", ".pth", "RealESRGAN Compact", 1, "restore"),
])
def test_add_detects_architecture_scale_purpose(tmp_path, store_folder, arch, suffix, name,
                                                 scale, kind):
    path = save_model(make_model(arch), tmp_path / f"my {arch}{suffix}")
    entry = ms.add(path)
    assert (entry.architecture, entry.scale, entry.kind) == (name, scale, kind)
    assert entry.name == f"my-{arch}" and not entry.builtin and entry.ready
    assert entry.sha256 == ms.sha256_file(path) and entry.size == path.stat().st_size
    # recorded in the JSON registry, and listed after the built-ins
    data = json.loads((store_folder / "models.json").read_text())
    assert data["models"][entry.name]["sha256"] == entry.sha256
    names = [e.name for e in ms.list_models()]
    assert names[-1] == entry.name and names.index("esrgan-slim-x2") < names.index(entry.name)
    assert ms.get(entry.name).path == str(path.resolve())


def test_add_twice_same_name_refused(tmp_path):
    path = save_model(make_model("compact"), tmp_path / "c.pth")
    ms.add(path)
    with pytest.raises(OpError, match="already exists"):
        ms.add(path)
    assert ms.add(path, name="other").name == "other"


def test_remove_forgets_but_keeps_file(tmp_path):
    path = save_model(make_model("compact"), tmp_path / "c.pth")
    ms.add(path)
    ms.remove("c")
    assert "c" not in [e.name for e in ms.list_models()] and path.exists()
    with pytest.raises(ms.ModelNotFound):
        ms.get("c")
    with pytest.raises(OpError, match="built in"):
        ms.remove("esrgan-slim-x2")


def test_changed_file_is_not_ready(tmp_path):
    path = save_model(make_model("compact"), tmp_path / "c.pth")
    ms.add(path)
    with open(path, "ab") as f:
        f.write(b"0")
    assert not ms.get("c").ready
    path.unlink()
    assert not ms.get("c").ready


@pytest.mark.parametrize("how", ["torch.save", "pickle"])
def test_pickle_with_code_refused_without_running_it(tmp_path, how):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pth"
    payload = {"conv.weight": torch.zeros(3, 3, 3, 3), "x": _Payload(marker)}
    if how == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    with pytest.raises(ms.ModelRefused) as e:
        ms.add(path)
    msg = str(e.value)
    assert "contains code" in msg and "\n" not in msg and msg.endswith(".")
    assert not marker.exists()
    assert [e.name for e in ms.list_models() if not e.builtin] == []


def test_not_a_model_refused_in_one_sentence(tmp_path):
    cases = {"notes.pth": b"just some text, not weights",
             "photo.safetensors": b"\x89PNG\r\n\x1a\n" + bytes(100),
             "readme.txt": b"hello"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ms.ModelRefused) as e:
            ms.add(tmp_path / name)
        assert "\n" not in str(e.value) and name in str(e.value)
    # a real tensor file of no known architecture
    torch.save({"foo.weight": torch.zeros(4, 4)}, tmp_path / "unknown.pth")
    with pytest.raises(ms.ModelRefused, match="no architecture"):
        ms.add(tmp_path / "unknown.pth")
    with pytest.raises(ms.ModelRefused, match="does not exist"):
        ms.add(tmp_path / "missing.pth")


def test_detector_registry_lets_other_kinds_plug_in(tmp_path):
    folder = tmp_path / "my-diffusion"
    folder.mkdir()
    (folder / "model_index.json").write_text("{}")

    def detect(path):
        if path.is_dir() and (path / "model_index.json").exists():
            return ms.ModelEntry(name="", kind="diffusion", path=str(path),
                                 architecture="test pipeline")
        return None

    ms.register_detector(detect)
    try:
        entry = ms.add(folder)
    finally:
        ms._DETECTORS.remove(detect)
    assert entry.kind == "diffusion" and entry.name == "my-diffusion"
    assert entry.sha256 == ms.sha256_path(folder) and entry.size == 2


def test_load_state_dict_safetensors_and_pth_agree(tmp_path):
    model = make_model("esrgan")
    a = ms.load_state_dict(save_model(model, tmp_path / "m.safetensors"))
    b = ms.load_state_dict(save_model(model, tmp_path / "m.pth"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_wrapped_state_dict_params_ema(tmp_path):
    torch.save({"params_ema": make_model("compact").state_dict()}, tmp_path / "w.pth")
    assert ms.add(tmp_path / "w.pth").architecture == "RealESRGAN Compact"


def test_store_import_is_light():
    """Importing the store (and listing) does not import torch, spandrel or onnxruntime."""
    code = ("import sys; from editor.ops.ai import model_store as m; m.list_models(); "
            "print(sorted(k for k in ('torch', 'spandrel', 'onnxruntime') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ})
    assert out.stdout.strip() == "[]"


# -- the command line -------------------------------------------------------------------

def test_cli_add_list_use_remove(tmp_path, capsys):
    from conftest import photo_path
    from PIL import Image

    from editor.cli import main

    path = save_model(make_model("compact"), tmp_path / "tiny x4.safetensors")
    assert main(["models", "--add", str(path), "--name", "tiny4"]) == 0
    out = capsys.readouterr().out
    assert "added tiny4: super-resolution x4" in out and "--op upscale model=tiny4" in out
    assert ms.sha256_file(path) in out

    assert main(["models", "--json", "--no-hash"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["tiny4"]["status"] == "ready" and rows["tiny4"]["architecture"] \
        == "RealESRGAN Compact"
    assert rows["esrgan-slim-x2"]["sha256"] is None  # --no-hash
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    assert "tiny4" in listing and "RealESRGAN Compact, x4" in listing

    src = photo_path("chelsea.png", tmp_path)
    out_png = tmp_path / "big.png"
    assert main(["apply", str(src), "-o", str(out_png), "--op", "upscale", "scale=4",
                 "model=tiny4", "tile=128"]) == 0
    w, h = Image.open(src).size
    assert Image.open(out_png).size == (4 * w, 4 * h)

    assert main(["models", "--remove", "tiny4"]) == 0
    assert "removed tiny4" in capsys.readouterr().out
    assert main(["models", "--remove", "tiny4"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_cli_refusals_are_one_line(tmp_path, capsys):
    from editor.cli import main

    marker = tmp_path / "ran"
    torch.save({"w": torch.zeros(2), "x": _Payload(marker)}, tmp_path / "evil.pth")
    (tmp_path / "notes.pth").write_text("not a model")
    for name in ("evil.pth", "notes.pth", "missing.pth"):
        assert main(["models", "--add", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
    assert not marker.exists()
    assert main(["models", "--name", "x"]) == 2
