"""How sturdy is the user's classifier? FGSM and editor-op sweeps on the test split.

- **FGSM** [1]_: accuracy when every test image is moved by ``epsilon`` (in
  1/255 steps) along the sign of the loss gradient -- the worst small change.
- **Op sweeps**: accuracy while one edit grows (brightness, rotation, blur,
  JPEG quality), using the editor's own registered ops, plus how many
  predictions *flip* from the clean prediction and an example of one that did.

:mod:`editor.ops.ai.fgsm` attacks the packaged ImageNet network only; the
batch FGSM here works on any classifier module that takes ``[0, 1]`` input.

References
----------
.. [1] I. Goodfellow, J. Shlens, C. Szegedy, "Explaining and Harnessing
   Adversarial Examples", ICLR 2015.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from editor.core.context import OpContext, OpError, null_context
from editor.teach.images import UnreadableImage, read_rgb, square_input, to_chw_float

FGSM_EPSILONS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


@dataclass
class SweepPoint:
    value: float
    accuracy: float
    flipped: float                      # share of predictions that changed vs. clean
    example: np.ndarray | None = None   # one perturbed image whose prediction flipped
    example_label: str = ""             # "true -> predicted (p)"


@dataclass
class Sweep:
    name: str
    unit: str
    points: list[SweepPoint] = field(default_factory=list)
    available: bool = True
    note: str = ""

    def first_flip(self) -> float | None:
        """Smallest perturbation (away from the neutral value) at which any prediction flips."""
        for p in self.points:
            if p.flipped > 0:
                return p.value
        return None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "available": self.available,
                "note": self.note,
                "points": [{"value": p.value, "accuracy": p.accuracy, "flipped": p.flipped,
                            "example": p.example_label} for p in self.points]}


@dataclass
class RobustnessReport:
    n_images: int
    clean_accuracy: float
    sweeps: list[Sweep]

    def sweep(self, name: str) -> Sweep:
        return next(s for s in self.sweeps if s.name == name)

    def to_json(self) -> dict[str, Any]:
        return {"n_images": self.n_images, "clean_accuracy": self.clean_accuracy,
                "sweeps": [s.to_json() for s in self.sweeps]}


def fgsm_batch(net, x, y, epsilon: float):
    """One FGSM step on a batch: ``x`` in [0, 1], ``epsilon`` in [0, 1] units.

    Works on any module mapping ``(B, 3, S, S)`` [0, 1] to logits.
    """
    import torch
    import torch.nn.functional as F

    if epsilon <= 0:
        return x
    x = x.clone().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(net(x), y)
        grad, = torch.autograd.grad(loss, x)
    return (x + epsilon * grad.sign()).clamp(0, 1).detach()


def _default_sweeps() -> list[tuple[str, str, str, list[float], Callable]]:
    def op(name, key, **extra):
        return lambda img, v: _run(name, img, {key: v, **extra})

    def jpeg(img, q):
        import cv2

        ok, buf = cv2.imencode(".jpg", img[..., ::-1].copy(), [cv2.IMWRITE_JPEG_QUALITY, int(q)])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()

    return [
        ("brightness", "amount", "brightness", [-0.8, -0.6, -0.4, -0.2, 0.0, 0.2, 0.4, 0.6, 0.8],
         op("brightness", "amount")),
        ("rotation", "degrees", "rotate", [-90, -60, -30, -15, 0, 15, 30, 60, 90],
         op("rotate", "angle", expand=False)),
        ("blur", "sigma px", "gaussian_blur", [0, 1, 2, 4, 8], op("gaussian_blur", "sigma")),
        ("jpeg", "quality", "", [100, 50, 25, 10, 5, 2], jpeg),
    ]


def _run(name, img, params):
    from editor.ops import get_op, run_op

    return run_op(get_op(name), img, params)


def _op_available(name: str) -> bool:
    if not name:
        return True
    try:
        from editor.ops import get_op

        get_op(name)
        return True
    except KeyError:
        return False


def robustness_report(model, paths: Sequence, labels: Sequence[int],
                      epsilons: Sequence[float] = FGSM_EPSILONS, max_images: int = 200,
                      seed: int = 0, values: dict[str, Sequence[float]] | None = None,
                      ctx: OpContext | None = None) -> RobustnessReport:
    """Accuracy of ``model`` under FGSM and editor-op sweeps.

    Parameters
    ----------
    model : TeachModel
    paths, labels : sequences
        The test split (files and class indices).
    epsilons : sequence of float
        FGSM radii in 1/255 steps.
    max_images : int
        At most this many images (a fixed random subset) keep the report quick.
    values : dict, optional
        Sweep values by sweep name (``"brightness"``, ``"rotation"``, ``"blur"``,
        ``"jpeg"``) replacing the defaults; an empty list skips that sweep.

    Returns
    -------
    RobustnessReport
    """
    import torch

    ctx = ctx or null_context()
    names = model.class_names
    paths, labels = list(paths), np.asarray(labels, np.int64)
    if len(paths) > max_images:
        keep = np.sort(np.random.default_rng(seed).choice(len(paths), max_images, replace=False))
        paths, labels = [paths[i] for i in keep], labels[keep]
    imgs, ys = [], []
    for p, y in zip(paths, labels, strict=True):
        try:
            imgs.append(square_input(read_rgb(p, max_side=2 * model.size), model.size))
            ys.append(int(y))
        except UnreadableImage:
            continue
    if not imgs:
        raise OpError("no readable test images for the robustness report")
    ys_arr = np.asarray(ys)
    x_all = to_chw_float(imgs)
    clean = model.predict_input(x_all).argmax(1)
    clean_acc = float((clean == ys_arr).mean())

    def label(true, probs):
        k = int(probs.argmax())
        return f"{names[true]} -> {names[k]} ({probs[k]:.0%})"

    sweeps: list[Sweep] = []
    plan = [(n, u, o, list((values or {}).get(n, v)), f) for n, u, o, v, f in _default_sweeps()]
    steps = len(epsilons) + sum(len(s[3]) for s in plan)
    done = 0
    # FGSM
    fg = Sweep("fgsm", "epsilon /255")
    net = model.net
    device = next(net.parameters()).device
    y_t = torch.from_numpy(ys_arr)
    for eps in epsilons:
        ctx.report(done / steps, f"FGSM epsilon {eps:g}/255")
        probs_all = []
        adv_all = []
        for s in range(0, len(imgs), 32):
            xb = torch.from_numpy(x_all[s:s + 32]).to(device)
            adv = fgsm_batch(net, xb, y_t[s:s + 32].to(device), eps / 255.0)
            with torch.inference_mode():
                probs_all.append(net(adv).softmax(1).cpu().numpy())
            adv_all.append(adv.cpu().numpy())
        probs = np.concatenate(probs_all)
        pred = probs.argmax(1)
        fg.points.append(_point(eps, pred, probs, ys_arr, clean,
                                lambda i, a=np.concatenate(adv_all): _to_rgb(a[i]), label))
        done += 1
    sweeps.append(fg)
    # editor-op sweeps
    for name, unit, op_name, sweep_values, fn in plan:
        if not sweep_values:
            continue
        sw = Sweep(name, unit)
        if not _op_available(op_name):
            sw.available, sw.note = False, f"operation {op_name!r} is not available"
            sweeps.append(sw)
            done += len(sweep_values)
            continue
        for v in sweep_values:
            ctx.report(done / steps, f"{name} {v:g}")
            changed = [fn(im, v) for im in imgs]
            changed = [square_input(c, model.size) for c in changed]  # crops/expands stay square
            probs = model.predict_input(to_chw_float(changed))
            sw.points.append(_point(float(v), probs.argmax(1), probs, ys_arr, clean,
                                    lambda i, c=changed: c[i], label))
            done += 1
        sweeps.append(sw)
    ctx.report(1.0, "robustness report done")
    return RobustnessReport(len(imgs), clean_acc, sweeps)


def _point(value, pred, probs, ys, clean, image_of, label) -> SweepPoint:
    flipped = np.flatnonzero(pred != clean)
    point = SweepPoint(float(value), float((pred == ys).mean()), float(len(flipped) / len(ys)))
    if len(flipped):
        i = int(flipped[0])
        point.example = image_of(i)
        point.example_label = label(int(ys[i]), probs[i])
    return point


def _to_rgb(chw: np.ndarray) -> np.ndarray:
    return (np.clip(chw.transpose(1, 2, 0), 0, 1) * 255 + 0.5).astype(np.uint8)
