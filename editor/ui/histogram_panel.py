"""Live histogram dock: R, G, B and luminance, linear or log, with statistics.

The counts arrive computed on a lane (with each preview and each committed
state); the panel only draws 256-bin polygons and sets a few labels.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QSettings, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPolygonF
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


class HistogramView(QWidget):
    """Draws the channel histograms."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.histogram: Histogram | None = None
        self.log_scale = False
        self.visible_channels = {"r", "g", "b", "l"}
        self.setMinimumHeight(140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_histogram(self, h: Histogram | None) -> None:
        self.histogram = h
        self.update()

    def curves(self) -> dict[str, np.ndarray]:
        """Heights in [0, 1] per shown channel, as drawn (tests read these)."""
        h = self.histogram
        if h is None:
            return {}
        shown = [c for c in ("r", "g", "b", "l") if c in h.counts and c in self.visible_channels]
        data = {c: h.display_counts(c).astype(np.float64) for c in shown}
        if self.log_scale:
            data = {c: np.log1p(v) for c, v in data.items()}
        if self.log_scale:
            top = max((v.max() for v in data.values()), default=0.0)
        else:
            # clipped shadows/highlights pile up in the end bins; scaling to them
            # would flatten everything else, so they are drawn cut off instead
            top = 1.08 * max((v[1:-1].max() for v in data.values() if len(v) > 2),
                             default=0.0)
        top = top or 1.0
        return {c: np.minimum(v / top, 1.0) for c, v in data.items()}

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(28, 28, 30))
        w, h = self.width(), self.height()
        p.setPen(QPen(QColor(60, 60, 64), 1))
        for i in range(1, 4):
            x = round(w * i / 4)
            p.drawLine(x, 0, x, h)
        curves = self.curves()
        if not curves:
            p.setPen(QColor(120, 120, 120))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No image")
            return
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for c in ("r", "g", "b"):
            if c not in curves:
                continue
            color = QColor(COLORS[c])
            color.setAlpha(120)
            p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Plus)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(color)
            p.drawPolygon(self._polygon(curves[c], w, h, closed=True))
        p.setCompositionMode(QPainter.CompositionMode.CompositionMode_SourceOver)
        if "l" in curves:
            fill = QColor(COLORS["l"])
            fill.setAlpha(40 if len(curves) > 1 else 110)
            p.setBrush(fill)
            p.setPen(QPen(COLORS["l"], 1.2))
            path = QPainterPath()
            path.addPolygon(self._polygon(curves["l"], w, h, closed=True))
            p.drawPath(path)
        p.end()

    @staticmethod
    def _polygon(v: np.ndarray, w: int, h: int, closed: bool) -> QPolygonF:
        n = len(v)
        xs = (np.arange(n) + 0.5) * (w / n)
        ys = h - 2 - v * (h - 6)
        pts = [QPointF(float(x), float(y)) for x, y in zip(xs, ys, strict=True)]
        if closed:
            pts = [QPointF(0, h), *pts, QPointF(w, h)]
        return QPolygonF(pts)


class HistogramPanel(QWidget):
    """The dock's content: the view, channel toggles, log toggle and statistics."""

    def __init__(self, parent: QWidget | None = None, settings: QSettings | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.view = HistogramView()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
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
        layout.addLayout(controls)
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(1)
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
        layout.addLayout(grid)
        if settings is not None:
            self.log_box.setChecked(settings.value("histogram/log", False, type=bool))

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
