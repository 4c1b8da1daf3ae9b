"""Live histogram dock: R, G, B and luminance, linear or log, with statistics.

The counts arrive computed on a lane (with each preview and each committed
state); the panel only draws 256-bin polygons and sets a few labels.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSettings, QSize, Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from editor.core.histogram import Histogram

COLORS = {"r": QColor(235, 80, 80), "g": QColor(80, 205, 95), "b": QColor(80, 135, 245),
          "l": QColor(225, 225, 225)}
NAMES = {"r": "Red", "g": "Green", "b": "Blue", "l": "Luma"}
#: the panel's background and its value grid (drawn by Qt and by :func:`render_curves`)
BACKGROUND, GRID = QColor(28, 28, 30), QColor(60, 60, 64)


#: the scale is clipped at this percentile of the bins when a spike stands above it
CLIP_PERCENTILE = 99.5
#: ... by more than this factor (a smooth peak is drawn whole)
SPIKE_FACTOR = 1.25
#: value ticks of an 8-bit histogram (16-bit ones are scaled to their range)
TICKS = (0, 64, 128, 192, 255)


def compact_count(n: float) -> str:
    """Counts for an axis: 950, 12k, 1.3M.

    Examples
    --------
    >>> compact_count(950), compact_count(12_400), compact_count(1_340_000)
    ('950', '12k', '1.3M')
    """
    if n >= 1e6:
        return f"{n / 1e6:.1f}M".replace(".0M", "M")
    if n >= 1e4:
        return f"{n / 1e3:.0f}k"
    if n >= 1e3:
        return f"{n / 1e3:.1f}k".replace(".0k", "k")
    return f"{n:.0f}"


def nice_step(span: float) -> float:
    """The round number (1, 2 or 5 times a power of ten) at or below ``span``.

    Examples
    --------
    >>> nice_step(1047), nice_step(380), nice_step(0.3)
    (1000.0, 200.0, 0.2)
    """
    if span <= 0:
        return 1.0
    power = 10.0 ** np.floor(np.log10(span))
    return float(max(m for m in (1, 2, 5) if m * power <= span * (1 + 1e-9)) * power)


def render_curves(curves: dict[str, np.ndarray], width: int, height: int,
                  grid: list[int]) -> np.ndarray:
    """The plot's pixels (BGRA, ``height`` x ``width``): filled R, G, B curves added
    (Qt's *Plus* at alpha 120), the luminance filled over them with a 1.2 px outline,
    on the dark background with its grid columns; antialiased along each column.

    ``curves`` holds heights in [0, 1] per bin, each drawn through the bins' centres
    and down to the plot's corners, as the polygons this replaces were.
    """
    def bgr(q: QColor) -> tuple[int, int, int]:
        return q.blue(), q.green(), q.red()

    # B, G, R planes: numpy's loops over a last axis of 3 run ~20x slower than over rows
    out = np.empty((3, height, width), np.float32)
    out[:] = np.float32(bgr(BACKGROUND))[:, None, None]
    for x in grid:
        if 0 <= x < width:
            out[:, :, x] = np.float32(bgr(GRID))[:, None]
    if curves:
        n = len(next(iter(curves.values())))
        xp = np.concatenate([[0.0], (np.arange(n) + 0.5) * (width / n), [float(width)]])
        span = height - 2
        # rows' lower edges, measured up from the plot's bottom
        floor = (height - 1 - np.arange(height, dtype=np.float32))[:, None]

        def heights(v: np.ndarray, at: np.ndarray) -> np.ndarray:
            return np.interp(at, xp, np.concatenate([[0.0], v * span, [0.0]])).astype(np.float32)

        centres = np.arange(width) + 0.5
        for c in ("r", "g", "b"):
            if c in curves:
                cover = np.clip(heights(curves[c], centres) - floor, 0, 1)
                for plane, value in zip(out, bgr(COLORS[c]), strict=True):
                    plane += cover * np.float32(value * 120 / 255)
        np.minimum(out, 255, out=out)
        if "l" in curves:
            v = curves["l"]
            alpha = np.float32((40 if len(curves) > 1 else 110) / 255)
            fill = np.clip(heights(v, centres) - floor, 0, 1) * alpha
            edges = heights(v, np.arange(width + 1, dtype=np.float64))
            low = np.minimum(edges[:-1], edges[1:]) - 0.6
            high = np.maximum(edges[:-1], edges[1:]) + 0.6
            line = np.clip(np.minimum(high, floor + 1) - np.maximum(low, floor), 0, 1)
            for plane, value in zip(out, bgr(COLORS["l"]), strict=True):
                plane += fill * (value - plane)
                plane += line * (value - plane)
    bgra = np.empty((height, width, 4), np.uint8)
    for k in range(3):
        bgra[..., k] = np.rint(out[k])
    bgra[..., 3] = 255
    return bgra


class HistogramView(QWidget):
    """Draws the channel histograms with value and count axes.

    A spike (clipped shadows or highlights piling up in bin 0 or 255, a flat
    background) would flatten everything else if the scale reached it, so the
    scale stops at the 99.5th percentile of the bins when a bin stands above that
    by more than a quarter; the clipped bins are drawn to the top and marked with a
    cap and their count, as darktable does.
    """

    LEFT, BOTTOM, TOP = 34, 15, 4

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.histogram: Histogram | None = None
        self.log_scale = False
        self.visible_channels = {"r", "g", "b", "l"}
        # what one paint asks for several times (counts as drawn, scale, clipped bins),
        # made once per histogram and setting: a slider tick paints once per new histogram
        self._memo: tuple | None = None
        self.setMinimumHeight(90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_histogram(self, h: Histogram | None) -> None:
        self.histogram = h
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802  (Qt override)
        return QSize(300, 130)

    def _drawn(self) -> tuple[dict[str, np.ndarray], float, bool, dict[str, np.ndarray]]:
        """Counts as drawn per shown channel, the plot's top, whether a spike is clipped
        and the clipped bins; remade when the histogram or a setting changes."""
        h, setting = self.histogram, (self.log_scale, frozenset(self.visible_channels))
        if self._memo is not None and self._memo[0] is h and self._memo[1] == setting:
            return self._memo[2]
        data: dict[str, np.ndarray] = {}
        if h is not None:
            shown = [c for c in ("r", "g", "b", "l") if c in h.counts and c in setting[1]]
            data = {c: h.display_counts(c).astype(np.float64) for c in shown}
            if self.log_scale:
                data = {c: np.log1p(v) for c, v in data.items()}
        top, clipped = self._top_of(data)
        over = {c: np.flatnonzero(v > top) for c, v in data.items()} if clipped else {}
        drawn = data, top, clipped, {c: i for c, i in over.items() if len(i)}
        self._memo = (h, setting, drawn)
        return drawn

    def _top_of(self, data: dict[str, np.ndarray]) -> tuple[float, bool]:
        if not data:
            return 1.0, False
        peak = max(float(v.max()) for v in data.values())
        if self.log_scale:
            return (peak or 1.0) * 1.05, False
        cut = float(np.percentile(np.concatenate(list(data.values())), CLIP_PERCENTILE))
        if cut > 0 and peak > SPIKE_FACTOR * cut:
            return cut * 1.05, True
        return (peak or 1.0) * 1.05, False

    def scale_top(self) -> tuple[float, bool]:
        """The count at the top of the plot, and whether a spike is clipped by it."""
        return self._drawn()[1:3]

    def curves(self) -> dict[str, np.ndarray]:
        """Heights in [0, 1] per shown channel, as drawn (tests read these)."""
        data, top, _, _ = self._drawn()
        return {c: np.minimum(v / top, 1.0) for c, v in data.items()}

    def clipped(self) -> dict[str, np.ndarray]:
        """Indices of the bins that reach above the plot, per shown channel."""
        return dict(self._drawn()[3])

    def x_ticks(self) -> list[tuple[float, str]]:
        """``(fraction across the plot, label)`` of the value ticks."""
        top = self.histogram.top if self.histogram is not None else 255
        out = []
        for t in TICKS:
            v = round(t * top / 255) if t < 255 else top
            out.append(((v + 0.5) / (top + 1), str(v)))
        return out

    def y_ticks(self) -> list[tuple[float, str]]:
        """``(height in drawn units, label)`` of the count ticks: 0 and round counts."""
        top, _ = self.scale_top()
        if self.log_scale:  # powers of ten, drawn at log1p of the count
            out, n = [(0.0, "0")], 10.0
            while np.log1p(n) < top:
                out.append((float(np.log1p(n)), compact_count(n)))
                n *= 10 if len(out) < 8 else 100
            return out[:1] + out[1:][-3:]
        step = nice_step(top / 1.05 / 1.5)  # two or three ticks above 0
        return [(v, compact_count(v)) for v in np.arange(0, top, step)][:4]

    def plot_rect(self) -> QRectF:
        return QRectF(self.LEFT, self.TOP, max(10, self.width() - self.LEFT - 4),
                      max(10, self.height() - self.TOP - self.BOTTOM))

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), BACKGROUND)
        r = self.plot_rect()
        font = QFont(self.font())
        font.setPixelSize(10)
        p.setFont(font)
        text = QColor(150, 150, 155)
        grid = [round(frac * r.width()) for frac, _label in self.x_ticks()[1:-1]]
        curves = self.curves()
        if not curves:  # else the plot's image holds the grid
            p.setPen(QPen(GRID, 1))
            for x in grid:
                p.drawLine(round(r.left()) + x, round(r.top()), round(r.left()) + x,
                           round(r.bottom()))
            p.setPen(QColor(120, 120, 120))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No image")
            return
        p.setPen(text)
        for frac, label in self.x_ticks():  # value axis
            x = r.left() + frac * r.width()
            align = (Qt.AlignmentFlag.AlignLeft if frac < 0.1 else Qt.AlignmentFlag.AlignRight
                     if frac > 0.9 else Qt.AlignmentFlag.AlignHCenter)
            box = QRectF(x - 30, r.bottom() + 1, 60, self.BOTTOM)
            if frac < 0.1:
                box.moveLeft(x - 2)
            elif frac > 0.9:
                box.moveRight(x + 2)
            p.drawText(box, align | Qt.AlignmentFlag.AlignTop, label)
        top, clipped = self.scale_top()
        for value, label in self.y_ticks():  # count axis
            y = r.bottom() - value / top * r.height()
            p.drawText(QRectF(0, y - 6, self.LEFT - 4, 12),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label)
        p.setPen(QPen(QColor(70, 70, 76), 1))
        p.drawLine(round(r.left()), round(r.bottom()), round(r.right()), round(r.bottom()))
        plot = render_curves(curves, int(r.width()), int(r.height()), grid)
        # one call: the GUI thread waits for the GIL after each Qt call that releases it,
        # while a preview lane runs Python, so 1,000 QPointF and 5 drawPolygon calls
        # stalled a slider drag by ~10 ms where this one image takes ~0.3 ms
        image = QImage(plot.data, plot.shape[1], plot.shape[0], plot.strides[0],
                       QImage.Format.Format_RGB32)
        p.drawImage(QPointF(r.left(), r.top()), image)
        if clipped:
            self._mark_clipped(p, r, top)
        p.end()

    def _mark_clipped(self, p: QPainter, r: QRectF, top: float) -> None:
        """A cap over each run of clipped bins, with its highest count beside it."""
        data, _, _, over = self._drawn()
        n = len(next(iter(data.values())))
        height = np.max(np.vstack(list(data.values())), axis=0)
        bins = sorted({int(i) for idx in over.values() for i in idx})
        runs: list[list[int]] = []
        for i in bins:
            if runs and i == runs[-1][-1] + 1:
                runs[-1].append(i)
            else:
                runs.append([i])
        gold = QColor(255, 200, 60)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        labelled: list[QRectF] = []
        for run in runs[:6]:
            x0 = r.left() + run[0] * r.width() / n
            x1 = r.left() + (run[-1] + 1) * r.width() / n
            cx = (x0 + x1) / 2
            p.setPen(QPen(gold, 2))
            p.drawLine(QPointF(x0, r.top() + 1), QPointF(x1, r.top() + 1))
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(gold)
            p.drawPolygon(QPolygonF([QPointF(cx - 4, r.top() + 7), QPointF(cx + 4, r.top() + 7),
                                     QPointF(cx, r.top() + 1)]))
            p.setPen(gold)
            label = "↑ " + compact_count(float(height[run].max()))
            box = p.fontMetrics().boundingRect(label).toRectF()
            box.moveTop(r.top())
            if cx > r.center().x():
                box.moveRight(cx - 6)
            else:
                box.moveLeft(cx + 6)
            if any(box.intersects(b) for b in labelled):
                continue  # a neighbouring run's count is there: its cap says enough
            labelled.append(box)
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, label)


def tall_screen(min_height: int = 900) -> bool:
    """True when the primary screen has ``min_height`` pixels of height to spare."""
    screen = QGuiApplication.primaryScreen()
    return screen is None or screen.availableGeometry().height() >= min_height


class HistogramPanel(QWidget):
    """The dock's content: the view, channel toggles, log toggle and statistics."""

    def __init__(self, parent: QWidget | None = None, settings: QSettings | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.view = HistogramView()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(3)
        layout.addWidget(self.view, 1)
        controls = QHBoxLayout()
        self.channel_boxes: dict[str, QCheckBox] = {}
        for c in ("r", "g", "b", "l"):
            box = QCheckBox(NAMES[c][0] if c != "l" else "L")
            box.setChecked(True)
            box.setToolTip(f"Show {NAMES[c].lower()}")
            box.setStyleSheet(f"QCheckBox {{ color: {COLORS[c].name()}; font-weight: bold; }}")
            box.toggled.connect(self._channels_toggled)
            controls.addWidget(box)
            self.channel_boxes[c] = box
        controls.addStretch(1)
        self.log_box = QCheckBox("Log")
        self.log_box.setToolTip("Logarithmic counts (shows sparse tones)")
        self.log_box.toggled.connect(self.set_log)
        controls.addWidget(self.log_box)
        # the table can be folded away on a short screen, leaving the plot the room
        self.stats_box = QCheckBox("Stats")
        self.stats_box.setToolTip("Show mean, median, deviation, min and max per channel")
        controls.addWidget(self.stats_box)
        layout.addLayout(controls)
        self.stats = QWidget()
        grid = QGridLayout(self.stats)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(0)
        self.stat_labels: dict[tuple[str, str], QLabel] = {}
        for j, head in enumerate(("", "mean", "median", "std", "min", "max")):
            lab = QLabel(head)
            lab.setStyleSheet("color: #8a8a8a; font-size: 11px;")
            grid.addWidget(lab, 0, j, alignment=Qt.AlignmentFlag.AlignRight)
        for i, c in enumerate(("r", "g", "b", "l"), start=1):
            name = QLabel(NAMES[c])
            name.setStyleSheet(f"color: {COLORS[c].name()}; font-size: 11px;")
            grid.addWidget(name, i, 0)
            for j, key in enumerate(("mean", "median", "std", "min", "max"), start=1):
                lab = QLabel("–")
                lab.setStyleSheet("font-size: 11px; font-family: monospace;")
                lab.setAlignment(Qt.AlignmentFlag.AlignRight)
                grid.addWidget(lab, i, j)
                self.stat_labels[(c, key)] = lab
        layout.addWidget(self.stats)
        if settings is not None:
            self.log_box.setChecked(settings.value("histogram/log", False, type=bool))
        # on a laptop-height screen the table starts folded (the tools need the height)
        shown = (settings.value("histogram/stats", tall_screen(), type=bool)
                 if settings is not None else tall_screen())
        self.stats_box.setChecked(shown)
        self.stats.setVisible(shown)
        self.stats_box.toggled.connect(self.set_stats_visible)

    def set_stats_visible(self, on: bool) -> None:
        self.stats.setVisible(bool(on))
        if self.stats_box.isChecked() != bool(on):
            self.stats_box.setChecked(bool(on))
        if self.settings is not None:
            self.settings.setValue("histogram/stats", bool(on))

    def set_log(self, on: bool) -> None:
        self.view.log_scale = bool(on)
        if self.log_box.isChecked() != bool(on):
            self.log_box.setChecked(bool(on))
        if self.settings is not None:
            self.settings.setValue("histogram/log", bool(on))
        self.view.update()

    def _channels_toggled(self) -> None:
        self.view.visible_channels = {c for c, b in self.channel_boxes.items() if b.isChecked()}
        self.view.update()

    def set_histogram(self, h: Histogram | None) -> None:
        """Show new counts (a preview's or a committed state's)."""
        self.view.set_histogram(h)
        for (c, key), lab in self.stat_labels.items():
            if h is None or c not in h.stats:
                lab.setText("–")
                continue
            v = getattr(h.stats[c], key)
            lab.setText(f"{v:.1f}" if key in ("mean", "std", "median") and h.top <= 255
                        else f"{v:.0f}")
