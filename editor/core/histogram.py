"""Per-channel histograms and statistics for the live histogram panel (no Qt).

Counts are exact over the image's own value range (256 bins for uint8,
65,536 for uint16) so the statistics (mean, median, std, min, max) are exact;
:meth:`Histogram.display_counts` folds them to 256 bins for drawing.
Luminance is BT.709 ``Y = 0.2126 R + 0.7152 G + 0.0722 B`` rounded to the
nearest integer value. Alpha is ignored: the histogram describes colour.

OpenCV's ``calcHist`` counts a channel faster than ``np.bincount`` (it avoids
the int64 index pass; ``benchmarks/bench_choices.py`` times both), in place on
the interleaved image, in bands that keep its float counts exact. Once a
process has loaded the compiled counters (:func:`editor.core.kernels.warm_up_counters`,
as the editor does at start-up), an 8-bit colour band is counted by one
compiled pass instead: R, G, B and the luma with the same counts, 1.7x faster.
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

    def patched(self, old: np.ndarray, new: np.ndarray) -> Histogram:
        """This histogram after the pixels ``old`` became ``new`` (a changed box).

        Counts add up, so taking the box's old counts off and its new ones on
        gives exactly the histogram of the edited image, at the cost of the box.

        Examples
        --------
        >>> img = np.array([[0, 10], [10, 255]], np.uint8)
        >>> after = img.copy(); after[0, :] = 255
        >>> h = compute_histogram(img).patched(img[:1], after[:1])
        >>> h.counts["l"].tolist() == compute_histogram(after).counts["l"].tolist()
        True
        """
        from editor.core.parallel import map_ordered

        # the two boxes side by side on the pool: a box of a million pixels or less is
        # one band, counted on one core
        before, after = map_ordered(lambda part: band_counts(split_alpha(part)[0], self.top + 1),
                                    [old, new])
        counts = {k: self.counts[k] - before[k] + after[k] for k in self.counts}
        return Histogram(counts=counts, stats={k: stats_from_counts(v) for k, v in counts.items()},
                         top=self.top, pixels=self.pixels)

    def display_counts(self, channel: str, bins: int = 256) -> np.ndarray:
        """Counts folded into ``bins`` equal-width bins (for drawing)."""
        c = self.counts[channel]
        if len(c) == bins:
            return c
        return c.reshape(bins, -1).sum(axis=1)


def channel_counts(image: np.ndarray, c: int = 0, nbins: int | None = None) -> np.ndarray:
    """Exact int64 counts of every value of channel ``c`` of an integer image.

    ``cv2.calcHist`` reads the channel in place (no copy of a strided plane) but
    returns float32 counts, exact only up to 2**24: a 36-million-sample plane of
    one value (a flat 36 MP photo) would be miscounted. So it runs on bands of at
    most 2**24 pixels, whose counts are added as integers. It runs on one core;
    callers that need several channels count them side by side on the pool.

    Examples
    --------
    >>> channel_counts(np.array([[[0, 9], [9, 9]]], np.uint8), c=1)[9]
    np.int64(2)
    """
    import cv2

    nbins = nbins or max_value(image.dtype) + 1
    if not image.flags.c_contiguous and image.ndim == 2:
        image = np.ascontiguousarray(image)
    rows = max(1, (1 << 24) // max(1, image.shape[1]))
    total = np.zeros(nbins, np.int64)
    for y0 in range(0, image.shape[0], rows):
        hist = cv2.calcHist([image[y0:y0 + rows]], [c], None, [nbins], [0, nbins])
        total += hist.ravel().astype(np.int64)
    return total


def band_counts(color: np.ndarray, nbins: int) -> dict[str, np.ndarray]:
    """Counts of R, G, B and luminance ``"l"`` (a gray image: ``"l"`` only) by channel.

    Bands of about a million pixels go to the pool, each counting its four
    channels while its rows are in cache (its luminance plane is a band, not a
    12 MP temporary); the bands' counts add up exactly.
    """
    from editor.core.kernels import counters_ready, rgb_luma_counts
    from editor.core.parallel import map_ordered

    rows = max(1, (1 << 20) // max(1, color.shape[1]))
    weights = np.asarray(LUMA_WEIGHTS["bt709"], np.float32)
    # one compiled pass, 1.7x the OpenCV calls below, with the same counts
    compiled = color.dtype == np.uint8 and color.ndim == 3 and counters_ready()

    def band(y0: int) -> np.ndarray:
        part = color[y0:y0 + rows]
        if compiled:
            return rgb_luma_counts(part, weights)
        planes = [channel_counts(part, c, nbins) for c in range(3)] if part.ndim == 3 else []
        return np.stack(planes + [channel_counts(luminance_channel(part), 0, nbins)])

    total = np.zeros((4 if color.ndim == 3 else 1, nbins), np.int64)
    for counts in map_ordered(band, range(0, color.shape[0], rows)):
        total += counts
    return dict(zip(CHANNELS if color.ndim == 3 else ("l",), total, strict=True))


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
    counts = band_counts(color, nbins)
    stats = {k: stats_from_counts(v) for k, v in counts.items()}
    return Histogram(counts=counts, stats=stats, top=top,
                     pixels=int(color.shape[0] * color.shape[1]))
