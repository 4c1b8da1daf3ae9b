"""Recipes: the list of committed edits as ``(op, params)``, saved as JSON and replayed.

The GUI appends one :class:`RecipeStep` per committed edit; File ▸ Save
Recipe writes :meth:`Recipe.to_json`; ``convolve apply IN -o OUT --recipe R``
replays it through the same registry, so the pixels match the GUI's.

A recipe file is data, never code: it is parsed with :mod:`json` only, and
every step is checked against the operation's declared parameters before
anything runs.

Examples
--------
>>> r = Recipe([RecipeStep("invert", {})])
>>> Recipe.from_json(r.to_json()).steps == r.steps
True
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from editor.core.atomic import atomic_write_bytes
from editor.core.context import OpContext, null_context

FORMAT_VERSION = 1
#: :meth:`Recipe.apply`'s default: start from the context's selection
_FROM_CTX = object()
#: Recipes are short lists of edits; anything bigger is not a recipe.
MAX_RECIPE_BYTES = 10_000_000


class RecipeError(ValueError):
    """A recipe file is malformed (one sentence)."""


def _ops():
    """The operation registry, looked up when a recipe is checked or run.

    core sits below ops in the layering (see pyproject's import-linter
    contracts) and stays importable without them; a recipe names operations
    as data, so it reaches the registry by name at run time instead of
    importing the ops layer at module level.
    """
    return importlib.import_module("editor.ops")


@dataclass
class RecipeStep:
    """One committed edit: an operation name and its parameter values."""

    op: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "params": {k: json_value(v) for k, v in self.params.items()}}


@dataclass
class Recipe:
    """An ordered list of edits.

    ``folder`` is where the recipe file lives (set by :meth:`load`): mask
    files its selection steps name are read from there.
    """

    steps: list[RecipeStep] = field(default_factory=list)
    folder: str | None = None

    def append(self, op: str, params: dict[str, Any] | None = None) -> None:
        """Record a committed edit."""
        self.steps.append(RecipeStep(op, dict(params or {})))

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self) -> Iterator[RecipeStep]:
        return iter(self.steps)

    # -- JSON -------------------------------------------------------------
    def to_json(self) -> str:
        """JSON text with the Convolve version, the format number and the steps."""
        from editor import __version__

        doc = {"convolve": __version__, "format": FORMAT_VERSION,
               "steps": [s.to_dict() for s in self.steps]}
        return json.dumps(doc, indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        """Parse and validate recipe JSON.

        Raises
        ------
        RecipeError
            Not JSON, or not shaped like a recipe.
        ParamError
            An unknown operation or a parameter value the operation refuses.
        """
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise RecipeError(f"recipe is not valid JSON ({e.msg} at line {e.lineno})") from None
        if isinstance(doc, list):  # a bare list of steps is accepted too
            doc = {"format": FORMAT_VERSION, "steps": doc}
        if not isinstance(doc, dict) or not isinstance(doc.get("steps"), list):
            raise RecipeError("recipe must be a JSON object with a list of \"steps\"")
        version = doc.get("format", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise RecipeError(f"recipe format {version!r} is newer than this Convolve "
                              f"reads (format {FORMAT_VERSION})")
        return cls([_checked_step(i, raw) for i, raw in enumerate(doc["steps"], 1)])

    def save(self, path: str | PathLike[str]) -> None:
        """Write the recipe atomically (an interrupted save keeps the old file)."""
        atomic_write_bytes(Path(path), self.to_json().encode("utf-8"))

    @classmethod
    def load(cls, path: str | PathLike[str]) -> Recipe:
        """Read and validate a recipe file (``OSError`` if unreadable)."""
        path = Path(path)
        if path.is_file() and path.stat().st_size > MAX_RECIPE_BYTES:
            raise RecipeError(f"{path.name} is too large to be a recipe")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise RecipeError(f"{path.name} is not a text file") from None
        try:
            recipe = cls.from_json(text)
        except ValueError as e:
            raise type(e)(f"{path.name}: {e}") from None
        recipe.folder = str(path.resolve().parent)
        return recipe

    # -- replay -----------------------------------------------------------
    def apply(self, image: np.ndarray, ctx: OpContext | None = None,
              selection: np.ndarray | None | object = _FROM_CTX) -> np.ndarray:
        """Run every step in order and return the result (``image`` is not modified).

        Progress from each step is mapped onto the whole recipe; cancelling
        ``ctx`` stops at the current step; side outputs (``ctx.extras``) of
        every step land in ``ctx.extras``.

        The selection is replayed with the pixels: a selection step
        (``select_*``) changes it, every other step runs under it
        (``ctx.selection`` of that step), and a geometry step moves it with the
        image. The selection the recipe ends with is left in
        ``ctx.selection_result`` (``None``: nothing selected).

        Parameters
        ----------
        image : ndarray
            The pixels to start from.
        ctx : OpContext, optional
            Progress, cancel and side outputs.
        selection : ndarray or None, optional
            The selection to start from (default: ``ctx.selection``).
        """
        ops = _ops()
        registry = importlib.import_module("editor.ops.registry")
        ctx = ctx or null_context()
        mask = ctx.selection if selection is _FROM_CTX else selection
        n = max(len(self.steps), 1)
        out = image
        for i, step in enumerate(self.steps):
            spec = _get_op(ops, step.op)
            ctx.report(i / n, spec.title)
            sub = OpContext(progress=_scaled(ctx, i, n, spec.title),
                            cancel_event=ctx.cancel_event, preview_scale=ctx.preview_scale,
                            partial=ctx.emit_partial,
                            selection=None if spec.transforms else mask)
            sub.extras = ctx.extras  # side outputs pass through to the caller
            if spec.selects:
                mask = registry.run_select(spec, out, self.resolved(spec.name, step.params),
                                           mask, sub)
                continue
            out = ops.run_op(spec, out, step.params, sub)
            if spec.transforms:
                mask = registry.transform_mask(spec, step.params, mask, sub)
        ctx.report(1.0, "")
        ctx.selection_result = mask
        return out

    def resolved(self, op: str, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` of step ``op`` with a mask ``file`` found in :attr:`folder`.

        A ``select_mask`` step names its mask file relative to the recipe;
        other parameters are returned as they are.
        """
        name = params.get("file") if op == "select_mask" else None
        if not name or self.folder is None or Path(name).is_absolute():
            return params
        return {**params, "file": str(Path(self.folder) / name)}


def _scaled(ctx: OpContext, index: int, count: int, title: str):
    def progress(fraction: float, message: str) -> None:
        ctx.report((index + fraction) / count, message or title)

    return progress


def _get_op(ops, name: str):
    try:
        return ops.get_op(name)
    except KeyError as e:
        raise ops.ParamError(str(e.args[0]) if e.args else f"unknown operation {name!r}") \
            from None


def _checked_step(index: int, raw: Any) -> RecipeStep:
    if not isinstance(raw, dict) or not isinstance(raw.get("op"), str):
        raise RecipeError(f"step {index} must be an object with an \"op\" name")
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise RecipeError(f"step {index} ({raw['op']}): \"params\" must be an object")
    ops = _ops()
    spec = _get_op(ops, raw["op"])
    try:
        bound = spec.bind(params)
    except ops.ParamError as e:
        raise ops.ParamError(f"step {index}: {e}") from None
    # Keep only the keys the recipe gave, normalised by the parameter kinds
    # (JSON lists back to tuples for colours, ints for int params), so a replay
    # passes the op exactly the values the GUI did.
    return RecipeStep(spec.name, {k: bound[k] for k in params})


def json_value(value: Any) -> Any:
    """``value`` with NumPy scalars/arrays, tuples and paths turned into plain JSON types."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, PathLike):
        return os.fspath(value)
    return value
