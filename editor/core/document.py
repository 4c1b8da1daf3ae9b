"""The open document: its file facts, its image states and their recipe (no Qt).

Every image state the document has seen lives in a :class:`HistoryStore`;
the document records, per state, the state it was made from and the
``(op, params)`` step that made it. Walking that chain back to the opened
image gives the recipe of any state, so undo, redo and history jumps need no
recipe bookkeeping of their own: the recipe is always that of the current state.

Each state also carries the selection it was made with (a soft mask, see
:mod:`editor.core.selection`), as a store id shared by every state that keeps
it; a selection step is a state of its own that shares its parent's pixels, so
selecting is undone like any edit.

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

#: :meth:`Document.register`'s default: the new state keeps its parent's selection
INHERIT = object()


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
    #: store id of the pixels when they are another state's (a selection step)
    pixels: int | None = None
    #: store id of the selection mask (``None``: nothing selected, the whole image)
    mask: int | None = None
    #: the step changed only the selection
    selects: bool = False

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
        self._pins: dict[int, int] = {}  # state id -> pin count (jobs reading it)
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
        return self.get(self.current_id)

    @property
    def original(self) -> np.ndarray:
        """Pixels as opened (read-only)."""
        return self.store.get(self.base_id)

    def get(self, sid: int) -> np.ndarray:
        """Pixels of any state (or of stored pixels not registered yet)."""
        return self.store.get(self.pixels_id(sid))

    def pixels_id(self, sid: int) -> int:
        """Store id of the pixels of state ``sid``."""
        info = self.states.get(sid)
        return info.pixels if info is not None and info.pixels is not None else sid

    def mask_id(self, sid: int | None = None) -> int | None:
        """Store id of the selection of state ``sid`` (default: current), if any."""
        info = self.states.get(self.current_id if sid is None else sid)
        return None if info is None else info.mask

    def selection(self, sid: int | None = None) -> np.ndarray | None:
        """The selection (``float32`` mask) of state ``sid`` (default: current), or None."""
        mid = self.mask_id(sid)
        return None if mid is None else self.store.get(mid)

    def _store_ids(self, sid: int) -> list[int]:
        """Store ids state ``sid`` reads: its pixels, and its selection if it has one."""
        mid = self.mask_id(sid)
        return [self.pixels_id(sid)] + ([] if mid is None else [mid])

    def has(self, sid: int) -> bool:
        """True while state ``sid`` and everything it refers to are stored."""
        return all(i in self.store for i in self._store_ids(sid))

    def pin(self, sid: int) -> None:
        """Keep state ``sid``, its pixels and selection through collection (see HistoryStore)."""
        with self._lock:
            self._pins[sid] = self._pins.get(sid, 0) + 1
        for i in self._store_ids(sid):
            self.store.pin(i)

    def unpin(self, sid: int) -> None:
        """Undo one :meth:`pin`."""
        with self._lock:
            n = self._pins.pop(sid, 0) - 1
            if n > 0:
                self._pins[sid] = n
        for i in self._store_ids(sid):
            self.store.unpin(i)

    def store_mask(self, mask: np.ndarray, parent: int | None = None) -> int:
        """Store a selection mask (pinned until registered); safe on a worker thread.

        ``parent``, the state whose selection this one changes, lets the store keep
        a local change (a quick-mask stroke, a small area added) as a delta over it.
        """
        if mask.ndim != 2 or mask.dtype != np.float32:
            raise ValueError("a selection mask is a 2-D float32 array")
        before = None if parent is None else self.mask_id(parent)
        return self.store.add(mask, pinned=True, parent=before)

    def store_pixels(self, image: np.ndarray, parent: int | None = None,
                     box: tuple[int, int, int, int] | None = None) -> int:
        """Store pixels for a state not registered yet; safe on a worker thread.

        The new id stays pinned (no :meth:`retain_only` frees it) until the
        owner calls :meth:`register` or :meth:`discard`. ``parent``, the state
        the pixels were made from, lets the store keep a local change (a
        stroke, an edit inside a selection) as a delta over it; ``box``
        ``(y0, y1, x0, x1)``, when known, is where they differ from it.
        """
        check_image(image)
        return self.store.add(image, pinned=True, box=box,
                              parent=None if parent is None else self.pixels_id(parent))

    def register(self, sid: int, *, parent: int, title: str, op: str | None = None,
                 params: dict[str, Any] | None = None,
                 steps: list[tuple[str, dict[str, Any]]] | None = None,
                 mask: int | None | object = INHERIT) -> int:
        """Make stored pixels ``sid`` a state made from ``parent`` (owner thread).

        ``mask`` is the store id of the new state's selection (from
        :meth:`store_mask`), ``None`` for none, or :data:`INHERIT` (default):
        the parent's selection.
        """
        if sid not in self.store:
            raise KeyError(f"no image state {sid}")
        mid = self.mask_id(parent) if mask is INHERIT else mask
        with self._lock:
            self.states[sid] = StateInfo(parent=parent, title=title, op=op,
                                         params=copy.deepcopy(params) if params else
                                         ({} if op else None),
                                         steps=tuple((o, copy.deepcopy(p)) for o, p in
                                                     (steps or ())), mask=mid)
        self.store.unpin(sid)
        if mask is not INHERIT and mask is not None:
            self.store.unpin(mask)
        return sid

    def register_selection(self, mask: int | None, *, parent: int, title: str,
                           op: str | None = None, params: dict[str, Any] | None = None) -> int:
        """A state with ``parent``'s pixels and a new selection (owner thread).

        Parameters
        ----------
        mask : int or None
            Store id from :meth:`store_mask`, or ``None`` (Select ▸ None).
        parent : int
            The state whose pixels the new one shares.
        title, op, params
            History entry and the selection op that made it (``None``: a painted mask).
        """
        sid = mask if mask is not None else self.store.new_id()
        with self._lock:
            self.states[sid] = StateInfo(parent=parent, title=title, op=op,
                                         params=copy.deepcopy(params) if params else
                                         ({} if op else None), pixels=self.pixels_id(parent),
                                         mask=mask, selects=True)
        if mask is not None:
            self.store.unpin(mask)
        return sid

    def discard(self, sid: int) -> None:
        """Free stored pixels (or a mask) that will not become a state (a refused result)."""
        with self._lock:
            self.states.pop(sid, None)
        self.store.release(sid)

    def add_state(self, image: np.ndarray, *, parent: int, title: str,
                  op: str | None = None, params: dict[str, Any] | None = None,
                  steps: list[tuple[str, dict[str, Any]]] | None = None,
                  selection: np.ndarray | None | object = INHERIT) -> int:
        """Store and register a state made from ``parent`` in one call (owner thread).

        ``selection``: the new state's mask, ``None`` for none, or
        :data:`INHERIT` (the parent's).
        """
        mask = selection if selection is INHERIT or selection is None \
            else self.store_mask(selection)
        return self.register(self.store_pixels(image, parent), parent=parent, title=title, op=op,
                             params=params, steps=steps, mask=mask)

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
            keep |= set(self._pins)
            for sid in [s for s in self.states if s not in keep]:
                del self.states[sid]
            # a kept state keeps the pixels it shares and its selection
            keep |= {i for s in self.states for i in self._store_ids(s)}
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
