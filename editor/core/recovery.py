"""Crash recovery: a journal of every committed step, and pixel snapshots (no Qt).

Each editing window owns one *session folder* under the recovery root, locked
with an :class:`~editor.core.lockfile.OwnerLock` for as long as its process
lives. Into it go:

``journal.jsonl``
    One JSON line per event, appended and flushed as it happens (a ``write``
    to the kernel survives ``kill -9``): the document opened, each committed
    step (its recipe entry: op, parameters, or several steps of a recipe),
    each move of the undo index, each snapshot, each save.
``original.npy`` / ``state-N.npy``
    Pixels: the opened image, the result of any step that cannot be replayed
    cheaply (no op, or a heavy/AI op), and a periodic snapshot of the current
    state, so replay after a crash stays short.

After a crash the next start finds session folders whose lock is free
(:func:`pending_recoveries`); :meth:`Recovery.plan` replays the journal into the
undo history it described (:class:`LinearHistory`, Qt's ``QUndoStack`` rules),
and the UI rebuilds every state from the original, the snapshots and the
recipe. Nothing is ever unpickled: pixels are ``.npy`` read with
``allow_pickle=False`` and the journal is JSON.

Examples
--------
>>> import numpy as np, tempfile
>>> root = tempfile.mkdtemp()
>>> journal = RecoveryJournal(root)
>>> journal.open_document(base=1, source=None, original=np.zeros((2, 3), np.uint8))
>>> journal.commit(before=1, after=2, title="Invert", op="invert", params={})
>>> journal.move(index=1, current=2)
>>> pending_recoveries(root)          # the owner (this process) is alive
[]
>>> journal.abandon()                 # what a crash does: the lock goes, the files stay
>>> [r.plan().recipe(1) for r in pending_recoveries(root)]
[[('invert', {})]]
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from editor.core.lockfile import LOCK_NAME, OwnerLock, folder_orphaned, lock_folder
from editor.core.recipe import json_value

JOURNAL = "journal.jsonl"
ORIGINAL = "original.npy"
SESSION_PREFIX = "session-"


def default_folder() -> Path:
    """``$CONVOLVE_RECOVERY_DIR``, else ``$XDG_STATE_HOME/convolve/recovery``."""
    env = os.environ.get("CONVOLVE_RECOVERY_DIR")
    if env:
        return Path(env)
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(state) / "convolve" / "recovery"


def file_fingerprint(path: str | os.PathLike | None) -> dict[str, int] | None:
    """Size and modification time of ``path`` (None if it cannot be read)."""
    try:
        st = os.stat(path) if path else None
    except OSError:
        return None
    return None if st is None else {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


# -- the undo history a journal describes ---------------------------------------------

@dataclass
class Step:
    """One command of the undo history: ``before`` -> ``after`` and how it was made."""

    before: int
    after: int
    title: str
    op: str | None = None
    params: dict[str, Any] | None = None
    steps: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    merge: int | None = None
    #: the step changed only the selection (its stored "pixels" are the mask)
    selects: bool = False

    def recipe(self) -> list[tuple[str, dict[str, Any]]]:
        """The ``(op, params)`` steps this command adds."""
        if self.steps:
            return [(op, dict(p)) for op, p in self.steps]
        return [(self.op, dict(self.params or {}))] if self.op else []


class LinearHistory:
    """Qt's ``QUndoStack`` rules without Qt: push truncates the redo tail, merges
    a command into the top one when both carry the same merge token and start
    from the same state, and an index says how many commands are applied.

    Examples
    --------
    >>> h = LinearHistory(base=1)
    >>> h.push(Step(1, 2, "Blur", "gaussian_blur", {"sigma": 1}, merge=7))
    >>> h.push(Step(1, 3, "Blur", "gaussian_blur", {"sigma": 2}, merge=7))  # same drag
    >>> h.undo(); h.push(Step(1, 4, "Invert", "invert", {}))
    >>> [(s.before, s.after) for s in h.commands], h.current
    ([(1, 4)], 4)
    """

    def __init__(self, base: int) -> None:
        self.base = base
        self.commands: list[Step] = []
        self.index = 0

    @property
    def current(self) -> int:
        """The state shown at the current index."""
        return self.commands[self.index - 1].after if self.index else self.base

    def push(self, step: Step) -> None:
        del self.commands[self.index:]
        top = self.commands[-1] if self.commands else None
        if (top is not None and step.merge is not None and top.merge == step.merge
                and top.before == step.before):
            self.commands[-1] = step
        else:
            self.commands.append(step)
        self.index = len(self.commands)

    def undo(self) -> None:
        self.index = max(0, self.index - 1)

    def set_index(self, index: int) -> None:
        self.index = max(0, min(int(index), len(self.commands)))

    def recipe(self, index: int | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Recipe of the state at ``index`` (default: the current one)."""
        n = self.index if index is None else index
        return [r for s in self.commands[:n] for r in s.recipe()]

    def states(self) -> list[int]:
        """Every state the history refers to, oldest first."""
        return [self.base, *(s.after for s in self.commands)]


# -- writing ------------------------------------------------------------------------

class RecoveryJournal:
    """This window's recovery session: journal appends and pixel snapshots.

    Appends are small ``os.write`` calls on an ``O_APPEND`` descriptor, made on
    the GUI thread as each step commits; snapshots are written by the caller's
    background thread (:meth:`write_pixels` is thread-safe). Nothing is written
    until a document is opened.

    Parameters
    ----------
    root : str or Path, optional
        The recovery root (default :func:`default_folder`).
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root else default_folder()
        self.folder: Path | None = None
        self._owner: OwnerLock | None = None
        self._fd: int | None = None
        self._mutex = threading.Lock()
        #: pixel files on disk by state id (journal ids), and which are periodic
        self.pixels: dict[int, str] = {}
        self._periodic: set[int] = set()
        self.last_snapshot = 0.0

    @property
    def active(self) -> bool:
        return self._fd is not None

    # -- lifecycle -------------------------------------------------------------
    def open_document(self, *, base: int, source: str | None,
                      original: np.ndarray | None = None, info: dict | None = None) -> None:
        """Start a fresh session for a newly opened document (the old one is removed)."""
        self.clear()
        self.root.mkdir(parents=True, exist_ok=True)
        folder = self.root / f"{SESSION_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        owner = lock_folder(folder)
        if owner is None:  # pragma: no cover - a fresh uuid folder is never owned
            raise OSError(f"cannot lock {folder}")
        self.folder, self._owner = folder, owner
        self._open_fd()
        self._append({"e": "open", "base": base, "source": source,
                      "fingerprint": file_fingerprint(source), "info": info or {},
                      "pid": os.getpid(), "time": time.time(),
                      "version": _version()})
        if original is not None:
            self.write_pixels(base, original, name=ORIGINAL)

    def adopt(self, recovery: Recovery, *, base: int, history: LinearHistory,
              id_map: dict[int, int]) -> None:
        """Continue a recovered session in its own folder, with this process's ids.

        The journal is rewritten (atomically) as the history now stands, and the
        pixel files are renamed to the new ids, so a second crash right after a
        restore loses nothing either.
        """
        self.clear()
        self.folder, self._owner = recovery.folder, recovery.take_owner()
        lines = [{"e": "open", "base": base, "source": recovery.source,
                  "fingerprint": recovery.fingerprint, "info": recovery.info,
                  "pid": os.getpid(), "time": time.time(), "version": _version()}]
        renamed: dict[int, str] = {}
        for old, name in recovery.plan().pixels.items():
            new = id_map.get(old)
            if new is None:
                continue
            target = ORIGINAL if name == ORIGINAL else f"state-{new}.npy"
            if name != target:
                with contextlib.suppress(OSError):
                    os.replace(self.folder / name, self.folder / target)
            renamed[new] = target
            lines.append({"e": "pixels", "sid": new, "file": target})
        for s in history.commands:
            lines.append(_commit_event(s))
        lines.append({"e": "move", "index": history.index, "current": history.current})
        tmp = self.folder / (JOURNAL + ".tmp")
        tmp.write_text("".join(json.dumps(json_value(ev)) + "\n" for ev in lines))
        os.replace(tmp, self.folder / JOURNAL)
        for stray in self.folder.glob("*.npy"):
            if stray.name not in renamed.values():
                stray.unlink(missing_ok=True)
        self.pixels = renamed
        self._open_fd()

    def clear(self) -> None:
        """Remove this session (a normal close, a save, or a new document)."""
        self._close_fd()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
        if self._owner is not None:
            self._owner.release()
        self.folder = self._owner = None
        self.pixels.clear()
        self._periodic.clear()

    def abandon(self) -> None:
        """Let go of the session without removing it (what a crash leaves; tests)."""
        self._close_fd()
        if self._owner is not None:
            self._owner.release()
        self.folder = self._owner = None

    # -- events ------------------------------------------------------------------
    def commit(self, *, before: int, after: int, title: str, op: str | None = None,
               params: dict | None = None, steps: list | None = None,
               merge: int | None = None, selects: bool = False) -> None:
        """A step committed (``before`` -> ``after``); merged per :class:`LinearHistory`.

        ``selects``: a selection step (its pixels file, if any, holds the mask).
        """
        self._append(_commit_event(Step(before, after, title, op, params,
                                        list(steps or []), merge, selects)))

    def move(self, *, index: int, current: int) -> None:
        """The undo index changed (undo, redo, a history jump, a push)."""
        self._append({"e": "move", "index": index, "current": current})

    def saved(self, sid: int) -> None:
        """The state ``sid`` is on disk as a file (kept for the record)."""
        self._append({"e": "saved", "sid": sid})

    def write_pixels(self, sid: int, image: np.ndarray, *, name: str | None = None,
                     periodic: bool = False, folder: Path | None = None) -> str | None:
        """Write a state's pixels and journal them; any thread. Returns the file name.

        A periodic snapshot replaces the previous periodic one, so snapshots of
        a long session do not pile up; pixels a replay cannot do without (the
        original, op-less or heavy steps) are never replaced. ``folder`` is the
        session the caller captured when its job started: if the journal has
        moved on to another document since, nothing is written.
        """
        folder = folder or self.folder
        if folder is None or folder != self.folder:
            return None
        name = name or f"state-{sid}.npy"
        tmp = folder / f".{name}.{uuid.uuid4().hex[:6]}.tmp.npy"
        try:
            np.save(tmp, np.ascontiguousarray(image), allow_pickle=False)
            os.replace(tmp, folder / name)
        except OSError:
            tmp.unlink(missing_ok=True)
            return None
        with self._mutex:
            if self.folder != folder:  # cleared meanwhile
                (folder / name).unlink(missing_ok=True)
                return None
            stale = [s for s in self._periodic if s != sid] if periodic else []
            self.pixels[sid] = name
            if periodic:
                self._periodic.add(sid)
                self.last_snapshot = time.monotonic()
            else:
                self._periodic.discard(sid)
        self._append({"e": "pixels", "sid": sid, "file": name})
        for old in stale:
            self.forget([old])
        return name

    def forget(self, sids) -> None:
        """Drop pixel files of states the history no longer refers to."""
        for sid in sids:
            with self._mutex:
                name = self.pixels.pop(sid, None)
                self._periodic.discard(sid)
                folder = self.folder
            if name and name != ORIGINAL and folder is not None:
                self._append({"e": "unpixels", "sid": sid})
                (folder / name).unlink(missing_ok=True)

    # -- internals ---------------------------------------------------------------
    def _open_fd(self) -> None:
        self._fd = os.open(self.folder / JOURNAL, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def _close_fd(self) -> None:
        with self._mutex:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._fd)
                self._fd = None

    def _append(self, event: dict) -> None:
        line = (json.dumps(json_value(event)) + "\n").encode()
        with self._mutex:
            if self._fd is None:
                return
            try:
                os.write(self._fd, line)  # one write: a reader sees the whole line or none
            except OSError:
                pass  # a full disk must not stop editing; the journal is a safety net


# -- reading --------------------------------------------------------------------------

@dataclass
class Plan:
    """What a journal describes: the history, where pixels are, the source file."""

    history: LinearHistory
    pixels: dict[int, str]
    saved: int | None

    def recipe(self, index: int | None = None) -> list[tuple[str, dict[str, Any]]]:
        return self.history.recipe(index)


@dataclass
class Recovery:
    """A session left behind by a process that is no longer running."""

    folder: Path
    source: str | None
    fingerprint: dict[str, int] | None
    info: dict[str, Any]
    started: float
    modified: float
    _owner: OwnerLock | None = None

    @property
    def title(self) -> str:
        return Path(self.source).name if self.source else "Untitled"

    def plan(self) -> Plan:
        """Replay the journal (a torn last line, from a kill mid-write, is ignored)."""
        history: LinearHistory | None = None
        pixels: dict[int, str] = {}
        saved = None
        for event in _events(self.folder / JOURNAL):
            kind = event.get("e")
            if kind == "open":
                history = LinearHistory(int(event["base"]))
            elif history is None:
                continue
            elif kind == "commit":
                history.push(Step(int(event["before"]), int(event["after"]),
                                  str(event.get("title", "")), event.get("op"),
                                  event.get("params"),
                                  [(o, dict(p)) for o, p in event.get("steps") or []],
                                  event.get("merge"), bool(event.get("selects"))))
            elif kind == "move":
                history.set_index(int(event["index"]))
            elif kind == "pixels":
                pixels[int(event["sid"])] = str(event["file"])
            elif kind == "unpixels":
                pixels.pop(int(event["sid"]), None)
            elif kind == "saved":
                saved = int(event["sid"])
        if history is None:
            raise ValueError("the recovery journal has no opened image")
        pixels = {s: f for s, f in pixels.items() if (self.folder / f).is_file()}
        return Plan(history, pixels, saved)

    def load_pixels(self, name: str) -> np.ndarray:
        """Pixels of one file of the session (never unpickled)."""
        return np.load(self.folder / name, allow_pickle=False)

    def source_unchanged(self) -> bool:
        """True if the opened file is still on disk as it was."""
        return self.fingerprint is not None and file_fingerprint(self.source) == self.fingerprint

    def claim(self) -> bool:
        """Lock the session for this process (False if another process took it)."""
        if self._owner is None:
            owner = OwnerLock(self.folder / LOCK_NAME)
            if not owner.acquire():
                return False
            self._owner = owner
        return True

    def take_owner(self) -> OwnerLock | None:
        """Hand the lock to the journal that adopts this session."""
        self.claim()
        owner, self._owner = self._owner, None
        return owner

    def release(self) -> None:
        """Leave the session for a later start (offered again then)."""
        if self._owner is not None:
            self._owner.release()
            self._owner = None

    def discard(self) -> None:
        """Delete the session."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self.release()


def pending_recoveries(folder: str | os.PathLike | None = None) -> list[Recovery]:
    """Sessions left by processes that are no longer running, newest first.

    A session counts as left behind when nobody holds its lock: the kernel
    drops a lock with its process, so a dead session is found even when its
    pid now belongs to another process. Sessions with nothing to restore (no
    committed step) are removed here, as are folders of older versions.
    """
    root = Path(folder) if folder else default_folder()
    found: list[Recovery] = []
    # (a session whose current state was exported, or with no edit, is removed too)
    if not root.is_dir():
        return found
    for d in root.glob(SESSION_PREFIX + "*"):
        if not d.is_dir():
            continue
        if not (d / LOCK_NAME).exists():
            # a folder of an earlier version (a pid file instead of a lock), or one
            # killed before its lock was made: nothing of it can be trusted
            if time.time() - d.stat().st_mtime > 60:
                shutil.rmtree(d, ignore_errors=True)
            continue
        if not folder_orphaned(d):
            continue
        try:
            head = next(_events(d / JOURNAL), None)
            if head is None or head.get("e") != "open":
                raise ValueError("no journal")
            rec = Recovery(d, head.get("source"), head.get("fingerprint"),
                           dict(head.get("info") or {}), float(head.get("time", 0.0)),
                           (d / JOURNAL).stat().st_mtime)
            plan = rec.plan()
            if not plan.history.commands or plan.saved == plan.history.current:
                raise ValueError("nothing unsaved")
        except (OSError, ValueError, KeyError, TypeError):
            shutil.rmtree(d, ignore_errors=True)  # nothing to offer: do not leave it behind
            continue
        found.append(rec)
    return sorted(found, key=lambda r: -r.modified)


def _events(path: Path):
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.endswith("\n"):
                    return  # torn by a kill mid-write
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    yield event
    except OSError:
        return


def _commit_event(step: Step) -> dict:
    event = {"e": "commit", "before": step.before, "after": step.after, "title": step.title,
             "op": step.op, "params": step.params,
             "steps": [[o, p] for o, p in step.steps], "merge": step.merge}
    if step.selects:
        event["selects"] = True
    return event


def _version() -> str:
    from editor import __version__

    return __version__
