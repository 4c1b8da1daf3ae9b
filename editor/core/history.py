"""A bounded store of image states for undo (no Qt).

The undo stack (Qt's ``QUndoStack`` in the UI) holds only integer state ids;
this store owns the pixels. Memory is bounded by a byte budget with a minimum
number of levels kept in RAM (GIMP's rule); when the budget is exceeded the
*oldest* states are written to a temporary folder with ``np.save`` and read
back transparently by :meth:`HistoryStore.get`, so history is never lost to the
budget, only moved to disk.

A state that differs from the state it was made from only inside a box (a
brush stroke, a heal, an edit confined to a selection) is also kept as that
box's pixels over its parent: a *delta*, GIMP's tile undo in one rectangle.
Its full array is then a cache, dropped for free when memory is short and
rebuilt from the nearest full ancestor when asked for, so a hundred strokes on
a 12 MP photo cost their strokes, not a hundred copies of the photo in RAM or
in spill files.

Examples
--------
>>> import numpy as np
>>> store = HistoryStore(budget_bytes=1000, min_levels=1)
>>> a = store.add(np.zeros((20, 20), np.uint8))   # 400 bytes
>>> b = store.add(np.ones((30, 30), np.uint8))    # 900 bytes: ``a`` is spilled
>>> store.is_spilled(a), int(store.get(a).sum())
(True, 0)
>>> store.close()

A local change is kept as a delta, and its array rebuilt when needed:

>>> store = HistoryStore(budget_bytes=0, min_levels=1)
>>> a = store.add(np.zeros((100, 100), np.uint8))
>>> edited = store.get(a).copy(); edited[10:20, 30:40] = 7
>>> b = store.add(edited, parent=a)
>>> store.delta_box(b), store.is_spilled(b), int(store.get(b).sum())
((10, 20, 30, 40), False, 700)
>>> store.close()
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from editor.core.lockfile import folder_orphaned, lock_folder

GIB = 1 << 30
#: prefix of the spill folders in the temp folder (one per store, locked by its process)
SPILL_PREFIX = "convolve-history-"


#: a state is kept as a delta when its changed box covers at most this share of it
DELTA_MAX_SHARE = 0.5


@dataclass(frozen=True)
class _Delta:
    """A state stored as its base's pixels with ``patch`` over ``box`` (y0, y1, x0, x1)."""

    base: int
    box: tuple[int, int, int, int]
    patch: np.ndarray
    shape: tuple[int, ...]
    dtype: np.dtype


def changed_box(old: np.ndarray, new: np.ndarray) -> tuple[int, int, int, int] | None:
    """The smallest box outside which ``new`` equals ``old``, bit for bit.

    Parameters
    ----------
    old, new : ndarray
        Images of one shape and dtype.

    Returns
    -------
    tuple of int or None
        ``(y0, y1, x0, x1)``, or ``None`` when the images are equal.

    Notes
    -----
    Scans from the edges inwards and stops at the first difference on each
    side, so a change that reaches the image's edges (any global edit) costs a
    few strips; a local one costs one read of what is unchanged around it.

    Examples
    --------
    >>> a = np.zeros((6, 8, 3), np.uint8); b = a.copy(); b[2:4, 5, 1] = 1
    >>> changed_box(a, b), changed_box(a, a.copy())
    ((2, 4, 5, 6), None)
    """
    if old.shape != new.shape or old.dtype != new.dtype:
        raise ValueError(f"cannot compare {new.dtype} {new.shape} with {old.dtype} {old.shape}")
    h, w = old.shape[:2]
    o, n = old.reshape(h, w, -1), new.reshape(h, w, -1)
    if o.flags.c_contiguous and n.flags.c_contiguous and o[0].nbytes % 8 == 0:
        # whole rows as 64-bit words: a few times fewer comparisons
        o_rows, n_rows = o.reshape(h, -1).view(np.uint64), n.reshape(h, -1).view(np.uint64)
    else:
        o_rows, n_rows = o.reshape(h, -1), n.reshape(h, -1)
    step = max(1, (1 << 20) // max(1, o[0].nbytes))  # about 1 MB of each image a strip

    def rows_differ(y0: int, y1: int) -> np.ndarray:
        return np.flatnonzero((o_rows[y0:y1] != n_rows[y0:y1]).any(axis=1)) + y0

    top = bottom = None
    for y0 in range(0, h, step):
        hits = rows_differ(y0, min(h, y0 + step))
        if hits.size:
            top = int(hits[0])
            break
    if top is None:
        return None
    for y1 in range(h, top, -step):
        hits = rows_differ(max(top, y1 - step), y1)
        if hits.size:
            bottom = int(hits[-1]) + 1
            break
    # columns: the words of the changed rows that differ anywhere, then the exact pixel
    # at each end of them (a word can hold parts of several pixels)
    seen = np.zeros(o_rows.shape[1], bool)
    for y0 in range(top, bottom, step):
        seen |= (o_rows[y0:min(bottom, y0 + step)] != n_rows[y0:min(bottom, y0 + step)]).any(0)
        if seen[0] and seen[-1]:  # a change at both sides (a global edit): nothing to narrow
            break
    words = np.flatnonzero(seen)
    pixel, word = o[0, 0].nbytes, o_rows.itemsize
    first, last = words[0] * word // pixel, ((words[-1] + 1) * word - 1) // pixel
    band = slice(top, bottom)

    def differs(x: int) -> bool:
        return bool((o[band, x] != n[band, x]).any())

    left = next(x for x in range(first, last + 1) if differs(x))
    right = next(x for x in range(last, left - 1, -1) if differs(x)) + 1
    return top, bottom, left, right


def default_budget() -> int:
    """``min(1 GiB, 25 % of physical RAM)``."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = 4 * GIB
    return int(min(GIB, ram // 4))


def process_memory() -> int:
    """Resident bytes of this process (0 where it cannot be read)."""
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:  # noqa: BLE001  (no psutil, or a sandbox that hides /proc)
        return 0


def clean_orphan_spills(parent: str | os.PathLike | None = None) -> list[Path]:
    """Delete spill folders whose process has died (a kill leaves them behind).

    Parameters
    ----------
    parent : str or Path, optional
        Where the stores spilled (default: the system temp folder).

    Returns
    -------
    list of Path
        The folders removed.
    """
    root = Path(parent) if parent else Path(tempfile.gettempdir())
    removed = []
    for folder in root.glob(SPILL_PREFIX + "*"):
        if folder.is_dir() and folder_orphaned(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


class HistoryStore:
    """Image states by id, RAM-bounded, spilling the oldest to disk.

    Parameters
    ----------
    budget_bytes : int, optional
        Bytes of pixel data kept in memory (default :func:`default_budget`).
    min_levels : int
        States kept in memory even when they exceed the budget, so the last
        few undo steps are always instant.
    spill_dir : str or Path, optional
        Parent folder for the spill files (default: the system temp folder).
    count_process : bool
        Treat ``budget_bytes`` as a bound on the whole process's resident
        memory: what the process holds besides the states (libraries, the
        display, caches) is taken off the budget before states are kept in RAM.
    spill_in_background : bool
        Write spill files on a thread of the store's own, so whoever adds or
        reads a state (the GUI thread undoing to a spilled state) never waits
        for other states' files: RAM may stand over the budget by the states
        being written until they are. :meth:`flush` waits for them.

    Notes
    -----
    Thread-safe: the apply lane adds states (and pays for spilling) off the
    GUI thread, while the GUI reads them. Files are written outside the lock,
    so a reader never waits for a spill. Stored arrays are made read-only so
    a caller cannot corrupt history by writing into a state it was handed.

    A state can be *pinned* (:meth:`add` with ``pinned=True``, :meth:`pin`):
    :meth:`retain_only` keeps it whatever the caller's keep-set says. A worker
    pins the state it stores until the GUI thread has registered it, and a
    running job pins the state it reads, so no collector can free either.

    :meth:`add` with ``parent`` keeps a state that differs from its parent
    only inside a box of at most :data:`DELTA_MAX_SHARE` of the image as a
    delta (see the module docstring). Its full array is a cache: under
    memory pressure it is dropped, never written to disk, and :meth:`get`
    rebuilds it from the nearest ancestor in memory (or on disk) plus the
    patches down the chain. A released state that deltas still build on is
    kept, out of sight (not in :meth:`ids`), until the last of them goes.
    """

    def __init__(self, budget_bytes: int | None = None, min_levels: int = 3,
                 spill_dir: str | os.PathLike | None = None,
                 count_process: bool = False, spill_in_background: bool = False) -> None:
        self.budget_bytes = int(budget_bytes if budget_bytes is not None else default_budget())
        self.min_levels = max(1, int(min_levels))
        self.count_process = bool(count_process)
        self._spill_parent = spill_dir
        self._dir: Path | None = None
        self._dir_lock = None
        self._mem: OrderedDict[int, np.ndarray] = OrderedDict()  # oldest first
        self._disk: dict[int, tuple[Path, tuple[int, ...], np.dtype]] = {}
        self._writing: set[int] = set()  # being spilled right now (still readable from RAM)
        self._pins: dict[int, int] = {}  # id -> pin count
        self._deltas: dict[int, _Delta] = {}
        self._dependents: dict[int, int] = {}  # id -> deltas built directly on it
        self._hidden: set[int] = set()  # released, but kept for the deltas built on it
        self._next = 1
        self._lock = threading.RLock()
        self._spills: queue.SimpleQueue | None = queue.SimpleQueue() if spill_in_background \
            else None
        self._spiller: threading.Thread | None = None
        self._closed = False

    # -- public API --------------------------------------------------------
    def add(self, image: np.ndarray, pinned: bool = False, parent: int | None = None,
            box: tuple[int, int, int, int] | None = None) -> int:
        """Store ``image`` (not copied; made read-only) and return its new id.

        With ``pinned`` the id is pinned in the same locked step that creates
        it, so no :meth:`retain_only` can slip in between. With ``parent`` (the
        state ``image`` was made from) a change confined to a box is kept as a
        delta over the parent, when the parent's pixels are in memory to
        compare with; ``box`` ``(y0, y1, x0, x1)``, when the caller knows that
        nothing outside it changed (an edit inside a selection), spares the
        comparison.
        """
        if image.flags.writeable:
            if image.base is None:
                # the array itself, not a view of it: a state no one can write to (a
                # caller's later write fails loudly instead of changing history), and
                # a mask whose box is then found once (editor.core.selection.bbox)
                image.flags.writeable = False
            else:
                image = image.view()
                image.flags.writeable = False
        delta = None if parent is None else self._delta_over(parent, image, box)
        with self._lock:
            sid = self._next
            self._next += 1
            self._mem[sid] = image
            if delta is not None and self._stored(delta.base):  # not released meanwhile
                self._deltas[sid] = delta
                self._dependents[delta.base] = self._dependents.get(delta.base, 0) + 1
            if pinned:
                self._pins[sid] = 1
        self._enforce_budget()
        return sid

    def _delta_over(self, parent: int, image: np.ndarray,
                    box: tuple[int, int, int, int] | None = None) -> _Delta | None:
        """``image`` as a patch over ``parent``'s pixels, or None (a wide change, another
        shape, or a parent that is not in memory: reading it back to compare costs more
        than the delta saves). ``box``: where it changed, when the caller knows."""
        with self._lock:
            old = self._mem.get(parent) if self._stored(parent) else None
        if old is None or old.shape != image.shape or old.dtype != image.dtype:
            return None
        if box is None:
            box = changed_box(old, image) or (0, 0, 0, 0)
        y0, y1, x0, x1 = box
        if (y1 - y0) * (x1 - x0) > DELTA_MAX_SHARE * image.shape[0] * image.shape[1]:
            return None
        patch = image[y0:y1, x0:x1].copy()
        patch.flags.writeable = False
        return _Delta(parent, box, patch, image.shape, image.dtype)

    def delta_box(self, sid: int) -> tuple[int, int, int, int] | None:
        """The box ``sid`` changed over its parent when it is kept as a delta, else None."""
        with self._lock:
            d = self._deltas.get(sid)
            return None if d is None else d.box

    def new_id(self) -> int:
        """A fresh id that holds no array (a state that shares another's pixels)."""
        with self._lock:
            sid = self._next
            self._next += 1
            return sid

    def pin(self, sid: int) -> None:
        """Keep ``sid`` through :meth:`retain_only` until a matching :meth:`unpin`."""
        with self._lock:
            if sid not in self:
                raise KeyError(f"no image state {sid}")
            self._pins[sid] = self._pins.get(sid, 0) + 1

    def unpin(self, sid: int) -> None:
        """Undo one :meth:`pin` (unknown ids are ignored)."""
        with self._lock:
            n = self._pins.get(sid, 0) - 1
            if n > 0:
                self._pins[sid] = n
            else:
                self._pins.pop(sid, None)

    def pinned(self) -> set[int]:
        """Ids pinned now."""
        with self._lock:
            return set(self._pins)

    def get(self, sid: int) -> np.ndarray:
        """The state ``sid`` (read-only), reloaded from disk or rebuilt from its delta.

        Files are read and deltas rebuilt outside the lock, so another thread
        (the GUI pinning or reading a state in RAM) never waits for them.
        """
        with self._lock:
            if sid not in self:
                raise KeyError(f"no image state {sid}")
        return self._pixels(sid)

    def _pixels(self, sid: int) -> np.ndarray:
        """:meth:`get` for any stored id, a hidden delta base included."""
        with self._lock:
            if sid in self._mem:
                self._mem.move_to_end(sid)  # recently used: spill it last
                return self._mem[sid]
            rebuild = sid in self._deltas
            if rebuild:
                chain, nearest = [], sid
                while nearest in self._deltas and nearest not in self._mem:
                    chain.append(self._deltas[nearest])
                    nearest = self._deltas[nearest].base
                # an ancestor on disk is read straight into the new array: reloading it
                # into memory would spill it again, over and over, while undoing
                base_file = self._disk[nearest][0] if nearest in self._disk else None
            elif sid in self._disk:
                path = self._disk[sid][0]
            else:
                raise KeyError(f"no image state {sid}")
        if rebuild:
            # one copy of the nearest full ancestor, then each patch on the way back down
            image = None
            if base_file is not None:
                try:
                    image = np.load(base_file, allow_pickle=False)
                except OSError:
                    image = None  # reloaded or released by another thread meanwhile
            if image is None:
                image = self._pixels(nearest).copy()
            for d in reversed(chain):
                y0, y1, x0, x1 = d.box
                image[y0:y1, x0:x1] = d.patch
        else:
            try:
                image = np.load(path, allow_pickle=False)
            except OSError:
                image = None  # released (or reloaded by another thread) while we read
        with self._lock:
            if sid in self._mem:  # another thread reloaded or rebuilt it first
                self._mem.move_to_end(sid)
                return self._mem[sid]
            if image is None or not (sid in self._disk or sid in self._deltas):
                raise KeyError(f"no image state {sid}")
            if sid in self._disk:
                self._disk.pop(sid)
                path.unlink(missing_ok=True)
            image.flags.writeable = False
            self._mem[sid] = image
        self._enforce_budget(keep=sid)
        return image

    def release(self, sid: int) -> None:
        """Forget a state no command refers to any more (unknown ids are ignored).

        A state that deltas build on keeps its pixels, out of sight, until the
        last of them is released.
        """
        with self._lock:
            self._pins.pop(sid, None)
            if self._dependents.get(sid):
                self._hidden.add(sid)
            else:
                self._drop(sid)

    def _drop(self, sid: int) -> None:
        """Delete ``sid``'s pixels (holding the lock), and a hidden base no longer needed."""
        self._hidden.discard(sid)
        self._mem.pop(sid, None)
        entry = self._disk.pop(sid, None)
        if entry is not None:
            entry[0].unlink(missing_ok=True)
        d = self._deltas.pop(sid, None)
        if d is not None:
            left = self._dependents.pop(d.base) - 1
            if left:
                self._dependents[d.base] = left
            elif d.base in self._hidden:
                self._drop(d.base)

    def _stored(self, sid: int) -> bool:
        """``sid``'s pixels are here (in memory, on disk or as a delta), hidden or not."""
        return sid in self._mem or sid in self._disk or sid in self._deltas

    def retain_only(self, keep: set[int]) -> None:
        """Release every state whose id is neither in ``keep`` nor pinned."""
        with self._lock:
            for sid in [s for s in self.ids() if s not in keep and s not in self._pins]:
                self.release(sid)

    def shape_of(self, sid: int) -> tuple[tuple[int, ...], np.dtype]:
        """Shape and dtype of a state without loading it."""
        with self._lock:
            if sid in self._mem:
                a = self._mem[sid]
                return a.shape, a.dtype
            if sid in self._deltas:
                return self._deltas[sid].shape, self._deltas[sid].dtype
            _, shape, dtype = self._disk[sid]
            return shape, dtype

    def ids(self) -> list[int]:
        """Every stored id, in memory, on disk or as a delta."""
        with self._lock:
            return sorted({*self._mem, *self._disk, *self._deltas} - self._hidden)

    def __contains__(self, sid: int) -> bool:
        with self._lock:
            return self._stored(sid) and sid not in self._hidden

    def __len__(self) -> int:
        return len(self.ids())

    def is_spilled(self, sid: int) -> bool:
        """True while ``sid`` lives on disk only."""
        with self._lock:
            return sid in self._disk

    def in_memory(self, sid: int) -> bool:
        """True when :meth:`get` hands ``sid`` out at once (no file read, no rebuild)."""
        with self._lock:
            return sid in self._mem

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the spill files queued so far are written; False on timeout."""
        if self._spills is None or self._spiller is None:
            return True
        done = threading.Event()
        self._spills.put(done)
        return done.wait(timeout)

    @property
    def memory_bytes(self) -> int:
        """Bytes of pixel data held in RAM (deltas' patches included)."""
        with self._lock:
            return self._held()

    def _held(self) -> int:
        return (sum(a.nbytes for a in self._mem.values())
                + sum(d.patch.nbytes for d in self._deltas.values()))

    @property
    def disk_bytes(self) -> int:
        """Bytes of pixel data spilled to disk."""
        with self._lock:
            return sum(int(np.prod(s)) * np.dtype(d).itemsize for _, s, d in self._disk.values())

    @property
    def spill_dir(self) -> Path | None:
        """The temp folder in use (``None`` until something is spilled)."""
        return self._dir

    def close(self) -> None:
        """Drop every state and delete the spill folder.

        A background writer is stopped and waited for first: a file it is still
        writing would otherwise land in the folder while it is being deleted.
        """
        with self._lock:
            self._closed = True  # the files still queued are skipped, not written
            spiller, self._spiller = self._spiller, None
        if spiller is not None:
            self._spills.put(None)
            if spiller is not threading.current_thread():
                spiller.join(timeout=30)
        with self._lock:
            self._mem.clear()
            self._disk.clear()
            self._pins.clear()
            self._deltas.clear()
            self._dependents.clear()
            self._hidden.clear()
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None
            if self._dir_lock is not None:
                self._dir_lock.release()
                self._dir_lock = None

    def __del__(self) -> None:  # best effort; close() is the real clean-up
        try:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
        except Exception:  # noqa: BLE001  (interpreter shutting down)
            pass

    # -- internals ---------------------------------------------------------
    def ram_budget(self) -> int:
        """Bytes of states this store may keep in RAM now.

        With ``count_process`` the process's resident memory outside the
        store is taken off ``budget_bytes``.
        """
        if not self.count_process:
            return self.budget_bytes
        with self._lock:
            held = self._held()
        others = max(0, process_memory() - held)
        return max(0, self.budget_bytes - others)

    def _enforce_budget(self, keep: int | None = None) -> None:
        """Spill the least recently used states until RAM use fits the budget.

        Victims are chosen under the lock but written outside it, so the GUI
        thread reading a state never waits for a spill to finish; a victim
        stays readable from RAM until its file is complete. A delta's array is
        only a cache: it is dropped, not written.
        """
        budget = self.ram_budget()
        with self._lock:
            if self._closed:  # a late job's state: kept in RAM, no new spill folder
                return
            used = self._held()
            resident = len(self._mem)
            victims, cached = [], []
            for sid, image in self._mem.items():
                if used <= budget or resident <= self.min_levels:
                    break
                if sid in self._writing:  # on its way to disk: as good as gone
                    used -= image.nbytes
                    resident -= 1
                    continue
                if sid == keep:
                    continue
                if sid in self._deltas:
                    cached.append(sid)
                else:
                    victims.append((sid, image))
                    self._writing.add(sid)
                used -= image.nbytes
                resident -= 1
            for sid in cached:
                del self._mem[sid]
            if victims and self._dir is None:
                self._dir = Path(tempfile.mkdtemp(prefix=SPILL_PREFIX, dir=self._spill_parent))
                # the lock marks the folder as ours; a kill leaves it for clean_orphan_spills
                self._dir_lock = lock_folder(self._dir)
            folder = self._dir
            if victims and self._spills is not None:
                for victim in victims:
                    self._spills.put((*victim, folder))
                if self._spiller is None:
                    self._spiller = threading.Thread(target=self._spill_queued, daemon=True,
                                                     name="history spill")
                    self._spiller.start()
                return
        for sid, image in victims:
            self._spill(sid, image, folder)

    def _spill_queued(self) -> None:
        """The background writer: spill files in the order queued, until :meth:`close`."""
        queued = self._spills
        while (item := queued.get()) is not None:
            if isinstance(item, threading.Event):
                item.set()  # a flush: everything before it is written
                continue
            try:
                self._spill(*item)
            except Exception:  # noqa: BLE001  (the thread must outlive one bad write)
                with self._lock:
                    self._writing.discard(item[0])  # kept in RAM, as after a full disk

    def _spill(self, sid: int, image: np.ndarray, folder: Path) -> None:
        """Write one victim, then let it go from RAM (unless released or closed meanwhile)."""
        path = folder / f"state-{sid}.npy"
        with self._lock:
            if self._closed:
                self._writing.discard(sid)
                return
        try:
            np.save(path, np.ascontiguousarray(image), allow_pickle=False)
        except OSError:
            path.unlink(missing_ok=True)  # a full disk (or closed): keep the state in RAM
            with self._lock:
                self._writing.discard(sid)
            return
        with self._lock:
            self._writing.discard(sid)
            # released or closed meanwhile: the file is not wanted
            if self._mem.get(sid) is not image or self._dir != folder:
                path.unlink(missing_ok=True)
                return
            del self._mem[sid]
            self._disk[sid] = (path, image.shape, image.dtype)
