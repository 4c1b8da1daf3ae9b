"""Diffusion from local weights: text-to-image, image-to-image and inpainting (diffusers).

A model is one the user already has on disk: a diffusers folder (its
``model_index.json`` beside ``unet/``, ``vae/``, ``text_encoder/`` ...) of
Stable Diffusion 1.x / 2.x, SDXL or a distilled variant (Turbo, LCM), or a
single ``.safetensors`` checkpoint in the original (CompVis / SGM) layout together
with a local diffusers config folder (beside it as ``NAME-config/``, or given with
``convolve models --add FILE --config DIR``); its tensors are checked against that
folder before anything loads (:func:`check_single_file`), since diffusers would
leave a part the file lacks at random weights.
Nothing is ever fetched: the Hugging Face libraries are switched offline before
they are imported (:func:`import_diffusers`) and every load passes
``local_files_only=True``; only ``.safetensors`` weights are read (a ``.bin`` or
``.ckpt`` file is a pickle, which can run code).

Three registered ops, each one undo step and one recipe step whose parameters
carry the seed and the model's SHA-256 (a replay with a different model is
refused): :func:`generate` (text-to-image; it replaces the image), :func:`img2img`
(``strength``) and :func:`inpaint_diffusion` (inside the selection). Every step
reports progress, Cancel is honoured between steps (``callback_on_step_end``),
and a decoded preview goes to ``ctx.emit_partial`` every few steps. The same seed
gives the same pixels: the starting noise comes from a CPU ``torch.Generator``.

torch and diffusers are imported inside functions only, so the editor starts
without them.

References
----------
.. [1] R. Rombach, A. Blattmann, D. Lorenz, P. Esser, B. Ommer, "High-Resolution
   Image Synthesis with Latent Diffusion Models", CVPR 2022.
.. [2] C. Meng et al., "SDEdit: Guided Image Synthesis and Editing with Stochastic
   Differential Equations", ICLR 2022 (image-to-image with a strength).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np

from editor.core.context import OpContext, OpError, null_context
from editor.ops.ai import _fullsize, _util
from editor.ops.registry import Label, Range, register_op

#: The kind a model store records for these models.
KIND = "diffusion"
#: Families told apart by :func:`describe_diffusion`.
VARIANTS = ("SD1", "SD2", "SDXL", "Turbo", "LCM")
#: Smallest and largest side, in pixels, a diffusion run accepts (the VAE shrinks by 8:
#: below 64 px the UNet sees fewer than 8 latent pixels and gives mush; above 2048 px
#: one step takes minutes and gigabytes even with slicing and tiling).
MIN_SIDE, MAX_SIDE = 64, 2048
#: Side above which the VAE decodes in tiles and attention runs in slices.
TILE_ABOVE, SLICE_ABOVE = 1024, 512
#: Set before the Hugging Face libraries are imported: they read these once.
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "DIFFUSERS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
               "DISABLE_TELEMETRY": "1"}
SCHEDULERS = {
    "default": None,
    "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler",
    "ddim": "DDIMScheduler",
    "dpm++": "DPMSolverMultistepScheduler",
    "lcm": "LCMScheduler",
}
SchedulerName = Literal["default", "euler", "euler_a", "ddim", "dpm++", "lcm"]


# -- offline imports ------------------------------------------------------------------

def import_diffusers():
    """Switch the Hugging Face libraries offline, then import and return ``diffusers``.

    The flags are read when ``huggingface_hub`` is first imported, so they are set
    here, before that, and forced (a user's ``HF_HUB_OFFLINE=0`` does not turn the
    network back on: this editor never downloads a diffusion model).
    """
    os.environ.update(OFFLINE_ENV)
    try:
        import diffusers
        import transformers
    except ImportError as e:
        raise OpError(f"diffusion needs the packages diffusers and transformers ({e.name} "
                      "is missing); install them with: pip install diffusers transformers") \
            from None
    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.logging.set_verbosity_error()
    return diffusers


# -- what a model is ------------------------------------------------------------------

@dataclass(frozen=True)
class DiffusionModel:
    """The facts about one diffusion model on disk (a model store row).

    Attributes
    ----------
    name : str
        Short name (the folder's or file's name unless given).
    kind : str
        Always ``"diffusion"``.
    variant : str
        One of :data:`VARIANTS`.
    path : str
        The diffusers folder, or the single ``.safetensors`` checkpoint.
    sha256 : str
        Of the checkpoint; for a folder, of the list of its files with each file's
        SHA-256 (so changed weights change it, not only a changed ``model_index.json``).
    size : int
        Bytes on disk (all files of a folder).
    config : str or None
        The local diffusers config folder a single-file checkpoint is read with.
    pipeline : str
        The diffusers pipeline class named by ``model_index.json`` (or inferred).
    inpainting : bool
        A dedicated inpainting UNet (9 input channels).
    """

    name: str
    kind: str
    variant: str
    path: str
    sha256: str
    size: int
    config: str | None = None
    pipeline: str = ""
    inpainting: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _variant_from_configs(name: str, index: dict, unet: dict, scheduler: dict) -> str:
    """SD1 / SD2 / SDXL / Turbo / LCM from the configs (and, for Turbo, the name)."""
    cls = str(index.get("_class_name", ""))
    sched = str(scheduler.get("_class_name", ""))
    if "LatentConsistency" in cls or sched == "LCMScheduler" or unet.get("time_cond_proj_dim"):
        return "LCM"
    if "turbo" in name.lower():
        return "Turbo"
    if "XL" in cls or unet.get("addition_embed_type") == "text_time" \
            or unet.get("cross_attention_dim") == 2048:
        return "SDXL"
    if unet.get("cross_attention_dim") == 1024:
        return "SD2"
    return "SD1"


def _folder_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def folder_sha256(folder: Path) -> str:
    """SHA-256 of a model folder: of each file's relative path and SHA-256, in order.

    Each file's hash is cached by (path, size, mtime) (:func:`models.file_sha256`), so
    a folder of several GB is read once.
    """
    from editor.ops.ai.models import file_sha256

    h = hashlib.sha256()
    for p in _folder_files(folder):
        h.update(f"{p.relative_to(folder).as_posix()}\0{file_sha256(p)}\n".encode())
    return h.hexdigest()


def _checkpoint_keys(path: Path) -> list[str]:
    """Tensor names of a ``.safetensors`` file (its header only; no tensor is read)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            return list(f.keys())
    except Exception:  # noqa: BLE001  (any unreadable header: not a checkpoint)
        return []


def _variant_from_keys(keys: list[str], name: str) -> str | None:
    """The family of an original-layout (CompVis / SGM) single-file checkpoint."""
    if not any(k.startswith("model.diffusion_model.") for k in keys):
        return None
    if "turbo" in name.lower():
        return "Turbo"
    if any(k.startswith("conditioner.embedders.1.") for k in keys):
        return "SDXL"
    if any(k.startswith("cond_stage_model.model.") for k in keys):
        return "SD2"  # OpenCLIP text encoder
    if any(k.startswith("lcm") for k in keys) or "lcm" in name.lower():
        return "LCM"
    return "SD1"


def describe_diffusion(path: str | os.PathLike, config: str | os.PathLike | None = None,
                       name: str | None = None) -> DiffusionModel | None:
    """The facts about a diffusion model at ``path``, or None if it is not one.

    Parameters
    ----------
    path : path-like
        A diffusers folder (with ``model_index.json``) or a single ``.safetensors``
        checkpoint of Stable Diffusion in its original layout.
    config : path-like, optional
        For a single file: a local diffusers folder whose configs describe it
        (``model_index.json`` and each part's ``config.json``; no weights needed).
    name : str, optional
        Name to record (default: the folder's or file's name).

    Returns
    -------
    DiffusionModel or None
        None for anything that is not a diffusion model (an upscaler, a photo).

    Raises
    ------
    OpError
        A single-file checkpoint without its config folder (one sentence).
    """
    p = Path(path).expanduser()
    label = name or (p.name if p.is_dir() else p.stem)
    if p.is_dir():
        index = _read_json(p / "model_index.json")
        if not index or "_class_name" not in index:
            return None
        unet = _read_json(p / "unet" / "config.json")
        sched = _read_json(p / "scheduler" / "scheduler_config.json")
        files = _folder_files(p)
        return DiffusionModel(
            name=label, kind=KIND, variant=_variant_from_configs(label, index, unet, sched),
            path=str(p.resolve()), sha256=folder_sha256(p),
            size=sum(f.stat().st_size for f in files), config=None,
            pipeline=str(index["_class_name"]), inpainting=unet.get("in_channels") == 9)
    if not p.is_file():
        return None
    if p.suffix.lower() != ".safetensors":
        # .ckpt / .bin / .pt are pickles, which can run code when read: never opened here
        return None
    keys = _checkpoint_keys(p)
    variant = _variant_from_keys(keys, label)
    if variant is None:
        return None
    if config is None:
        raise OpError(f"{p.name} is a single-file {variant} checkpoint; give its local "
                      "diffusers config folder too (the one with model_index.json).")
    cfg = Path(config).expanduser()
    index = _read_json(cfg / "model_index.json")
    if not index:
        raise OpError(f"the config folder {cfg} has no model_index.json.")
    from editor.ops.ai.models import file_sha256

    unet = _read_json(cfg / "unet" / "config.json")
    return DiffusionModel(
        name=label, kind=KIND, variant=variant, path=str(p.resolve()),
        sha256=file_sha256(p), size=p.stat().st_size, config=str(cfg.resolve()),
        pipeline=str(index.get("_class_name", "")), inpainting=unet.get("in_channels") == 9)


def config_beside(path: Path) -> Path | None:
    """The diffusers config folder kept beside a single-file checkpoint, if any.

    Looked for, in order: ``NAME-config/``, ``NAME_config/``, ``NAME/`` and
    ``config/`` next to ``NAME.safetensors`` (each with a ``model_index.json``).
    """
    for cand in (f"{path.stem}-config", f"{path.stem}_config", path.stem, "config"):
        folder = path.parent / cand
        if (folder / "model_index.json").is_file():
            return folder
    return None


#: Config folders given for single-file checkpoints being added (resolved path -> folder).
_GIVEN_CONFIGS: dict[Path, Path] = {}


class given_config:
    """Within it, adding the checkpoint ``path`` to the model store uses ``config``.

    For ``convolve models --add FILE --config DIR``: the store's detectors see only
    the path, and a config folder kept elsewhere than beside the file is named here.

    Examples
    --------
    >>> with given_config("dream.safetensors", "sd15-config"):  # doctest: +SKIP
    ...     model_store.add("dream.safetensors")
    """

    def __init__(self, path: str | os.PathLike, config: str | os.PathLike | None) -> None:
        self.path = Path(path).expanduser().resolve()
        self.config = Path(config).expanduser() if config else None

    def __enter__(self) -> given_config:
        if self.config is not None:
            with _LOCK:
                _GIVEN_CONFIGS[self.path] = self.config
        return self

    def __exit__(self, *exc) -> None:
        with _LOCK:
            _GIVEN_CONFIGS.pop(self.path, None)


def detect(path: str | os.PathLike):
    """The model store's detector: a :class:`model_store.ModelEntry` for a diffusion model.

    Returns None for anything else (the store then asks its other detectors);
    raises :class:`model_store.ModelRefused` (one sentence) for a diffusion
    checkpoint that cannot be used as it is.
    """
    from editor.ops.ai import model_store as ms

    p = Path(path)
    with _LOCK:
        given = _GIVEN_CONFIGS.get(p.expanduser().resolve())
    if given is not None and not (given / "model_index.json").is_file():
        raise ms.ModelRefused(f"{given} is not a diffusers config folder (it has no "
                              "model_index.json).")
    try:
        model = describe_diffusion(p, given or (config_beside(p) if p.is_file() else None))
    except OpError as e:
        raise ms.ModelRefused(str(e).replace("give its local diffusers config folder too",
                                             f"put its diffusers config folder beside it as "
                                             f"{p.stem}-config/")) from None
    if model is None:
        return None
    if model.config is not None and _have_diffusers():
        # refused when added, in one sentence, rather than painting noise later
        try:
            check_single_file(model)
        except OpError as e:
            raise ms.ModelRefused(str(e)) from None
    return ms.ModelEntry(
        name=model.name, kind=KIND, path=model.path, sha256=model.sha256, size=model.size,
        source="user files", licence="the model's own (see its model card)",
        architecture=f"Stable Diffusion ({model.variant})",
        purpose="text-to-image, image-to-image, inpainting"
                + (" (an inpainting model)" if model.inpainting else ""),
        extra={"variant": model.variant, "pipeline": model.pipeline,
               "inpainting": model.inpainting, "config": model.config})


def _have_diffusers() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None
               for m in ("torch", "diffusers", "transformers"))


def _register_detector() -> None:
    try:
        from editor.ops.ai import model_store
    except ImportError:  # an editor without the model store still runs paths
        return
    model_store.register_detector(detect)


_register_detector()


def _store_entry(name: str):
    """The model store's entry called ``name``, or None."""
    try:
        from editor.ops.ai import model_store as ms
    except ImportError:
        return None
    try:
        return ms.get(name)
    except OpError:  # ModelNotFound
        return None


def store_models() -> list:
    """Every diffusion model in the model store (ready or not)."""
    try:
        from editor.ops.ai import model_store as ms
    except ImportError:
        return []
    return [e for e in ms.list_models() if e.kind == KIND]


def resolve_model(ref: str) -> DiffusionModel:
    """The diffusion model named ``ref`` in the store, or at the path ``ref``.

    Raises
    ------
    OpError
        Empty, unknown, missing on disk, or a model of another kind (one sentence).
    """
    ref = (ref or "").strip()
    if not ref:
        raise OpError("choose a diffusion model (add one with: convolve models --add DIR).")
    entry = _store_entry(ref)
    if entry is not None:
        if entry.kind != KIND:
            raise OpError(f"{ref} is a {entry.kind} model, not a diffusion model; choose a "
                          "Stable Diffusion model.")
        config = (entry.extra or {}).get("config")
        if not Path(entry.path).exists() or (config and not Path(config).exists()):
            raise OpError(f"model {ref} is missing: {entry.path} is no longer on disk.")
        model = describe_diffusion(entry.path, config, name=ref)
        if model is None:
            raise OpError(f"model {ref} at {entry.path} is no longer a diffusion model.")
        return model
    p = Path(ref).expanduser()
    if not p.exists():
        raise OpError(f"no diffusion model called {ref}; add it with: convolve models --add "
                      "DIR (or give the model folder's path).")
    if p.is_file() and p.suffix.lower() in (".ckpt", ".bin", ".pt", ".pth"):
        raise OpError(f"{p.name} is a pickle, which can run code when read; convert it to "
                      ".safetensors first.")
    model = describe_diffusion(p, config_beside(p) if p.is_file() else None)
    if model is None:
        raise OpError(f"{p.name} is not a diffusion model (no model_index.json in it).")
    return model


def check_complete(model: DiffusionModel) -> None:
    """Refuse a model folder with a part missing, naming the file (one sentence).

    Every part ``model_index.json`` names needs its config, and every part with
    weights its ``.safetensors`` file: a half-copied folder fails here, not deep
    inside diffusers with a request to download the rest.
    """
    folder = Path(model.config or model.path)
    index = _read_json(folder / "model_index.json")
    configs = {"scheduler": "scheduler_config.json", "tokenizer": "tokenizer_config.json",
               "tokenizer_2": "tokenizer_config.json",
               "feature_extractor": "preprocessor_config.json"}
    for part, value in index.items():
        if part.startswith("_") or not isinstance(value, list) or value[0] is None:
            continue
        if model.config is not None and part in SINGLE_FILE_SKIPS:
            continue  # never loaded from a single file: its config need not be there
        cfg = folder / part / configs.get(part, "config.json")
        if part.startswith("tokenizer") and not cfg.is_file():
            cfg = folder / part / "tokenizer.json" if (folder / part / "tokenizer.json") \
                .is_file() else folder / part / "vocab.json"
        if not cfg.is_file():
            raise OpError(f"model {model.name} is incomplete: {part}/{cfg.name} is missing "
                          f"from {folder}.")
        if model.config is None and part in ("unet", "vae", "text_encoder", "text_encoder_2"):
            weights = list((folder / part).glob("*.safetensors"))
            if not weights:
                pickled = list((folder / part).glob("*.bin"))
                why = (" (only a .bin pickle is there; convert it to .safetensors)"
                       if pickled else "")
                raise OpError(f"model {model.name} is incomplete: {part} has no .safetensors "
                              f"weights{why}.")


#: The parts of a pipeline a single-file checkpoint carries the weights of.
WEIGHT_PARTS = ("unet", "vae", "text_encoder", "text_encoder_2")
#: Parts a single-file load never reads (diffusers skips the safety checker there).
SINGLE_FILE_SKIPS = ("safety_checker",)


def _checkpoint_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape of a ``.safetensors`` file, from its header (nothing read)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}


def _empty_part(folder: Path, part: str, library: str, class_name: str):
    """The part ``model_index.json`` names, built from its config on the meta device.

    No memory is allocated and no weight is read: only the names and shapes of its
    tensors are wanted.
    """
    import importlib

    import torch

    cls = getattr(importlib.import_module(library), class_name)
    with torch.device("meta"):
        if library == "diffusers":
            return cls.from_config(cls.load_config(str(folder / part), local_files_only=True))
        return cls(cls.config_class.from_pretrained(str(folder / part), local_files_only=True))


def _converted(part: str, net, checkpoint: dict) -> dict:
    """The tensors diffusers' single-file loader gives ``part`` out of ``checkpoint``.

    The same conversion functions :meth:`from_single_file` calls, picked the way it
    picks them (``create_diffusers_clip_model_from_ldm`` for the text encoders), so
    what is checked here is what will be loaded.
    """
    from diffusers.loaders import single_file_utils as su

    if part == "unet":
        return su.convert_ldm_unet_checkpoint(checkpoint, net.config)
    if part == "vae":
        return su.convert_ldm_vae_checkpoint(checkpoint, net.config)
    keys = su.CHECKPOINT_KEY_NAMES
    dim = getattr(net, "text_model", net).embeddings.position_embedding.weight.shape[-1]

    def fits(kind: str) -> bool:  # the text encoder of this width, as diffusers tells them
        return keys[kind] in checkpoint and checkpoint[keys[kind]].shape[-1] == dim

    if su.is_clip_model(checkpoint) or fits("clip_sdxl"):
        out = su.convert_ldm_clip_checkpoint(checkpoint)
    elif su.is_open_clip_model(checkpoint):
        out = su.convert_open_clip_checkpoint(net, checkpoint, prefix="cond_stage_model.model.")
    elif fits("open_clip_sdxl"):
        out = su.convert_open_clip_checkpoint(net, checkpoint,
                                              prefix="conditioner.embedders.1.model.")
    elif su.is_open_clip_sdxl_refiner_model(checkpoint):
        out = su.convert_open_clip_checkpoint(net, checkpoint,
                                              prefix="conditioner.embedders.0.model.")
    else:
        return {}
    if not hasattr(net, "text_model"):  # transformers >= 5.6 flattened CLIPTextModel
        out = {k.removeprefix("text_model."): v for k, v in out.items()}
    return out


def check_single_file(model: DiffusionModel) -> None:
    """Refuse a single-file checkpoint whose tensors do not fit its config folder.

    diffusers loads each part with ``load_state_dict(strict=False)``: a part the file
    lacks, or a config with more layers than the file has, would load with random
    weights and paint noise without a word. Here the file's tensor names and shapes
    (its header only) go through diffusers' own conversion and are compared with the
    parts the config folder describes, built on the meta device (nothing allocated).

    Raises
    ------
    OpError
        Naming the part and the first tensor that does not fit (one sentence).
    """
    import torch

    import_diffusers()
    ckpt, folder = Path(model.path), Path(model.config or "")
    index = _read_json(folder / "model_index.json")
    checkpoint = {k: torch.empty(shape, device="meta")
                  for k, shape in _checkpoint_shapes(ckpt).items()}
    where = f"{ckpt.name} does not fit the config folder {folder.name}"
    for part in WEIGHT_PARTS:
        spec = index.get(part)
        if not isinstance(spec, list) or len(spec) != 2 or spec[0] is None:
            continue
        try:
            net = _empty_part(folder, part, *spec)
            got = {k: tuple(v.shape) for k, v in _converted(part, net, checkpoint).items()
                   if v is not None}
        except (OSError, ValueError, KeyError, AttributeError, TypeError, RuntimeError,
                IndexError) as e:
            raise OpError(f"{where}: its {part} cannot be read with {part}/config.json "
                          f"({_first_line(e).rstrip('.')}).") from None
        want = {k: tuple(v.shape) for k, v in net.state_dict().items()
                if not k.endswith("position_ids")}
        got = {k: v for k, v in got.items() if not k.endswith("position_ids")}
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        shaped = sorted(k for k in set(want) & set(got) if want[k] != got[k])
        if missing and len(missing) == len(want):
            raise OpError(f"{where}: the file has no {part} weights for it.")
        if shaped:
            k = shaped[0]
            raise OpError(f"{where}: {part} tensor {k} is {_shape(got[k])} in the file but "
                          f"{_shape(want[k])} in {part}/config.json; use the config folder of "
                          "the model this checkpoint was made from.")
        if missing or extra:
            what = (f"{len(missing)} {part} tensors are missing from the file (first {missing[0]})"
                    if missing else f"{len(extra)} {part} tensors of the file have no place in "
                                    f"{part}/config.json (first {extra[0]})")
            raise OpError(f"{where}: {what}; use the config folder of the model this "
                          "checkpoint was made from.")


def _shape(shape: tuple[int, ...]) -> str:
    return " x ".join(map(str, shape)) or "a scalar"


# -- device and memory ------------------------------------------------------------

def select_device(force_cpu: bool = False) -> tuple[Any, Any]:
    """(device, dtype): CUDA or Apple MPS in float16 when present, else the CPU in float32.

    Follows the editor's device choice (:func:`models.pick_device`: the Force CPU
    setting and ``CONVOLVE_DEVICE`` included).
    """
    import torch

    from editor.ops.ai.models import pick_device

    device = pick_device(force_cpu)
    dtype = torch.float16 if device.type in ("cuda", "mps") else torch.float32
    return device, dtype


def memory_plan(width: int, height: int, device_type: str) -> dict[str, bool]:
    """Which memory savers a run of this size needs.

    Attention slicing computes attention a head at a time (its memory grows with
    the square of the latent pixels); VAE tiling decodes in overlapping tiles.
    Both cost some speed, so small images on a GPU run without them.

    Examples
    --------
    >>> memory_plan(512, 512, "cuda")
    {'attention_slicing': False, 'vae_tiling': False}
    >>> memory_plan(2048, 1536, "cpu")
    {'attention_slicing': True, 'vae_tiling': True}
    """
    side = max(width, height)
    return {"attention_slicing": side > SLICE_ABOVE or device_type == "mps",
            "vae_tiling": side > TILE_ABOVE}


# -- pipelines (one model kept loaded) ----------------------------------------------------

_LOCK = threading.RLock()
_LOADED: dict[str, Any] = {}  # key, base pipeline, original scheduler config


def _load_base(model: DiffusionModel, device, dtype, ctx: OpContext):
    """The model's pipeline on ``device`` (cached: loading takes seconds to minutes)."""
    key = f"{model.path}|{model.sha256}|{model.config}|{device}|{dtype}"
    with _LOCK:
        if _LOADED.get("key") == key:
            return _LOADED["pipe"]
        _LOADED.clear()  # one model in memory at a time
        check_complete(model)
        diffusers = import_diffusers()
        from diffusers.loaders.single_file_utils import SingleFileComponentError

        ctx.report(0.0, f"loading {model.name}")
        kw = dict(torch_dtype=dtype, local_files_only=True)
        try:
            if model.config is None:
                pipe = diffusers.DiffusionPipeline.from_pretrained(model.path, **kw,
                                                                   use_safetensors=True)
            else:
                check_single_file(model)
                cls = getattr(diffusers, model.pipeline or "StableDiffusionPipeline",
                              diffusers.StableDiffusionPipeline)
                # config= is the local folder: every part's config, the tokenizer and the
                # scheduler come from it, so diffusers never looks for the original .yaml
                pipe = cls.from_single_file(model.path, config=model.config, **kw)
        except (OSError, ValueError, KeyError, RuntimeError, SingleFileComponentError) as e:
            raise OpError(f"cannot load model {model.name}: {_first_line(e)}") from None
        pipe = pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        _LOADED.update(key=key, pipe=pipe)
        return pipe


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:200].rstrip(".") + "."


def unload() -> None:
    """Forget the loaded model (tests; frees its memory)."""
    with _LOCK:
        _LOADED.clear()


def _task_pipe(base, task: str, model: DiffusionModel):
    """The text-to-image / image-to-image / inpainting pipeline sharing ``base``'s parts."""
    diffusers = import_diffusers()
    auto = {"generate": diffusers.AutoPipelineForText2Image,
            "img2img": diffusers.AutoPipelineForImage2Image,
            "inpaint": diffusers.AutoPipelineForInpainting}[task]
    try:
        pipe = auto.from_pipe(base)
    except (ValueError, KeyError, TypeError):
        what = {"generate": "text-to-image", "img2img": "image-to-image",
                "inpaint": "inpainting"}[task]
        raise OpError(f"model {model.name} ({model.variant}) cannot do {what}; choose a "
                      "Stable Diffusion 1.x, 2.x or SDXL model.") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _scheduler(pipe, name: str):
    """A fresh scheduler (they keep per-run state) of the chosen kind, from the model's."""
    diffusers = import_diffusers()
    config = pipe.scheduler.config
    cls_name = SCHEDULERS[name] or config.get("_class_name") or type(pipe.scheduler).__name__
    cls = getattr(diffusers, cls_name, type(pipe.scheduler))
    return cls.from_config(config)


# -- time estimate ------------------------------------------------------------------

def _timings_file() -> Path:
    from editor.ops.ai.models import cache_dir

    return cache_dir() / "diffusion_timings.json"


def _timing_key(model: DiffusionModel, device, width: int, height: int, cfg: bool) -> str:
    return f"{model.sha256[:16]}|{device}|{width}x{height}|{'cfg' if cfg else 'nocfg'}"


def _remembered(key: str) -> float | None:
    try:
        value = json.loads(_timings_file().read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _remember(key: str, seconds_per_step: float) -> None:
    path = _timings_file()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    data[key] = round(float(seconds_per_step), 4)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only means measuring again next time


def _measure_step(pipe, width: int, height: int, cfg: bool) -> float:
    """Seconds one denoising step takes here: one UNet call on random latents, timed."""
    import torch

    unet = pipe.unet
    c = unet.config
    f = getattr(pipe, "vae_scale_factor", 8)
    batch = 2 if cfg else 1
    dev, dtype = unet.device, unet.dtype
    sample = torch.zeros(batch, c.in_channels, height // f, width // f, device=dev, dtype=dtype)
    text = torch.zeros(batch, 77, c.cross_attention_dim, device=dev, dtype=dtype)
    kwargs: dict[str, Any] = {}
    if c.get("addition_embed_type") == "text_time":
        # SDXL's pooled text embedding and six size/crop numbers
        n_time = 6
        pooled = c.projection_class_embeddings_input_dim - n_time * c.addition_time_embed_dim
        kwargs["added_cond_kwargs"] = {
            "text_embeds": torch.zeros(batch, pooled, device=dev, dtype=dtype),
            "time_ids": torch.zeros(batch, n_time, device=dev, dtype=dtype)}
    if c.get("time_cond_proj_dim"):
        kwargs["timestep_cond"] = torch.zeros(batch, c.time_cond_proj_dim, device=dev,
                                              dtype=dtype)
    t0 = time.perf_counter()
    with torch.inference_mode():
        unet(sample, torch.tensor(500, device=dev), text, **kwargs)
    return time.perf_counter() - t0


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


# -- the run ----------------------------------------------------------------------------

@dataclass
class Run:
    """What one diffusion run needs besides the pictures (tests build one directly)."""

    prompt: str
    negative_prompt: str = ""
    steps: int = 20
    guidance: float = 7.5
    seed: int = 0
    scheduler: str = "default"
    strength: float = 0.75


def check_prompt(prompt: str) -> str:
    """The prompt, stripped; :class:`OpError` when there is none."""
    prompt = (prompt or "").strip()
    if not prompt:
        raise OpError("write a prompt: it says what the picture should show.")
    return prompt


def check_size(width: int, height: int, what: str) -> None:
    """Refuse a size the models cannot work at (one sentence)."""
    if min(width, height) < MIN_SIDE:
        raise OpError(f"{what} needs at least {MIN_SIDE} x {MIN_SIDE} pixels; this one is "
                      f"{width} x {height}.")
    if max(width, height) > MAX_SIDE:
        raise OpError(f"{what} works at up to {MAX_SIDE} pixels a side; {width} x {height} "
                      "is too large (lower the working size).")


def _check_sha(model: DiffusionModel, expected: str) -> None:
    expected = (expected or "").strip().lower()
    if expected and expected != model.sha256:
        raise OpError(f"model {model.name} is not the one this step was made with (SHA-256 "
                      f"{model.sha256[:12]}… on disk, {expected[:12]}… recorded); add the "
                      "original model to replay it.")


def diffuse(task: str, model: DiffusionModel, run: Run, *, width: int, height: int,
            image: np.ndarray | None = None, mask: np.ndarray | None = None,
            ctx: OpContext | None = None, on_preview: Callable[[np.ndarray], None] | None = None,
            preview_every: int | None = None, force_cpu: bool = False) -> np.ndarray:
    """Run one diffusion task and return ``(height, width, 3)`` float32 RGB in [0, 1].

    Parameters
    ----------
    task : {"generate", "img2img", "inpaint"}
        Text-to-image, image-to-image or inpainting.
    model : DiffusionModel
        From :func:`resolve_model` or :func:`describe_diffusion`.
    run : Run
        Prompt, negative prompt, steps, guidance, seed, scheduler, strength.
    width, height : int
        Size of the run, multiples of 8.
    image : ndarray, optional
        ``(height, width, 3)`` float RGB in [0, 1] (img2img and inpaint).
    mask : ndarray, optional
        ``(height, width)`` float in [0, 1], 1 where to paint (inpaint).
    ctx : OpContext, optional
        Progress per step (the first message is the time estimate on a CPU),
        Cancel between steps.
    on_preview : callable, optional
        Receives the decoded image (as returned here) every ``preview_every``
        steps (default: a quarter of the steps), not after the last.
    """
    import torch

    ctx = ctx or null_context()
    device, dtype = select_device(force_cpu)
    ctx.extras["device"] = str(device)
    base = _load_base(model, device, dtype, ctx)
    ctx.check()
    pipe = _task_pipe(base, task, model)
    pipe.scheduler = _scheduler(base, run.scheduler)
    plan = memory_plan(width, height, device.type)
    if plan["attention_slicing"]:
        pipe.enable_attention_slicing()
    else:
        pipe.disable_attention_slicing()
    if plan["vae_tiling"]:
        pipe.vae.enable_tiling()
    else:
        pipe.vae.disable_tiling()

    steps = int(run.steps)
    # img2img and inpaint skip the first (1 - strength) of the schedule
    todo = steps if task == "generate" else max(1, int(steps * run.strength))
    cfg = run.guidance > 1.0
    key = _timing_key(model, device, width, height, cfg)
    per_step = None
    if device.type == "cpu":
        per_step = _remembered(key)
        how = "as last time"
        if per_step is None:
            per_step, how = _measure_step(pipe, width, height, cfg), "measured"
        ctx.report(0.0, f"{width} x {height}, {todo} steps on the CPU: about "
                        f"{_duration(per_step * todo)} ({per_step:.1f} s per step, {how})")
    every = preview_every or max(1, todo // 4)
    started = time.perf_counter()
    done = {"n": 0}

    def decode(latents) -> np.ndarray:
        vae = pipe.vae
        scaled = latents.to(vae.dtype) / vae.config.scaling_factor
        pixels = vae.decode(scaled).sample[0].float()
        # SDXL's VAE overflows in float16 (diffusers upcasts it for the final decode only):
        # a preview shows grey there rather than garbage
        pixels = torch.nan_to_num(pixels, nan=0.0, posinf=1.0, neginf=-1.0)
        return pixels.clamp(-1, 1).add(1).div(2).permute(1, 2, 0).cpu().numpy()

    def on_step(_pipe, i, _t, kw):
        ctx.check()  # Cancel between steps: raising stops the denoising loop here
        done["n"] = i + 1
        elapsed = time.perf_counter() - started
        left = elapsed / (i + 1) * (todo - i - 1)
        ctx.report((i + 1) / todo, f"step {i + 1}/{todo}"
                                   + (f", about {_duration(left)} left" if i + 1 < todo else ""))
        if on_preview is not None and (i + 1) % every == 0 and i + 1 < todo \
                and "latents" in kw and kw["latents"].shape[1] == 4:
            try:
                on_preview(decode(kw["latents"]))
            except (RuntimeError, ValueError):  # a preview must never end the run
                pass
        return kw

    generator = torch.Generator("cpu").manual_seed(int(run.seed))
    args: dict[str, Any] = dict(prompt=run.prompt, negative_prompt=run.negative_prompt or None,
                                num_inference_steps=steps, guidance_scale=float(run.guidance),
                                generator=generator, output_type="np",
                                callback_on_step_end=on_step)
    if task == "generate":
        args.update(width=width, height=height)
    else:
        tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]
        args.update(image=tensor, strength=float(run.strength))
        if task == "inpaint":
            m = np.ones((height, width), np.float32) if mask is None else mask
            args.update(mask_image=torch.from_numpy(np.ascontiguousarray(m))[None, None],
                        width=width, height=height)
    try:
        with torch.inference_mode():
            result = pipe(**args).images[0]
    except ValueError as e:
        raise OpError(f"{task} refused the settings: {_first_line(e)}") from None
    if device.type == "cpu" and done["n"]:
        _remember(key, (time.perf_counter() - started) / done["n"])
    return np.clip(np.asarray(result, np.float32), 0, 1)


def _mult8(v: float) -> int:
    return max(8, int(v) // 8 * 8)


def _fit(w: int, h: int, max_size: int) -> tuple[int, int]:
    """Working size: longer side ``max_size`` (up or down), multiples of 8.

    The shorter side is kept at :data:`MIN_SIDE` at least (a wide image then runs
    a little above ``max_size``), so a working size never makes an image too small.

    Examples
    --------
    >>> _fit(1200, 800, 768), _fit(96, 64, 64), _fit(300, 200, 512)
    ((768, 512), (96, 64), (512, 336))
    """
    scale = max(max_size / max(w, h), MIN_SIDE / min(w, h))
    return (max(_mult8(round(w * scale)), MIN_SIDE if w <= h else 8),
            max(_mult8(round(h * scale)), MIN_SIDE if h <= w else 8))


# -- registered ops -------------------------------------------------------------------

Prompt = Annotated[str, Label("Prompt")]
Negative = Annotated[str, Label("Negative prompt")]
ModelName = Annotated[str, Label("Model")]
ModelSha = Annotated[str, Label("Model SHA-256")]
Steps = Annotated[int, Range(1, 150, ui=(1, 60))]
Guidance = Annotated[float, Range(0.0, 30.0, ui=(0.0, 15.0), step=0.1)]
Seed = Annotated[int, Range(0, 2**31 - 1, ui=(0, 99999))]
Scheduler = Annotated[SchedulerName, Label("Sampler")]


@register_op("generate", title="Generate (text to image)", category="AI", alpha="process",
             keeps_shape=False, heavy=True, ai=True, preview=False)
def generate(
    image: np.ndarray, *,
    prompt: Prompt = "",
    negative_prompt: Negative = "",
    model: ModelName = "",
    model_sha256: ModelSha = "",
    steps: Steps = 20,
    guidance: Guidance = 7.5,
    seed: Seed = 0,
    scheduler: Scheduler = "default",
    width: Annotated[int, Range(MIN_SIDE, MAX_SIDE, ui=(256, 1024), unit="px", step=8)] = 512,
    height: Annotated[int, Range(MIN_SIDE, MAX_SIDE, ui=(256, 1024), unit="px", step=8)] = 512,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Paint a new picture from a text prompt (replaces the image).

    Parameters
    ----------
    prompt : str
        What the picture shows.
    negative_prompt : str
        What it should not show.
    model : str
        A diffusion model's name in the model store (``convolve models``) or the
        path of its folder.
    model_sha256 : str
        The model's SHA-256 as recorded; when given, a different model is refused.
    steps : int
        Denoising steps (Turbo and LCM models need 1-8).
    guidance : float
        Classifier-free guidance: how strongly the prompt is followed (0 or 1
        turns it off, as Turbo models want).
    seed : int
        Seed of the starting noise: the same seed gives the same picture.
    scheduler : {"default", "euler", "euler_a", "ddim", "dpm++", "lcm"}
        Sampler; ``default`` is the model's own.
    width : int
        Width of the picture, rounded down to a multiple of 8.
    height : int
        Height of the picture, rounded down to a multiple of 8.

    Returns
    -------
    ndarray
        ``(height, width, 3)`` RGB in the input's dtype; the input's pixels are not
        used.
    """
    ctx = ctx or null_context()
    run = Run(check_prompt(prompt), negative_prompt, steps, guidance, seed, scheduler)
    w, h = _mult8(width), _mult8(height)
    check_size(w, h, "Generate")
    m = resolve_model(model)
    _check_sha(m, model_sha256)
    ctx.extras["model"] = {"name": m.name, "sha256": m.sha256, "variant": m.variant}
    # a new picture keeps no selection: without this the editor would move the old one
    # "with the pixels" by running this op on the mask (a second diffusion run)
    ctx.selection_result = None
    dtype = image.dtype

    def out(rgb: np.ndarray) -> np.ndarray:
        return _util.out_dtype(rgb, np.empty((1, 1, 3), dtype))

    rgb = diffuse("generate", m, run, width=w, height=h, ctx=ctx,
                  on_preview=lambda p: ctx.emit_partial(out(p)))
    return out(rgb)


def _prepare(image: np.ndarray, max_size: int, what: str) -> tuple[int, int]:
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise OpError(f"{what} needs an image of at least {MIN_SIDE} x {MIN_SIDE} pixels; "
                      f"this one is {w} x {h}.")
    ww, wh = _fit(w, h, min(max_size, max(w, h)))
    check_size(ww, wh, what)
    return ww, wh


@register_op("img2img", title="Image to image (diffusion)", category="AI", heavy=True,
             ai=True, preview=False)
def img2img(
    image: np.ndarray, *,
    prompt: Prompt = "",
    negative_prompt: Negative = "",
    model: ModelName = "",
    model_sha256: ModelSha = "",
    strength: Annotated[float, Range(0.01, 1.0)] = 0.6,
    steps: Steps = 30,
    guidance: Guidance = 7.5,
    seed: Seed = 0,
    scheduler: Scheduler = "default",
    max_size: Annotated[int, Range(MIN_SIDE, MAX_SIDE, ui=(256, 1024)),
                        Label("Working size")] = 768,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Repaint the image after a prompt, keeping its layout (SDEdit).

    Parameters
    ----------
    prompt : str
        What the picture should show.
    negative_prompt : str
        What it should not show.
    model : str
        A diffusion model's name in the model store, or its folder's path.
    model_sha256 : str
        The model's SHA-256 as recorded; when given, a different model is refused.
    strength : float
        How much is repainted: near 0 keeps the photo, 1 ignores it.
    steps : int
        Denoising steps of the full schedule (``strength * steps`` are run).
    guidance : float
        Classifier-free guidance: how strongly the prompt is followed.
    seed : int
        Seed of the noise: the same seed gives the same result.
    scheduler : {"default", "euler", "euler_a", "ddim", "dpm++", "lcm"}
        Sampler; ``default`` is the model's own.
    max_size : int
        Working size: the longer side the model runs at (the result is resized
        back to the photo's size).

    Returns
    -------
    ndarray
        The repainted image, same size and dtype.
    """
    ctx = ctx or null_context()
    run = Run(check_prompt(prompt), negative_prompt, steps, guidance, seed, scheduler,
              strength)
    ww, wh = _prepare(image, max_size, "Image to image")
    m = resolve_model(model)
    _check_sha(m, model_sha256)
    ctx.extras["model"] = {"name": m.name, "sha256": m.sha256, "variant": m.variant}
    fh, fw = image.shape[:2]
    rgb = _util.resize_float(_fullsize.rgb_float(image, ctx), ww, wh)

    def finish(result: np.ndarray) -> np.ndarray:
        return _fullsize.like_input(_util.resize_float(result, fw, fh), image, ctx)

    out = diffuse("img2img", m, run, width=ww, height=wh, image=rgb, ctx=ctx,
                  on_preview=lambda p: ctx.emit_partial(finish(p)))
    return finish(out)


def mask_box(mask: np.ndarray, margin: int, shape: tuple[int, int]) -> tuple[slice, slice]:
    """Rows and columns around the painted part of ``mask``, with ``margin`` pixels more.

    The box is grown to at least :data:`MIN_SIDE` a side (within the image) so
    the model sees some context around a small selection.

    Examples
    --------
    >>> m = np.zeros((200, 300), np.float32); m[90:110, 140:150] = 1
    >>> mask_box(m, 16, m.shape)
    (slice(68, 132, None), slice(113, 177, None))
    """
    h, w = shape
    ys, xs = np.nonzero(mask > 1e-3)
    if ys.size == 0:
        return slice(0, 0), slice(0, 0)
    y0, y1 = max(0, ys.min() - margin), min(h, ys.max() + 1 + margin)
    x0, x1 = max(0, xs.min() - margin), min(w, xs.max() + 1 + margin)

    def grow(a: int, b: int, size: int) -> tuple[int, int]:
        want = min(MIN_SIDE, size)
        if b - a >= want:
            return a, b
        a = max(0, a - (want - (b - a) + 1) // 2)  # centred, then kept inside the image
        b = min(size, a + want)
        return max(0, b - want), b

    y0, y1 = grow(int(y0), int(y1), h)
    x0, x1 = grow(int(x0), int(x1), w)
    return slice(y0, y1), slice(x0, x1)


@register_op("inpaint_diffusion", title="Inpaint (diffusion)", category="AI", heavy=True,
             ai=True, preview=False, uses_mask=True)
def inpaint_diffusion(
    image: np.ndarray, *,
    prompt: Prompt = "",
    negative_prompt: Negative = "",
    model: ModelName = "",
    model_sha256: ModelSha = "",
    strength: Annotated[float, Range(0.01, 1.0)] = 1.0,
    steps: Steps = 30,
    guidance: Guidance = 7.5,
    seed: Seed = 0,
    scheduler: Scheduler = "default",
    max_size: Annotated[int, Range(MIN_SIDE, MAX_SIDE, ui=(256, 1024)),
                        Label("Working size")] = 512,
    mask: np.ndarray | None = None,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Paint what the prompt says inside the selection, matching what surrounds it.

    Only the box around the selection (with a margin of context) goes through
    the model, at the working size; the rest of the image is returned as it was.
    The editor then blends the result through the selection, so pixels outside it
    stay unchanged.

    Parameters
    ----------
    prompt : str
        What the selection should show.
    negative_prompt : str
        What it should not show.
    model : str
        A diffusion model's name in the model store, or its folder's path (an
        inpainting model fills best; any SD model works).
    model_sha256 : str
        The model's SHA-256 as recorded; when given, a different model is refused.
    strength : float
        How much of the selection is repainted (1: all of it).
    steps : int
        Denoising steps of the full schedule.
    guidance : float
        Classifier-free guidance: how strongly the prompt is followed.
    seed : int
        Seed of the noise: the same seed gives the same result.
    scheduler : {"default", "euler", "euler_a", "ddim", "dpm++", "lcm"}
        Sampler; ``default`` is the model's own.
    max_size : int
        Working size: the longer side of the box around the selection as the
        model sees it (small selections are enlarged to it).

    Returns
    -------
    ndarray
        The image with the box around the selection repainted, same size and dtype.
    """
    ctx = ctx or null_context()
    run = Run(check_prompt(prompt), negative_prompt, steps, guidance, seed, scheduler,
              strength)
    h, w = image.shape[:2]
    if mask is None:
        mask = np.ones((h, w), np.float32)
    mask = np.asarray(mask, np.float32)
    if mask.shape != (h, w):
        raise OpError(f"the selection is {mask.shape[1]} x {mask.shape[0]} but the image is "
                      f"{w} x {h}.")
    rows, cols = mask_box(mask, max(16, min(h, w) // 16), (h, w))
    if rows.stop <= rows.start:
        raise OpError("the selection is empty: select the part to repaint first.")
    crop = image[rows, cols]
    if min(h, w) < MIN_SIDE:
        raise OpError(f"Inpainting needs an image of at least {MIN_SIDE} x {MIN_SIDE} "
                      f"pixels; this one is {w} x {h}.")
    ww, wh = _fit(crop.shape[1], crop.shape[0], max_size)  # small boxes are enlarged
    check_size(ww, wh, "Inpainting")
    m = resolve_model(model)
    _check_sha(m, model_sha256)
    ctx.extras["model"] = {"name": m.name, "sha256": m.sha256, "variant": m.variant}
    ch, cw = crop.shape[:2]
    rgb = _util.resize_float(_fullsize.rgb_float(crop, ctx), ww, wh)
    m_work = np.clip(_util.resize_float(mask[rows, cols], ww, wh), 0, 1)

    def paste(result: np.ndarray, blend: bool) -> np.ndarray:
        out = image.copy()
        rgb = np.clip(_util.resize_float(result, cw, ch), 0, 1)
        if blend:  # previews show the selection's blend; the editor blends the result
            a = mask[rows, cols][..., None]
            rgb = rgb * a + _util.rgb_float(crop) * (1 - a)
        out[rows, cols] = _util.like_input(rgb, crop)
        return out

    result = diffuse("inpaint", m, run, width=ww, height=wh, image=rgb, mask=m_work, ctx=ctx,
                     on_preview=lambda p: ctx.emit_partial(paste(p, True)))
    return paste(result, False)
