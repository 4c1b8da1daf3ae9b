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

GIB = 1 << 30


def default_budget() -> int:
    """``min(1 GiB, 25 % of physical RAM)``."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = 4 * GIB
    return int(min(GIB, ram // 4))


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

    Notes
    -----
    Thread-safe: the apply lane adds states (and pays for spilling) off the
    GUI thread, while the GUI reads them. Stored arrays are made read-only so
    a caller cannot corrupt history by writing into a state it was handed.
    """

    def __init__(self, budget_bytes: int | None = None, min_levels: int = 3,
                 spill_dir: str | os.PathLike | None = None) -> None:
        self.budget_bytes = int(budget_bytes if budget_bytes is not None else default_budget())
        self.min_levels = max(1, int(min_levels))
        self._spill_parent = spill_dir
        self._dir: Path | None = None
        self._mem: OrderedDict[int, np.ndarray] = OrderedDict()  # oldest first
        self._disk: dict[int, tuple[Path, tuple[int, ...], np.dtype]] = {}
        self._next = 1
        self._lock = threading.RLock()

    # -- public API --------------------------------------------------------
    def add(self, image: np.ndarray) -> int:
        """Store ``image`` (not copied; made read-only) and return its new id."""
        if image.flags.writeable:
            image = image.view()
            image.flags.writeable = False
        with self._lock:
            sid = self._next
            self._next += 1
            self._mem[sid] = image
            self._enforce_budget()
            return sid

    def get(self, sid: int) -> np.ndarray:
        """The state ``sid`` (read-only), reloaded from disk if it was spilled."""
        with self._lock:
            if sid in self._mem:
                self._mem.move_to_end(sid)  # recently used: spill it last
                return self._mem[sid]
            if sid not in self._disk:
                raise KeyError(f"no image state {sid}")
            path, _, _ = self._disk.pop(sid)
            image = np.load(path, allow_pickle=False)
            path.unlink(missing_ok=True)
            image.flags.writeable = False
            self._mem[sid] = image
            self._enforce_budget(keep=sid)
            return image

    def release(self, sid: int) -> None:
        """Forget a state no command refers to any more (unknown ids are ignored)."""
        with self._lock:
            self._mem.pop(sid, None)
            entry = self._disk.pop(sid, None)
            if entry is not None:
                entry[0].unlink(missing_ok=True)

    def retain_only(self, keep: set[int]) -> None:
        """Release every state whose id is not in ``keep``."""
        with self._lock:
            for sid in [s for s in self.ids() if s not in keep]:
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
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None

    def __del__(self) -> None:  # best effort; close() is the real clean-up
        try:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
        except Exception:  # noqa: BLE001  (interpreter shutting down)
            pass

    # -- internals ---------------------------------------------------------
    def _enforce_budget(self, keep: int | None = None) -> None:
        used = sum(a.nbytes for a in self._mem.values())
        for sid in list(self._mem):
            if used <= self.budget_bytes or len(self._mem) <= self.min_levels:
                break
            if sid == keep:
                continue
            used -= self._spill(sid)

    def _spill(self, sid: int) -> int:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="convolve-history-", dir=self._spill_parent))
        image = self._mem.pop(sid)
        path = self._dir / f"state-{sid}.npy"
        np.save(path, np.ascontiguousarray(image), allow_pickle=False)
        self._disk[sid] = (path, image.shape, image.dtype)
        return image.nbytes
