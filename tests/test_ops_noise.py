"""add_noise (editor/ops/noise.py): determinism and statistics against the definition.

Noise cannot be compared pixel by pixel with another library's generator, so the
independent check is statistical: the added noise must have the requested standard
deviation and zero mean (Gaussian), or replace the requested fraction of pixels with
black and white in equal parts (salt and pepper), within sampling error.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_photo

from editor.ops import ParamError, get_op


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return load_photo("coffee.png")[:256, :256].copy()


def test_same_seed_same_noise_other_seed_other_noise(photo):
    op = get_op("add_noise")
    for kind in ("gaussian", "salt_pepper"):
        a = op(photo, kind=kind, amount=0.1, seed=7)
        np.testing.assert_array_equal(a, op(photo, kind=kind, amount=0.1, seed=7))
        assert (a != op(photo, kind=kind, amount=0.1, seed=8)).any()


@pytest.mark.parametrize("amount", [0.02, 0.1])
def test_gaussian_noise_statistics(amount):
    flat = np.full((256, 256, 3), 128, np.uint8)
    out = get_op("add_noise")(flat, amount=amount, seed=1)
    noise = out.astype(float) - 128
    n = noise.size
    # Expected std amount * 255; rounding to whole levels adds 1/12 variance.
    expected = np.sqrt((amount * 255) ** 2 + 1 / 12)
    # std of a sample of n normals has relative error ~1/sqrt(2n) (0.1 %); allow 2 %.
    assert noise.std() == pytest.approx(expected, rel=0.02)
    assert abs(noise.mean()) < 5 * expected / np.sqrt(n)
    # every channel gets its own noise (colour noise), uncorrelated
    c = np.corrcoef(noise[..., 0].ravel(), noise[..., 2].ravel())[0, 1]
    assert abs(c) < 0.02 and noise[..., 2].std() == pytest.approx(expected, rel=0.02)


def test_gaussian_noise_16bit():
    flat = np.full((128, 128), 30000, np.uint16)
    out = get_op("add_noise")(flat, amount=0.05, seed=3)
    assert out.dtype == np.uint16
    assert (out.astype(float) - 30000).std() == pytest.approx(0.05 * 65535, rel=0.03)


@pytest.mark.parametrize("amount", [0.05, 0.3])
def test_salt_and_pepper_fraction(photo, amount):
    out = get_op("add_noise")(photo, kind="salt_pepper", amount=amount, seed=5)
    changed = (out != photo).any(axis=2)
    black = (out == 0).all(axis=2) & changed
    white = (out == 255).all(axis=2) & changed
    n = photo.shape[0] * photo.shape[1]
    # replaced pixels are black or white in all channels; the rest untouched
    assert (black | white)[changed].all()
    np.testing.assert_array_equal(out[~changed], photo[~changed])
    # fraction within 5 binomial standard errors (a pixel replaced by its own value
    # counts as unchanged, so measure black+white including those)
    hit = (out == 0).all(axis=2) | (out == 255).all(axis=2)
    se = np.sqrt(amount * (1 - amount) / n)
    assert abs(hit.mean() - amount) < 5 * se + (photo == 0).all(axis=2).mean()
    assert black.sum() == pytest.approx(white.sum(), rel=0.15)


def test_noise_parameters_checked_and_alpha_kept(photo):
    with pytest.raises(ParamError, match="amount"):
        get_op("add_noise")(photo, amount=1.5)
    with pytest.raises(ParamError, match="kind"):
        get_op("add_noise")(photo, kind="poisson")
    alpha = np.full(photo.shape[:2], 200, np.uint8)
    out = get_op("add_noise")(np.dstack([photo, alpha]), amount=0.2, kind="salt_pepper")
    np.testing.assert_array_equal(out[..., 3], alpha)
    np.testing.assert_array_equal(get_op("add_noise")(photo, amount=0.0), photo)
