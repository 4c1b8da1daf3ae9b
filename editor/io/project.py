"""Convolve project files (``.convolve``): the work, not only the pixels (no Qt).

A project is one ZIP file written atomically (:mod:`editor.core.atomic`):

``project.json``
    Format and version, the source file's name and facts (format, EXIF and ICC
    profile as base64, loader notes), and the edit history: every undo step
    with its recipe entry (op and parameters, or several steps of a replayed
    recipe), the undo index, and which states have their pixels stored.
``original.npy``, ``states/N.npy``
    Pixels in their own dtype and channels (``np.save``; read back with
    ``allow_pickle=False``, so nothing is ever unpickled): the opened image, the
    current state, and every state a replay cannot or should not recompute
    (no op, or a heavy/AI op).

Opening rebuilds every state (:func:`editor.core.rebuild.rebuild_document`), so
undo and redo work after reopening exactly as before saving. A damaged or
hostile file is refused with one sentence: sizes are bounded before anything
is read, and pixel arrays must fit the loader's pixel limit.

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from editor.core.recovery import LinearHistory, Step
>>> h = LinearHistory(1); h.push(Step(1, 2, "Invert", "invert", {}))
>>> path = pathlib.Path(tempfile.mkdtemp()) / "work.convolve"
>>> path = save_project(path, original=np.zeros((2, 3), np.uint8), history=h,
...                     pixels={2: np.full((2, 3), 255, np.uint8)})
>>> p = load_project(path)
>>> p.history.recipe(), int(p.pixels(2)[0, 0]), p.pixels(1) is None
([('invert', {})], 255, True)
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from editor.core.atomic import atomic_write
from editor.core.context import OpContext, null_context
from editor.core.recipe import json_value
from editor.core.recovery import LinearHistory, Step
from editor.io.errors import LoadError, SaveError
from editor.io.load import max_pixels_limit

PROJECT_SUFFIX = ".convolve"
FORMAT = "convolve-project"
#: The newest project version this Convolve reads. Version 2 added selection steps
#: (a step's ``selects``, its stored array a mask); a project without any is still
#: written as version 1, so an older Convolve opens it, and refuses the others cleanly.
VERSION = 2
MANIFEST = "project.json"
ORIGINAL = "original.npy"
#: a project's description is small; anything bigger is not one
MAX_MANIFEST_BYTES = 20_000_000
MAX_STEPS = 100_000


class ProjectError(LoadError):
    """A project file cannot be opened (one sentence naming the file)."""


@dataclass
class Project:
    """A project read from disk; pixels are read from the file when asked for."""

    path: Path
    history: LinearHistory
    source: str | None = None
    format: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    exif: bytes | None = None
    icc_profile: bytes | None = None
    stored: dict[int, str] = field(default_factory=dict)

    def original(self) -> np.ndarray:
        """Pixels of the opened image."""
        return self._read(ORIGINAL)

    def pixels(self, sid: int) -> np.ndarray | None:
        """Stored pixels of state ``sid`` (``None``: rebuild it from its recipe)."""
        name = self.stored.get(sid)
        return None if name is None else self._read(name)

    def _read(self, name: str) -> np.ndarray:
        try:
            with zipfile.ZipFile(self.path) as z:
                info = z.getinfo(name)
                with z.open(info) as f:
                    header = f.read(256)
                _check_npy_header(header, self.path.name, name)
                with z.open(info) as f:
                    data = f.read()
            return np.load(io.BytesIO(data), allow_pickle=False)
        except ProjectError:
            raise
        except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise ProjectError(f"{self.path.name}: its image data is damaged ({_why(e)}).") \
                from None


def save_project(path: str | Path, *, original: np.ndarray, history: LinearHistory,
                 pixels: dict[int, np.ndarray], source: str | None = None,
                 format: str | None = None, info: dict[str, Any] | None = None,
                 exif: bytes | None = None, icc_profile: bytes | None = None,
                 ctx: OpContext | None = None) -> Path:
    """Write a project atomically: the old file stays whole until the new one is.

    Parameters
    ----------
    path : str or Path
        Target (``.convolve`` is appended when missing).
    original : ndarray
        Pixels of ``history.base``.
    history : LinearHistory
        Steps and undo index.
    pixels : dict
        State id -> pixels, for the states to store (the rest are rebuilt).
    source, format, info, exif, icc_profile
        Facts of the opened file, kept so an export can carry them.
    ctx : OpContext, optional
        Progress and Cancel (a cancelled save leaves the old file as it was).

    Returns
    -------
    Path
        The file written.
    """
    ctx = ctx or null_context()
    path = Path(path)
    if path.suffix.lower() != PROJECT_SUFFIX:
        path = path.with_name(path.name + PROJECT_SUFFIX)
    stored = {int(sid): f"states/{int(sid)}.npy" for sid in pixels}
    manifest = {
        "format": FORMAT, "version": 2 if any(s.selects for s in history.commands) else 1,
        "convolve_version": _version(),
        "source": source, "source_format": format, "info": json_value(info or {}),
        "exif": _b64(exif), "icc_profile": _b64(icc_profile),
        "history": {"base": history.base, "index": history.index,
                    "steps": [_step_json(s) for s in history.commands]},
        "stored": {str(sid): name for sid, name in stored.items()},
        "selection": None,
    }
    try:
        with atomic_write(path) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED,
                                                      compresslevel=1) as z:
            z.writestr(MANIFEST, json.dumps(manifest, indent=1))
            items = [(ORIGINAL, original), *((stored[s], pixels[s]) for s in pixels)]
            for i, (name, image) in enumerate(items):
                ctx.report(i / len(items), "Saving the project")
                buf = io.BytesIO()
                np.save(buf, np.ascontiguousarray(image), allow_pickle=False)
                z.writestr(name, buf.getvalue())
    except OSError as e:
        raise SaveError(f"{path.name}: cannot be written ({e.strerror or e}).") from None
    return path


def load_project(path: str | Path) -> Project:
    """Read a project's description (pixels are read on demand).

    Raises
    ------
    ProjectError
        Not a Convolve project, a newer version, or damaged (one sentence).
    """
    path = Path(path)
    name = path.name
    try:
        with zipfile.ZipFile(path) as z:
            info = z.getinfo(MANIFEST)
            if info.file_size > MAX_MANIFEST_BYTES:
                raise ProjectError(f"{name}: its description is too large to be a project.")
            manifest = json.loads(z.read(info).decode("utf-8"))
            names = set(z.namelist())
    except ProjectError:
        raise
    except FileNotFoundError:
        raise ProjectError(f"{name}: no such file.") from None
    except KeyError:
        raise ProjectError(f"{name}: not a Convolve project (no {MANIFEST}).") from None
    except (OSError, ValueError, zipfile.BadZipFile, UnicodeDecodeError) as e:
        raise ProjectError(f"{name}: not a readable Convolve project ({_why(e)}).") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ProjectError(f"{name}: not a Convolve project.")
    if not isinstance(manifest.get("version"), int) or manifest["version"] > VERSION:
        raise ProjectError(f"{name}: made by a newer Convolve (project version "
                           f"{manifest.get('version')}); update Convolve to open it.")
    try:
        h = manifest["history"]
        steps = h["steps"]
        if not isinstance(steps, list) or len(steps) > MAX_STEPS:
            raise ValueError("too many steps")
        history = LinearHistory(int(h["base"]))
        for s in steps:
            history.commands.append(Step(
                int(s["before"]), int(s["after"]), str(s.get("title", "")), s.get("op"),
                dict(s["params"]) if s.get("params") is not None else None,
                [(str(o), dict(p)) for o, p in s.get("steps") or []],
                selects=bool(s.get("selects"))))
        history.set_index(int(h["index"]))
        stored = {int(k): str(v) for k, v in (manifest.get("stored") or {}).items()}
        ids = {history.base, *(s.after for s in history.commands)}
        before = history.base
        for s in history.commands:
            if s.before != before:
                raise ValueError("the steps do not form one history")
            before = s.after
        if not set(stored) <= ids or not set(stored.values()) <= names \
                or ORIGINAL not in names:
            raise ValueError("stored pixels are missing")
        return Project(path, history, manifest.get("source"), manifest.get("source_format"),
                       dict(manifest.get("info") or {}), _unb64(manifest.get("exif")),
                       _unb64(manifest.get("icc_profile")), stored)
    except (KeyError, TypeError, ValueError) as e:
        raise ProjectError(f"{name}: its history is damaged ({_why(e)}).") from None


def _check_npy_header(header: bytes, file: str, member: str) -> None:
    """Refuse an array before reading it: not an .npy, an object array, or too many pixels."""
    try:
        buf = io.BytesIO(header)
        version = np.lib.format.read_magic(buf)
        shape, _fortran, dtype = (np.lib.format.read_array_header_1_0(buf) if version == (1, 0)
                                  else np.lib.format.read_array_header_2_0(buf))
    except (ValueError, EOFError) as e:
        raise ProjectError(f"{file}: its image data is damaged ({_why(e)}).") from None
    if dtype.kind not in "uif" or dtype.hasobject or len(shape) not in (2, 3) \
            or (len(shape) == 3 and shape[2] not in (1, 3, 4)):
        raise ProjectError(f"{file}: {member} is not an image.")
    if shape[0] * shape[1] > max_pixels_limit():
        raise ProjectError(f"{file}: an image of {shape[1]}×{shape[0]} is over the pixel "
                           "limit.")


def _step_json(s: Step) -> dict:
    out = {"before": s.before, "after": s.after, "title": s.title, "op": s.op,
           "params": s.params, "steps": [[o, p] for o, p in s.steps]}
    if s.selects:
        out["selects"] = True  # its stored array, if any, is the selection mask
    return json_value(out)


def _b64(data: bytes | None) -> str | None:
    return None if not data else base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes | None:
    if not text:
        return None
    try:
        return base64.b64decode(str(text), validate=True)
    except ValueError:
        return None


def _why(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text.rstrip(".")


def _version() -> str:
    from editor import __version__

    return __version__
