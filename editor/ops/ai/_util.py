"""Helpers shared by the CNN ops: image <-> tensor, working size, grids (torch lazily)."""

from __future__ import annotations

from typing import Any

import numpy as np

from editor.core.context import OpContext
from editor.core.image import LUMA_WEIGHTS, as_rgb, from_float, max_value

#: Smallest image side the CNN tools accept. VGG's deepest layers used here
#: (relu5_x) sit behind four 2x2 poolings, so 32 px leaves them a 2x2 map;
#: smaller inputs fail inside the network with messages about tensor shapes.
MIN_SIDE = 32


def check_min_size(image: np.ndarray, what: str, of: str = "an image") -> None:
    """Refuse an image too small for the networks, in one sentence.

    Every CNN op calls this first, so a 7x5 px image is refused with its size
    rather than with an error from deep inside torch.

    Raises
    ------
    OpError
        The shorter side is below :data:`MIN_SIDE`.

    Examples
    --------
    >>> check_min_size(np.zeros((5, 7, 3), np.uint8), "Grad-CAM")
    Traceback (most recent call last):
    ...
    editor.core.context.OpError: Grad-CAM needs an image of at least 32 x 32 pixels; this ...
    """
    from editor.core.context import OpError

    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise OpError(f"{what} needs {of} of at least {MIN_SIDE} x {MIN_SIDE} pixels; "
                      f"this one is {w} x {h}.")


def rgb_float(image: np.ndarray) -> np.ndarray:
    """Any supported image -> ``(H, W, 3)`` float32 in [0, 1] (alpha dropped)."""
    return as_rgb(image).astype(np.float32) * np.float32(1.0 / max_value(image.dtype))


def resize_float(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize a float image with area averaging (down) or bicubic (up)."""
    import cv2

    if (rgb.shape[1], rgb.shape[0]) == (width, height):
        return rgb
    shrink = width < rgb.shape[1]
    return cv2.resize(rgb, (width, height),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def working_size(shape: tuple[int, ...], max_size: int) -> tuple[int, int]:
    """(width, height) with the longer side at most ``max_size``, aspect kept."""
    h, w = shape[:2]
    scale = min(1.0, max_size / max(h, w))
    return max(1, round(w * scale)), max(1, round(h * scale))


def at_working_size(image: np.ndarray, max_size: int, ctx: OpContext, what: str
                    ) -> np.ndarray:
    """The image as [0, 1] RGB float at the working size; says so when it shrinks."""
    from editor.ops.ai._fullsize import rgb_float as rgb_float_in_strips  # honours Cancel

    rgb = rgb_float_in_strips(image, ctx)
    w, h = working_size(image.shape, max_size)
    if min(w, h) < MIN_SIDE <= min(image.shape[:2]):
        from editor.core.context import OpError

        raise OpError(f"{what} would run at {w} x {h} pixels, below the networks' "
                      f"{MIN_SIDE} px; raise the working size or crop the image.")
    if (w, h) != (image.shape[1], image.shape[0]):
        note = (f"{what} runs at the working size {w}x{h} "
                f"(image is {image.shape[1]}x{image.shape[0]})")
        ctx.extras.setdefault("notes", []).append(note)
        ctx.report(0.0, note)
        rgb = resize_float(rgb, w, h)
    return rgb


def to_tensor(rgb: np.ndarray, device: Any):
    """``(H, W, 3)`` float -> ``(1, 3, H, W)`` tensor on ``device``."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))[None].to(device)


def to_numpy(t) -> np.ndarray:
    """``(1, 3, H, W)`` tensor -> ``(H, W, 3)`` float32 array (clipped to [0, 1])."""
    return t.detach()[0].clamp(0, 1).permute(1, 2, 0).float().cpu().numpy()


def like_input(rgb: np.ndarray, image: np.ndarray) -> np.ndarray:
    """[0, 1] RGB float -> the input's dtype and channel layout (grey in, grey out)."""
    if image.ndim == 2:
        rgb = rgb @ np.asarray(LUMA_WEIGHTS["bt709"], np.float32)
    return from_float(rgb, image.dtype)


def grid(tiles: np.ndarray, pad: int = 2, columns: int | None = None) -> np.ndarray:
    """Tile ``(N, h, w[, 3])`` floats into one image with ``pad``-pixel white gutters."""
    n, h, w = tiles.shape[:3]
    cols = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    shape = (rows * (h + pad) + pad, cols * (w + pad) + pad) + tiles.shape[3:]
    out = np.ones(shape, np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y:y + h, x:x + w] = tiles[i]
    return out


def colormap(values: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> RGB float via OpenCV's JET colormap (the usual Grad-CAM look)."""
    import cv2

    u8 = np.clip(values * 255 + 0.5, 0, 255).astype(np.uint8)
    return cv2.applyColorMap(u8, cv2.COLORMAP_JET)[..., ::-1].astype(np.float32) / 255


def out_dtype(rgb: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Float RGB side image in the input's dtype (RGB even for grey input)."""
    return from_float(rgb, image.dtype)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two images of the same dtype."""
    peak = float(max_value(a.dtype))
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak * peak / mse)


def read_image(path: str, what: str = "style image") -> np.ndarray:
    """Read an image file for a style/content input; one-line :class:`OpError` on failure.

    Goes through :func:`editor.io.load_image`: the pixel limit and the EXIF
    orientation hold as for any opened photo.
    """
    from editor.core.context import OpError
    from editor.io import LoadError, load_image

    if not path:
        raise OpError(f"no {what} chosen; give a path to an image file")
    try:
        return load_image(path).pixels
    except LoadError as e:
        raise OpError(f"cannot read the {what} {e}") from None


#: Longest wait, in seconds, between intermediate results of an iterative AI op
#: (the issue's "every <= 2 s"); :class:`PartialClock` aims a little under it.
PARTIAL_GAP = 2.0


class PartialClock:
    """Decides when an iterative op should hand an intermediate result to the canvas.

    Call :meth:`due` after every iteration. It answers True when waiting for one
    more iteration would let more than ``gap`` seconds pass since the last result
    (or since the start), counting the time an emission itself takes; so the
    canvas gets a result at least every ``gap`` seconds while iterations are
    shorter than that (and after every iteration when they are not), and a fast
    run on a small image emits nothing extra. Call :meth:`emitted` after each
    emission (any emission, also one made for another reason).

    Parameters
    ----------
    gap : float
        Target longest wait in seconds.
    clock : callable
        Monotonic time source (tests pass a fake one).
    first : bool
        Also answer True at the first call (a first preview after one iteration,
        however fast: the user sees at once that something is happening).

    Examples
    --------
    >>> t = iter([0.0, 0.5, 1.0, 1.5, 1.6, 2.0])
    >>> c = PartialClock(gap=2.0, clock=lambda: next(t))   # starts at 0.0
    >>> c.due(), c.due()          # 0.5 s per iteration: 1.0 + 0.5 is still under 1.6
    (False, False)
    >>> c.due()                   # at 1.5 s one more iteration would pass 1.6 s
    True
    >>> c.emitted()               # the emission took 0.1 s (1.5 -> 1.6)
    >>> c.due()                   # 0.4 s since, + 0.5 per iteration + 0.1 per emission
    False
    """

    def __init__(self, gap: float = PARTIAL_GAP, clock=None, first: bool = False) -> None:
        import time

        self.first = first
        self.gap = float(gap)
        self.clock = clock or time.monotonic
        self.last = self.tick = self.clock()
        self.step = 0.0      # duration of the last iteration
        self.cost = 0.0      # duration of the last emission
        self._asked = None   # when due() last said True (start of the emission)

    def due(self) -> bool:
        """True when an intermediate result should be emitted now."""
        now = self.clock()
        self.step, self.tick = now - self.tick, now
        if self.first:
            self.first = False
            self._asked = now
            return True
        # 20 % margin: iterations and emissions vary (other programs share the cores;
        # a 10 % margin let a dream on a busy machine wait 2.5 s)
        if (now - self.last) + self.step + self.cost >= 0.8 * self.gap:
            self._asked = now
            return True
        return False

    def emitted(self) -> None:
        """Record that a result was just emitted (restarts the wait)."""
        now = self.clock()
        if self._asked is not None:
            self.cost = now - self._asked
            self._asked = None
        self.last = self.tick = now
