"""The open document: its file facts, its image states and their recipe (no Qt).

Every image state the document has seen lives in a :class:`HistoryStore`;
the document records, per state, the state it was made from and the
``(op, params)`` step that made it. Walking that chain back to the opened
image gives the recipe of any state, so undo, redo and history jumps need no
recipe bookkeeping of their own: the recipe is always that of the current state.

Thread rules: only the thread that owns the document (the GUI thread) registers,
discards or switches states. A worker only *stores pixels*
(:meth:`Document.store_pixels`), which pins them in the store until the owner
registers or discards them, so a collector can never free a state between
its storing and its registration.

Examples
--------
>>> import numpy as np
>>> doc = Document(np.zeros((4, 4), np.uint8), path="a.png")
>>> sid = doc.add_state(np.ones((4, 4), np.uint8), parent=doc.base_id,
...                     title="Invert", op="invert", params={})
>>> doc.set_current(sid); doc.dirty, doc.recipe_steps()
(True, [('invert', {})])
>>> doc.close()
"""

from __future__ import annotations

import copy
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from editor.core.history import HistoryStore
from editor.core.image import check_image


@dataclass(frozen=True)
class StateInfo:
    """How one image state was made.

    ``op`` is ``None`` for edits that cannot be replayed from a recipe (a
    painted mask, an AI result committed without an op name); the opened image
    itself has ``parent`` ``None``.
    """

    parent: int | None
    title: str
    op: str | None = None
    params: dict[str, Any] | None = None
    #: several recipe steps made this state at once (a replayed recipe)
    steps: tuple[tuple[str, dict[str, Any]], ...] = ()

    def recipe(self) -> list[tuple[str, dict[str, Any]]]:
        """The ``(op, params)`` steps this state adds to its parent's recipe."""
        if self.steps:
            return [(op, copy.deepcopy(p)) for op, p in self.steps]
        return [(self.op, copy.deepcopy(self.params or {}))] if self.op else []


class Document:
    """An image being edited.

    Parameters
    ----------
    image : ndarray
        The opened pixels (see :mod:`editor.core.image`).
    path : str, optional
        Source file, if any.
    format, exif, icc_profile, info
        File facts from the loader, kept so an export can carry them.
    store : HistoryStore, optional
        Where states live (a fresh default-budget store if omitted).
    """

    def __init__(self, image: np.ndarray, *, path: str | None = None,
                 format: str | None = None, exif: bytes | None = None,
                 icc_profile: bytes | None = None, info: dict[str, Any] | None = None,
                 store: HistoryStore | None = None) -> None:
        check_image(image)
        self.path = str(path) if path else None
        self.format = format
        self.exif = exif
        self.icc_profile = icc_profile
        self.info = dict(info or {})
        self.store = store if store is not None else HistoryStore()
        self._lock = threading.Lock()
        self.states: dict[int, StateInfo] = {}
        self.base_id = self.store.add(image)
        self.states[self.base_id] = StateInfo(parent=None, title="Open")
        self.current_id = self.base_id
        self.saved_id: int | None = self.base_id
        #: the Convolve project this document was saved to or opened from
        self.project_path: str | None = None
        #: side outputs of the latest operation (corner points, class scores)
        self.extras: dict[str, Any] = {}

    @classmethod
    def from_file(cls, image_file: Any, store: HistoryStore | None = None) -> Document:
        """Build from an ``editor.io.ImageFile`` (duck-typed)."""
        return cls(image_file.pixels, path=str(image_file.path) if image_file.path else None,
                   format=getattr(image_file, "format", None),
                   exif=getattr(image_file, "exif", None),
                   icc_profile=getattr(image_file, "icc_profile", None),
                   info=dict(getattr(image_file, "info", None) or {}), store=store)

    # -- states --------------------------------------------------------------
    @property
    def image(self) -> np.ndarray:
        """Pixels of the current state (read-only)."""
        return self.store.get(self.current_id)

    @property
    def original(self) -> np.ndarray:
        """Pixels as opened (read-only)."""
        return self.store.get(self.base_id)

    def get(self, sid: int) -> np.ndarray:
        """Pixels of any state."""
        return self.store.get(sid)

    def store_pixels(self, image: np.ndarray) -> int:
        """Store pixels for a state not registered yet; safe on a worker thread.

        The new id stays pinned (no :meth:`retain_only` frees it) until the
        owner calls :meth:`register` or :meth:`discard`.
        """
        check_image(image)
        return self.store.add(image, pinned=True)

    def register(self, sid: int, *, parent: int, title: str, op: str | None = None,
                 params: dict[str, Any] | None = None,
                 steps: list[tuple[str, dict[str, Any]]] | None = None) -> int:
        """Make stored pixels ``sid`` a state made from ``parent`` (owner thread)."""
        if sid not in self.store:
            raise KeyError(f"no image state {sid}")
        with self._lock:
            self.states[sid] = StateInfo(parent=parent, title=title, op=op,
                                         params=copy.deepcopy(params) if params else
                                         ({} if op else None),
                                         steps=tuple((o, copy.deepcopy(p)) for o, p in
                                                     (steps or ())))
        self.store.unpin(sid)
        return sid

    def discard(self, sid: int) -> None:
        """Free stored pixels that will not become a state (a refused result)."""
        with self._lock:
            self.states.pop(sid, None)
        self.store.release(sid)

    def add_state(self, image: np.ndarray, *, parent: int, title: str,
                  op: str | None = None, params: dict[str, Any] | None = None,
                  steps: list[tuple[str, dict[str, Any]]] | None = None) -> int:
        """Store and register a state made from ``parent`` in one call (owner thread)."""
        return self.register(self.store_pixels(image), parent=parent, title=title, op=op,
                             params=params, steps=steps)

    def set_current(self, sid: int) -> None:
        """Make ``sid`` the current state (undo, redo, history jumps)."""
        if sid not in self.states:
            raise KeyError(f"no image state {sid}")
        self.current_id = sid

    def retain_only(self, keep: set[int]) -> None:
        """Free every state not in ``keep`` (the opened, current, saved and pinned states stay)."""
        keep = set(keep) | {self.base_id, self.current_id}
        if self.saved_id is not None:
            keep.add(self.saved_id)
        keep |= self.store.pinned()
        with self._lock:
            for sid in [s for s in self.states if s not in keep]:
                del self.states[sid]
        self.store.retain_only(keep)

    # -- recipe --------------------------------------------------------------
    def chain(self, sid: int | None = None) -> list[StateInfo]:
        """Steps from the opened image to ``sid`` (default: current), oldest first."""
        sid = self.current_id if sid is None else sid
        out = []
        while sid is not None:
            info = self.states[sid]
            if info.parent is not None:
                out.append(info)
            sid = info.parent
        return out[::-1]

    def recipe_steps(self, sid: int | None = None) -> list[tuple[str, dict[str, Any]]]:
        """``(op, params)`` for every replayable step up to ``sid``."""
        return [step for s in self.chain(sid) for step in s.recipe()]

    def replayable(self, sid: int | None = None) -> bool:
        """True when every step to ``sid`` has an op (so the recipe reproduces it)."""
        return all(s.op or s.steps for s in self.chain(sid))

    # -- file state ------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        """Unsaved edits: the current state is not the one last saved or opened."""
        return self.current_id != self.saved_id

    def mark_saved(self, path: str | None = None) -> None:
        """Record that the current state is what is on disk."""
        self.saved_id = self.current_id
        if path:
            self.path = str(path)

    @property
    def name(self) -> str:
        """File name for titles: the project's, else the image's (``Untitled`` without)."""
        shown = self.project_path or self.path
        return Path(shown).name if shown else "Untitled"

    @property
    def directory(self) -> str:
        """Folder of the project or source file, or the current folder."""
        shown = self.project_path or self.path
        return str(Path(shown).parent) if shown else os.getcwd()

    def close(self) -> None:
        """Free every state (and the spill folder)."""
        self.store.close()
