"""Ownership locks that die with their process (no Qt).

A file or folder this process leaves on disk while it works (a history spill
folder, a recovery session, an export's ``.part`` file) is marked with an
advisory ``fcntl.flock`` lock held for as long as the owner lives. The kernel
drops the lock when the process ends, however it ends (``kill -9`` included),
so "is its owner alive?" is answered by trying to take the lock, never by
comparing process ids, which the system reuses.

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> lock = OwnerLock(folder / "owner.lock")
>>> lock.acquire()
True
>>> is_orphaned(folder / "owner.lock")      # the owner (this process) is alive
False
>>> lock.release(); is_orphaned(folder / "owner.lock")
True
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: msvcrt locks would go here
    fcntl = None  # type: ignore[assignment]

#: name of the lock file inside a folder owned by one process
LOCK_NAME = ".owner.lock"


class OwnerLock:
    """An exclusive ``flock`` on ``path``, held until :meth:`release` or process exit.

    Parameters
    ----------
    path : str or Path
        The lock file (created if missing). For a folder, use
        ``folder / LOCK_NAME``.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock without waiting; False if another live process holds it."""
        if self._fd is not None:
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return False
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
        # close-on-exec (os.open's default): a child process must not keep the lock alive
        self._fd = fd
        return True

    def release(self) -> None:
        """Give the lock up (the file stays; delete its folder to remove it)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:  # best effort; the kernel frees it at exit anyway
        self.release()


def is_orphaned(path: str | os.PathLike) -> bool:
    """True if nobody holds the lock on ``path`` (its owner has died or let go).

    A missing lock file counts as orphaned. The probe takes the lock and drops
    it at once, so it never keeps anything alive.
    """
    probe = OwnerLock(path)
    if not Path(path).exists():
        return True
    free = probe.acquire()
    probe.release()
    return free


def lock_folder(folder: str | os.PathLike) -> OwnerLock | None:
    """Create ``folder`` if needed and lock it for this process (None if another owns it)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = OwnerLock(folder / LOCK_NAME)
    return lock if lock.acquire() else None


def folder_orphaned(folder: str | os.PathLike) -> bool:
    """True if ``folder`` carries an ownership lock that no live process holds.

    A folder without a lock file is *not* reported: it may be being created
    right now, or belong to a program that does not use these locks.
    """
    path = Path(folder) / LOCK_NAME
    return path.exists() and is_orphaned(path)
