"""``upscale`` and ``restore``: packaged ESRGAN-slim, interpolations, the user's spandrel models.

Real photos; the user's models are random-weight spandrel networks built in the
test (no downloads). Tiling: a tiled run must equal a one-tile run within one
level, since tiles overlap by more than the networks' receptive field.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from conftest import max_diff, reporting_context, run

from editor.core.context import Cancelled, OpError
from editor.ops.ai import _esrgan_slim

torch = pytest.importorskip("torch")


def y_psnr(a: np.ndarray, b: np.ndarray, border: int = 8) -> float:
    """PSNR of the BT.601 luma, ``border`` pixels cropped (the SR papers' measure)."""
    w = np.array([65.481, 128.553, 24.966]) / 255.0

    def luma(x):
        return (x.astype(np.float64) @ w)[border:-border, border:-border]

    return 10 * np.log10(255.0 ** 2 / np.mean((luma(a) - luma(b)) ** 2))


@pytest.fixture
def store(tmp_path, monkeypatch):
    folder = tmp_path / "store"
    monkeypatch.setenv("CONVOLVE_MODELS_DIR", str(folder))
    return folder


def add_model(tmp_path, arch: str, name: str) -> str:
    pytest.importorskip("spandrel")
    from test_model_store import make_model, save_model

    from editor.ops.ai import model_store as ms

    return ms.add(save_model(make_model(arch), tmp_path / f"{name}.pth"), name=name).name


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_esrgan_slim_shape_dtype_and_a_real_enlargement(astronaut, scale):
    """On a real photo, downscaled then enlarged back: the right size, and as close
    to the original as bicubic within 1 dB (a wrong conversion, e.g. kernels
    transposed the other way, gives noise tens of dB worse)."""
    hr = astronaut[96:96 + 24 * 8, 160:160 + 24 * 8]
    h, w = hr.shape[:2]
    lr = cv2.resize(hr, (w // scale, h // scale), interpolation=cv2.INTER_AREA)
    out = run("upscale", lr, scale=scale)
    assert out.shape == hr.shape and out.dtype == np.uint8
    bicubic = run("upscale", lr, scale=scale, model="bicubic")
    assert y_psnr(out, hr) > y_psnr(bicubic, hr) - 1.0
    assert y_psnr(out, hr) > 20


def test_esrgan_slim_matches_the_committed_provenance():
    prov = json.loads((_esrgan_slim.weights_dir() / "PROVENANCE.json").read_text())
    assert prov["licence"] == "MIT" and prov["package"].endswith("esrgan-slim@1.0.0")
    total = sum(p.stat().st_size for p in _esrgan_slim.weights_dir().iterdir())
    assert total <= 5_000_000
    for s in _esrgan_slim.SCALES:
        rec = prov["models"][f"x{s}"]
        assert rec["max_abs_diff_vs_numpy_graph"] < 1e-2
        from editor.ops.ai.model_store import sha256_file

        assert sha256_file(_esrgan_slim.weights_file(s)) == rec["sha256"]


@pytest.mark.parametrize("scale", [2, 3, 8])
def test_folded_upsampling_equals_nearest_then_conv(chelsea, scale):
    """The low-resolution folding of "nearest x s + 3x3" gives the network's own output."""
    from safetensors.torch import load_file

    net = _esrgan_slim.build(scale)
    net.load_state_dict(load_file(str(_esrgan_slim.weights_file(scale))))
    net.eval()
    x = torch.from_numpy(chelsea[100:130, 200:236].astype(np.float32).transpose(2, 0, 1)
                         .copy())[None]
    with torch.no_grad():
        plain = net(x)
        _esrgan_slim.fold_upsampling(net)
        folded = net(x)
    assert folded.shape == plain.shape == (1, 3, 30 * scale, 36 * scale)
    assert float((folded - plain).abs().max()) < 1e-2  # on 0-255


def test_tiled_equals_untiled_esrgan_slim(coffee):
    img = coffee[50:250, 100:380]
    ctx, reports = reporting_context()
    from editor.ops import get_op

    tiled = get_op("upscale")(img, ctx=ctx, scale=2, tile=64)
    whole = run("upscale", img, scale=2, tile=4096)
    assert len(reports) == 4 * 5 and reports[-1][0] == 1.0
    assert max_diff(tiled, whole) <= 1


def test_cancel_between_tiles(coffee):
    from editor.ops import get_op

    ctx, reports = reporting_context(cancel_when=lambda f, m: "tile 2 of" in m)
    with pytest.raises(Cancelled):
        get_op("upscale")(coffee[:256, :256], ctx=ctx, scale=2, tile=64)
    assert [m for _, m in reports][-1].endswith("tile 2 of 16")


def test_dtype_grey_and_alpha(astronaut):
    rgb = astronaut[200:240, 200:250]
    rgb16 = rgb.astype(np.uint16) * 257
    out16 = run("upscale", rgb16, scale=2)
    out8 = run("upscale", rgb, scale=2)
    assert out16.dtype == np.uint16 and out16.shape == (80, 100, 3)
    # 16-bit carries the same picture (within rounding of the 8-bit run)
    assert max_diff((out16.astype(np.float64) / 257).round(), out8) <= 1
    grey = np.ascontiguousarray(rgb[..., 1])
    assert run("upscale", grey, scale=3).shape == (120, 150)
    alpha = np.linspace(0, 255, 50).astype(np.uint8)[None].repeat(40, 0)
    rgba = run("upscale", np.dstack([rgb, alpha]), scale=2)
    assert rgba.shape == (80, 100, 4)
    np.testing.assert_array_equal(rgba[..., :3], out8)
    ref = np.clip(np.rint(cv2.resize(alpha.astype(np.float32), (100, 80),
                                     interpolation=cv2.INTER_CUBIC)), 0, 255)
    np.testing.assert_array_equal(rgba[..., 3], ref.astype(np.uint8))


def test_pure_and_deterministic(chelsea):
    img = chelsea[:64, :80].copy()
    frozen = img.copy()
    frozen.flags.writeable = False
    a = run("upscale", frozen, scale=2)
    np.testing.assert_array_equal(frozen, img)
    assert a.tobytes() == run("upscale", frozen, scale=2).tobytes()


@pytest.mark.parametrize("method,flag", [("bicubic", cv2.INTER_CUBIC),
                                         ("lanczos", cv2.INTER_LANCZOS4)])
def test_interpolations_are_opencvs(chelsea, method, flag):
    img = chelsea[:50, :60]
    ref = cv2.resize(img, (240, 200), interpolation=flag)
    assert max_diff(run("upscale", img, scale=4, model=method), ref) <= 1


def test_output_too_large_is_one_sentence(monkeypatch, chelsea):
    monkeypatch.setenv("CONVOLVE_MAX_PIXELS", "100000")
    with pytest.raises(OpError, match=r"above the limit of 0 MP; crop it first\.$"):
        run("upscale", chelsea[:100, :100], scale=8)


def test_unknown_model_and_wrong_kind(store, tmp_path, chelsea):
    with pytest.raises(OpError, match="no model named 'nope'"):
        run("upscale", chelsea[:40, :40], model="nope")
    add_model(tmp_path, "compact1", "cleaner")
    with pytest.raises(OpError, match="cleaner is a restoration model; upscale needs a "
                                      "super-resolution model"):
        run("upscale", chelsea[:40, :40], model="cleaner")
    with pytest.raises(OpError, match="restore needs a restoration model"):
        run("restore", chelsea[:40, :40], model="esrgan-slim-x2")
    with pytest.raises(OpError, match="no restoration model chosen"):
        run("restore", chelsea[:40, :40])


@pytest.mark.parametrize("arch,native", [("esrgan", 2), ("compact", 4)])
def test_store_model_upscales_tiled_like_untiled(store, tmp_path, astronaut, arch, native):
    name = add_model(tmp_path, arch, f"my-{arch}")
    img = astronaut[100:196, 150:270]
    from editor.ops import get_op

    ctx, reports = reporting_context()
    tiled = get_op("upscale")(img, ctx=ctx, scale=native, model=name, tile=64)
    whole = run("upscale", img, scale=native, model=name, tile=4096)
    assert tiled.shape == (96 * native, 120 * native, 3) and tiled.dtype == np.uint8
    assert len(reports) == 4 and max_diff(tiled, whole) <= 1
    assert ctx.extras["model_sha256"] and "notes" not in ctx.extras


def test_store_model_of_another_scale_is_resampled(store, tmp_path, astronaut):
    name = add_model(tmp_path, "compact", "x4net")
    from editor.ops import get_op
    from editor.ops.registry import null_context

    ctx = null_context()
    out = get_op("upscale")(astronaut[:40, :50], ctx=ctx, scale=2, model=name)
    assert out.shape == (80, 100, 3)
    assert "x4 model" in ctx.extras["notes"][0]


def test_swinir_runs_with_its_size_rules(store, tmp_path, astronaut):
    """SwinIR (window attention, minimum 16 px): tiles smaller than that are padded."""
    name = add_model(tmp_path, "swinir", "swin")
    out = run("upscale", astronaut[:70, :45], scale=2, model=name, tile=64)
    assert out.shape == (140, 90, 3)


def test_restore_model_keeps_shape_and_cancels(store, tmp_path, coffee):
    name = add_model(tmp_path, "compact1", "cleaner")
    img = coffee[:150, :130]
    tiled = run("restore", img, model=name, tile=64)
    whole = run("restore", img, model=name, tile=4096)
    assert tiled.shape == img.shape and max_diff(tiled, whole) <= 1
    from editor.ops import get_op

    ctx, reports = reporting_context(cancel_when=lambda f, m: True)
    with pytest.raises(Cancelled):
        get_op("restore")(img, ctx=ctx, model=name, tile=64)
    assert len(reports) == 1


def test_missing_model_file_is_one_sentence(store, tmp_path, chelsea):
    name = add_model(tmp_path, "compact", "gone")
    (tmp_path / "gone.pth").unlink()
    with pytest.raises(OpError, match="missing or changed"):
        run("upscale", chelsea[:40, :40], scale=4, model=name)


def test_converted_x2_reproduces_upscalerjs_own_output():
    """The package's fixture through our x2 network vs the result UpscalerJS itself made
    with TF.js (shipped in the npm package): at most one level apart anywhere."""
    from pathlib import Path

    from PIL import Image

    data = Path(__file__).parent / "data" / "esrgan_slim"
    fixture = np.asarray(Image.open(data / "fixture.png").convert("RGB"))
    ref = np.asarray(Image.open(data / "result-2x.png").convert("RGB"))
    out = run("upscale", fixture, scale=2, tile=4096)
    assert out.shape == ref.shape == (256, 256, 3)
    assert max_diff(out, ref) <= 1
    assert np.mean(out == ref) > 0.999
    # and bicubic is far from it: the comparison can tell the network from interpolation
    assert max_diff(run("upscale", fixture, scale=2, model="bicubic"), ref) > 20
