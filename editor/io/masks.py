"""Selection masks as files: 16-bit PNGs, and recipes saved with the masks they name (no Qt).

A painted or loaded selection is a recipe step ``select_mask`` whose
parameters hold the mask's SHA-256 (:func:`editor.core.selection.mask_sha256`).
:func:`save_recipe` writes each such mask beside the recipe as
``<recipe name>-mask-<first 8 hex digits>.png`` (16-bit grayscale, white =
inside) and puts that file name into the step, so ``convolve apply --recipe``
finds it relative to the recipe and checks it is the same mask.

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> from editor.core.recipe import Recipe
>>> from editor.core.selection import mask_sha256
>>> m = np.zeros((4, 4), np.float32); m[1:3, 1:3] = 1
>>> r = Recipe(); r.append("select_mask", {"sha256": mask_sha256(m)}); r.append("invert")
>>> tmp = tempfile.TemporaryDirectory()
>>> save_recipe(r, os.path.join(tmp.name, "look.json"), {mask_sha256(m): m})
['look-mask-3062f082.png']
>>> Recipe.load(os.path.join(tmp.name, "look.json")).steps[0].params["file"]
'look-mask-3062f082.png'
>>> tmp.cleanup()
"""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path

import numpy as np

from editor.core.recipe import Recipe, RecipeStep
from editor.core.selection import mask_sha256, mask_to_image
from editor.io.save import save_image

#: the op a painted or loaded selection is recorded as
MASK_OP = "select_mask"


def save_mask(path: str | PathLike[str], mask: np.ndarray) -> None:
    """Write a selection as a 16-bit grayscale PNG (white = inside), atomically."""
    save_image(path, mask_to_image(mask))


def mask_file_name(recipe_path: str | PathLike[str], sha256: str) -> str:
    """``<recipe name>-mask-<sha8>.png`` for a mask saved beside ``recipe_path``."""
    stem = Path(recipe_path).name.split(".")[0] or "recipe"
    return f"{stem}-mask-{sha256[:8]}.png"


def save_recipe(recipe: Recipe, path: str | PathLike[str],
                masks: dict[str, np.ndarray] | None = None) -> list[str]:
    """Save ``recipe`` with the mask files its selection steps need.

    Parameters
    ----------
    recipe : Recipe
        Its ``select_mask`` steps carry ``sha256`` (and, when the recipe was
        loaded from a file, a ``file`` relative to :attr:`Recipe.folder`).
    path : path-like
        The recipe file to write.
    masks : dict, optional
        Masks by SHA-256 (the document's painted selections).

    Returns
    -------
    list of str
        The mask files written beside the recipe.

    Raises
    ------
    ValueError
        A mask step whose mask is neither given nor in a file (one sentence).
    """
    path = Path(path)
    folder = path.resolve().parent
    masks = dict(masks or {})
    written: list[str] = []
    steps = []
    for step in recipe.steps:
        params = dict(step.params)
        if step.op == MASK_OP:
            params = _placed_mask(recipe, params, path, folder, masks, written)
        steps.append(RecipeStep(step.op, params))
    Recipe(steps).save(path)
    return written


def _placed_mask(recipe: Recipe, params: dict, path: Path, folder: Path,
                 masks: dict[str, np.ndarray], written: list[str]) -> dict:
    sha = str(params.get("sha256") or "").lower()
    mask = masks.get(sha) if sha else None
    if mask is not None:
        if mask_sha256(mask) != sha:
            raise ValueError("A selection mask changed since it was recorded; select again.")
        name = mask_file_name(path, sha)
        if name not in written:
            save_mask(folder / name, mask)
            written.append(name)
        return {**params, "file": name, "sha256": sha}
    source = params.get("file")
    if not source:
        raise ValueError("A painted selection in this recipe has no mask to save with it.")
    resolved = Path(recipe.resolved(MASK_OP, params)["file"]).resolve()
    try:
        return {**params, "file": os.path.relpath(resolved, folder)}
    except ValueError:  # another drive (Windows): keep it absolute
        return {**params, "file": str(resolved)}
