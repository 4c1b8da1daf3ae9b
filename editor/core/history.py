"""A bounded store of image states for undo (no Qt).

The undo stack (Qt's ``QUndoStack`` in the UI) holds only integer state ids;
this store owns the pixels. Memory is bounded by a byte budget with a minimum
number of levels kept in RAM (GIMP's rule); when the budget is exceeded the
*oldest* states are written to a temporary folder with ``np.save`` and read
back transparently by :meth:`HistoryStore.get`, so history is never lost to the
budget, only moved to disk.

Examples
--------
>>> import numpy as np
>>> store = HistoryStore(budget_bytes=1000, min_levels=1)
>>> a = store.add(np.zeros((20, 20), np.uint8))   # 400 bytes
>>> b = store.add(np.ones((30, 30), np.uint8))    # 900 bytes: ``a`` is spilled
>>> store.is_spilled(a), int(store.get(a).sum())
(True, 0)
>>> store.close()
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from editor.core.lockfile import folder_orphaned, lock_folder

GIB = 1 << 30
#: prefix of the spill folders in the temp folder (one per store, locked by its process)
SPILL_PREFIX = "convolve-history-"


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
    """

    def __init__(self, budget_bytes: int | None = None, min_levels: int = 3,
                 spill_dir: str | os.PathLike | None = None,
                 count_process: bool = False) -> None:
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
        self._next = 1
        self._lock = threading.RLock()

    # -- public API --------------------------------------------------------
    def add(self, image: np.ndarray, pinned: bool = False) -> int:
        """Store ``image`` (not copied; made read-only) and return its new id.

        With ``pinned`` the id is pinned in the same locked step that creates
        it, so no :meth:`retain_only` can slip in between.
        """
        if image.flags.writeable:
            image = image.view()
            image.flags.writeable = False
        with self._lock:
            sid = self._next
            self._next += 1
            self._mem[sid] = image
            if pinned:
                self._pins[sid] = 1
        self._enforce_budget()
        return sid

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
        """The state ``sid`` (read-only), reloaded from disk if it was spilled.

        The file is read outside the lock, so another thread (the GUI pinning or
        reading a state in RAM) never waits for a reload.
        """
        with self._lock:
            if sid in self._mem:
                self._mem.move_to_end(sid)  # recently used: spill it last
                return self._mem[sid]
            if sid not in self._disk:
                raise KeyError(f"no image state {sid}")
            path = self._disk[sid][0]
        try:
            image = np.load(path, allow_pickle=False)
        except OSError:
            image = None  # released (or reloaded by another thread) while we read
        with self._lock:
            if sid in self._mem:  # another thread reloaded it first
                self._mem.move_to_end(sid)
                return self._mem[sid]
            if sid not in self._disk or image is None:
                raise KeyError(f"no image state {sid}")
            self._disk.pop(sid)
            path.unlink(missing_ok=True)
            image.flags.writeable = False
            self._mem[sid] = image
        self._enforce_budget(keep=sid)
        return image

    def release(self, sid: int) -> None:
        """Forget a state no command refers to any more (unknown ids are ignored)."""
        with self._lock:
            self._mem.pop(sid, None)
            self._pins.pop(sid, None)
            entry = self._disk.pop(sid, None)
            if entry is not None:
                entry[0].unlink(missing_ok=True)

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
            _, shape, dtype = self._disk[sid]
            return shape, dtype

    def ids(self) -> list[int]:
        """Every stored id, in memory or on disk."""
        with self._lock:
            return sorted([*self._mem, *self._disk])

    def __contains__(self, sid: int) -> bool:
        with self._lock:
            return sid in self._mem or sid in self._disk

    def __len__(self) -> int:
        with self._lock:
            return len(self._mem) + len(self._disk)

    def is_spilled(self, sid: int) -> bool:
        """True while ``sid`` lives on disk only."""
        with self._lock:
            return sid in self._disk

    @property
    def memory_bytes(self) -> int:
        """Bytes of pixel data held in RAM."""
        with self._lock:
            return sum(a.nbytes for a in self._mem.values())

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
        """Drop every state and delete the spill folder."""
        with self._lock:
            self._mem.clear()
            self._disk.clear()
            self._pins.clear()
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
            held = sum(a.nbytes for a in self._mem.values())
        others = max(0, process_memory() - held)
        return max(0, self.budget_bytes - others)

    def _enforce_budget(self, keep: int | None = None) -> None:
        """Spill the least recently used states until RAM use fits the budget.

        Victims are chosen under the lock but written outside it, so the GUI
        thread reading a state never waits for a spill to finish; a victim
        stays readable from RAM until its file is complete.
        """
        budget = self.ram_budget()
        with self._lock:
            used = sum(a.nbytes for a in self._mem.values())
            resident = len(self._mem)
            victims = []
            for sid, image in self._mem.items():
                if used <= budget or resident <= self.min_levels:
                    break
                if sid == keep or sid in self._writing:
                    continue
                victims.append((sid, image))
                self._writing.add(sid)
                used -= image.nbytes
                resident -= 1
            if victims and self._dir is None:
                self._dir = Path(tempfile.mkdtemp(prefix=SPILL_PREFIX, dir=self._spill_parent))
                # the lock marks the folder as ours; a kill leaves it for clean_orphan_spills
                self._dir_lock = lock_folder(self._dir)
            folder = self._dir
        for sid, image in victims:
            path = folder / f"state-{sid}.npy"
            try:
                np.save(path, np.ascontiguousarray(image), allow_pickle=False)
            except OSError:
                path.unlink(missing_ok=True)  # a full disk: keep the state in RAM
                with self._lock:
                    self._writing.discard(sid)
                continue
            with self._lock:
                self._writing.discard(sid)
                # released or closed meanwhile: the file is not wanted
                if self._mem.get(sid) is not image or self._dir != folder:
                    path.unlink(missing_ok=True)
                    continue
                del self._mem[sid]
                self._disk[sid] = (path, image.shape, image.dtype)
