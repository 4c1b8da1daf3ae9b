"""Using a trained model: many image files to CSV, and one image with its Grad-CAM.

One function for the Classifier window's "Classify folder…" and for
``convolve predict``, so both read the same files the same way, report the same
progress, stop at the same Cancel and write the same CSV.

CSV columns: ``path``, ``predicted`` (class name), ``probability`` (of that
class), then one column per class with its probability, five decimals.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from editor.core.context import OpContext, OpError, null_context
from editor.core.image import as_rgb, to_uint8
from editor.teach.images import UnreadableImage, is_image_file, read_rgb

#: images predicted together (one forward pass)
BATCH_SIZE = 32


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one file."""

    path: str
    class_index: int
    probabilities: tuple[float, ...]

    @property
    def probability(self) -> float:
        """Probability of the predicted class."""
        return self.probabilities[self.class_index]


@dataclass
class Predictions:
    """Every file's prediction, in input order, and the files that could not be read."""

    class_names: list[str]
    rows: list[Prediction] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one sentence per unreadable file

    def label(self, row: Prediction) -> str:
        return self.class_names[row.class_index]

    def counts(self) -> dict[str, int]:
        """How many files went to each class."""
        counts = dict.fromkeys(self.class_names, 0)
        for row in self.rows:
            counts[self.label(row)] += 1
        return counts


def image_files(items: Iterable[str | Path]) -> list[Path]:
    """The image files named by ``items``: a folder gives every image under it
    (sorted; hidden files and feature caches skipped), a file is kept as given."""
    files: list[Path] = []
    for item in map(Path, items):
        if item.is_dir():
            files += sorted(f for f in item.rglob("*") if f.is_file() and is_image_file(f)
                            and ".cache" not in f.relative_to(item).parts)
        else:
            files.append(item)
    return files


def predict_files(model, paths: Iterable[str | Path], ctx: OpContext | None = None,
                  batch_size: int = BATCH_SIZE, scheduler: str | None = None) -> Predictions:
    """Classify image files with ``model``.

    Each file is read shrunk to at most twice the model's input size, then
    predicted in batches. An unreadable file is skipped (its sentence is in
    :attr:`Predictions.skipped`), never fatal.

    Parameters
    ----------
    model : TeachModel
    paths : iterable of path
        Image files (see :func:`image_files` to expand folders).
    ctx : OpContext, optional
        Progress (one report per file, with its name) and Cancel (checked
        between files).
    batch_size : int
        Files per forward pass.
    scheduler : str, optional
        Address of a Dask scheduler: the frozen part of the network runs on its
        workers (:func:`editor.teach.cluster.predict_on_cluster`), same answers.

    Returns
    -------
    Predictions

    Raises
    ------
    Cancelled
        When ``ctx`` is cancelled.
    """
    ctx = ctx or null_context()
    files = [Path(p) for p in paths]
    batch_size = max(1, int(batch_size))
    if scheduler:
        from editor.teach.cluster import predict_on_cluster

        return predict_on_cluster(model, files, ctx, batch_size, scheduler)
    out = Predictions(model.class_names)
    for start in range(0, len(files), batch_size):
        part, images = [], []
        for i, f in enumerate(files[start:start + batch_size], start):
            ctx.check()
            ctx.report(i / len(files), f.name)
            try:
                images.append(read_rgb(f, max_side=2 * model.size))
                part.append(f)
            except UnreadableImage as e:
                out.skipped.append(str(e))
        if not images:
            continue
        ctx.check()
        for f, probs in zip(part, model.predict_batch(images), strict=True):
            probs = np.asarray(probs, dtype=np.float64)
            out.rows.append(Prediction(str(f), int(probs.argmax()),
                                       tuple(float(p) for p in probs)))
    ctx.report(1.0, "")
    return out


def csv_header(class_names: list[str]) -> list[str]:
    return ["path", "predicted", "probability", *class_names]


def write_csv(predictions: Predictions, path: str | Path) -> Path:
    """Write ``predictions`` as CSV (see the module docstring for the columns).

    Raises
    ------
    OpError
        The file cannot be written (one sentence).
    """
    path = Path(path)
    try:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(csv_header(predictions.class_names))
            for row in predictions.rows:
                w.writerow([row.path, predictions.label(row), f"{row.probability:.5f}",
                            *(f"{p:.5f}" for p in row.probabilities)])
    except OSError as e:
        raise OpError(f"Cannot write {path}: {e.strerror or e}.") from None
    return path


def explain_image(model, image: np.ndarray, class_index: int | None = None
                  ) -> tuple[np.ndarray, int, np.ndarray]:
    """Classify one image and show where the model looked.

    Parameters
    ----------
    model : TeachModel
    image : ndarray
        Any image in the editor's conventions (gray, RGB or RGBA; 8 or 16 bit).
    class_index : int, optional
        The class to explain; the predicted one when None.

    Returns
    -------
    probabilities : ndarray
        ``(C,)``, as :meth:`TeachModel.predict` gives them.
    class_index : int
        The class the overlay explains.
    overlay : ndarray
        The image as RGB ``uint8`` (same height and width) with the Grad-CAM
        heat map of that class blended over it.
    """
    from editor.teach.explain import gradcam, overlay

    rgb = as_rgb(to_uint8(image))
    probs = model.predict(rgb)
    k = int(np.argmax(probs)) if class_index is None else int(class_index)
    heat, _, _ = gradcam(model, rgb, class_index=k)
    return probs, k, overlay(rgb, heat)
