"""Frequency-domain filtering: radial FFT filters, the log spectrum and notch removal.

Policy (stated once, tested in ``tests/test_ops_frequency.py``)
----------------------------------------------------------------
- **Channels**: every colour channel is filtered on its own, so colour is kept (a
  luminance-only filter would leave chroma unfiltered and shift hues). Alpha is
  passed through untouched by the registry.
- **Dtype**: work happens in ``float32`` in the image's own scale, the result is
  rounded and clipped back to the input dtype (16-bit stays 16-bit).
- **Edges**: :func:`fft_filter` filters the *half-sample symmetric extension* of the
  image (what ``np.pad(mode="symmetric")`` builds). Done directly that would need an
  FFT of twice the size in each axis; the DCT-II computes exactly the same thing at
  the cost of one same-size transform (Martucci 1994), so there is no wrap-around
  (the top edge does not bleed into the bottom) and no padding cost.
  :func:`notch_filter` works on the plain periodic DFT, because its points are
  painted on the DFT spectrum that :func:`spectrum` shows; its smooth Butterworth
  notches keep the wrap-around ringing negligible.
- **Frequency units**: ``fft_filter`` uses fractions of the Nyquist frequency
  (1.0 = 0.5 cycles per pixel, along either axis). ``notch_filter`` uses cycles per
  pixel, ``-0.5 .. 0.5``, measured from the centre of the shifted spectrum: the
  spectrum pixel ``(x, y)`` of a ``W x H`` image is the frequency
  ``((x - W // 2) / W, (y - H // 2) / H)``. Both are per-pixel units, so a crop of
  the image (the live preview of a zoomed view) keeps their meaning; for a
  down-scaled preview proxy (``ctx.preview_scale < 1``) the ops rescale them.

References
----------
R. C. Gonzalez and R. E. Woods, *Digital Image Processing*, 4th ed., ch. 4
(4.8-4.10: ideal, Butterworth and Gaussian low/high-pass, band and notch filters).
S. A. Martucci, "Symmetric convolution and the discrete sine and cosine
transforms", IEEE Trans. Signal Processing 42(5), 1994.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Annotated, Literal

import numpy as np

from editor.core.context import OpContext, null_context
from editor.core.image import luminance, max_value
from editor.ops.registry import Kind, ParamError, Range, register_op

FilterKind = Literal["lowpass", "highpass", "bandpass", "bandstop"]
FilterShape = Literal["ideal", "butterworth", "gaussian"]

#: scipy.fft thread count: all cores (pocketfft splits the 2-D transform by rows).
WORKERS = -1
#: Order of the Butterworth notch used by :func:`notch_filter` (Gonzalez eq. 4-151).
NOTCH_ORDER = 2
#: A notch is evaluated out to this many radii; beyond it its Butterworth
#: attenuation is below (1/8)**4 = 2.4e-4, invisible after rounding to 8 bits.
NOTCH_SUPPORT = 8.0


# -- transfer functions (Qt-free, also used by the Fourier form) -------------


def _sfft():
    """scipy.fft, imported on first use: it takes most of a second to import, and
    every ``convolve`` command imports this module whether it filters in frequency
    space or not."""
    import scipy.fft

    return scipy.fft

def transfer_function(d2: np.ndarray, *, kind: str, shape: str, cutoff: float,
                      width: float = 0.1, order: int = 2) -> np.ndarray:
    """Radial filter gain ``H(D)`` evaluated on squared normalised distances.

    Parameters
    ----------
    d2 : ndarray
        Squared radial frequency ``D**2`` with ``D = 1`` at the Nyquist frequency.
    kind : {"lowpass", "highpass", "bandpass", "bandstop"}
        Filter type; high-pass is ``1 - low-pass``, band-pass ``1 - band-stop``.
    shape : {"ideal", "butterworth", "gaussian"}
        Profile (Gonzalez & Woods tables 4.6 and 4.7).
    cutoff : float
        Cut-off ``D0`` (low/high-pass) or band centre ``C0``, Nyquist fractions.
    width : float
        Band width ``W`` for band filters, Nyquist fractions.
    order : int
        Butterworth order ``n``.

    Returns
    -------
    ndarray
        ``float32`` gains in ``[0, 1]``, same shape as ``d2``.
    """
    d2 = np.asarray(d2, dtype=np.float32)
    c2 = np.float32(cutoff * cutoff)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if kind in ("lowpass", "highpass"):
            if shape == "ideal":
                h = (d2 <= c2).astype(np.float32)
            elif shape == "butterworth":
                h = 1.0 / (1.0 + (d2 / c2) ** order)
            else:
                h = np.exp(d2 / (-2.0 * c2))
        else:
            w = np.float32(width)
            if shape == "ideal":
                lo, hi = max(cutoff - width / 2, 0.0), cutoff + width / 2
                h = ((d2 < lo * lo) | (d2 > hi * hi)).astype(np.float32)
            elif shape == "butterworth":
                # 1 / (1 + (D W / (D^2 - C0^2))^2n): s = 0 at DC (gain 1), inf on the ring
                s = d2 * (w * w) / (d2 - c2) ** 2
                h = 1.0 / (1.0 + s ** order)
            else:
                t = (d2 - c2) ** 2 / (d2 * (w * w))
                h = 1.0 - np.exp(-t)
        h = np.nan_to_num(h.astype(np.float32, copy=False), nan=0.0)
    if kind in ("highpass", "bandpass"):
        h = np.subtract(1.0, h, dtype=np.float32)
    return h


def _check_band(kind: str, cutoff: float, width: float) -> None:
    if kind in ("bandpass", "bandstop") and width <= 0:
        raise ParamError("fft_filter: width must be positive for band filters")


def dct_radius2(height: int, width: int) -> np.ndarray:
    """Squared normalised radial frequency on the DCT-II grid (``D = 1`` at Nyquist).

    DCT index ``k`` of an axis of length ``N`` is the frequency ``k / (2N)`` cycles
    per pixel of the symmetric extension, i.e. ``D = k / N``.
    """
    fy = (np.arange(height, dtype=np.float32) / np.float32(height)) ** 2
    fx = (np.arange(width, dtype=np.float32) / np.float32(width)) ** 2
    return fy[:, None] + fx[None, :]


def filter_mask_display(grid: tuple[int, int], image_size: tuple[int, int] | None = None,
                        **filter_params) -> np.ndarray:
    """The :func:`fft_filter` gain on a shifted spectrum grid of shape ``grid``.

    Parameters
    ----------
    grid : (int, int)
        ``(height, width)`` of the spectrum shown (a proxy's, for the Fourier panel).
    image_size : (int, int), optional
        ``(W, H)`` of the full-resolution image the filter will run on (defaults
        to the grid size). Spectrum pixel offsets are cycles per image, and the
        op's ``D`` is ``2 * cycles / size``, so a proxy shows the full-size mask.
        (A proxy spectrum only reaches its own Nyquist frequency.)
    **filter_params
        ``kind``, ``shape``, ``cutoff``, ``width``, ``order`` as for :func:`fft_filter`.
    """
    height, width = grid
    full_w, full_h = image_size or (width, height)
    fy = (np.arange(height, dtype=np.float32) - height // 2) * np.float32(2.0 / full_h)
    fx = (np.arange(width, dtype=np.float32) - width // 2) * np.float32(2.0 / full_w)
    return transfer_function(fy[:, None] ** 2 + fx[None, :] ** 2, **filter_params)


# -- spectrum ----------------------------------------------------------------

def log_spectrum(gray: np.ndarray) -> np.ndarray:
    """``log(1 + |F|)`` of a 2-D array, centred (fftshift) and scaled to ``[0, 1]``.

    Computed with a real FFT (half the work) and mirrored by the conjugate
    symmetry ``|F(-u, -v)| = |F(u, v)|``.

    Parameters
    ----------
    gray : ndarray
        2-D array (any real dtype).

    Returns
    -------
    ndarray
        ``float32`` of the same shape; the centre pixel ``(H // 2, W // 2)`` is DC.
    """
    g = np.asarray(gray, dtype=np.float32)
    h, w = g.shape
    half = np.abs(_sfft().rfft2(g, workers=WORKERS))
    np.log1p(half, out=half)
    wh = half.shape[1]
    full = np.empty((h, w), np.float32)
    full[:, :wh] = half
    if w > wh:
        # F[r, k] = conj F[-r, W - k] for the columns the real FFT leaves out
        rows = np.roll(np.arange(h)[::-1], 1)
        full[:, wh:] = half[rows][:, w - wh:0:-1]
    full = np.fft.fftshift(full)
    top = float(full.max())
    if top > 0:
        full *= np.float32(1.0 / top)
    return full


@register_op("spectrum", title="Fourier spectrum", category="Frequency")
def spectrum(image: np.ndarray, *, ctx: OpContext | None = None) -> np.ndarray:
    """Show the log-magnitude Fourier spectrum of the image's luminance.

    The image becomes ``log(1 + |F(u, v)|)`` of its BT.709 luminance, shifted so
    that the zero frequency is at the centre pixel ``(W // 2, H // 2)`` and scaled
    so that the largest value (normally DC) is white. Luminance is taken on the
    0..255 scale whatever the dtype, so 8- and 16-bit copies look alike. Pixel ``(x, y)`` shows the
    frequency ``((x - W // 2) / W, (y - H // 2) / H)`` in cycles per pixel, the
    coordinates :func:`notch_filter` takes.

    Returns
    -------
    ndarray
        Image of the same shape and dtype, gray (R = G = B).

    References
    ----------
    Gonzalez & Woods, *Digital Image Processing*, 4th ed., 4.6 (spectrum display).
    """
    ctx = ctx or null_context()
    ctx.report(0.0, "Fourier transform")
    top = max_value(image.dtype)
    # luminance on the 8-bit scale, so an image shows the same spectrum in 8 or 16 bits
    spec = log_spectrum(luminance(image) * np.float32(255.0 / top))
    ctx.report(0.8, "Scaling")
    spec *= np.float32(top)
    spec += np.float32(0.5)
    out = spec.astype(image.dtype)
    if image.ndim == 3:
        import cv2

        # OpenCV's gray-to-RGB copy is several times faster than np.repeat
        return cv2.cvtColor(out, cv2.COLOR_GRAY2RGB) if image.shape[2] == 3 else \
            np.repeat(out[..., None], image.shape[2], axis=2)
    return out


# -- radial filters -----------------------------------------------------------

@register_op("fft_filter", title="FFT filter", category="Frequency", heavy=True)
def fft_filter(
    image: np.ndarray, *,
    kind: FilterKind = "lowpass",
    shape: FilterShape = "gaussian",
    cutoff: Annotated[float, Range(0.001, 1.0, scale="log")] = 0.1,
    width: Annotated[float, Range(0.001, 1.0, scale="log")] = 0.1,
    order: Annotated[int, Range(1, 10)] = 2,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Low-, high-, band-pass or band-stop filter in the frequency domain.

    Each channel is transformed, multiplied by a radial gain ``H(D)`` and
    transformed back. ``D`` is the radial frequency as a fraction of Nyquist
    (``D = 1`` at 0.5 cycles per pixel along either axis). Edges are handled by
    the symmetric extension (via the DCT-II), so there is no wrap-around.

    Parameters
    ----------
    kind : {"lowpass", "highpass", "bandpass", "bandstop"}
        What passes: frequencies below the cut-off, above it, inside the band
        ``cutoff ± width / 2`` or outside it.
    shape : {"ideal", "butterworth", "gaussian"}
        Gain profile: a hard step (rings), Butterworth of ``order`` or Gaussian
        (no ringing).
    cutoff : float
        Cut-off (low/high-pass; for Gaussian the standard deviation) or band
        centre (band filters), as a fraction of the Nyquist frequency (0..1).
    width : float
        Band width for band-pass and band-stop, as a fraction of Nyquist.
    order : int
        Butterworth order (1..10); higher is sharper.

    Returns
    -------
    ndarray
        Filtered image, same shape and dtype (rounded and clipped).

    Examples
    --------
    >>> import numpy as np
    >>> flat = np.full((8, 8), 100, np.uint8)
    >>> int(fft_filter(flat, kind="lowpass", cutoff=0.2).max())
    100

    References
    ----------
    Gonzalez & Woods, *Digital Image Processing*, 4th ed., 4.8-4.10.
    """
    ctx = ctx or null_context()
    _check_band(kind, cutoff, width)
    # A proxy pixel covers 1/scale full-resolution pixels: the same physical
    # frequency is a larger fraction of the proxy's Nyquist.
    scale = ctx.preview_scale if 0 < ctx.preview_scale < 1 else 1.0
    gain = transfer_function(dct_radius2(*image.shape[:2]), kind=kind, shape=shape,
                             cutoff=cutoff / scale, width=width / scale, order=order)
    return _filter_channels(image, lambda ch: _dct_filter(ch, gain, ctx), ctx)


def _dct_filter(channel: np.ndarray, gain: np.ndarray, ctx: OpContext) -> np.ndarray:
    coeffs = _sfft().dctn(channel, type=2, workers=WORKERS, overwrite_x=True)
    ctx.check()
    coeffs *= gain
    return _sfft().idctn(coeffs, type=2, workers=WORKERS, overwrite_x=True)


def _filter_channels(image: np.ndarray, filt, ctx: OpContext) -> np.ndarray:
    """Apply ``filt`` (float32 2-D -> float 2-D) to every channel; round and clip."""
    top = np.float32(max_value(image.dtype))
    out = np.empty_like(image)
    channels = 1 if image.ndim == 2 else image.shape[2]
    for c in range(channels):
        ctx.report(c / channels, f"Filtering channel {c + 1} of {channels}")
        plane = image if image.ndim == 2 else image[..., c]
        res = filt(plane.astype(np.float32))
        res += np.float32(0.5)
        np.clip(res, 0, top, out=res)
        if image.ndim == 2:
            out[...] = res
        else:
            out[..., c] = res
    ctx.report(1.0)
    return out


# -- notches ------------------------------------------------------------------

def symmetric_points(points: Iterable[Sequence[float]]) -> list[tuple[float, float]]:
    """Each notch ``(fx, fy)`` and its mirror ``(-fx, -fy)``; a real image needs both."""
    out = []
    for u, v in points:
        out.append((float(u), float(v)))
        if (u, v) != (0, 0):
            out.append((-float(u), -float(v)))
    return out


def notch_mask(height: int, width: int, points: Iterable[Sequence[float]], radius: float,
               *, layout: Literal["shifted", "full", "half"] = "shifted") -> np.ndarray:
    """Product of Butterworth notch-reject gains at ``points`` and their mirrors.

    Parameters
    ----------
    height, width : int
        Image size.
    points : iterable of (fx, fy)
        Notch centres in cycles per pixel (``-0.5 .. 0.5``) from the spectrum centre.
    radius : float
        Notch radius in cycles per pixel (gain 0.5 at this distance).
    layout : {"shifted", "full", "half"}
        ``"shifted"``: the ``(H, W)`` grid of :func:`log_spectrum` (DC at the
        centre, for display); ``"full"``: the unshifted ``np.fft.fft2`` grid;
        ``"half"``: the ``(H, W // 2 + 1)`` grid of ``rfft2``.

    Returns
    -------
    ndarray
        ``float32`` gains in ``[0, 1]``.

    References
    ----------
    Gonzalez & Woods, 4th ed., eq. 4-151 (Butterworth notch reject, order 2).
    """
    ncols = width // 2 + 1 if layout == "half" else width
    mask = np.ones((height, ncols), np.float32)
    r4 = np.float32(float(radius) ** 4)
    reach = NOTCH_SUPPORT * float(radius)
    row_off = height // 2 if layout == "shifted" else 0
    col_off = width // 2 if layout == "shifted" else 0
    for fx, fy in symmetric_points(points):
        # work in DFT bins: frequency f cycles/pixel is bin f * N
        u0, v0 = fx * width, fy * height
        fr = _notch_bins(v0, reach * height, height)
        fc = _notch_bins(u0, reach * width, width)
        if layout == "half":
            fc = fc[fc % width < ncols]
        if fr.size == 0 or fc.size == 0:
            continue
        # DFT frequencies are periodic: measure the distance to the nearest alias
        dv = ((fr - v0 + height / 2) % height - height / 2) / height
        du = ((fc - u0 + width / 2) % width - width / 2) / width
        d2 = (dv * dv)[:, None] + (du * du)[None, :]
        d4 = (d2 * d2).astype(np.float32)
        gain = d4 / (d4 + r4)  # 1 / (1 + (r / d)^2n), n = 2
        rows = (fr + row_off) % height
        cols = (fc + col_off) % width
        mask[np.ix_(rows, cols)] *= gain
    return mask


def _notch_bins(centre: float, reach: float, n: int) -> np.ndarray:
    """Bins within ``reach`` of ``centre`` (every bin once if it spans the axis)."""
    if 2 * reach + 1 >= n:
        return np.arange(n)
    return np.arange(math.ceil(centre - reach), math.floor(centre + reach) + 1)


@register_op("notch_filter", title="Notch filter", category="Frequency", heavy=True)
def notch_filter(
    image: np.ndarray, *,
    points: Annotated[list, Kind("points", hint="fx:fy cycles/pixel, e.g. 0.1:0,0:0.05"),
                      Range(-0.5, 0.5)] = (),
    radius: Annotated[float, Range(0.0005, 0.25, ui=(0.001, 0.05), step=0.0001)] = 0.008,
    ctx: OpContext | None = None,
) -> np.ndarray:
    """Remove periodic patterns by rejecting chosen frequencies (notches).

    Every point ``(fx, fy)`` removes that frequency and its mirror
    ``(-fx, -fy)``, so the result stays real. This is what the Fourier panel's
    brush records, so a painted mask replays from a recipe or the command line.

    Parameters
    ----------
    points : list of (fx, fy)
        Notch centres in cycles per pixel (-0.5..0.5) from the spectrum centre:
        the pixel ``(x, y)`` of the :func:`spectrum` image of a W x H picture is
        ``((x - W // 2) / W, (y - H // 2) / H)``. Stripes with a period of
        ``p`` pixels across x sit at ``fx = ±1 / p``.
    radius : float
        Notch radius in cycles per pixel; the gain is 0.5 at this distance and
        falls to 0 at the centre (Butterworth notch of order 2).

    Returns
    -------
    ndarray
        Filtered image, same shape and dtype; every channel is filtered.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(64)
    >>> stripes = (100 + 50 * np.sin(2 * np.pi * x / 8)).astype(np.uint8)
    >>> img = np.tile(stripes, (64, 1))
    >>> int(np.ptp(img)), int(np.ptp(notch_filter(img, points=[(1 / 8, 0)], radius=0.03)))
    (100, 1)

    References
    ----------
    Gonzalez & Woods, *Digital Image Processing*, 4th ed., 4.10 (notch filters).
    """
    # a proxy pixel covers 1/scale full-resolution pixels: frequencies scale by 1/scale;
    # notches beyond the proxy's Nyquist have nothing left to remove there
    ctx = ctx or null_context()
    scale = ctx.preview_scale if 0 < ctx.preview_scale < 1 else 1.0
    points = [(fx / scale, fy / scale) for fx, fy in points
              if abs(fx / scale) <= 0.5 and abs(fy / scale) <= 0.5]
    radius = radius / scale
    pts = list(points)
    if not pts:
        return image.copy()
    h, w = image.shape[:2]
    gain = notch_mask(h, w, pts, radius, layout="half")

    def filt(ch: np.ndarray) -> np.ndarray:
        spec = _sfft().rfft2(ch, workers=WORKERS, overwrite_x=True)
        ctx.check()
        spec *= gain
        return _sfft().irfft2(spec, s=(h, w), workers=WORKERS, overwrite_x=True)

    return _filter_channels(image, filt, ctx)
