"""Training-time augmentation built from the editor's own registered operations.

Each step draws its parameters from a NumPy ``Generator`` and runs the
registered op through :func:`editor.ops.run_op`, so an augmented sample is
exactly what the user would get by applying that edit in the editor. A step
whose op is not registered (or whose parameters changed) is skipped, so
augmentation keeps working while the op set grows.

Examples
--------
>>> import numpy as np
>>> cfg = AugmentConfig()
>>> out = augment(np.full((32, 32, 3), 128, np.uint8), np.random.default_rng(0), cfg)
>>> out.dtype, out.ndim
(dtype('uint8'), 3)
"""

from __future__ import annotations

import warnings

import numpy as np

from editor.core.image import as_rgb, to_uint8
from editor.teach.config import AugmentConfig  # noqa: F401  (declared with its bounds)


def _op(name: str):
    """The registered op ``name`` or None (ops land at different times)."""
    try:
        from editor.ops import get_op

        return get_op(name)
    except KeyError:
        return None


def _run(name: str, image: np.ndarray, params: dict) -> np.ndarray:
    spec = _op(name)
    if spec is None:
        return image
    from editor.ops import ParamError, run_op

    try:
        return run_op(spec, image, params)
    except ParamError as e:
        # The op exists but its parameters changed: skip it rather than stop training.
        _warn_once(name, f"augmentation step {name!r} skipped: {e}")
        return image


_WARNED: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(message, UserWarning, stacklevel=3)


def _numeric_param(name: str, preferred: tuple[str, ...]):
    spec = _op(name)
    if spec is None:
        return None, None
    by_name = {p.name: p for p in spec.params if p.kind in ("float", "int")}
    for key in preferred:
        if key in by_name:
            return spec, by_name[key]
    return spec, None


def _blur_params(rng: np.random.Generator, shape) -> dict | None:
    spec, p = _numeric_param("gaussian_blur", ("sigma", "radius"))
    if p is None:
        return None
    # up to 0.6 % of the image side: a soft focus at any resolution
    value = float(rng.uniform(0.3, max(0.4, 0.006 * min(shape[:2]))))
    return {p.name: min(value, p.hi) if p.hi is not None else value}


def _noise_params(rng: np.random.Generator, shape) -> dict | None:
    spec, p = _numeric_param("add_noise", ("sigma", "amount", "strength", "std"))
    if p is None:
        return None
    lo = p.ui_lo if p.ui_lo is not None else p.lo or 0.0
    hi = p.ui_hi if p.ui_hi is not None else p.hi or 1.0
    # a few percent of the slider range: visible grain, never a different picture
    params = {p.name: float(lo + rng.uniform(0.01, 0.05) * (hi - lo))}
    if p.kind == "int":
        params[p.name] = max(int(lo) + 1, round(params[p.name]))
    names = {q.name for q in spec.params}
    if "seed" in names:
        params["seed"] = int(rng.integers(0, 2**31 - 1))
    return params


def augment(rgb: np.ndarray, rng: np.random.Generator,
            config: AugmentConfig | None = None) -> np.ndarray:
    """One random augmentation of ``rgb`` (RGB ``uint8``) drawn from ``rng``.

    Order: mirror, rotate (no expand), random crop (which also trims the
    rotation's black corners), brightness, contrast, blur, noise. Every draw
    is made even when its op is missing, so the sequence of random numbers
    (and thus the result of the other steps) does not depend on which ops are
    installed.
    """
    cfg = config or AugmentConfig()
    img = as_rgb(to_uint8(np.asarray(rgb)))
    h, w = img.shape[:2]
    draws = rng.random(8)
    if draws[0] < cfg.flip:
        img = _run("flip", img, {"axis": "horizontal"})
    angle = float((draws[1] * 2 - 1) * cfg.rotate)
    if cfg.rotate > 0 and abs(angle) > 0.5:
        img = _run("rotate", img, {"angle": angle, "expand": False})
    side = float(cfg.crop + (1 - cfg.crop) * draws[2])
    if side < 0.999:
        cw, ch = max(1, round(w * side)), max(1, round(h * side))
        x0 = int(rng.integers(0, w - cw + 1))
        y0 = int(rng.integers(0, h - ch + 1))
        img = _run("crop", img, {"x": x0, "y": y0, "width": cw, "height": ch})
    if cfg.brightness > 0:
        img = _run("brightness", img, {"amount": float((draws[3] * 2 - 1) * cfg.brightness)})
    if cfg.contrast > 0:
        img = _run("contrast", img, {"amount": float((draws[4] * 2 - 1) * cfg.contrast)})
    if draws[5] < cfg.blur:
        params = _blur_params(rng, img.shape)
        if params:
            img = _run("gaussian_blur", img, params)
    if draws[6] < cfg.noise:
        params = _noise_params(rng, img.shape)
        if params:
            img = _run("add_noise", img, params)
    return img


def available_steps() -> dict[str, bool]:
    """Which augmentation ops are registered right now (shown in the UI)."""
    return {name: _op(name) is not None for name in
            ("flip", "rotate", "crop", "brightness", "contrast", "gaussian_blur", "add_noise")}


def sample_rng(seed: int, variant: int, key: str) -> np.random.Generator:
    """The generator for augmented copy ``variant`` of one image: reproducible per file."""
    import zlib

    return np.random.default_rng([int(seed) & 0x7FFFFFFF, int(variant),
                                  zlib.crc32(key.encode("utf-8"))])


def preview_grid(images: list[np.ndarray], seed: int = 0, per_image: int = 4,
                 config: AugmentConfig | None = None, size: int = 128) -> list[np.ndarray]:
    """Augmented samples for a preview grid: the original then ``per_image`` variants.

    Returns a flat list of ``size`` x ``size`` RGB tiles, row by row.
    """
    from editor.teach.images import square_input

    tiles = []
    for k, img in enumerate(images):
        tiles.append(square_input(img, size))
        for v in range(1, per_image + 1):
            aug = augment(img, sample_rng(seed, v, str(k)), config)
            tiles.append(square_input(aug, size))
    return tiles
