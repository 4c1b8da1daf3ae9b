"""Atomic file replacement: a reader sees the old file or the new one, never half of one.

The new content goes to a hidden temporary ``.convolve-NAME.xxxx.part`` file in
the target's folder (same file system, so the final :func:`os.replace` is a
rename), is flushed and fsynced, and only then renamed over the target. Any
failure, including Ctrl+C, removes the temporary file and leaves the target as
it was.

A process killed while writing (``kill -9``, power loss) cannot clean up, so
the writer holds an ownership lock (:class:`editor.core.lockfile.OwnerLock`, a
``flock`` the kernel drops when the process dies) on its part file, and every
write first removes the part files in its folder whose lock is free
(:func:`clean_orphan_parts`). A part file another live process (or thread) is
still writing keeps its lock and is left alone.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import BinaryIO

from editor.core.lockfile import OwnerLock, is_orphaned

TEMP_PREFIX = ".convolve-"
TEMP_SUFFIX = ".part"


def clean_orphan_parts(folder: str | PathLike[str]) -> list[Path]:
    """Delete the ``.convolve-*.part`` files in ``folder`` that no live writer holds.

    Parameters
    ----------
    folder : path-like
        The folder to clean (not its subfolders). A missing or unreadable
        folder is not an error: nothing is removed.

    Returns
    -------
    list of Path
        The files removed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / ".convolve-photo.png.1a2b3c4d.part").write_bytes(b"half a file")
    >>> [p.name for p in clean_orphan_parts(folder)]
    ['.convolve-photo.png.1a2b3c4d.part']
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)):
            continue
        path = Path(entry.path)
        with contextlib.suppress(OSError):
            if not entry.is_file(follow_symlinks=False):
                continue
            # Take the writer's lock ourselves while deleting: a writer that
            # opens the same name meanwhile sees its lock taken and retries.
            probe = OwnerLock(path)
            if probe.acquire():
                try:
                    path.unlink()
                    removed.append(path)
                finally:
                    probe.release()
    return removed


def _open_part(folder: Path, name: str) -> tuple[Path, int, OwnerLock]:
    """Create and lock a fresh part file; retries if a cleaner removed it first."""
    for _ in range(8):
        tmp = folder / f"{TEMP_PREFIX}{name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
        # os.open with 0o666 lets the umask decide permissions, as for a normal new file
        # (tempfile.mkstemp would leave 0o600 behind after the rename).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
        lock = OwnerLock(tmp)
        try:
            # Between create and lock a cleaner in another process may have seen
            # the file unlocked and deleted it: the lock must be on the file that
            # is still at that name.
            if lock.acquire() and os.path.samestat(os.fstat(fd), os.stat(tmp)):
                return tmp, fd, lock
        except OSError:
            pass
        lock.release()
        os.close(fd)
        with contextlib.suppress(OSError):
            if is_orphaned(tmp):
                os.unlink(tmp)
    raise OSError(f"cannot create a temporary file in {folder}")


@contextlib.contextmanager
def atomic_write(path: str | PathLike[str]) -> Iterator[BinaryIO]:
    """Open a binary stream whose content replaces ``path`` when the block succeeds.

    Part files orphaned in the target's folder by killed writers are removed
    first (:func:`clean_orphan_parts`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
    >>> with atomic_write(target) as f:
    ...     _ = f.write(b"hello")
    >>> target.read_bytes()
    b'hello'
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    clean_orphan_parts(folder)
    tmp, fd, lock = _open_part(folder, target.name)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if target.exists():
            with contextlib.suppress(OSError):
                os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        lock.release()


def atomic_write_bytes(path: str | PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically."""
    with atomic_write(path) as f:
        f.write(data)
