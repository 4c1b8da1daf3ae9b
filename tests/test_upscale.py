"""``upscale`` and ``restore``: packaged ESRGAN-slim, interpolations, the user's spandrel models.

Real photos; the user's models are random-weight spandrel networks built in the
test (no downloads). Tiling: a tiled run must equal a one-tile run within one
level, since tiles overlap by more than the networks' receptive field.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import max_diff, reporting_context, run

from editor.core.context import Cancelled, OpError, null_context
from editor.ops.ai import _rdn

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
    prov = json.loads((_rdn.ESRGAN_SLIM.weights_dir() / "PROVENANCE.json").read_text())
    assert prov["licence"] == "MIT" and prov["package"].endswith("esrgan-slim@1.0.0")
    total = sum(p.stat().st_size for p in _rdn.ESRGAN_SLIM.weights_dir().iterdir())
    assert total <= 5_000_000
    for s in _rdn.ESRGAN_SLIM.scales:
        rec = prov["models"][f"x{s}"]
        assert rec["max_abs_diff_vs_numpy_graph"] < 1e-2
        from editor.ops.ai.model_store import sha256_file

        assert sha256_file(_rdn.ESRGAN_SLIM.weights_file(s)) == rec["sha256"]


@pytest.mark.parametrize("scale", [2, 3, 8])
def test_folded_upsampling_equals_nearest_then_conv(chelsea, scale):
    """The low-resolution folding of "nearest x s + 3x3" gives the network's own output."""
    from safetensors.torch import load_file

    net = _rdn.build(_rdn.ESRGAN_SLIM, scale)
    net.load_state_dict(_rdn.dequantize(load_file(str(_rdn.ESRGAN_SLIM.weights_file(scale)))))
    net.eval()
    x = torch.from_numpy(chelsea[100:130, 200:236].astype(np.float32).transpose(2, 0, 1)
                         .copy())[None]
    with torch.no_grad():
        plain = net(x)
        _rdn.fold_upsampling(net)
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
    # a packaged network's row name (as the Models dialog lists it): one sentence
    with pytest.raises(OpError, match=r"^rdn-psnr-x2 is a packaged network: choose "
                                      r"model=rdn-psnr and scale=2\.$"):
        run("upscale", chelsea[:40, :40], model="rdn-psnr-x2")
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


DATA = Path(__file__).parent / "data"


def upscalerjs_fixture() -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(DATA / "esrgan_slim" / "fixture.png").convert("RGB"))


def test_converted_x2_reproduces_upscalerjs_own_output():
    """The package's fixture through our x2 network vs the result UpscalerJS itself made
    with TF.js (shipped in the npm package): at most one level apart anywhere."""
    from PIL import Image

    fixture = upscalerjs_fixture()
    ref = np.asarray(Image.open(DATA / "esrgan_slim" / "result-2x.png").convert("RGB"))
    out = run("upscale", fixture, scale=2, tile=4096)
    assert out.shape == ref.shape == (256, 256, 3)
    assert max_diff(out, ref) <= 1
    # float16 weights (the 5 MB rule): 98.2 % of values identical, 99.998 % in float32
    assert np.mean(out == ref) > 0.98
    # and bicubic is far from it: the comparison can tell the network from interpolation
    assert max_diff(run("upscale", fixture, scale=2, model="bicubic"), ref) > 20


# -- RDN PSNR-small (model="rdn-psnr") -------------------------------------------------

def rdn_psnr(x: np.ndarray, white: float = 1.0) -> np.ndarray:
    """The packaged network as the op loads it (folded, channels-last) on HWC floats."""
    net = _rdn.load(_rdn.RDN_PSNR, 2)
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1), np.float32))[None]
    with torch.inference_mode():
        return net(t.contiguous(memory_format=torch.channels_last))[0].permute(1, 2, 0).numpy()


def test_rdn_psnr_equals_an_independent_keras_graph_interpreter(chelsea):
    """The committed weights (uint8 codes, decoded at load) through the hand-written
    PyTorch module vs the package's Keras layer graph run by a NumPy interpreter
    (scripts/convert_esrgan_slim.py) on a crop of a real photo, at idealo's [0, 1]."""
    import sys

    from safetensors.torch import load_file

    sys.path.insert(0, str(Path(__file__).parents[1] / "scripts"))
    from convert_esrgan_slim import run_keras_graph

    spec = json.loads((DATA / "rdn_psnr" / "model-topology.json").read_text())
    state = _rdn.dequantize(load_file(str(_rdn.RDN_PSNR.weights_file(2))))
    tensors = {}
    for key, t in state.items():
        name, part = key.rsplit(".", 1)
        tensors[f"{name}/{'kernel' if part == 'weight' else 'bias'}"] = \
            t.numpy().transpose(2, 3, 1, 0) if part == "weight" else t.numpy()
    x = chelsea[120:140, 200:224].astype(np.float32) / 255.0
    ref = run_keras_graph(spec, tensors, x[None])[0]
    ours = rdn_psnr(x)
    assert ours.shape == ref.shape == (40, 48, 3)
    assert np.abs(ours - ref).max() * 255 < 1e-2
    assert np.abs(ref).max() > 0.2  # a picture, not zeros


def test_rdn_psnr_reproduces_upscalerjs_own_output():
    """UpscalerJS's own x2 of its fixture (TF.js, fed RGB in [0, 255] as UpscalerJS
    does for this model) vs our network fed the same: within one level."""
    from PIL import Image

    ref = np.asarray(Image.open(DATA / "rdn_psnr" / "result-2x.png").convert("RGB"))
    out = np.clip(np.rint(rdn_psnr(upscalerjs_fixture().astype(np.float32))), 0, 255)
    assert out.shape == ref.shape == (256, 256, 3)
    assert max_diff(out.astype(np.uint8), ref) <= 1 and np.mean(out == ref) > 0.999


def test_rdn_psnr_is_packaged_with_provenance_within_5_mb():
    prov = json.loads((_rdn.RDN_PSNR.weights_dir() / "PROVENANCE.json").read_text())
    assert prov["licence"] == "MIT" and prov["package"].endswith("esrgan-legacy@1.0.0")
    assert "idealo" in prov["origin"] and prov["origin_licence"].startswith("Apache-2.0")
    rec = prov["models"]["x2"]
    assert rec["dequantized_bit_identical_to_tfjs"]
    assert rec["max_abs_diff_vs_numpy_graph"] < 1e-2
    from editor.ops.ai.model_store import sha256_file

    assert sha256_file(_rdn.RDN_PSNR.weights_file(2)) == rec["sha256"]
    folder = _rdn.RDN_PSNR.weights_dir()
    assert {"LICENSE", "NOTICE", "LICENSE-Apache-2.0"} <= {p.name for p in folder.iterdir()}
    every = sum(p.stat().st_size for p in folder.parent.rglob("*.safetensors"))
    assert every <= 5_000_000


def pillow_bicubic_down(hr: np.ndarray, scale: int) -> np.ndarray:
    """The benchmark's degradation: Pillow's antialiased bicubic (MATLAB's imresize)."""
    from PIL import Image

    h, w = hr.shape[:2]
    return np.asarray(Image.fromarray(hr).resize((w // scale, h // scale), Image.BICUBIC))


@pytest.mark.parametrize("photo,box", [("astronaut", (40, 136, 160, 256)),
                                       ("coffee", (100, 196, 200, 296))])
def test_rdn_psnr_beats_bicubic_and_esrgan_slim_at_x2(request, photo, box):
    """Downscaled real photos enlarged back: RDN PSNR-small is nearer the original than
    bicubic by more than half a dB (1.4 dB on the benchmark's photos), and than
    ESRGAN-slim."""
    y0, y1, x0, x1 = box
    hr = request.getfixturevalue(photo)[y0:y1, x0:x1]
    lr = pillow_bicubic_down(hr, 2)
    best = run("upscale", lr, scale=2, model="rdn-psnr")
    assert best.shape == hr.shape and best.dtype == np.uint8
    bicubic = y_psnr(run("upscale", lr, scale=2, model="bicubic"), hr, 2)
    slim = y_psnr(run("upscale", lr, scale=2), hr, 2)
    assert y_psnr(best, hr, 2) > bicubic + 0.5
    assert y_psnr(best, hr, 2) > slim + 0.5


def test_rdn_psnr_tiled_equals_untiled(coffee):
    """Tiles overlap by the halo (40 px > the receptive field of 38): no seams."""
    img = coffee[50:150, 100:212]
    from editor.ops import get_op

    ctx, reports = reporting_context()
    tiled = get_op("upscale")(img, ctx=ctx, scale=2, model="rdn-psnr", tile=64)
    whole = run("upscale", img, scale=2, model="rdn-psnr", tile=4096)
    assert len(reports) == 2 * 2 and reports[-1] == (1.0, "RDN PSNR-small: tile 4 of 4")
    assert tiled.shape == (200, 224, 3)
    assert max_diff(tiled, whole) <= 1 and np.mean(tiled == whole) > 0.999
    # in float, before rounding: equal within float32 noise
    from editor.ops.ai import upscale as mod

    rgb = img.astype(np.float32) / 255.0
    net = _rdn.load(_rdn.RDN_PSNR, 2)
    device = torch.device("cpu")
    tiles = mod.run_tiled(net, rgb, 2, 64, _rdn.RDN_PSNR.halo, null_context(), device)
    one = mod.run_tiled(net, rgb, 2, 4096, _rdn.RDN_PSNR.halo, null_context(), device)
    assert np.abs(tiles - one).max() < 1e-5


@pytest.mark.parametrize("scale", [3, 4, 8])
def test_rdn_psnr_above_x2_is_its_x2_then_lanczos(astronaut, scale, monkeypatch):
    """x3, x4, x8: the x2 network once, then Lanczos the rest of the way (measured
    better than running the network on its own output); the recipe records the x2
    weights, and the note says what ran. In float32, like the reference network."""
    from editor.ops import get_op

    monkeypatch.setenv("CONVOLVE_HALF", "0")

    img = astronaut[100:124, 200:230]
    ctx, reports = reporting_context()
    out = get_op("upscale")(img, ctx=ctx, scale=scale, model="rdn-psnr")
    assert out.shape == (24 * scale, 30 * scale, 3) and out.dtype == np.uint8
    assert reports[-1] == (1.0, "RDN PSNR-small: tile 1 of 1")
    assert f"then Lanczos interpolation x{scale / 2:g}" in ctx.extras["notes"][0]
    from editor.ops.ai.model_store import sha256_file

    assert ctx.extras["model_sha256"] == sha256_file(_rdn.RDN_PSNR.weights_file(2))
    x2 = rdn_psnr(img.astype(np.float32) / 255.0)
    ref = cv2.resize(x2, (30 * scale, 24 * scale), interpolation=cv2.INTER_LANCZOS4)
    assert max_diff(out, np.clip(np.rint(ref * 255), 0, 255).astype(np.uint8)) <= 1


def test_rdn_psnr_beats_bicubic_at_x4(astronaut):
    """x4 of a real photo reduced 4 times: nearer the original than bicubic."""
    hr = astronaut[0:256, 128:384]
    lr = pillow_bicubic_down(hr, 4)
    best = run("upscale", lr, scale=4, model="rdn-psnr")
    assert best.shape == hr.shape
    assert y_psnr(best, hr, 4) > y_psnr(run("upscale", lr, scale=4, model="bicubic"), hr, 4) + 0.6


def test_rdn_psnr_cancel_between_tiles(coffee):
    from editor.ops import get_op

    ctx, reports = reporting_context(cancel_when=lambda f, m: "tile 2 of" in m)
    with pytest.raises(Cancelled):
        get_op("upscale")(coffee[:128, :128], ctx=ctx, scale=4, model="rdn-psnr", tile=64)
    assert [m for _, m in reports][-1] == "RDN PSNR-small: tile 2 of 4"


def test_rdn_psnr_keeps_16_bit_and_alpha(chelsea):
    rgb16 = chelsea[100:120, 150:174].astype(np.uint16) * 257
    alpha = np.full((20, 24), 40000, np.uint16)
    out = run("upscale", np.dstack([rgb16, alpha]), scale=2, model="rdn-psnr")
    assert out.dtype == np.uint16 and out.shape == (40, 48, 4)
    assert (out[..., 3] == 40000).all()
    out8 = run("upscale", chelsea[100:120, 150:174], scale=2, model="rdn-psnr")
    assert max_diff((out[..., :3].astype(np.float64) / 257).round(), out8) <= 1


def test_rdn_psnr_in_bfloat16_stays_near_float32(astronaut, monkeypatch):
    """Where the CPU computes bfloat16 the network runs in it (2.2x faster, measured
    0.05 dB lower Y-PSNR): the pixels stay within a few levels of float32."""
    from editor.ops import get_op
    from editor.ops.ai.models import cpu_has_bf16

    if not cpu_has_bf16():
        pytest.skip("this CPU has no native bfloat16: the network runs in float32")
    img = astronaut[150:214, 180:260]
    half = get_op("upscale")(img, scale=2, model="rdn-psnr").astype(np.float64)
    monkeypatch.setenv("CONVOLVE_HALF", "0")
    full = get_op("upscale")(img, scale=2, model="rdn-psnr").astype(np.float64)
    diff = np.abs(half - full)
    assert 0 < diff.mean() < 0.5 and diff.max() <= 8, (diff.mean(), diff.max())
