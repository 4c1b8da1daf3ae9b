"""Rebuild a document with its whole undo history from an original and a recipe (no Qt).

Crash recovery and project files describe a session the same way: the opened
pixels, a :class:`~editor.core.recovery.LinearHistory` of steps (each an op
with parameters, or a recipe of several), and the pixels of the states that
cannot or should not be recomputed (no op, heavy AI ops, the current state).
:func:`rebuild_document` turns that back into a :class:`Document` whose every
state exists, so undo and redo work exactly as before.

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

from collections.abc import Callable
from typing import Any

import numpy as np

from editor.core.context import OpContext, OpError, null_context
from editor.core.document import Document
from editor.core.history import HistoryStore
from editor.core.recipe import Recipe
from editor.core.recovery import LinearHistory, Step


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
        ``pixels(old_id)`` gives a state's saved pixels, or ``None`` to replay
        its recipe on the state before it.
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
        image = pixels(step.after)
        if image is None:
            if not step.recipe():
                raise OpError(f"Step {i + 1} ({step.title}) of {title} cannot be rebuilt: "
                              "its pixels were not saved.")
            recipe = Recipe()
            for op, params in step.recipe():
                recipe.append(op, params)
            try:
                image = recipe.apply(doc.get(before), OpContext(cancel_event=ctx.cancel_event))
            except (KeyError, ValueError) as e:
                raise OpError(f"Step {i + 1} ({step.title}) of {title} cannot be rebuilt: "
                              f"{str(e).strip(chr(39))}".rstrip(".") + ".") from None
        sid = doc.add_state(image, parent=before, title=step.title, op=step.op,
                            params=step.params, steps=step.steps)
        id_map[step.after] = sid
        restored.commands.append(Step(before, sid, step.title, step.op, step.params,
                                      list(step.steps), None))
    restored.set_index(history.index)
    doc.set_current(restored.current)
    return doc, restored, id_map
