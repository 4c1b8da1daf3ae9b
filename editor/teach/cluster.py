"""The classifier's backbone features computed on a Dask cluster's workers.

The expensive part of training and predicting is the frozen network: decoding
each photo and running EfficientNet-Lite0 over it. That part is a pure function
of the file, so it is farmed out the way :mod:`editor.batch` farms out recipes:
one Dask task per batch of images, on the workers of ``convolve train DIR
--scheduler ADDR`` (or the Classifier window's cluster option), gathered here.

Training
    The features that are not in the project's cache yet are computed on the
    workers, in the same batches, by the same stage
    (:func:`editor.teach.train.frozen_stage`, rebuilt on each worker from the
    installed weights) and the same reading and augmentation code
    (:func:`editor.teach.features.chunk_features`), then stored in the cache
    here exactly as if they had been computed here; the head is trained here.
Prediction
    The workers run the model's frozen part (the pooled features, the trunk of
    a fine-tuned model, or only decoding and resizing for the small CNN, which
    is trained whole); the trained part (head, and top of a fine-tuned model)
    runs here on the gathered features.

Workers need Convolve and the EfficientNet-Lite0 weights installed, and must
see the image paths (shared storage). Dask is imported only when a cluster is
used; it never enters the editor's start-up.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from editor.core.context import OpContext, OpError, null_context

#: Stages built on a worker, by key (each worker builds each stage once).
_STAGES: dict[str, Any] = {}
#: Key of the stage that only decodes and resizes (the small CNN's prediction).
INPUT_ONLY = "input"


def _build_stage(key: str):
    """The torch module a key names (runs on the worker)."""
    from torch import nn

    from editor.teach.backbones import PRETRAINED, backbone_info, build_net
    from editor.teach.train import _Pooled, frozen_stage

    if key == INPUT_ONLY:
        return None
    predict = key.startswith("predict-")
    backbone, _, stage = key.removeprefix("predict-").rpartition("-")
    if backbone not in PRETRAINED:
        raise OpError(f"unknown feature stage {key!r}")
    net = build_net(backbone, 2, 0)  # the frozen parts do not depend on the head
    size = backbone_info(backbone).size
    if predict:
        # prediction: the model's own (unfused) modules, as TeachModel.predict_batch runs
        if stage == "pooled":
            return _Pooled(net).eval()
        if stage == "trunk":
            return nn.Sequential(net.normalize, net.trunk).eval()
    elif stage == "pooled":
        return frozen_stage(net, False, size, backbone)[0]
    elif stage == f"trunk{len(net.trunk.blocks)}":
        return frozen_stage(net, True, size, backbone)[0]
    raise OpError(f"unknown feature stage {key!r}")


def worker_chunk(key: str, paths: Sequence[str], variants: Sequence[int], size: int,
                 seed: int, augment_config, dtype: str, channels_last: bool
                 ) -> tuple[list[int], np.ndarray | None, list[str]]:
    """Runs on a worker: :func:`~editor.teach.features.chunk_features` of one batch."""
    import torch

    from editor.teach.backbones import torch_threads
    from editor.teach.features import chunk_features

    if key not in _STAGES:
        _STAGES[key] = _build_stage(key)
    # one thread: a worker is one core's share of the cluster (one task at a time)
    with torch.inference_mode(), torch_threads(1):
        return chunk_features(_STAGES[key], [Path(p) for p in paths], variants, size=size,
                              seed=seed, augment_config=augment_config,
                              dtype=np.dtype(dtype), channels_last=channels_last)


def _gather(client, futures: dict, ctx: OpContext, on_result) -> None:
    """Collect ``futures`` (future -> tag) as they finish, honouring Cancel."""
    from distributed import as_completed

    ac = as_completed(list(futures), loop=client.loop, with_results=True, raise_errors=False)
    left = dict(futures)
    try:
        while left:
            ctx.check()
            ready = ac.next_batch(block=False)
            if not ready:
                time.sleep(0.01)
                continue
            for fut, value in ready:
                tag = left.pop(fut)
                if fut.status != "finished":
                    exc = value[1] if isinstance(value, tuple) and len(value) == 3 else value
                    text = " ".join(str(exc).split())[:160] or type(exc).__name__
                    raise OpError(f"a cluster worker could not compute features ({text}).")
                on_result(tag, value)
                fut.release()
    finally:
        if left:
            with contextlib.suppress(Exception):
                client.cancel(list(left))


class ClusterFeatures:
    """What :func:`editor.teach.features.extract` calls to compute features remotely.

    Parameters
    ----------
    client : distributed.Client
    key : str
        The cache tag of the stage (``"efficientnet_lite0-pooled"``,
        ``"efficientnet_lite0-trunk15"``).
    """

    def __init__(self, client, key: str) -> None:
        self.client = client
        self.key = key

    def extract(self, paths, variants, todo, feats, ok, keys, *, cache, size, dtype, seed,
                augment_config, batch_size, ctx, skipped, label, frame) -> None:
        """Fill ``feats``/``ok`` at the ``todo`` rows and the cache (see ``extract``)."""
        from editor.teach.features import store_chunk

        lo, hi = frame
        chunks = [todo[s:s + batch_size] for s in range(0, len(todo), batch_size)]
        futures = {}
        for k, part in enumerate(chunks):
            fut = self.client.submit(
                worker_chunk, self.key, [os.path.abspath(paths[i]) for i in part],
                [int(variants[i]) for i in part], size, seed, augment_config,
                np.dtype(dtype).name, True, pure=False)
            futures[fut] = k
        results: dict[int, tuple] = {}
        done = [0]

        def store(k: int, value) -> None:
            part = chunks[k]
            rows, out, missed = value
            results[k] = missed
            store_chunk(part, rows, out, feats, ok, cache, keys)
            done[0] += len(part)
            ctx.report(lo + (hi - lo) * done[0] / len(todo),
                       f"{label}: {done[0]}/{len(todo)} new images (cluster)")

        ctx.report(lo, f"{label}: 0/{len(todo)} new images (cluster)")
        _gather(self.client, futures, ctx, store)
        for k in range(len(chunks)):  # warnings in input order, as computed here
            skipped += results.get(k, [])


@contextlib.contextmanager
def cluster_features(scheduler: str, key: str) -> Iterator[ClusterFeatures]:
    """Connect to ``scheduler`` for the block and give a :class:`ClusterFeatures`."""
    from editor.batch.cluster import dask_client

    with dask_client(scheduler) as client:
        yield ClusterFeatures(client, key)


def _predict_key(model) -> tuple[str, str]:
    """Stage key for the workers and what runs here: ``pooled``, ``trunk`` or ``net``."""
    from editor.teach.backbones import PRETRAINED

    if model.backbone not in PRETRAINED:
        return INPUT_ONLY, "net"
    if model.meta.get("fine_tuned"):
        return f"predict-{model.backbone}-trunk", "trunk"
    return f"predict-{model.backbone}-pooled", "pooled"


def _finish(model, part: str, arr: np.ndarray) -> np.ndarray:
    """The trained part of the network on gathered features: class probabilities."""
    import torch

    from editor.teach.backbones import torch_threads

    net = model.net
    device = next(net.parameters()).device
    with torch.inference_mode(), torch_threads():
        # a fresh copy: an array received from a worker may sit unaligned in its message
        # buffer, and unaligned input takes another SIMD path (last-bit differences)
        t = torch.from_numpy(np.array(arr, dtype=np.float32, copy=True)).to(device)
        if part == "pooled":
            logits = net.head(t)
        elif part == "trunk":
            logits = net.head(net.top(t).mean(dim=(2, 3)))
        else:
            logits = net(t)
        return logits.softmax(1).float().cpu().numpy()


def predict_on_cluster(model, files: Sequence[Path], ctx: OpContext | None, batch_size: int,
                       scheduler: str):
    """:func:`editor.teach.predict.predict_files` with the frozen part on the cluster.

    Same rows, order, skipped sentences and probabilities as on this machine.
    """
    from editor.batch.cluster import dask_client
    from editor.teach.predict import Prediction, Predictions

    ctx = ctx or null_context()
    files = [Path(p) for p in files]
    out = Predictions(model.class_names)
    key, part = _predict_key(model)
    chunks = [files[s:s + batch_size] for s in range(0, len(files), batch_size)]
    results: dict[int, tuple] = {}
    done = [0]

    def store(k: int, value) -> None:
        results[k] = value
        done[0] += len(chunks[k])
        ctx.report(done[0] / max(1, len(files)), f"{done[0]}/{len(files)} images (cluster)")

    with dask_client(scheduler) as client:
        futures = {client.submit(worker_chunk, key, [os.path.abspath(f) for f in chunk],
                                 [0] * len(chunk), model.size, 0, None, "float32", False,
                                 pure=False): k
                   for k, chunk in enumerate(chunks)}
        _gather(client, futures, ctx, store)
    for k, chunk in enumerate(chunks):
        rows, arr, missed = results[k]
        out.skipped += missed
        if arr is None:
            continue
        ctx.check()
        for j, probs in zip(rows, _finish(model, part, arr), strict=True):
            probs = np.asarray(probs, dtype=np.float64)
            out.rows.append(Prediction(str(chunk[j]), int(probs.argmax()),
                                       tuple(float(p) for p in probs)))
    ctx.report(1.0, "")
    return out
