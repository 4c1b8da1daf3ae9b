"""Backbone outputs computed once per image and kept on disk.

The frozen part of the network gives the same answer for the same file every
time, so it runs once per image (and per augmented copy) and the result is
stored as a small ``.npy`` file under the project's ``.cache`` folder.
Retraining the head after adding ten photos then costs ten forward passes, not
the whole dataset. The key of a file is its path, size and modification time,
so replacing a photo recomputes it; deleting the cache folder is always safe.

Images stream from disk in batches: memory holds one batch of pixels plus the
features array (N x 1280 float32: 25 MB for 5,000 images). Feature arrays too
big for RAM (the fine-tuning maps) are memory-mapped files.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from editor.core.context import OpContext, null_context
from editor.teach.augment import AugmentConfig, augment, sample_rng
from editor.teach.images import UnreadableImage, read_rgb, square_input, to_chw_float

#: Feature arrays larger than this are memory-mapped files instead of RAM.
MEMMAP_BYTES = 256 * 2**20


class FeatureCache:
    """A folder of per-image feature files for one backbone and stage.

    Parameters
    ----------
    folder : Path
        Usually ``<project>/.cache``.
    tag : str
        Backbone and stage, e.g. ``"efficientnet_lite0-pooled"``: features of
        different networks never mix.
    """

    def __init__(self, folder: str | Path, tag: str) -> None:
        self.folder = Path(folder) / tag
        self.tag = tag

    def key(self, path: Path, variant: str = "") -> str:
        try:
            st = path.stat()
            ident = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{variant}"
        except OSError:
            ident = f"{path}|missing|{variant}"
        return hashlib.sha1(ident.encode("utf-8")).hexdigest()

    def _file(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npy"

    def load(self, key: str) -> np.ndarray | None:
        f = self._file(key)
        if not f.exists():
            return None
        try:
            return np.load(f, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None  # a damaged cache entry is recomputed, never trusted

    def store(self, key: str, value: np.ndarray) -> None:
        f = self._file(key)
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_name(f"{f.stem}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, value, allow_pickle=False)
        os.replace(tmp, f)


def _alloc(shape: tuple[int, ...], dtype, scratch: Path | None) -> np.ndarray:
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if scratch is not None and nbytes > MEMMAP_BYTES:
        scratch.parent.mkdir(parents=True, exist_ok=True)
        return np.lib.format.open_memmap(scratch, mode="w+", dtype=dtype, shape=shape)
    return np.zeros(shape, dtype)


def extract(stage, paths: Sequence[Path], variants: Sequence[int] | None = None, *,
            cache: FeatureCache | None, size: int, out_shape: tuple[int, ...],
            dtype=np.float32, seed: int = 0, augment_config: AugmentConfig | None = None,
            batch_size: int = 32, device: Any = "cpu", ctx: OpContext | None = None,
            scratch: Path | None = None, label: str = "features",
            frame: tuple[float, float] = (0.0, 1.0), remote: Any = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """Run ``stage`` (a torch module: ``[0, 1]`` input -> features) over images.

    Parameters
    ----------
    stage : torch.nn.Module
        Frozen network part; its output per image has shape ``out_shape``.
    paths : sequence of Path
        Image files.
    variants : sequence of int, optional
        Per path: 0 for the image itself, ``k > 0`` for its k-th augmented
        copy (drawn reproducibly from ``seed``, ``k`` and the file name).
    cache : FeatureCache or None
        Where finished features are read and written.
    size : int
        Square input side.
    scratch : Path, optional
        File for a memory-mapped result when it would be large.
    frame : (float, float)
        Progress range this call reports into (for a larger job).
    remote : ClusterFeatures, optional
        Compute the features that are not cached on a Dask cluster's workers
        instead (:class:`editor.teach.cluster.ClusterFeatures`): the same batches
        through the same stage, gathered here and cached as if computed here.

    Returns
    -------
    features : ndarray
        ``(len(paths), *out_shape)``; rows of unreadable images are zeros.
    ok : ndarray of bool
        False where the image could not be read (a warning was issued).
    """
    import torch

    ctx = ctx or null_context()
    n = len(paths)
    variants = list(variants) if variants is not None else [0] * n
    feats = _alloc((n, *out_shape), dtype, scratch)
    ok = np.ones(n, bool)
    todo: list[int] = []
    keys: list[str] = []
    aug_tag = repr(sorted((augment_config or AugmentConfig()).to_json().items()))
    for i, (p, v) in enumerate(zip(paths, variants, strict=True)):
        vtag = "" if v == 0 else f"aug{v}|{seed}|{aug_tag}"
        key = cache.key(Path(p), vtag) if cache is not None else ""
        keys.append(key)
        hit = cache.load(key) if cache is not None else None
        if hit is not None and hit.shape == tuple(out_shape):
            feats[i] = hit
        else:
            todo.append(i)
        if i % 256 == 0:
            ctx.check()
    lo, hi = frame
    skipped: list[str] = []
    if remote is not None and todo:
        remote.extract(paths, variants, todo, feats, ok, keys, cache=cache, size=size,
                       dtype=dtype, seed=seed, augment_config=augment_config,
                       batch_size=batch_size, ctx=ctx, skipped=skipped, label=label,
                       frame=frame)
        todo = []
    from editor.teach.backbones import torch_threads

    with torch.inference_mode(), torch_threads():
        for start in range(0, len(todo), batch_size):
            ctx.report(lo + (hi - lo) * start / max(1, len(todo)),
                       f"{label}: {start}/{len(todo)} new images")
            part = todo[start:start + batch_size]
            rows, out, missed = chunk_features(
                stage, [paths[i] for i in part], [variants[i] for i in part], size=size,
                seed=seed, augment_config=augment_config, device=device, dtype=dtype)
            skipped += missed
            store_chunk(part, rows, out, feats, ok, cache, keys)
    for msg in skipped:
        warnings.warn(f"skipped {msg}", UserWarning, stacklevel=2)
    ctx.report(hi, f"{label}: done")
    return feats, ok


def store_chunk(part: Sequence[int], rows: Sequence[int], out: np.ndarray | None,
                feats: np.ndarray, ok: np.ndarray, cache: FeatureCache | None,
                keys: Sequence[str]) -> None:
    """Put one batch's features (from :func:`chunk_features`) at their rows, and cache them.

    ``part`` holds the indices of the batch's images; ``rows`` the positions in it that
    could be read. The others are marked not ``ok``.
    """
    read = {part[j] for j in rows}
    for i in part:
        if i not in read:
            ok[i] = False
    for j, row in enumerate(rows):
        i = part[row]
        feats[i] = out[j]
        if cache is not None:
            cache.store(keys[i], out[j])


def chunk_features(stage, paths: Sequence[Path], variants: Sequence[int], *, size: int,
                   seed: int, augment_config: AugmentConfig | None, device: Any = "cpu",
                   dtype=np.float32, channels_last: bool = True
                   ) -> tuple[list[int], np.ndarray | None, list[str]]:
    """Read, augment and square one batch of images and run ``stage`` on it.

    The body of :func:`extract`'s loop, shared with the cluster workers
    (:mod:`editor.teach.cluster`) so both compute a batch the same way. Call it
    under ``torch.inference_mode()``.

    Parameters
    ----------
    stage : torch.nn.Module or None
        None returns the prepared input batch itself.
    channels_last : bool
        Hand the stage a channels-last batch (the layout of
        :func:`~editor.ops.ai.efficientnet.inference_copy` stages).

    Returns
    -------
    rows : list of int
        Positions in ``paths`` of the images read.
    features : ndarray or None
        ``(len(rows), ...)``; None when no image could be read.
    skipped : list of str
        One sentence per unreadable image.
    """
    import torch

    rows, pixels, skipped = [], [], []
    for j, (p, v) in enumerate(zip(paths, variants, strict=True)):
        try:
            rgb = read_rgb(p, max_side=2 * size)
        except UnreadableImage as e:
            skipped.append(str(e))
            continue
        if v:
            rgb = augment(rgb, sample_rng(seed, v, Path(p).name), augment_config)
        rows.append(j)
        pixels.append(square_input(rgb, size))
    if not rows:
        return rows, None, skipped
    from editor.ops.ai.models import autocast

    x = torch.from_numpy(to_chw_float(pixels)).to(device)
    if channels_last:
        # channels-last: the layout of inference_copy() stages (and harmless otherwise)
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast(x.device):  # float16 on CUDA, float32 elsewhere
        out = x if stage is None else stage(x)
    return rows, out.float().cpu().numpy().astype(dtype, copy=False), skipped
