"""``inpaint model=NAME``: a spandrel inpainting model (LaMa, random weights) fills the selection.

The LaMa network is built in the test with random weights (spandrel's own class)
and saved to a temporary folder; no downloads. What is checked is the plumbing:
the selection reaches the op as ``mask``, pixels outside it stay exact, the fill
lands inside it, and wrong input gets one sentence.
"""

from __future__ import annotations

import numpy as np
import pytest

from editor.core.context import OpContext, OpError
from editor.ops import get_op, run_op

torch = pytest.importorskip("torch")
pytest.importorskip("spandrel")


@pytest.fixture(scope="module")
def lama_file(tmp_path_factory):
    from spandrel.architectures.LaMa import LaMa

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("lama") / "big-lama.pth"
    torch.save(LaMa(in_nc=4, out_nc=3).state_dict(), path)
    return path


@pytest.fixture
def lama(lama_file, tmp_path, monkeypatch):
    monkeypatch.setenv("CONVOLVE_MODELS_DIR", str(tmp_path / "store"))
    from editor.ops.ai import model_store as ms

    entry = ms.add(lama_file, name="lama")
    assert (entry.kind, entry.architecture, entry.scale) == ("inpaint", "LaMa", 1)
    return entry.name


@pytest.mark.slow
def test_fills_only_the_selection(lama, coffee):
    img = coffee[:200, :260].copy()
    mask = np.zeros(img.shape[:2], np.float32)
    mask[80:120, 100:150] = 1.0
    ctx = OpContext(selection=mask)
    # size=64: the network sees the area around the selection at 64 px (a fast test);
    # the fill is scaled back to the selection's size
    out = run_op(get_op("inpaint_model"), img, {"model": lama, "size": 64}, ctx)
    assert out.shape == img.shape and out.dtype == img.dtype
    outside = mask == 0
    np.testing.assert_array_equal(out[outside], img[outside])
    assert np.abs(out[80:120, 100:150].astype(int) - img[80:120, 100:150]).mean() > 1
    assert ctx.extras["model"] == "lama" and len(ctx.extras["model_sha256"]) == 64
    assert "inpainting ran at 64x" in ctx.extras["notes"][0]


def test_needs_a_selection_and_an_inpainting_model(lama, coffee, tmp_path):
    img = coffee[:64, :64]
    with pytest.raises(OpError, match="select the area to fill first"):
        run_op(get_op("inpaint_model"), img, {"model": lama})
    with pytest.raises(OpError, match="no inpainting model chosen"):
        run_op(get_op("inpaint_model"), img, {})
    mask = np.zeros((64, 64), np.float32)
    mask[10:20, 10:20] = 1
    with pytest.raises(OpError, match="needs an inpainting model"):
        run_op(get_op("inpaint_model"), img, {"model": "esrgan-slim-x2"}, OpContext(selection=mask))


def test_context_box_of_a_corner_selection():
    from editor.ops.ai.inpaint import context_box

    m = np.zeros((500, 400), np.float32)
    m[0:10, 390:400] = 1
    assert context_box(m) == (0, 74, 326, 400)
