"""Small widgets of the Classifier window: thumbnails, curves, confusion matrix, bars."""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtCore import QAbstractListModel, QModelIndex, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QGridLayout,
    QLabel,
    QListView,
    QSizePolicy,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from editor.ui.qimage import to_pixmap

#: colours of the classes (bars, curves): readable on light and dark themes
CLASS_COLORS = ["#e8710a", "#1a73e8", "#12b5cb", "#e52592", "#9334e6", "#f9ab00", "#7cb342",
                "#8d6e63"]
TRAIN_COLOR, TEST_COLOR = "#1a73e8", "#e8710a"


def class_color(i: int) -> QColor:
    return QColor(CLASS_COLORS[i % len(CLASS_COLORS)])


class ThumbnailModel(QAbstractListModel):
    """Image files as list rows; thumbnails are read lazily and kept in a small LRU.

    Only the rows the view paints are ever decoded, so a class of 5,000 photos
    costs a list of paths plus at most ``cache_size`` small pixmaps.
    """

    def __init__(self, size: int = 64, cache_size: int = 400, parent=None) -> None:
        super().__init__(parent)
        self.size = size
        self.paths: list[Path] = []
        self._cache: OrderedDict[str, QPixmap] = OrderedDict()
        self._cache_size = cache_size

    def set_paths(self, paths: list[Path]) -> None:
        self.beginResetModel()
        self.paths = list(paths)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.paths)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        path = self.paths[index.row()]
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumb(path)
        if role in (Qt.ItemDataRole.ToolTipRole,):
            return path.name
        if role == Qt.ItemDataRole.UserRole:
            return str(path)
        return None

    def _thumb(self, path: Path) -> QPixmap:
        key = str(path)
        pm = self._cache.get(key)
        if pm is not None:
            self._cache.move_to_end(key)
            return pm
        from editor.teach.images import UnreadableImage, read_rgb, square_input

        try:
            pm = to_pixmap(square_input(read_rgb(path, max_side=2 * self.size), self.size))
        except UnreadableImage:
            pm = QPixmap(self.size, self.size)
            pm.fill(QColor("#b00020"))
        self._cache[key] = pm
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return pm


def thumbnail_view(model: ThumbnailModel, parent=None) -> QListView:
    """A film strip: one row of thumbnails scrolling sideways, never a cut-off second row."""
    view = QListView(parent)
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setFlow(QListView.Flow.LeftToRight)
    view.setWrapping(False)
    view.setModel(model)
    view.setIconSize(QSize(model.size, model.size))
    view.setGridSize(QSize(model.size + 6, model.size + 6))
    view.setUniformItemSizes(True)
    view.setMovement(QListView.Movement.Static)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
    view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    view.setLayoutMode(QListView.LayoutMode.Batched)  # lays out 5,000 items in slices
    view.setBatchSize(200)
    bar = view.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
    view.setFixedHeight(model.size + 6 + bar + 2 * view.frameWidth() + 2)
    return view


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """Round tick values from ``lo`` to at least ``hi``: steps of 1, 2, 2.5 or 5 x 10^k.

    >>> nice_ticks(0.0, 0.98)
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    span = hi - lo if hi > lo else 1.0
    raw = span / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    n = max(1, math.ceil((hi - first) / step - 1e-9))
    return [round(first + k * step, 12) for k in range(n + 1)]


class CurvePlot(QWidget):
    """Line plot of a few named series over a shared x axis (loss or accuracy curves)."""

    def __init__(self, title: str, y_range: tuple[float, float] | None = None,
                 x_label: str = "epoch", parent=None) -> None:
        super().__init__(parent)
        self.title, self.y_range, self.x_label = title, y_range, x_label
        self.series: dict[str, tuple[QColor, list[tuple[float, float]]]] = {}
        self.setMinimumSize(220, 140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def clear(self) -> None:
        self.series.clear()
        self.update()

    def set_series(self, name: str, color: str | QColor, points) -> None:
        self.series[name] = (QColor(color), [(float(x), float(y)) for x, y in points
                                             if y is not None and math.isfinite(y)])
        self.update()

    def add_point(self, name: str, color: str, x: float, y: float | None) -> None:
        if y is None:
            return
        self.series.setdefault(name, (QColor(color), []))[1].append((float(x), float(y)))
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        p.fillRect(self.rect(), pal.base())
        fg = pal.text().color()
        left, right, top, bottom = 44, 10, 22, 26
        plot = QRectF(left, top, max(10, self.width() - left - right),
                      max(10, self.height() - top - bottom))
        p.setPen(fg)
        font = QFont(p.font())
        font.setBold(True)
        p.setFont(font)
        p.drawText(QRectF(left, 2, self.width(), 18), Qt.AlignmentFlag.AlignLeft, self.title)
        p.setFont(QFont(self.font()))
        pts = [pt for _c, s in self.series.values() for pt in s]
        if not pts:
            p.setPen(QColor(128, 128, 128))
            p.drawText(plot, Qt.AlignmentFlag.AlignCenter, "no data yet")
            return
        xs = [x for x, _ in pts]
        ys = [y for _, y in pts]
        x0, x1 = min(xs), max(xs)
        if x1 == x0:
            x1 = x0 + 1
        if self.y_range:
            y0, y1 = self.y_range
            ticks = [y0 + (y1 - y0) * k / 4 for k in range(5)]
        else:
            ticks = nice_ticks(min(0.0, min(ys)), max(ys))
            y0, y1 = ticks[0], ticks[-1]

        def to_px(x, y):
            return QPointF(plot.left() + (x - x0) / (x1 - x0) * plot.width(),
                           plot.bottom() - (y - y0) / (y1 - y0) * plot.height())

        grid = QPen(QColor(128, 128, 128, 70))
        for y in ticks:
            q = to_px(x0, y)
            p.setPen(grid)
            p.drawLine(QPointF(plot.left(), q.y()), QPointF(plot.right(), q.y()))
            p.setPen(fg)
            text = f"{y:.0%}" if self.y_range == (0.0, 1.0) else f"{y:.4g}"
            p.drawText(QRectF(0, q.y() - 8, left - 4, 16),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text)
        p.setPen(fg)
        p.drawRect(plot)
        p.drawText(QRectF(plot.left(), plot.bottom() + 4, plot.width(), 18),
                   Qt.AlignmentFlag.AlignHCenter,
                   f"{self.x_label} {x0:g} … {x1:g}")
        fm = p.fontMetrics()
        # legend in the title row, right-aligned: never over the curves
        lx = self.width() - right - sum(26 + fm.horizontalAdvance(n) for n in self.series)
        for name, (color, s) in self.series.items():
            if not s:
                continue
            pen = QPen(color, 2)
            p.setPen(pen)
            path = QPainterPath(to_px(*s[0]))
            for pt in s[1:]:
                path.lineTo(to_px(*pt))
            p.drawPath(path)
            if len(s) < 30:
                p.setBrush(QBrush(color))
                for pt in s:
                    p.drawEllipse(to_px(*pt), 2.5, 2.5)
                p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(pen)
            p.drawLine(QPointF(lx, 11), QPointF(lx + 14, 11))
            p.setPen(fg)
            p.drawText(QPointF(lx + 18, 15), name)
            lx += 26 + fm.horizontalAdvance(name)


class ConfusionMatrix(QTableWidget):
    """Rows: true class, columns: predicted class. ``cellOpened(true, predicted)``."""

    cellOpened = Signal(int, int)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.cellClicked.connect(lambda r, c: self.cellOpened.emit(r, c))
        self.setToolTip("Rows: true class. Columns: predicted class. Click a cell to see "
                        "its images.")
        self.setMinimumHeight(90)

    def set_matrix(self, names: list[str], matrix: list[list[int]]) -> None:
        n = len(names)
        self.setRowCount(n)
        self.setColumnCount(n)
        self.setHorizontalHeaderLabels([f"→ {m}" for m in names])
        self.setVerticalHeaderLabels(names)
        m = np.asarray(matrix, float)
        for r in range(n):
            total = m[r].sum() or 1.0
            for c in range(n):
                item = QTableWidgetItem(f"{int(m[r, c])}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                share = m[r, c] / total
                base = QColor("#34a853") if r == c else QColor("#ea4335")
                base.setAlphaF(0.12 + 0.7 * share if m[r, c] else 0.0)
                item.setBackground(base)
                item.setToolTip(f"true {names[r]}, predicted {names[c]}: {int(m[r, c])}")
                self.setItem(r, c, item)
        self.resizeColumnsToContents()
        # tall enough for every row, so a small matrix is never cut off (a big one scrolls)
        full = (self.verticalHeader().length() + self.horizontalHeader().sizeHint().height()
                + 2 * self.frameWidth() + 2)
        self.setMinimumHeight(min(full, 260))
        self.setMaximumHeight(full)


class ImageView(QWidget):
    """An image scaled to fit (aspect kept, centred), or a line of text when there is none.

    Unlike a ``QLabel`` holding a pixmap, it rescales when resized and never asks
    the layout for the image's own size.
    """

    def __init__(self, text: str = "", dark: bool = False, framed: bool = False,
                 parent=None) -> None:
        super().__init__(parent)
        self._text = text
        self._pixmap: QPixmap | None = None
        self._dark, self._framed = dark, framed
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:  # noqa: N802  (QLabel's name: a drop-in)
        self._text, self._pixmap = text, None
        self.update()

    def set_image(self, rgb: np.ndarray | None) -> None:
        self._pixmap = None if rgb is None else to_pixmap(rgb)
        self.update()

    def has_image(self) -> bool:
        return self._pixmap is not None

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(320, 240)

    def paintEvent(self, _event) -> None:  # noqa: N802
        p = QPainter(self)
        if self._dark:
            p.fillRect(self.rect(), QColor("#202124"))
        elif self._framed:  # an image well: the empty area reads as the image's place
            p.setPen(self.palette().mid().color())
            p.setBrush(self.palette().alternateBase())
            p.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 4, 4)
        if self._pixmap is None:
            p.setPen(QColor("#e8eaed") if self._dark else self.palette().text().color())
            p.drawText(self.rect().adjusted(12, 12, -12, -12),
                       Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._text)
            return
        size = self._pixmap.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        x, y = (self.width() - size.width()) // 2, (self.height() - size.height()) // 2
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawPixmap(QRectF(x, y, size.width(), size.height()), self._pixmap,
                     QRectF(self._pixmap.rect()))


class ProbabilityBars(QWidget):
    """One horizontal bar per class with its probability, Teachable-Machine style."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.names: list[str] = []
        self.probs: np.ndarray = np.zeros(0)
        self.setMinimumHeight(60)

    def set_classes(self, names: list[str]) -> None:
        self.names = list(names)
        self.probs = np.zeros(len(names))
        self.setMinimumHeight(12 + 30 * max(1, len(names)))
        self.update()

    def set_probabilities(self, probs) -> None:
        self.probs = np.asarray(probs, float)
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fg = self.palette().text().color()
        label_w = min(140, max(60, self.width() // 3))
        for i, name in enumerate(self.names):
            y = 6 + 30 * i
            prob = float(self.probs[i]) if i < len(self.probs) else 0.0
            p.setPen(fg)
            p.drawText(QRectF(0, y, label_w - 6, 24),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       p.fontMetrics().elidedText(name, Qt.TextElideMode.ElideRight,
                                                  label_w - 6))
            track = QRectF(label_w, y, max(10, self.width() - label_w - 6), 24)
            color = class_color(i)
            light = QColor(color)
            light.setAlpha(50)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(light)
            p.drawRoundedRect(track, 4, 4)
            p.setBrush(color)
            p.drawRoundedRect(QRectF(track.left(), y, track.width() * prob, 24), 4, 4)
            p.setPen(QColor("white") if prob > 0.15 else fg)
            p.drawText(track.adjusted(6, 0, 0, 0),
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                       f"{prob:.0%}")


class ImageGridDialog(QDialog):
    """A grid of images with captions (augmentation preview, misclassified, examples)."""

    def __init__(self, title: str, images: list[np.ndarray], captions: list[str] | None = None,
                 columns: int = 5, tile: int = 128, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        grid = QGridLayout()
        captions = captions or [""] * len(images)
        for k, (img, cap) in enumerate(zip(images, captions, strict=True)):
            cell = QVBoxLayout()
            pic = QLabel()
            pm = to_pixmap(img).scaled(tile, tile, Qt.AspectRatioMode.KeepAspectRatio,
                                       Qt.TransformationMode.SmoothTransformation)
            pic.setPixmap(pm)
            pic.setAlignment(Qt.AlignmentFlag.AlignCenter)
            cell.addWidget(pic)
            if cap:
                text = QLabel(cap)
                text.setWordWrap(True)
                text.setAlignment(Qt.AlignmentFlag.AlignCenter)
                text.setMaximumWidth(tile + 20)
                cell.addWidget(text)
            holder = QWidget()
            holder.setLayout(cell)
            grid.addWidget(holder, k // columns, k % columns)
        if not images:
            grid.addWidget(QLabel("No images."), 0, 0)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)


