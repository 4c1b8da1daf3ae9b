"""Selections as soft masks, and the one blend every masked edit uses (no Qt).

A selection is a ``float32`` array shaped like the image's rows and columns,
``0`` outside, ``1`` inside and in between at a feathered or antialiased edge.
``None`` means *no selection*: every tool then works on the whole image, as in
GIMP and Photoshop. A selection that is all zeros is *empty*; tools refuse it
with one sentence rather than do nothing silently.

An operation run under a selection writes only inside it::

    out = m · op(img) + (1 − m) · img

computed by :func:`blend`, which is exact where it matters: where ``m`` is 0
the input's bits are kept, where ``m`` is 1 the operation's bits are taken,
and in between the result is rounded once.

Examples
--------
>>> import numpy as np
>>> img = np.zeros((2, 2), np.uint8); res = np.full((2, 2), 200, np.uint8)
>>> m = np.array([[0, 0.5], [1, 0.25]], np.float32)
>>> blend(img, res, m).tolist()
[[0, 100], [200, 50]]
>>> bbox(m)
(0, 2, 0, 2)
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import cv2
import numpy as np

from editor.core.image import max_value

#: the four ways a new shape meets the existing selection (Shift, Alt, Shift+Alt)
MODES = ("replace", "add", "subtract", "intersect")


class SelectionError(ValueError):
    """A selection that cannot be used (one sentence for the user)."""


def check_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A validated ``float32`` mask for an image of ``shape``.

    Parameters
    ----------
    mask : ndarray
        ``(H, W)`` floats in ``[0, 1]``, or integers scaled by their dtype's
        maximum (a PNG's white is inside).
    shape : tuple
        The image's shape; only the first two entries are compared.

    Raises
    ------
    SelectionError
        The mask's size differs from the image's, or it is not 2-D.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise SelectionError(f"a selection mask must be one channel, not shaped {mask.shape}")
    if mask.shape != tuple(shape[:2]):
        raise SelectionError(
            f"the selection is {mask.shape[1]}×{mask.shape[0]} pixels but the image is "
            f"{shape[1]}×{shape[0]}")
    if mask.dtype.kind in "ui":
        return mask.astype(np.float32) * np.float32(1.0 / max(1, max_value(mask.dtype)))
    if mask.dtype == np.float32 and mask.size and mask.min() >= 0.0 and mask.max() <= 1.0:
        return mask  # already a mask: no 48 MB copy per op at 12 MP
    return np.clip(mask, 0.0, 1.0).astype(np.float32, copy=False)


def is_full(mask: np.ndarray | None) -> bool:
    """True when the whole image is selected (``None`` or all ones)."""
    return mask is None or bool(mask.min(initial=1.0) >= 1.0)


def bbox(mask: np.ndarray, margin: int = 0) -> tuple[int, int, int, int] | None:
    """Rows and columns ``(y0, y1, x0, x1)`` holding the selection, grown by ``margin``.

    Clipped to the image; ``None`` for an empty selection. The box of a read-only
    mask (every selection the history hands out) is found once and remembered, so
    the previews of a slider drag do not each scan 48 MB of a 12 MP mask.
    """
    inner = _remembered_box(mask)
    if inner is None:
        return None
    h, w = mask.shape
    m = max(0, int(margin))
    return (max(0, inner[0] - m), min(h, inner[1] + m),
            max(0, inner[2] - m), min(w, inner[3] + m))


#: id(mask) -> (weak reference to it, its box); only for masks no one can write to.
_boxes: dict[int, tuple[weakref.ref, tuple[int, int, int, int] | None]] = {}


def _frozen(array: np.ndarray) -> bool:
    """No one can write to ``array``: neither it nor any array it views is writeable."""
    while isinstance(array, np.ndarray):
        if array.flags.writeable:
            return False
        array = array.base
    return True


def _remembered_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    if not _frozen(mask):
        return _scan_box(mask)
    key = id(mask)
    hit = _boxes.get(key)
    if hit is not None and hit[0]() is mask:
        return hit[1]
    box = _scan_box(mask)
    _boxes[key] = (weakref.ref(mask, lambda _ref, key=key: _boxes.pop(key, None)), box)
    return box


def _scan_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    # reductions, not a full-size boolean temporary: a 12 MP mask is read twice
    rows = np.flatnonzero(mask.max(axis=1, initial=0) > 0)
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0]:rows[-1] + 1].max(axis=0, initial=0) > 0)
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


#: (id(mask), box) -> (weak reference to the mask, its runs below 1 in the box)
_runs: dict[tuple, tuple[weakref.ref, np.ndarray | None]] = {}


def soft_runs(mask: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
    """Where ``mask[y0:y1, x0:x1]`` is below 1, as runs: ``int32`` rows ``(y, x0, x1)``
    relative to the box, by row.

    Only for a mask no one can write to (every selection the history hands out),
    and remembered: a selection is blended by every edit and preview made in it,
    and with its runs a blend never reads its inside. ``None`` for a writable mask,
    or when the runs are so many (a noisy mask) that OpenCV's blend of the whole
    box is the cheaper pass.
    """
    if not _frozen(mask):
        return None
    key = (id(mask), tuple(box))
    hit = _runs.get(key)
    if hit is not None and hit[0]() is mask:
        return hit[1]
    from editor.core.kernels import runs_below_one

    y0, y1, x0, x1 = box
    runs = runs_below_one(mask[y0:y1, x0:x1])
    if len(runs) > (y1 - y0) * (x1 - x0) // 16:
        runs = None
    _runs[key] = (weakref.ref(mask, lambda _ref, key=key: _runs.pop(key, None)), runs)
    return runs


def blend(original: np.ndarray, result: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``m · result + (1 − m) · original``, exact where ``m`` is 0 or 1.

    Parameters
    ----------
    original, result : ndarray
        Images of the same shape and integer dtype (alpha is blended like the
        other channels, so an op that changes alpha changes it only inside).
    mask : ndarray
        ``float32`` ``(H, W)`` in ``[0, 1]``.

    Returns
    -------
    ndarray
        A new image; pixels where ``m == 0`` are bit-identical to ``original``.
    """
    if original.shape != result.shape:
        raise ValueError(f"cannot blend {result.shape} into {original.shape}")
    if original.dtype == np.uint8:
        # (m·r + (1 − m)·o) / 1 in one SIMD pass on every core, several times faster
        # than the passes below; m = 0 or 1 gives o or r bit for bit, and a mix is
        # rounded half to even (the formula below rounds half up: 1 level apart on
        # exact halves). OpenCV blends 8 bit and float only.
        return cv2.blendLinear(result, original, mask, np.float32(1.0) - mask)
    soft = (mask > 0) & (mask < 1)
    n_soft = int(np.count_nonzero(soft))
    if n_soft > soft.size // 4:  # mostly feathered: the formula everywhere is cheaper
        return _mix(original, result, mask, mask >= 1.0)
    # mostly 0 and 1 (a selection with a feathered edge): copy bits, mix only the edge
    out = original.copy()
    cv2.copyTo(result, (mask >= 1.0).view(np.uint8), out)  # in place, ~100x np.where
    if n_soft:
        where = np.nonzero(soft)
        m = mask[where] if original.ndim == 2 else mask[where][:, None]
        out[where] = _mix(original[where], result[where], m, None)
    return out


def blend_over(original: np.ndarray, result: np.ndarray, mask: np.ndarray,
               runs: np.ndarray | None = None) -> np.ndarray:
    """:func:`blend`, written into ``result`` where that is faster (the same bits).

    ``result`` is the op's own output, which no one else holds. Given the mask's
    ``runs`` below 1 (:func:`soft_runs`), an 8-bit result is blended in place by the
    compiled kernel (:func:`editor.core.kernels.blend_into`, once loaded), which
    reads only the selection's soft edge and what lies outside it.
    """
    from editor.core import kernels

    if (runs is not None and original.dtype == np.uint8 and result.dtype == np.uint8
            and result.flags.writeable and result.shape == original.shape
            and kernels.counters_ready()):
        kernels.blend_into(result, original, mask, runs)
        return result
    return blend(original, result, mask)


@dataclass(frozen=True, eq=False)
class Patch:
    """A local edit: ``base`` with ``pixels`` over ``base[y0:y1, x0:x1]``.

    An op run inside a selection changes only the selection's box; returning the
    box, not a copy of the whole image, keeps its cost the box's. :meth:`array`
    makes the whole image when one is needed.

    Examples
    --------
    >>> p = Patch(np.zeros((2, 3), np.uint8), (0, 1, 1, 3), np.full((1, 2), 7, np.uint8))
    >>> p.array().tolist(), p.shape
    ([[0, 7, 7], [0, 0, 0]], (2, 3))
    """

    base: np.ndarray
    box: tuple[int, int, int, int]
    pixels: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return self.base.shape

    @property
    def dtype(self) -> np.dtype:
        return self.base.dtype

    def array(self) -> np.ndarray:
        """The whole edited image (a new array)."""
        y0, y1, x0, x1 = self.box
        out = self.base.copy()
        out[y0:y1, x0:x1] = self.pixels
        return out


def _mix(original: np.ndarray, result: np.ndarray, m: np.ndarray,
         full: np.ndarray | None) -> np.ndarray:
    """``o + m·(r − o)`` rounded once; ``full`` (m = 1) takes ``result``'s own bits."""
    if full is not None and original.ndim == 3:
        m = m[..., None]
    o = original.astype(np.float32)
    out = o + m * (result.astype(np.float32) - o)  # m = 0 adds exactly 0.0
    np.add(out, 0.5, out=out)
    np.clip(out, 0, max_value(original.dtype), out=out)
    out = out.astype(original.dtype)
    if full is not None:
        # m = 1: the op's own bits, not a float round trip (same values, but make it certain)
        out[full] = result[full]
    return out


def mask_to_image(mask: np.ndarray) -> np.ndarray:
    """A mask as a 16-bit grayscale image (white = selected), for PNG files."""
    return np.round(np.clip(mask, 0, 1) * 65535.0).astype(np.uint16)


def mask_from_image(image: np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A mask from a grayscale (or colour: its luminance; RGBA: its alpha) image.

    Parameters
    ----------
    image : ndarray
        ``uint8`` or ``uint16``; white is inside.
    shape : tuple, optional
        The image the mask is for; its size must match (see :func:`check_mask`).
    """
    if image.ndim == 3:
        top = np.float32(max_value(image.dtype))
        if image.shape[2] == 4 and np.any(image[..., 3] < top):
            image = image[..., 3].astype(np.float32) / top
        else:
            rgb = image[..., :3].astype(np.float32)
            image = rgb @ np.array([0.2126, 0.7152, 0.0722], np.float32) / top
    shape = shape if shape is not None else image.shape
    return check_mask(image, shape)


def quantize(mask: np.ndarray) -> np.ndarray:
    """``mask`` as it reads back from its 16-bit PNG, so a replay from the file is exact."""
    return check_mask(mask_to_image(mask), mask.shape)


def mask_sha256(mask: np.ndarray) -> str:
    """SHA-256 (hex) of a mask's 16-bit form: ``"HxW:"``, then its samples little-endian.

    A mask and its 16-bit PNG read back give the same digest, so a recipe can
    check that the file it names is the mask it recorded.
    """
    import hashlib

    img = np.ascontiguousarray(mask_to_image(mask).astype("<u2"))
    digest = hashlib.sha256(f"{img.shape[0]}x{img.shape[1]}:".encode())
    digest.update(img.tobytes())
    return digest.hexdigest()
