"""Rebuild a document with its whole undo history from an original and a recipe (no Qt).

Crash recovery and project files describe a session the same way: the opened
pixels, a :class:`~editor.core.recovery.LinearHistory` of steps (each an op
with parameters, or a recipe of several), and the pixels of the states that
cannot or should not be recomputed (no op, heavy AI ops, the current state).
Each state's selection is rebuilt with it: selection steps are replayed (or
read back, for painted masks), other steps run under the selection before
them, and geometry moves it. :func:`rebuild_document` turns that back into a
:class:`Document` whose every state exists, so undo and redo work exactly as
before.

Examples
--------
>>> import numpy as np
>>> from editor.core.recovery import LinearHistory, Step
>>> h = LinearHistory(base=7)
>>> h.push(Step(7, 8, "Invert", "invert", {}))
>>> doc, restored, ids = rebuild_document(h, np.zeros((2, 2), np.uint8), lambda sid: None)
>>> int(doc.image[0, 0]), restored.index, ids[8] == restored.current
(255, 1, True)
>>> doc.close()
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from editor.core.context import OpContext, OpError, null_context
from editor.core.document import INHERIT, Document
from editor.core.history import HistoryStore
from editor.core.recipe import Recipe
from editor.core.recovery import LinearHistory, Step
from editor.core.selection import check_mask


def rebuild_document(history: LinearHistory, original: np.ndarray,
                     pixels: Callable[[int], np.ndarray | None], *,
                     path: str | None = None, info: dict[str, Any] | None = None,
                     store: HistoryStore | None = None, ctx: OpContext | None = None,
                     title: str = "the image", **facts: Any,
                     ) -> tuple[Document, LinearHistory, dict[int, int]]:
    """Every state of ``history``, from ``original`` forwards.

    Parameters
    ----------
    history : LinearHistory
        The steps, with the ids they had when they were recorded.
    original : ndarray
        Pixels of ``history.base``.
    pixels : callable
        ``pixels(old_id)`` gives a state's saved pixels (for a selection step,
        its mask), or ``None`` to replay its recipe on the state before it.
    path, info, store, facts
        Passed to :class:`Document` (``facts``: format, exif, icc_profile).
    ctx : OpContext, optional
        Progress and Cancel.
    title : str
        Names the session in messages.

    Returns
    -------
    doc : Document
        With every state registered and the current one set.
    restored : LinearHistory
        The same history in ``doc``'s ids.
    id_map : dict
        Old id -> new id.

    Raises
    ------
    OpError
        A step has neither pixels nor a recipe, or its replay fails (one sentence).
    """
    ctx = ctx or null_context()
    doc = Document(original, path=path, info=info, store=store, **facts)
    id_map = {history.base: doc.base_id}
    restored = LinearHistory(doc.base_id)
    n = len(history.commands)
    for i, step in enumerate(history.commands):
        ctx.report(i / max(1, n), f"Restoring {step.title} ({i + 1} of {n})")
        before = id_map[step.before]
        if step.selects:
            sid = _selection_state(doc, step, before, pixels(step.after), ctx, i, title)
        else:
            sid = _image_state(doc, step, before, pixels(step.after), ctx, i, title)
        id_map[step.after] = sid
        restored.commands.append(Step(before, sid, step.title, step.op, step.params,
                                      list(step.steps), None, step.selects))
    restored.set_index(history.index)
    doc.set_current(restored.current)
    return doc, restored, id_map


def _failed(i: int, step: Step, title: str, e: Exception | str) -> OpError:
    why = e if isinstance(e, str) else str(e).strip(chr(39))
    return OpError(f"Step {i + 1} ({step.title}) of {title} cannot be rebuilt: "
                   f"{why}".rstrip(".") + ".")


def _image_state(doc: Document, step: Step, before: int, image: np.ndarray | None,
                 ctx: OpContext, i: int, title: str) -> int:
    """Register an edit's state: its saved pixels, or its recipe replayed under the
    selection of the state before; its selection follows the recipe (moved by
    geometry, changed by selection steps inside a replayed recipe)."""
    if image is None and not step.recipe():
        raise _failed(i, step, title, "its pixels were not saved")
    recipe = Recipe()
    for op, params in step.recipe():
        recipe.append(op, params)
    selection = doc.selection(before)
    sub = OpContext(cancel_event=ctx.cancel_event)
    try:
        if image is None:
            image = recipe.apply(doc.get(before), sub, selection=selection)
            after = sub.selection_result
        else:
            after = _selection_after(recipe, doc.get(before), image, selection, sub)
    except (KeyError, ValueError, OpError) as e:
        raise _failed(i, step, title, e) from None
    keep = after is selection  # unchanged: share the parent's mask
    return doc.add_state(image, parent=before, title=step.title, op=step.op,
                         params=step.params, steps=step.steps,
                         selection=INHERIT if keep else after)


def _selection_after(recipe: Recipe, original: np.ndarray, image: np.ndarray,
                     selection: np.ndarray | None, ctx: OpContext) -> np.ndarray | None:
    """The selection after ``recipe`` whose pixels were saved: geometry moves it; a
    recipe that selects is replayed (the selection may depend on the pixels)."""
    registry = importlib.import_module("editor.ops.registry")
    specs = []
    for s in recipe.steps:
        try:
            specs.append(registry.get_op(s.op))
        except KeyError:  # an op that is gone: its saved pixels stand, the selection stays
            specs.append(None)
    if any(spec is not None and spec.selects for spec in specs):
        recipe.apply(original, ctx, selection=selection)
        return ctx.selection_result
    mask = selection
    for spec, s in zip(specs, recipe.steps, strict=True):
        if spec is not None:
            mask = registry.transform_mask(spec, s.params, mask, ctx)
    return mask


def _selection_state(doc: Document, step: Step, before: int, mask: np.ndarray | None,
                     ctx: OpContext, i: int, title: str) -> int:
    """Register a selection step: its saved mask, or its selection op replayed."""
    if mask is not None:
        mask = check_mask(mask, doc.get(before).shape)
    elif step.op is not None:
        registry = importlib.import_module("editor.ops.registry")
        try:
            spec = registry.get_op(step.op)
            mask = registry.run_select(spec, doc.get(before), step.params or {},
                                       doc.selection(before),
                                       OpContext(cancel_event=ctx.cancel_event))
        except (KeyError, ValueError, OpError) as e:
            raise _failed(i, step, title, e) from None
    # else: a painted step that deselected (nothing to save)
    mid = None if mask is None else doc.store_mask(mask)
    return doc.register_selection(mid, parent=before, title=step.title, op=step.op,
                                  params=step.params)
