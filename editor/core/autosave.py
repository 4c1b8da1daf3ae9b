"""Crash recovery: the open document's recipe and latest pixels, on disk (no Qt).

While a document has unsaved edits the UI calls :meth:`Autosave.write` at
least once a minute; a normal close calls :meth:`Autosave.clear`. Anything
left in the recovery folder by a process that is no longer running is offered
back at the next start (:func:`pending_recoveries`).

Pixels are stored as ``.npy`` (read with ``allow_pickle=False``: nothing in the
folder is ever unpickled) and the recipe as JSON, each written to a temporary
name and renamed, so a kill in the middle of a write leaves the previous copy.

Examples
--------
>>> import numpy as np, tempfile
>>> root = tempfile.mkdtemp()
>>> saver = Autosave(root, pid=999999999)   # a pid that is not running
>>> saver.write(np.zeros((2, 3), np.uint8), steps=[("invert", {})], source="a.png")
>>> [r.steps for r in pending_recoveries(root)]
[[('invert', {})]]
>>> saver.clear(); pending_recoveries(root)
[]
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MANIFEST = "recovery.json"
PIXELS = "image.npy"


def default_folder() -> Path:
    """``$CONVOLVE_RECOVERY_DIR``, else ``$XDG_STATE_HOME/convolve/recovery``."""
    env = os.environ.get("CONVOLVE_RECOVERY_DIR")
    if env:
        return Path(env)
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(state) / "convolve" / "recovery"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but belongs to someone else
    return True


@dataclass
class Recovery:
    """One recoverable session found in the recovery folder."""

    folder: Path
    source: str | None
    steps: list[tuple[str, dict[str, Any]]]
    replayable: bool
    saved_at: float
    info: dict[str, Any]

    def load_image(self) -> np.ndarray:
        """The latest pixels (raises ``OSError``/``ValueError`` if unreadable)."""
        return np.load(self.folder / PIXELS, allow_pickle=False)

    def discard(self) -> None:
        """Delete this recovery."""
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def title(self) -> str:
        return Path(self.source).name if self.source else "Untitled"


class Autosave:
    """Writes and clears this process's recovery copy.

    Parameters
    ----------
    folder : str or Path, optional
        Recovery folder (default :func:`default_folder`).
    pid : int, optional
        Process id recorded with the copy (tests pass a dead one).
    """

    def __init__(self, folder: str | os.PathLike | None = None, pid: int | None = None) -> None:
        self.root = Path(folder) if folder else default_folder()
        self.pid = os.getpid() if pid is None else pid
        self.session = self.root / f"session-{self.pid}-{uuid.uuid4().hex[:8]}"
        self.last_write = 0.0

    def write(self, image: np.ndarray, *, steps: list[tuple[str, dict[str, Any]]],
              source: str | None, replayable: bool = True,
              info: dict[str, Any] | None = None) -> None:
        """Atomically replace the recovery copy with ``image`` and ``steps``."""
        from editor import __version__

        self.session.mkdir(parents=True, exist_ok=True)
        tmp = self.session / (PIXELS + ".tmp.npy")
        np.save(tmp, np.ascontiguousarray(image), allow_pickle=False)
        os.replace(tmp, self.session / PIXELS)
        manifest = {"convolve_version": __version__, "pid": self.pid, "source": source,
                    "saved_at": time.time(), "replayable": bool(replayable),
                    "steps": [{"op": op, "params": params} for op, params in steps],
                    "info": info or {}}
        tmp_json = self.session / (MANIFEST + ".tmp")
        tmp_json.write_text(json.dumps(manifest, indent=1, default=_jsonable))
        os.replace(tmp_json, self.session / MANIFEST)
        self.last_write = time.monotonic()

    def clear(self) -> None:
        """Remove this process's copy (a normal close, a save, or no unsaved edits)."""
        shutil.rmtree(self.session, ignore_errors=True)


def pending_recoveries(folder: str | os.PathLike | None = None) -> list[Recovery]:
    """Copies left by processes that are no longer running, newest first."""
    root = Path(folder) if folder else default_folder()
    found = []
    if not root.is_dir():
        return found
    for d in root.glob("session-*"):
        try:
            manifest = json.loads((d / MANIFEST).read_text())
            if _pid_alive(int(manifest.get("pid", -1))) or not (d / PIXELS).exists():
                continue
            steps = [(s["op"], dict(s.get("params") or {})) for s in manifest.get("steps", [])]
            found.append(Recovery(d, manifest.get("source"), steps,
                                  bool(manifest.get("replayable", True)),
                                  float(manifest.get("saved_at", 0.0)),
                                  dict(manifest.get("info") or {})))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a half-written or foreign folder: ignore it
    return sorted(found, key=lambda r: -r.saved_at)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (tuple, set)):
        return list(value)
    return str(value)
