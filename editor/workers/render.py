"""Pixel work for display, run on the lanes (NumPy/OpenCV, no QtGui).

* :func:`to_display` turns any document image into a 4-byte-per-pixel buffer
  in Qt's native byte order, which Qt paints without a conversion (a
  3-byte RGB888 image is converted pixel by pixel every time it becomes a
  pixmap; RGB32 is shared as it is).
* :func:`build_pyramid` adds halved levels so the canvas never scales a 12 MP
  buffer down by more than 2x while painting.
* :func:`render_state` and :func:`preview` are the jobs: everything the GUI
  thread then does is wrap arrays as ``QImage`` (microseconds) and paint.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from editor.core.context import OpContext
from editor.core.histogram import Histogram, compute_histogram

#: smallest pyramid level side; below this a single smooth scale is cheap
MIN_LEVEL_SIDE = 512
#: pixels of the whole-image proxy used for a live histogram while zoomed in
HIST_PROXY_PIXELS = 400_000
#: extra screen pixels computed around the visible region so spatial filters
#: have real neighbours at the edge of the view
PREVIEW_MARGIN = 24


def to_display(image: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """4-byte display buffer and whether it carries (premultiplied) alpha.

    Bytes are B, G, R, A: on little-endian machines that is Qt's
    ``Format_RGB32`` / ``Format_ARGB32_Premultiplied``, the raster engine's
    native formats, so painting needs no per-pixel conversion.

    ``out``, an ``(H, W, 4)`` ``uint8`` array, receives the pixels instead of
    a new buffer (the GUI converts straight into a ``QImage``'s own memory).

    Examples
    --------
    >>> rgb = np.array([[[10, 20, 30]]], np.uint8)
    >>> buf, alpha = to_display(rgb)
    >>> buf.tolist(), alpha
    ([[[30, 20, 10, 255]]], False)
    >>> to_display(np.array([[65535]], np.uint16))[0].tolist()
    [[[255, 255, 255, 255]]]
    """
    img = image
    if img.dtype == np.uint16:
        img = cv2.convertScaleAbs(img, alpha=1.0 / 257.0)  # rounds v/257 to uint8
    img = np.ascontiguousarray(img)
    if img.ndim == 2:
        return _into(cv2.cvtColor(img, cv2.COLOR_GRAY2BGRA, dst=out), out), False
    if img.shape[2] == 3:
        return _into(cv2.cvtColor(img, cv2.COLOR_RGB2BGRA, dst=out), out), False
    # RGBA2mRGBA scales the first three channels by the fourth, whatever their order
    bgra = _into(cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA, dst=out), out)
    return _into(cv2.cvtColor(bgra, cv2.COLOR_RGBA2mRGBA, dst=bgra), out), True


def _into(result: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    """``out`` holding ``result`` (OpenCV silently allocates when ``dst`` does not fit)."""
    if out is None or np.shares_memory(result, out):
        return result if out is None else out
    out[...] = result
    return out


def build_pyramid(buf: np.ndarray) -> list[np.ndarray]:
    """``[full, 1/2, 1/4, ...]`` down to about :data:`MIN_LEVEL_SIDE`."""
    levels = [buf]
    while max(levels[-1].shape[:2]) > 2 * MIN_LEVEL_SIDE:
        h, w = levels[-1].shape[:2]
        levels.append(cv2.resize(levels[-1], ((w + 1) // 2, (h + 1) // 2),
                                 interpolation=cv2.INTER_AREA))
    return levels


def resize_area(image: np.ndarray, scale: float) -> np.ndarray:
    """Downscale with area averaging (the proxy filter; identity at scale 1)."""
    if scale >= 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


@dataclass
class Rendered:
    """A committed state ready to paint: pyramid and histogram (no pixels kept,
    so a cached rendering never pins a state the store wants to spill)."""

    state_id: int
    shape: tuple[int, ...]
    levels: list[np.ndarray]
    alpha: bool
    histogram: Histogram

    @property
    def width(self) -> int:
        return self.shape[1]

    @property
    def height(self) -> int:
        return self.shape[0]


def render_state(state_id: int, image: np.ndarray, ctx: OpContext | None = None,
                 histogram: Histogram | None = None) -> Rendered:
    """Display pyramid and exact histogram (unless already known) of one image state."""
    buf, alpha = to_display(image)
    if ctx is not None:
        ctx.check()
    levels = build_pyramid(buf)
    if ctx is not None:
        ctx.check()
    return Rendered(state_id, image.shape, levels, alpha,
                    histogram if histogram is not None else compute_histogram(image))


@dataclass(frozen=True)
class ViewRequest:
    """What the canvas shows: the visible image rectangle and the zoom.

    ``visible`` is ``(x0, y0, x1, y1)`` in full-resolution image pixels;
    ``zoom`` is screen pixels per image pixel; ``viewport`` the canvas size.
    """

    visible: tuple[int, int, int, int]
    zoom: float
    viewport: tuple[int, int]


@dataclass
class PreviewResult:
    """A proxy result to paint over the committed image.

    ``region`` is the image rectangle it covers (``None`` when the op changes
    the geometry and the preview replaces the whole picture, fitted to view).
    """

    buffer: np.ndarray
    alpha: bool
    region: tuple[int, int, int, int] | None
    histogram: Histogram
    extras: dict[str, Any] = field(default_factory=dict)
    shape: tuple[int, ...] = ()


def preview_of(image: np.ndarray, max_side: int = 1600) -> PreviewResult:
    """An intermediate full image (an iterative op's progress) as a whole-picture preview.

    Run on the worker: the canvas then only wraps the buffer.
    """
    h, w = image.shape[:2]
    small = image
    if max(h, w) > max_side:
        s = max_side / max(h, w)
        small = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))),
                           interpolation=cv2.INTER_AREA)
    buf, alpha = to_display(small)
    return PreviewResult(buf, alpha, (0, 0, w, h), compute_histogram(small), {}, image.shape)


class _ProxyCache:
    """The last few downscaled crops of a base state (one slider drag reuses them)."""

    def __init__(self, size: int = 5) -> None:
        self._items: dict[tuple, np.ndarray] = {}
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple, make) -> np.ndarray:
        with self._lock:
            hit = self._items.get(key)
        if hit is not None:
            return hit
        value = make()
        with self._lock:
            if len(self._items) >= self._size:
                self._items.pop(next(iter(self._items)))
            self._items[key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


PROXIES = _ProxyCache()


def _whole_proxy(base_id: int, base: np.ndarray, pixels: float) -> tuple[np.ndarray, float]:
    h, w = base.shape[:2]
    scale = min(1.0, (pixels / float(h * w)) ** 0.5)
    return PROXIES.get((base_id, "whole", round(scale, 4)), lambda: resize_area(base, scale)), scale


def preview(ctx: OpContext, spec: Any, params: dict[str, Any], base_id: int, base: np.ndarray,
            view: ViewRequest, selection: np.ndarray | None = None) -> PreviewResult:
    """Run ``spec`` on a proxy of ``base`` the size of the view.

    Shape-keeping ops run on the visible crop (plus a margin) at screen
    resolution, so a 100 % view previews sharp while a fit view previews the
    whole picture at the viewport's size. The histogram always describes the
    whole picture: from the same proxy when it is whole, else from a small
    whole-image proxy run through the op again. A ``selection`` (the base's
    mask) is cropped and scaled with each proxy, so the preview shows the op
    confined to it exactly as the full-resolution apply will be.
    """
    from editor.ops import run_op
    from editor.ops.overlays import place_extras

    h, w = base.shape[:2]
    vw, vh = view.viewport
    if not spec.keeps_shape:
        proxy, scale = _whole_proxy(base_id, base, max(vw * vh, 64 * 64))
        sub = _child(ctx, scale)
        out = run_op(spec, proxy, params, sub)
        buf, alpha = to_display(out)
        # the picture is replaced, fitted to the view: side outputs go back to the
        # full-resolution output's pixels
        return PreviewResult(buf, alpha, None, compute_histogram(out),
                             place_extras(sub.extras, 1.0 / scale, (0.0, 0.0)), out.shape)
    scale = min(1.0, view.zoom)
    margin = int(np.ceil(PREVIEW_MARGIN / max(scale, 1e-6)))
    x0, y0, x1, y1 = view.visible
    region = (max(0, x0 - margin), max(0, y0 - margin), min(w, x1 + margin), min(h, y1 + margin))
    if region[2] <= region[0] or region[3] <= region[1]:
        region = (0, 0, w, h)
    whole = region == (0, 0, w, h)
    rx0, ry0, rx1, ry1 = region
    proxy = PROXIES.get((base_id, region, round(scale, 4)),
                        lambda: resize_area(base[ry0:ry1, rx0:rx1], scale))
    sub = _child(ctx, scale, _proxy_mask(base_id, selection, region, proxy.shape))
    out = run_op(spec, proxy, params, sub)
    ctx.check()
    buf, alpha = to_display(out)
    if whole:
        hist = compute_histogram(out)
    else:
        hist_proxy, hscale = _whole_proxy(base_id, base, HIST_PROXY_PIXELS)
        hmask = _proxy_mask(base_id, selection, (0, 0, w, h), hist_proxy.shape)
        hist = compute_histogram(run_op(spec, hist_proxy, params, _child(ctx, hscale, hmask)))
    # side outputs in image coordinates: the proxy covers ``region`` at its own size
    sx = (rx1 - rx0) / max(1, out.shape[1])
    return PreviewResult(buf, alpha, region, hist, place_extras(sub.extras, sx, (rx0, ry0)),
                         out.shape)


def _child(ctx: OpContext, scale: float, selection: np.ndarray | None = None) -> OpContext:
    """A context sharing ``ctx``'s cancel event with its own preview scale."""
    return OpContext(cancel_event=ctx.cancel_event, preview_scale=scale, selection=selection)


def _proxy_mask(base_id: int, selection: np.ndarray | None, region: tuple[int, int, int, int],
                shape: tuple[int, ...]) -> np.ndarray | None:
    """The part of ``selection`` (state ``base_id``'s) a proxy covers, at the proxy's size."""
    if selection is None:
        return None
    x0, y0, x1, y1 = region
    crop = selection[y0:y1, x0:x1]
    if crop.shape == tuple(shape[:2]):
        return crop
    # shrinking a 12 MP float mask takes ~18 ms, twice a tick (view and histogram
    # proxies): one slider drag over one state reuses it, like the image's proxies
    return PROXIES.get((base_id, "mask", region, tuple(shape[:2])), lambda: cv2.resize(
        np.ascontiguousarray(crop), (shape[1], shape[0]), interpolation=cv2.INTER_AREA))
