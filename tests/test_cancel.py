"""Cancel reaches every registered op: before it starts, and at any look while it runs.

No timed asserts (latencies at 12 MP are in ``benchmarks/bench_cancel.py``). Instead a
cancel event counts every look an op takes at it (``ctx.check()``, ``ctx.report()``,
``ctx.cancelled()``): cancelled at a look in the middle of a run, the op must raise
``Cancelled`` at that very look; ops that run in strips must look more often on a
larger photo (the work between two looks stays bounded); and the CNN ops must look
inside every forward and backward pass, not only between iterations.
"""

from __future__ import annotations

import functools
import threading

import numpy as np
import pytest
from conftest import load_photo, photo_path

from editor.core.context import Cancelled, OpContext
from editor.ops import all_ops, run_op

#: Parameters that make each op do real work on a moderately large photo, quickly.
PARAMS = {
    "fgsm": {"iterations": 2},
    "deep_dream": {"octaves": 2, "steps": 2, "max_size": 160},
    "feature_maps": {"size": 96},
    "style_transfer": {"style": str(photo_path("scream.jpg")), "size": 64, "steps": 2},
    "bilateral": {"sigma_space": 6.0},
    "median": {"size": 15},
    "gaussian_blur": {"sigma": 8.0},
    "unsharp_mask": {"radius": 8.0},
    "hog": {"cell": 4},
    "harris": {"sigma": 3.0},
    "notch_filter": {"points": [(0.1, 0.0), (0.0, 0.05)]},
    "fft_filter": {"kind": "bandpass"},
    "match_histogram": {"reference": str(photo_path("coffee.png"))},
    "rotate": {"angle": 17.0},
    "shear": {"sx": 0.3},
    "affine": {"matrix": [1.1, 0.2, -30, -0.1, 0.9, 40, 0.0, 0.0, 1.0]},
    "translate": {"dx": 40.5, "dy": -7.0},
    "resize": {"scale": 0.7, "interpolation": "lanczos"},
    "hue_saturation": {"hue": 30.0, "reds_saturation": 20.0, "overlap": 30.0},
    "clone": {"points": [(100, 100), (600, 400), (1200, 300), (1500, 900)], "size": 80.0,
              "dx": 150, "dy": 200},
    "heal": {"points": [(100, 100), (600, 400), (1200, 300)], "size": 12.0},
    "straighten": {"angle": 7.0},
    "upscale": {"scale": 2, "tile": 512},
    "fast_style": {"size": 256},
}

#: Ops that run only a model the user added (``convolve models --add``): with none in the
#: store they refuse before any work. Their cancel between tiles / before the network is
#: tested with random-weight models in test_upscale.py and test_inpaint_model.py; the
#: diffusion ops' (cancelled at the middle look, they stop there) in test_diffusion.py.
NEEDS_USER_MODEL = {"restore", "inpaint_model", "generate", "img2img", "inpaint_diffusion"}

#: Ops that look only once (the registry's check before they start): each is one or
#: two whole-image passes, under half a second at 12 MP on a 2-core CPU (see
#: ``benchmarks/bench_cancel.py``). A new op that never looks must be listed here,
#: knowingly.
SINGLE_PASS = {
    "brightness", "contrast", "gamma", "grayscale", "hue", "invert", "posterize",
    "saturation", "threshold", "laplacian", "prewitt", "sobel", "convolve", "emboss",
    "max_filter", "mean_blur", "min_filter", "sharpen", "crop", "flip", "rotate90",
    "add_noise", "auto_contrast", "curves", "equalize", "levels", "match_histogram",
    "brightness_contrast", "canvas_size",
}

#: Ops whose strips are a fixed number of pixels (filters size theirs by the estimated
#: cost instead: see test_strips_bound_the_work_between_looks).
STRIPED = ("bilateral", "hog", "rotate", "shear", "affine", "translate", "fgsm", "gradcam",
           "deep_dream", "style_transfer", "hue_saturation")


class CountingEvent(threading.Event):
    """A cancel event that counts the op's looks and sets itself at look ``trip``."""

    def __init__(self, trip: int | None = None) -> None:
        super().__init__()
        self.looks = 0
        self.trip = trip

    def is_set(self) -> bool:
        self.looks += 1
        if self.trip is not None and self.looks >= self.trip:
            self.set()
        return super().is_set()


@functools.lru_cache(maxsize=2)
def photo(width: int, height: int) -> np.ndarray:
    """A real photo enlarged (bicubic) to ``width`` x ``height``; read-only."""
    import cv2

    img = cv2.resize(load_photo("china.jpg"), (width, height), interpolation=cv2.INTER_CUBIC)
    img.setflags(write=False)
    return img


LARGE = (1800, 1350)  # 2.4 MP
SMALL = (900, 675)  # a quarter of it


def selection_for(spec, image: np.ndarray) -> np.ndarray | None:
    """Ops that fill a selection need one: a disc a tenth of the photo's height across."""
    if not spec.uses_mask:
        return None
    h, w = image.shape[:2]
    yy, xx = np.ogrid[:h, :w]
    return ((yy - h / 2) ** 2 + (xx - w / 2) ** 2 <= (h / 20) ** 2).astype(np.float32)


def looks(spec, image, trip=None):
    """(looks, outcome) of one run: outcome is "done" or "cancelled"."""
    event = CountingEvent(trip)
    try:
        run_op(spec, image, PARAMS.get(spec.name, {}),
               OpContext(cancel_event=event, selection=selection_for(spec, image)))
    except Cancelled:
        return event.looks, "cancelled"
    return event.looks, "done"


@pytest.mark.parametrize("spec", all_ops(), ids=lambda s: s.name)
def test_cancelled_before_start_never_runs(spec, monkeypatch):
    """A job cancelled while it waited in a queue raises without running the op."""
    calls = []
    monkeypatch.setattr(spec, "func", lambda *a, **k: calls.append(1))
    ctx = OpContext()
    ctx.cancel()
    with pytest.raises(Cancelled):
        run_op(spec, photo(*SMALL), PARAMS.get(spec.name, {}), ctx)
    assert calls == []


@pytest.mark.parametrize("spec", all_ops(), ids=lambda s: s.name)
def test_cancel_in_the_middle_stops_at_that_look(spec):
    """Cancelled at the middle look of a run, the op raises right there."""
    if spec.name in NEEDS_USER_MODEL:
        pytest.skip("runs only a model from the user's store (see NEEDS_USER_MODEL)")
    image = photo(*LARGE)
    total, outcome = looks(spec, image)
    assert outcome == "done"
    if spec.name in SINGLE_PASS:
        assert total <= 2, f"{spec.name} now looks {total} times: take it off SINGLE_PASS"
        return
    assert total >= 3, f"{spec.name} never looks while it runs (add it to SINGLE_PASS?)"
    trip = total // 2 + 1
    seen, outcome = looks(spec, image, trip)
    assert outcome == "cancelled"
    assert seen == trip  # no look after the cancelled one: it stopped there


@pytest.mark.parametrize("name", STRIPED)
def test_striped_ops_look_more_often_on_a_larger_photo(name):
    """Four times the pixels, at least one more look per extra megapixel.

    An op that did its full-size work in whole-image passes would look as often on
    any photo, and the stretch between two looks would grow with the photo.
    """
    spec = next(s for s in all_ops() if s.name == name)
    small, _ = looks(spec, photo(*SMALL))
    large, _ = looks(spec, photo(*LARGE))
    extra_mp = (LARGE[0] * LARGE[1] - SMALL[0] * SMALL[1]) / 1e6
    assert large - small >= extra_mp, (small, large)


@pytest.mark.parametrize(("width", "halo", "cost", "align"), [
    (4000, 22, 1525.0, 64),  # bilateral, sigma_space 15, on a 12 MP photo's rows: tiles
    (4000, 22, 1525.0, None),  # the same without tiles: the shortest strips
    (1800, 3, 17.6, None),  # a Gaussian, sigma 1
    (1203, 9, 260.0, 64),
])
def test_strips_bound_the_work_between_looks(width, halo, cost, align, monkeypatch):
    """Each call of the filter between two looks costs at most a few budgets (or is
    the smallest strip or tile the halo allows), and the parts add up to one call."""
    import cv2

    from editor.ops import filters

    monkeypatch.setattr(filters, "STRIP_BUDGET", 2e7)  # a smaller photo, same shapes
    image = photo(*SMALL)[:, :, 1]
    image = np.ascontiguousarray(np.tile(image, (1, -(-width // image.shape[1]))))[:, :width]
    k = 2 * halo + 1

    def blur(part):
        sizes.append(part.shape)
        return cv2.blur(part, (k, k), borderType=cv2.BORDER_REFLECT_101)

    sizes: list[tuple[int, ...]] = []
    event = CountingEvent()
    out = filters.run_in_strips(image, blur, halo=halo, ctx=OpContext(cancel_event=event),
                                cost=cost, tile_align=align)
    np.testing.assert_array_equal(out, cv2.blur(image, (k, k),
                                                 borderType=cv2.BORDER_REFLECT_101))
    assert event.looks >= len(sizes)
    smallest = (max(16, 2 * halo) + 2 * halo) * width if align is None else \
        (filters._tile_core(halo, cost, align) + 2 * halo + 2 * align) ** 2
    limit = max(filters.TILE_FACTOR * filters.STRIP_BUDGET, smallest * cost)
    assert max(h * w for h, w in sizes) * cost <= limit


def test_style_transfer_looks_inside_every_forward_and_backward_pass():
    """One L-BFGS iteration = one forward and one backward pass through VGG up to
    relu5_1; each layer is a look both ways."""
    from editor.ops.ai.style import stylize_rgb
    from editor.ops.ai.vgg import layer_names

    layers = layer_names("vgg16").index("relu5_1") + 1  # conv1_1 ... relu5_1: 26

    rgb = np.random.default_rng(0).random((48, 64, 3), dtype=np.float32)

    def count(steps):
        event = CountingEvent()
        stylize_rgb(rgb, rgb, steps=steps, random_weights=True,
                    ctx=OpContext(cancel_event=event))
        return event.looks

    assert count(3) - count(2) >= 2 * layers


def test_dream_cancelled_inside_a_backward_pass():
    """A cancel that lands during the backward pass stops it there (from the autograd
    hook), instead of waiting for the step to finish."""
    import torch

    from editor.ops.ai.dream import layer_energy
    from editor.ops.ai.vgg import feature_net

    net = feature_net("vgg16", "cpu", random_weights=True)
    x = torch.rand(1, 3, 40, 40, requires_grad=True)
    event = CountingEvent()
    ctx = OpContext(cancel_event=event)
    loss = layer_energy(net, x, "relu3_1", ctx.check)
    forward_looks = event.looks
    assert forward_looks >= 12  # every layer up to relu3_1 looked once
    event.trip = forward_looks + 3  # the third layer on the way back
    with pytest.raises(Cancelled):
        torch.autograd.grad(loss, x)
    assert event.looks == forward_looks + 3 and x.grad is None


def test_fgsm_looks_between_the_passes_of_an_iteration():
    """Resize forward, network, resize backward, step and projection: each is a pass
    over the whole photo, and each is followed by a look."""
    spec = next(s for s in all_ops() if s.name == "fgsm")
    image = photo(*SMALL)

    def count(iterations):
        event = CountingEvent()
        run_op(spec, image, {"iterations": iterations}, OpContext(cancel_event=event))
        return event.looks

    assert count(3) - count(2) >= 4


def test_watched_resize_raises_while_the_call_still_runs():
    """One cv2.resize cannot be split; the op waits on it in a helper thread and
    raises as soon as it is cancelled, leaving the call to finish on its own."""
    from editor.ops.geometry import _watched

    release = threading.Event()
    finished = threading.Event()

    def call():
        release.wait(30)
        finished.set()
        return "result"

    event = CountingEvent(trip=3)
    with pytest.raises(Cancelled):
        _watched(call, OpContext(cancel_event=event), poll=0.001)
    assert not finished.is_set()  # the op did not wait for the call
    release.set()
    assert finished.wait(30)
    assert _watched(lambda: "result", OpContext()) == "result"


# -- the same results in strips ----------------------------------------------------------

def test_hog_in_strips_equals_one_pass(monkeypatch):
    from editor.ops import features

    rgb = np.ascontiguousarray(photo(*SMALL)[:397, :601])
    cases = [(rgb, 4, 36), (rgb[..., 1], 8, 9), (rgb.astype(np.uint16) * 257, 7, 5)]
    whole = [features.hog(img, cell=c, bins=b, output="burn") for img, c, b in cases]
    monkeypatch.setattr(features, "HOG_STRIP_PIXELS", 3000)  # a few cell rows each
    for (img, c, b), ref in zip(cases, whole, strict=True):
        np.testing.assert_array_equal(features.hog(img, cell=c, bins=b, output="burn"), ref)


def test_harris_in_strips_equals_one_pass(monkeypatch):
    from editor.ops import filters
    from editor.ops.features import gray_float, harris, harris_response

    img = photo(*SMALL)
    for sigma in (0.5, 2.37, 6.0):
        ref = harris_response(gray_float(img), 0.05, sigma)
        monkeypatch.setattr(filters, "STRIP_BUDGET", 1e5)  # strips of 16 rows or so
        ctx = OpContext()
        out = harris(img, sigma=sigma, output="burn", ctx=ctx)
        monkeypatch.setattr(filters, "STRIP_BUDGET", 1e12)  # one call
        c = OpContext()
        np.testing.assert_array_equal(out, harris(img, sigma=sigma, output="burn", ctx=c))
        assert ctx.extras["points"] == c.extras["points"]
        top = float(ref.max())
        assert ctx.extras["points"][0][2] == pytest.approx(top)


@pytest.mark.parametrize("shape", [(801, 1203), (700, 2111), (1300, 997)])
def test_bilateral_tiles_equal_one_call(shape, monkeypatch):
    """Tiles on 64-pixel boundaries, OpenCV's own kernel: the same as one call."""
    import cv2

    from editor.ops import filters

    h, w = shape
    img = cv2.resize(load_photo("china.jpg"), (w, h), interpolation=cv2.INTER_CUBIC)
    before = cv2.ipp.useIPP()
    cv2.ipp.setUseIPP(False)
    try:
        refs = [cv2.bilateralFilter(im, 2 * round(1.5 * s) + 1, sc, s,
                                    borderType=cv2.BORDER_REFLECT_101)
                for im, s, sc in ((img, 15.0, 100.0), (img[..., 1], 9.0, 30.0))]
    finally:
        cv2.ipp.setUseIPP(before)
    monkeypatch.setattr(filters, "STRIP_BUDGET", 1e6)  # tiles of about 90 pixels
    calls = []
    ctx = OpContext(progress=lambda f, m: calls.append(f))
    out = run_op(next(s for s in all_ops() if s.name == "bilateral"), img,
                 {"sigma_space": 15.0, "sigma_color": 100.0}, ctx)
    np.testing.assert_array_equal(out, refs[0])
    assert len(calls) > 20 and calls[-1] == 1.0
    np.testing.assert_array_equal(
        filters.bilateral(img[..., 1], sigma_space=9.0, sigma_color=30.0), refs[1])


def _old_attack(image, epsilon, iterations):
    """The attack as it was written before it ran in strips: whole-image, out of place."""
    import torch
    import torch.nn.functional as F

    from editor.core.image import max_value
    from editor.ops.ai import _util
    from editor.ops.ai.classify import predict
    from editor.ops.ai.efficientnet import model_input, shared_classifier

    eps = epsilon / 255.0
    step = eps if iterations == 1 else 2.5 * eps / iterations
    rgb = _util.rgb_float(image)
    model = shared_classifier("cpu")
    before = predict(model, image, "cpu")
    x0 = _util.to_tensor(rgb, "cpu")
    label = torch.tensor([int(before.argmax())])
    x = x0.clone()
    for _ in range(iterations):
        x.requires_grad_(True)
        with torch.enable_grad():
            loss = F.cross_entropy(model(model_input(x)), label)
            grad, = torch.autograd.grad(loss, x)
        with torch.no_grad():
            x = x + 1.0 * step * grad.sign()
            x = (x0 + (x - x0).clamp(-eps, eps)).clamp(0, 1)
    top = max_value(image.dtype)
    delta = np.clip(np.rint((_util.to_numpy(x) - rgb) * top), -np.floor(eps * top + 1e-6),
                    np.floor(eps * top + 1e-6))
    attacked = image.copy()
    if image.ndim == 2:
        delta = np.rint(delta @ np.asarray([0.2126, 0.7152, 0.0722], np.float32))
        attacked[...] = np.clip(image.astype(np.int64) + delta, 0, top)
    else:
        attacked[...] = np.clip(image.astype(np.int64) + delta, 0, top)
    amp = float(np.abs(delta).max()) or 1.0
    pert = np.clip(0.5 + 0.5 * delta / amp, 0, 1)
    if pert.ndim == 2:
        pert = np.repeat(pert[..., None], 3, axis=2)
    return attacked, (pert * 255 + 0.5).astype(np.uint8), _util.psnr(image, attacked), before


@pytest.mark.parametrize("grey", [False, True])
def test_fgsm_in_strips_equals_the_whole_image_attack(grey, monkeypatch):
    from editor.ops.ai import _fullsize
    from editor.ops.ai.fgsm import attack

    img = np.ascontiguousarray(photo(*SMALL)[100:400, 200:600])
    if grey:
        img = np.ascontiguousarray(img[..., 1])
    ref, ref_pert, ref_psnr, ref_before = _old_attack(img, 3.0, 3)
    monkeypatch.setattr(_fullsize, "STRIP_PIXELS", 5000)  # a dozen rows per strip
    got = attack(img, 3.0, 3, device="cpu")
    np.testing.assert_array_equal(got["image"], ref)
    np.testing.assert_array_equal(got["perturbation"], ref_pert)
    assert got["psnr"] == ref_psnr
    assert got["before"][0][1] == int(ref_before.argmax())


@pytest.mark.parametrize("name", ["gradcam", "deep_dream", "style_transfer"])
def test_full_size_steps_in_strips_equal_one_strip(name, monkeypatch):
    from editor.ops.ai import _fullsize

    spec = next(s for s in all_ops() if s.name == name)
    img = np.ascontiguousarray(photo(*SMALL)[:301, :403])
    monkeypatch.setattr(_fullsize, "STRIP_PIXELS", 10**9)
    whole = run_op(spec, img, PARAMS.get(name, {}))
    monkeypatch.setattr(_fullsize, "STRIP_PIXELS", 4000)
    np.testing.assert_array_equal(run_op(spec, img, PARAMS.get(name, {})), whole)
