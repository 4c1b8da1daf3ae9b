"""Classify, Grad-CAM and FGSM agree on the class and probability of one image (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest

from editor.core.context import OpContext
from editor.ops import get_op


@pytest.mark.parametrize("name", ["chelsea", "coffee", "astronaut"])
def test_classify_gradcam_and_fgsm_report_the_same_top_class(name, request):
    image = np.ascontiguousarray(request.getfixturevalue(name))
    ctx = OpContext()
    get_op("classify")(image, ctx=ctx, top=3)
    label, idx, prob = ctx.extras["scores"][0]
    ctx = OpContext()
    get_op("gradcam")(image, ctx=ctx)
    cam_label, cam_idx, cam_prob = ctx.extras["class"]
    assert (cam_label, cam_idx) == (label, idx)
    assert cam_prob == pytest.approx(prob, abs=1e-5)
    ctx = OpContext()
    get_op("fgsm")(image, ctx=ctx, epsilon=1.0, iterations=1)
    before_label, before_idx, before_prob = ctx.extras["before"][0]
    assert (before_label, before_idx) == (label, idx)
    assert before_prob == pytest.approx(prob, abs=1e-5)


def test_gradcam_of_a_chosen_class_reports_that_class_probability(chelsea):
    ctx = OpContext()
    get_op("classify")(chelsea, ctx=ctx, top=5)
    second_label, second, p_second = ctx.extras["scores"][1]
    ctx = OpContext()
    get_op("gradcam")(chelsea, ctx=ctx, class_index=second)
    assert ctx.extras["class"][:2] == (second_label, second)
    assert ctx.extras["class"][2] == pytest.approx(p_second, abs=1e-5)
