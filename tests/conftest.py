"""Shared fixtures: real photographs from ../shared/images, or scikit-image's copies.

The suite must pass on a clean clone with no ../shared beside it, so every
photo has a fallback in scikit-image's bundled data (a test dependency).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
SHARED_IMAGES = ROOT.parent / "shared" / "images"

# shared file -> scikit-image loader name used when ../shared is absent
_FALLBACK = {
    "astronaut.png": "astronaut",
    "chelsea.png": "chelsea",
    "coffee.png": "coffee",
    "rocket.jpg": "rocket",
    "china.jpg": "astronaut",
    "flower.jpg": "coffee",
    "grace_hopper.jpg": "astronaut",
    "scream.jpg": "chelsea",
}
PHOTO_NAMES = tuple(_FALLBACK)


def photo_path(name: str, tmp_dir: Path | None = None) -> Path:
    """Path of a real photo: the shared copy, else scikit-image's file written to ``tmp_dir``."""
    shared = SHARED_IMAGES / name
    if shared.exists():
        return shared
    import skimage.data
    from PIL import Image

    target = (tmp_dir or Path(os.environ.get("TMPDIR", "/tmp"))) / f"fallback_{name}"
    if not target.exists():
        Image.fromarray(getattr(skimage.data, _FALLBACK[name])()).save(target)
    return target


def load_photo(name: str) -> np.ndarray:
    """A real RGB uint8 photo by its shared name (see ``PHOTO_NAMES``)."""
    from PIL import Image

    shared = SHARED_IMAGES / name
    if shared.exists():
        with Image.open(shared) as im:
            return np.asarray(im.convert("RGB")).copy()
    import skimage.data

    return np.ascontiguousarray(getattr(skimage.data, _FALLBACK[name])()[..., :3])


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return load_photo("astronaut.png")


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    return load_photo("chelsea.png")


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    return load_photo("coffee.png")


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Every shared photo by name."""
    return {n: load_photo(n) for n in PHOTO_NAMES}


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (inf for identical arrays)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))
