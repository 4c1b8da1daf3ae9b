"""Batch processing: one recipe over many photos, on Dask (no Qt).

A recipe is a pure function of (file, recipe), so the unit of distribution is
one file: :mod:`editor.batch.plan` expands the inputs and names the outputs,
:mod:`editor.batch.task` processes one file (load, replay, atomic save) on a
worker, :mod:`editor.batch.engine` runs the tasks on a Dask cluster (a local
cluster of processes by default, :mod:`editor.batch.cluster`) with progress,
Cancel and a manifest (:mod:`editor.batch.manifest`) to resume from.

``convolve batch`` (:mod:`editor.cli`) and File ▸ Batch Process…
(:mod:`editor.ui.batch_dialog`) are both thin layers over :func:`run_batch`.
Dask is imported only when a batch runs.

Examples
--------
::

    from editor.batch import make_plan, run_batch
    from editor.core.recipe import Recipe

    plan = make_plan(["shoot/"], "edited/", pattern="{stem}_edit.{ext}")
    result = run_batch(plan, Recipe.load("look.recipe.json"))
    print(result.summary())
"""

from editor.batch.engine import BatchResult, BatchStatus, run_batch
from editor.batch.manifest import Row, recipe_sha256
from editor.batch.plan import BatchPlan, PlanError, SaveOptions, make_plan

__all__ = ["BatchPlan", "BatchResult", "BatchStatus", "PlanError", "Row", "SaveOptions",
           "make_plan", "recipe_sha256", "run_batch"]
