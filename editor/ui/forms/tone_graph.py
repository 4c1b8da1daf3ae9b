"""What the Curves and Levels forms share: a channel's histogram, picked values, drawing.

:func:`channel_histogram` counts the channel an adjustment acts on, in 256 bins of
0..255 units (16-bit images folded), with the op's own definitions (pooled R, G, B
for ``all``, the BT.601 luma of :mod:`editor.ops.color` for ``luminance``);
:func:`picked_value` is the value of one pixel in that channel, for eyedroppers.
:class:`ToneGraph` paints that histogram behind a plot and maps values to pixels;
:class:`ToneForm` is the forms' common part (the op's channel box, the image, its
histogram); :func:`eyedropper_icon` draws the pipette of the eyedropper buttons.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QComboBox, QSizePolicy, QToolButton, QWidget

from editor.core.image import max_value, split_alpha
from editor.ops.color import luma
from editor.ops.registry import OpSpec
from editor.ops.tone import histogram
from editor.ui.forms.fields import choice_text
from editor.ui.forms.param_form import ThrottledForm
from editor.ui.richtext import rich_text

#: How each channel choice reads in a combo box (unknown ones keep their name).
CHANNEL_NAMES = {"all": "RGB", "r": "Red", "g": "Green", "b": "Blue", "luminance": "Luminance"}
#: Histogram fill per channel.
CHANNEL_COLORS = {"all": QColor(200, 200, 205), "r": QColor(225, 85, 85),
                  "g": QColor(90, 200, 105), "b": QColor(95, 140, 240),
                  "luminance": QColor(215, 215, 215)}
#: Pixels counted at most (larger images are strided; the shape of the histogram is kept).
HISTOGRAM_PIXELS = 4_000_000

_INDEX = {"r": 0, "g": 1, "b": 2}


def _colour(image: np.ndarray) -> np.ndarray:
    color, _alpha = split_alpha(image)
    return color


def channel_histogram(image: np.ndarray | None, channel: str) -> np.ndarray:
    """Counts of the values ``channel`` of ``image`` holds, 256 bins of 0..255 units.

    ``all`` pools R, G and B (one mapping acts on all three), ``luminance`` counts
    the BT.601 luma the ``curves`` op maps; a grayscale image has one channel for all.
    Images over :data:`HISTOGRAM_PIXELS` are counted on a regular grid of pixels.
    """
    if image is None:
        return np.zeros(256, np.int64)
    color = _colour(image)
    step = max(1, math.ceil(math.sqrt(color.shape[0] * color.shape[1] / HISTOGRAM_PIXELS)))
    if step > 1:
        color = color[::step, ::step]
    if color.ndim == 2:
        plane = color
    elif channel in _INDEX:
        plane = color[..., _INDEX[channel]]
    elif channel == "luminance":
        plane = luma(np.ascontiguousarray(color))
    else:
        plane = color
    counts = histogram(np.ascontiguousarray(plane))
    return counts.reshape(256, -1).sum(axis=1) if counts.size != 256 else counts


def picked_value(image: np.ndarray | None, x: int, y: int, channel: str,
                 rule: str = "luma") -> float | None:
    """The value (0..255 units) of pixel ``(x, y)`` in ``channel``, or None outside.

    For ``all`` on a colour image ``rule`` says which single value stands for the
    pixel: ``"luma"`` (BT.601, as the curves op's luminance), ``"max"`` (the
    brightest channel: a black point there makes the pixel black) or ``"min"``
    (the darkest: a white point there makes it white).
    """
    if image is None or not (0 <= y < image.shape[0] and 0 <= x < image.shape[1]):
        return None
    px = _colour(image)[y, x].astype(np.float64) * (255.0 / max_value(image.dtype))
    if px.ndim == 0:
        return float(px)
    if channel in _INDEX:
        return float(px[_INDEX[channel]])
    if channel == "all" and rule == "max":
        return float(px.max())
    if channel == "all" and rule == "min":
        return float(px.min())
    return float(px @ np.array([0.299, 0.587, 0.114]))


def fit_channels(combo: QComboBox, image: np.ndarray | None) -> None:
    """Offer only the channels ``image`` has: a grayscale image has no R, G or B.

    A combo showing one of those falls back to ``all`` without a signal (the
    next edit uses it; nothing is committed behind the user's back).
    """
    gray = image is not None and _colour(image).ndim == 2
    model = combo.model()
    for i in range(combo.count()):
        model.item(i).setEnabled(not gray or combo.itemData(i) not in _INDEX)
    if gray and combo.currentData() in _INDEX:
        combo.blockSignals(True)
        combo.setCurrentIndex(max(0, combo.findData("all")))
        combo.blockSignals(False)


def histogram_heights(counts: np.ndarray) -> np.ndarray:
    """Bin heights in [0, 1] for drawing: scaled to the tallest bin but the end ones.

    Clipped shadows and highlights pile up in bins 0 and 255; scaling to them would
    flatten the rest (the histogram dock's rule), so those two are drawn cut off.
    """
    c = np.asarray(counts, np.float64)
    top = 1.05 * (c[1:-1].max() if c.size > 2 else c.max(initial=0.0))
    return np.minimum(c / top, 1.0) if top > 0 else np.zeros_like(c)


def eyedropper_icon(tip: QColor | None = None, size: int = 18) -> QIcon:
    """A pipette pointing down-left, filled with ``tip`` (black/grey/white points).

    Each shape is drawn twice, a wider outline then the fill, so a black pipette
    shows on a dark button and a white one on a light (checked) one.
    """
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    s = size / 18.0
    fill = tip if tip is not None else QColor(225, 225, 225)
    edge = QColor(200, 200, 200) if fill.lightness() < 160 else QColor(30, 30, 32)
    tube = (QPointF(3.5 * s, 14.5 * s), QPointF(11.5 * s, 6.5 * s))
    for color, extra in ((edge, 1.6 * s), (fill, 0.0)):
        p.setPen(QPen(color, 3.4 * s + extra, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        p.drawLine(*tube)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(color)
        p.drawEllipse(QPointF(13.2 * s, 4.8 * s), 3.4 * s + extra / 2, 3.4 * s + extra / 2)
    p.end()
    return QIcon(pm)


def eyedropper_button(tip: QColor | None, tooltip: str, name: str) -> QToolButton:
    """A checkable tool button with :func:`eyedropper_icon` (on: clicks pick)."""
    b = QToolButton()
    b.setCheckable(True)
    b.setIcon(eyedropper_icon(tip))
    b.setToolTip(tooltip)
    b.setObjectName(name)
    b.setAutoRaise(False)
    b.setStyleSheet("QToolButton { padding: 3px; border: 1px solid #46464b; border-radius: 4px;"
                    " background: #38383c; } QToolButton:checked { background: #3a6ea5;"
                    " border-color: #6a9fd8; }")
    return b


class ToneGraph(QWidget):
    """A plot over the op's value range with a channel's histogram behind it.

    Subclasses draw on top (a curve, triangles) in :meth:`paint_over`; the plot
    rectangle is :meth:`plot_rect` and :meth:`to_px` / :meth:`to_value` map values
    along x. ``lo`` and ``hi`` are the range, set by the form from the op's spec.
    """

    MARGIN = 8

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.counts = np.zeros(256, np.int64)
        self.channel = "all"
        self.lo, self.hi = 0.0, 255.0
        #: a value marked by a vertical line (the pixel under the pointer)
        self.marker: float | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def set_histogram(self, counts: np.ndarray, channel: str) -> None:
        self.counts = np.asarray(counts)
        self.channel = channel
        self.update()

    def set_marker(self, value: float | None) -> None:
        if value != self.marker:
            self.marker = value
            self.update()

    # -- geometry --------------------------------------------------------------------
    def plot_rect(self) -> QRectF:
        m = self.MARGIN
        return QRectF(m, m, max(10.0, self.width() - 2 * m), max(10.0, self.height() - 2 * m))

    def to_px(self, value: float) -> float:
        r = self.plot_rect()
        return r.left() + (value - self.lo) / (self.hi - self.lo) * r.width()

    def to_value(self, px: float) -> float:
        r = self.plot_rect()
        return self.lo + (px - r.left()) / r.width() * (self.hi - self.lo)

    def clamp(self, value: float) -> float:
        """``value`` rounded to a whole level and held in the range."""
        return float(min(self.hi, max(self.lo, round(value))))

    # -- painting --------------------------------------------------------------------
    def paintEvent(self, _event) -> None:  # noqa: N802  (Qt override)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        r = self.plot_rect()
        p.fillRect(r, QColor(28, 28, 30))
        self.paint_histogram(p, r)
        self.paint_grid(p, r)
        self.paint_over(p, r)
        if self.marker is not None:
            x = self.to_px(self.marker)
            p.setPen(QPen(QColor(255, 210, 80, 200), 1, Qt.PenStyle.DashLine))
            p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))
        p.setPen(QPen(QColor(70, 70, 75), 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(r)
        p.end()

    def paint_histogram(self, p: QPainter, r: QRectF) -> None:
        heights = histogram_heights(self.counts)
        if not heights.any():
            return
        n = heights.size
        xs = r.left() + (np.arange(n) + 0.5) * (r.width() / n)
        ys = r.bottom() - heights * (r.height() * 0.96)
        poly = QPolygonF([QPointF(r.left(), r.bottom())]
                         + [QPointF(float(x), float(y)) for x, y in zip(xs, ys, strict=True)]
                         + [QPointF(r.right(), r.bottom())])
        fill = QColor(CHANNEL_COLORS.get(self.channel, CHANNEL_COLORS["all"]))
        fill.setAlpha(70)
        path = QPainterPath()
        path.addPolygon(poly)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(fill)
        p.drawPath(path)

    def paint_grid(self, p: QPainter, r: QRectF) -> None:
        p.setPen(QPen(QColor(255, 255, 255, 28), 1))
        for i in (1, 2, 3):
            x = r.left() + r.width() * i / 4
            p.drawLine(QPointF(x, r.top()), QPointF(x, r.bottom()))

    def paint_over(self, p: QPainter, r: QRectF) -> None:
        """Draw the graph's own content (subclasses)."""


class ToneForm(ThrottledForm):
    """What the Curves and Levels forms share: the op's channel box and the image.

    The channel box lists the ``channel`` parameter's choices (only those the image
    has); choosing one redraws the histogram and commits. Subclasses show the
    histogram in :meth:`show_histogram` and read ``self._image`` for eyedroppers.
    """

    def __init__(self, spec: OpSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self._image: np.ndarray | None = None
        channel = spec.param("channel")
        self.channel_combo = QComboBox()
        self.channel_combo.setObjectName("param_channel")
        self.channel_combo.setToolTip(rich_text(channel.description))
        for c in channel.choices:
            self.channel_combo.addItem(CHANNEL_NAMES.get(c, choice_text(c)), c)
        self.channel_combo.currentIndexChanged.connect(self._channel_chosen)

    def channel(self) -> str:
        return self.channel_combo.currentData()

    def show_histogram(self, counts: np.ndarray, channel: str) -> None:
        raise NotImplementedError

    def set_image(self, image: np.ndarray | None) -> None:
        if image is self._image:
            return
        self._image = image
        fit_channels(self.channel_combo, image)
        self.refresh_histogram()

    def show_channel(self, value: str) -> None:
        """Show ``value`` in the channel box (no signal) and its histogram."""
        self.channel_combo.blockSignals(True)
        self.channel_combo.setCurrentIndex(max(0, self.channel_combo.findData(value)))
        self.channel_combo.blockSignals(False)
        self.refresh_histogram()

    def refresh_histogram(self) -> None:
        ch = self.channel()
        self.show_histogram(channel_histogram(self._image, ch), ch)

    def _channel_chosen(self, _index: int) -> None:
        self.refresh_histogram()
        self._changed()
        self._commit()
