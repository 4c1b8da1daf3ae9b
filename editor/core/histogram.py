"""Per-channel histograms and statistics for the live histogram panel (no Qt).

Counts are exact over the image's own value range (256 bins for uint8,
65,536 for uint16) so the statistics (mean, median, std, min, max) are exact;
:meth:`Histogram.display_counts` folds them to 256 bins for drawing.
Luminance is BT.709 ``Y = 0.2126 R + 0.7152 G + 0.0722 B`` rounded to the
nearest integer value. Alpha is ignored: the histogram describes colour.

OpenCV's ``calcHist`` counts a channel faster than ``np.bincount`` (it is
multi-threaded and avoids the int64 index pass; ``benchmarks/bench_choices.py``
times both), so it is used when available.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from editor.core.image import LUMA_WEIGHTS, max_value, split_alpha

CHANNELS = ("r", "g", "b", "l")


@dataclass(frozen=True)
class ChannelStats:
    """Summary statistics of one channel, in the image's value scale."""

    mean: float
    median: float
    std: float
    min: int
    max: int


@dataclass
class Histogram:
    """Counts and statistics per channel.

    Attributes
    ----------
    counts : dict
        ``{"r", "g", "b", "l"} -> int64 array`` of ``max_value + 1`` bins
        (grayscale images have only ``"l"``).
    stats : dict
        Channel name -> :class:`ChannelStats`.
    top : int
        Largest representable value (255 or 65535).
    pixels : int
        Number of pixels counted.
    """

    counts: dict[str, np.ndarray]
    stats: dict[str, ChannelStats] = field(default_factory=dict)
    top: int = 255
    pixels: int = 0

    def display_counts(self, channel: str, bins: int = 256) -> np.ndarray:
        """Counts folded into ``bins`` equal-width bins (for drawing)."""
        c = self.counts[channel]
        if len(c) == bins:
            return c
        return c.reshape(bins, -1).sum(axis=1)


def _count(channel: np.ndarray, nbins: int) -> np.ndarray:
    """Exact counts of each integer value of a 2-D channel."""
    try:
        import cv2

        ch = np.ascontiguousarray(channel)
        hist = cv2.calcHist([ch], [0], None, [nbins], [0, nbins])
        return np.rint(hist.ravel()).astype(np.int64)
    except ImportError:  # pragma: no cover - OpenCV is a dependency
        return np.bincount(channel.ravel(), minlength=nbins).astype(np.int64)


def luminance_channel(color: np.ndarray) -> np.ndarray:
    """BT.709 luminance rounded to the image's own dtype."""
    if color.ndim == 2:
        return color
    import cv2

    w = np.asarray([LUMA_WEIGHTS["bt709"]], np.float32)
    # cv2.transform computes the weighted sum per pixel and saturate-rounds to
    # the input dtype in one pass: far cheaper than a float32 copy of the image.
    return cv2.transform(np.ascontiguousarray(color), w)


def stats_from_counts(counts: np.ndarray) -> ChannelStats:
    """Mean, median, std, min and max of the values a histogram counts."""
    n = int(counts.sum())
    if n == 0:
        return ChannelStats(0.0, 0.0, 0.0, 0, 0)
    values = np.arange(len(counts), dtype=np.float64)
    mean = float(values @ counts / n)
    var = float(((values - mean) ** 2) @ counts / n)
    nz = np.flatnonzero(counts)
    cdf = np.cumsum(counts)
    # median as NumPy defines it: the mean of the two middle values for even n
    lo = int(np.searchsorted(cdf, (n - 1) // 2, side="right"))
    hi = int(np.searchsorted(cdf, n // 2, side="right"))
    return ChannelStats(mean, (lo + hi) / 2.0, var**0.5, int(nz[0]), int(nz[-1]))


def compute_histogram(image: np.ndarray) -> Histogram:
    """Histogram and statistics of R, G, B and luminance.

    Parameters
    ----------
    image : ndarray
        uint8 or uint16, grayscale, RGB or RGBA (alpha ignored).

    Returns
    -------
    Histogram
        Exact counts over ``max_value + 1`` bins per channel.

    Examples
    --------
    >>> import numpy as np
    >>> h = compute_histogram(np.array([[0, 10], [10, 255]], np.uint8))
    >>> int(h.counts["l"][10]), h.stats["l"].max, h.stats["l"].median
    (2, 255, 10.0)
    """
    color, _ = split_alpha(image)
    top = max_value(image.dtype)
    nbins = top + 1
    counts: dict[str, np.ndarray] = {}
    if color.ndim == 3:
        for i, name in enumerate("rgb"):
            counts[name] = _count(color[..., i], nbins)
    counts["l"] = _count(luminance_channel(color), nbins)
    stats = {k: stats_from_counts(v) for k, v in counts.items()}
    return Histogram(counts=counts, stats=stats, top=top,
                     pixels=int(color.shape[0] * color.shape[1]))
