"""The unit of work of a batch: one file, read, edited by the recipe and written.

:func:`process_file` runs on a Dask worker (or in any process): it takes and
returns plain dictionaries, so nothing but a path, the recipe's JSON text and
the save options travels to the worker, and one manifest row comes back. The
calls are those of ``convolve apply IN -o OUT --recipe R``: the same loader
(:func:`editor.io.load_image`: pixel limit, EXIF orientation), the same replay
(:meth:`Recipe.apply <editor.core.recipe.Recipe.apply>`) and the same atomic
writer (:func:`editor.io.save_image`), so each output is the file ``apply``
writes, bit for bit.

A file that fails is a row with ``status="failed"`` and one sentence, never an
exception: one bad photo must not stop the batch. Memory holds one image (and
the recipe's intermediates) at a time per worker thread.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

#: Parsed recipes by SHA-256, so each worker validates a recipe once, not per file.
_RECIPES: dict[str, Any] = {}


def _recipe(text: str, digest: str):
    from editor.core.recipe import Recipe

    recipe = _RECIPES.get(digest)
    if recipe is None:
        recipe = Recipe.from_json(text)
        _RECIPES.clear()  # one batch at a time per worker: keep one parsed recipe
        _RECIPES[digest] = recipe
    return recipe


def message(e: BaseException) -> str:
    """One sentence for the manifest's ``error`` column."""
    from editor.cli_common import describe, one_line

    return one_line(describe(e)[1])


def process_file(job: dict[str, Any]) -> dict[str, Any]:
    """Read ``job["input"]``, apply the recipe, write ``job["output"]`` atomically.

    Parameters
    ----------
    job : dict
        ``input``, ``output``, ``recipe`` (JSON text), ``recipe_sha256`` and
        ``options`` (:meth:`SaveOptions.to_json <editor.batch.plan.SaveOptions.to_json>`).

    Returns
    -------
    dict
        A manifest row (:class:`editor.batch.manifest.Row` fields): status
        ``"done"`` or ``"failed"`` with its ``error``, and the seconds taken.
    """
    t0 = time.perf_counter()
    row = {"input": job["input"], "output": job["output"], "status": "done", "error": "",
           "seconds": 0.0, "recipe_sha256": job["recipe_sha256"], "notes": ""}
    try:
        from editor.io import load_image, save_image

        opts = job["options"]
        recipe = _recipe(job["recipe"], job["recipe_sha256"])
        image = load_image(job["input"], max_pixels=opts.get("max_pixels"))
        notes = [n for n in image.info["notes"] if not n.startswith("EXIF orientation")]
        result = recipe.apply(image.pixels)
        image.pixels = None  # the input's pixels are not needed while encoding
        out = Path(job["output"])
        out.parent.mkdir(parents=True, exist_ok=True)
        notes += save_image(out, result, format=opts.get("format"),
                            quality=opts.get("quality", 90),
                            progressive=opts.get("progressive", False),
                            lossless=opts.get("lossless", False),
                            strip_metadata=opts.get("strip_metadata", False),
                            background=tuple(opts.get("background", (255, 255, 255))),
                            **image.metadata())
        row["notes"] = "; ".join(notes)
    except Exception as e:  # noqa: BLE001  (every failure becomes the file's row)
        row.update(status="failed", error=message(e))
    row["seconds"] = time.perf_counter() - t0
    return row
