"""CNN tools on images too small for the networks: one sentence naming the minimum size.

Before: deep_dream failed with "operands could not be broadcast together", style
transfer with torch's "Output size is too small", and the others ran a 7x5 px
image blown up to 224 px.
"""

from __future__ import annotations

import numpy as np
import pytest

from editor.core.context import OpContext, OpError
from editor.ops import get_op, run_op
from editor.ops.ai import _util, models

AI_OPS = ["classify", "feature_maps", "gradcam", "fgsm", "deep_dream", "style_transfer"]


@pytest.fixture(scope="module")
def tiny(coffee) -> np.ndarray:
    return np.ascontiguousarray(coffee[200:205, 300:307])  # 7 x 5 px of a real photo


@pytest.fixture(scope="module")
def style_file(tmp_path_factory, chelsea):
    from PIL import Image

    path = tmp_path_factory.mktemp("style") / "chelsea.png"
    Image.fromarray(chelsea[:64, :64]).save(path)
    return str(path)


@pytest.mark.parametrize("name", AI_OPS)
def test_every_ai_op_refuses_a_7x5_image_in_one_sentence(name, tiny, style_file):
    params = {"style": style_file} if name == "style_transfer" else {}
    with pytest.raises(OpError) as e:
        run_op(get_op(name), tiny, params, OpContext())
    text = str(e.value)
    assert "at least 32 x 32 pixels" in text and "this one is 7 x 5" in text, text
    assert text.count(".") == 1 and text.endswith(".") and "\n" not in text


def test_style_image_too_small(astronaut, tmp_path):
    from PIL import Image

    path = tmp_path / "s.png"
    Image.fromarray(astronaut[:20, :20]).save(path)
    with pytest.raises(OpError, match="needs a style image of at least 32 x 32 pixels"):
        run_op(get_op("style_transfer"), astronaut[:64, :64], {"style": str(path)})


def test_working_size_too_small_for_a_thin_panorama(coffee):
    strip = np.ascontiguousarray(np.tile(coffee[:40], (1, 4, 1)))  # 40 x 2400 px
    with pytest.raises(OpError, match="would run at 128 x 2 pixels"):
        _util.at_working_size(strip, 128, OpContext(), "Deep Dream")


@pytest.mark.parametrize("network, layer", [("vgg16", "relu5_3"),
                                            ("efficientnet_lite0", "head")])
def test_deep_dream_deepest_layer_with_many_octaves(coffee, network, layer):
    """Before: octaves shrank to 8 px, which relu5_3 (four poolings deep) cannot take;
    EfficientNet's head is five stride-2 steps deep."""
    import cv2

    if not models.is_available(network):
        pytest.skip(f"{network} weights not installed")
    img = cv2.resize(coffee, (64, 43), interpolation=cv2.INTER_AREA)
    out = run_op(get_op("deep_dream"), img, {"network": network, "layer": layer,
                                             "octaves": 5, "octave_scale": 2.0, "steps": 1})
    assert out.shape == img.shape and out.dtype == np.uint8
    assert not np.array_equal(out, img)
