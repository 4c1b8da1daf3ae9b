"""The kernel editor for ``convolve``: a weight grid with presets, and its frequency response.

The grid (3x3 to 9x9) holds whole-number weights as people write them (the 1-2-1
binomial, Sobel's 1-2-1 / -1-0-1); the divisor is their sum ("auto", the op's
``normalize``) or a number typed in, and the offset is added after. Beside the grid,
:class:`FrequencyResponseView` draws ``|H|``, the magnitude of the 2-D DFT of the
kernel actually applied (after the divisor), so one sees why a mean filter is a
low-pass (bright centre = DC) and a Laplacian a high-pass (dark centre). The maths
lives in :mod:`editor.ops.filters`; this module only edits and draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QDoubleValidator, QFont, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QBoxLayout,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from editor.ops.filters import (
    describe_frequency_response,
    effective_kernel,
    kernel_frequency_response,
    kernel_preset,
)
from editor.ops.registry import OpSpec
from editor.ui.forms import register_form
from editor.ui.forms.param_form import ThrottledForm
from editor.ui.qimage import to_qimage

SIZES = (3, 5, 7, 9)
#: (label, preset name, offset that makes the result visible)
PRESETS = (("Mean", "mean", 0), ("Gaussian", "gaussian", 0), ("Sharpen", "sharpen", 0),
           ("Emboss", "emboss", 0), ("Sobel x", "sobel_x", 128), ("Sobel y", "sobel_y", 128),
           ("Laplacian", "laplacian", 128))
CUSTOM = "Custom"
RESPONSE_SIZE = 64

# "inferno"-like colour map anchors (dark = blocked, bright = passed)
_CMAP_STOPS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_CMAP_RGB = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]],
                     np.float64)


def colormap(values: np.ndarray) -> np.ndarray:
    """``[0, 1]`` floats -> RGB uint8 through the inferno-like ramp."""
    v = np.clip(values, 0, 1)
    rgb = [np.interp(v, _CMAP_STOPS, _CMAP_RGB[:, c]) for c in range(3)]
    return np.dstack(rgb).round().astype(np.uint8)


class _Cell(QLineEdit):
    """One compact weight; shows ``2`` rather than ``2.0000``, accepts any number."""

    #: the widest value shown in full, by grid size: a 9x9 grid fits a laptop-width dock
    ROOM = {3: "-00.0", 5: "-00.0", 7: "-00.0", 9: "-000"}

    def __init__(self, parent: QWidget | None = None, n: int = 3) -> None:
        super().__init__(parent)
        self.setValidator(QDoubleValidator(-99999.0, 99999.0, 4, self))
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setFixedWidth(self.fontMetrics().horizontalAdvance(self.ROOM.get(n, "-000"))
                           + 4)
        self.setStyleSheet("padding: 2px 1px;")

    def value(self) -> float:
        try:
            return float(self.text().replace(",", "."))
        except ValueError:
            return 0.0  # empty or "-" while typing counts as 0

    def setValue(self, value: float) -> None:  # noqa: N802  (Qt naming, like spin boxes)
        self.setText(f"{value:.6g}")


class FrequencyResponseView(QWidget):
    """``|H(fx, fy)|`` as a colour image with axes in cycles per pixel and a colour bar."""

    MARGIN_LEFT, MARGIN_TOP, MARGIN_BOTTOM, BAR = 34, 18, 28, 50

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.response = np.zeros((RESPONSE_SIZE, RESPONSE_SIZE))
        self._qimage: QImage | None = None
        self.setMinimumSize(180, 150)
        self.setToolTip("Magnitude of the kernel's 2-D Fourier transform: the centre is DC "
                        "(flat areas), the edges the Nyquist frequency (½ cycle per pixel).")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_kernel(self, kernel: np.ndarray) -> None:
        self.response = kernel_frequency_response(kernel, RESPONSE_SIZE)
        peak = self.response.max()
        shown = self.response / peak if peak > 1e-12 else self.response
        self._qimage = to_qimage(colormap(shown))
        self.update()

    def _plot_rect(self) -> QRectF:
        side = min(self.width() - self.MARGIN_LEFT - self.BAR - 6,
                   self.height() - self.MARGIN_TOP - self.MARGIN_BOTTOM)
        return QRectF(self.MARGIN_LEFT, self.MARGIN_TOP, max(side, 10), max(side, 10))

    def paintEvent(self, _event) -> None:  # noqa: N802  (Qt override)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        text = self.palette().color(self.foregroundRole())
        dim = QColor(text)
        dim.setAlpha(170)
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        p.setFont(font)
        plot = self._plot_rect()
        p.setPen(text)
        p.drawText(QRectF(plot.left(), 0, plot.width(), self.MARGIN_TOP - 4),
                   Qt.AlignmentFlag.AlignCenter | Qt.AlignmentFlag.AlignBottom,
                   "|H| of the kernel")
        if self._qimage is not None:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            p.drawImage(plot, self._qimage)
        # crosshair through DC
        p.setPen(QPen(QColor(255, 255, 255, 70), 1, Qt.PenStyle.DashLine))
        # fftshift puts DC at index n // 2, i.e. half a cell right/below the middle
        cx = plot.left() + (RESPONSE_SIZE // 2 + 0.5) / RESPONSE_SIZE * plot.width()
        cy = plot.top() + (RESPONSE_SIZE // 2 + 0.5) / RESPONSE_SIZE * plot.height()
        p.drawLine(int(cx), int(plot.top()), int(cx), int(plot.bottom()))
        p.drawLine(int(plot.left()), int(cy), int(plot.right()), int(cy))
        p.setPen(QPen(dim, 1))
        p.drawRect(plot)
        # ticks at -0.5, 0 and +0.5 cycles/px (index 0, n/2 and the edge)
        fm = p.fontMetrics()
        for label, frac in (("-½", 0.0), ("0", (RESPONSE_SIZE // 2 + 0.5) / RESPONSE_SIZE),
                            ("½", 1.0)):
            x = plot.left() + frac * plot.width()
            y = plot.top() + frac * plot.height()
            p.drawLine(int(x), int(plot.bottom()), int(x), int(plot.bottom() + 4))
            p.drawText(QRectF(x - 20, plot.bottom() + 4, 40, fm.height()),
                       Qt.AlignmentFlag.AlignHCenter, label)
            p.drawLine(int(plot.left() - 4), int(y), int(plot.left()), int(y))
            p.drawText(QRectF(plot.left() - 30, y - fm.height() / 2, 24, fm.height()),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, label)
        p.drawText(QRectF(plot.left(), plot.bottom() + 4 + fm.height() - 2, plot.width(),
                          fm.height()), Qt.AlignmentFlag.AlignHCenter, "fx (cycles / px)")
        p.save()
        p.translate(8, plot.center().y())
        p.rotate(-90)
        p.drawText(QRectF(-plot.height() / 2, -fm.height() + 4, plot.height(), fm.height()),
                   Qt.AlignmentFlag.AlignHCenter, "fy")
        p.restore()
        # colour bar: 0 .. max |H|
        bar = QRectF(plot.right() + 10, plot.top(), 10, plot.height())
        ramp = colormap(np.linspace(1, 0, 128)[:, None])[:, 0, :]  # top = max
        p.drawImage(bar, to_qimage(np.repeat(ramp[:, None, :], 2, axis=1)))
        p.setPen(QPen(dim, 1))
        p.drawRect(bar)
        peak = float(self.response.max())
        p.drawText(QRectF(bar.right() + 3, bar.top() - 2, 40, fm.height()),
                   Qt.AlignmentFlag.AlignLeft, f"{peak:.3g}")
        p.drawText(QRectF(bar.right() + 3, bar.bottom() - fm.height() + 2, 40, fm.height()),
                   Qt.AlignmentFlag.AlignLeft, "0")
        p.end()


@register_form("convolve")
class KernelForm(ThrottledForm):
    """Kernel grid + presets + divisor/offset, with the kernel's frequency response."""

    def __init__(self, spec: OpSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self._image = None
        self._size = 3
        self.cells: list[list[_Cell]] = []

        self.size_combo = QComboBox()
        for n in SIZES:
            self.size_combo.addItem(f"{n} × {n}", n)
        self.preset_combo = QComboBox()
        self.preset_combo.addItem(CUSTOM, None)
        for label, name, _offset in PRESETS:
            self.preset_combo.addItem(label, name)
        top = QHBoxLayout()
        top.addWidget(QLabel("Size"))
        top.addWidget(self.size_combo)
        top.addSpacing(8)
        top.addWidget(QLabel("Preset"))
        top.addWidget(self.preset_combo, 1)

        self.grid_box = QWidget()
        self.grid = QGridLayout(self.grid_box)
        self.grid.setSpacing(2)
        self.grid.setContentsMargins(0, 0, 0, 0)

        self.auto_divisor = QCheckBox("auto")
        self.auto_divisor.setToolTip("Divide by the sum of the weights (when it is not 0), "
                                     "so a blur keeps the brightness")
        self.divisor = QDoubleSpinBox()
        self.divisor.setRange(-1e6, 1e6)
        self.divisor.setDecimals(2)
        self.divisor.setFixedWidth(86)
        self.divisor.setValue(1.0)
        self.offset = QDoubleSpinBox()
        self.offset.setRange(-255.0, 255.0)
        self.offset.setDecimals(0)
        self.offset.setFixedWidth(64)
        self.offset.setToolTip("Added after the division, in 8-bit levels; 128 shows signed "
                               "results (edges) around mid-gray")
        # divisor and offset share a row: the form fits a laptop-height tools dock
        values_row = QHBoxLayout()
        values_row.addWidget(QLabel("Divisor"))
        values_row.addWidget(self.divisor)
        values_row.addWidget(self.auto_divisor)
        values_row.addStretch(1)
        values_row.addWidget(QLabel("Offset"))
        values_row.addWidget(self.offset)

        self.response_view = FrequencyResponseView()
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setObjectName("responseCaption")
        # only the grid sits beside its response; the other rows span the width, so
        # the form fits a laptop-width tools dock without a horizontal scroll bar
        self.middle = middle = QBoxLayout(QBoxLayout.Direction.LeftToRight)
        middle.addWidget(self.grid_box, 0, Qt.AlignmentFlag.AlignCenter)
        middle.addSpacing(8)
        middle.addWidget(self.response_view, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addLayout(middle, 1)
        layout.addWidget(self.caption)
        layout.addLayout(values_row)

        self.size_combo.currentIndexChanged.connect(self._size_chosen)
        self.preset_combo.currentIndexChanged.connect(self._preset_chosen)
        self.auto_divisor.toggled.connect(self._divisor_toggled)
        self.divisor.valueChanged.connect(self._values_edited)
        self.divisor.editingFinished.connect(self._commit)
        self.offset.valueChanged.connect(self._values_edited)
        self.offset.editingFinished.connect(self._commit)
        self.set_params(spec.defaults())

    # -- protocol -------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        """``kernel`` (grid, or grid / divisor), ``normalize`` and ``offset``."""
        grid = self.grid_values()
        if self.auto_divisor.isChecked():
            return {"kernel": grid.tolist(), "normalize": True, "offset": self.offset.value()}
        d = self.divisor.value()
        kernel = grid / d if d != 0 else grid
        return {"kernel": kernel.tolist(), "normalize": False, "offset": self.offset.value()}

    def set_params(self, params: dict[str, Any]) -> None:
        """Show ``params``; a kernel that is not an odd square up to 9x9 is centred in
        the next grid that holds it (larger ones are cropped). Emits nothing."""
        values = {**self.params_or_defaults(), **params}
        kernel = np.asarray(values["kernel"], np.float64)
        n = min(9, max(3, max(kernel.shape) | 1))
        self._blocked(lambda: self._show(self._fit(kernel, n), n,
                                         bool(values["normalize"]), 1.0,
                                         float(values["offset"]), preset=None))

    def set_image(self, image) -> None:
        """Kept for the protocol; the response does not depend on the image."""
        self._image = image

    # -- helpers ------------------------------------------------------------------
    def params_or_defaults(self) -> dict[str, Any]:
        return self.spec.defaults() if not self.cells else self.params()

    def grid_values(self) -> np.ndarray:
        return np.array([[c.value() for c in row] for row in self.cells], np.float64)

    def applied_kernel(self) -> np.ndarray:
        """The kernel the op will apply (after the divisor)."""
        p = self.params()
        return effective_kernel(p["kernel"], p["normalize"])

    @staticmethod
    def _fit(kernel: np.ndarray, n: int) -> np.ndarray:
        """Centre ``kernel`` in an n x n grid (keeping its centre index rows // 2)."""
        out = np.zeros((n, n))
        c = n // 2
        r0, c0 = c - kernel.shape[0] // 2, c - kernel.shape[1] // 2
        for i in range(kernel.shape[0]):
            for j in range(kernel.shape[1]):
                if 0 <= r0 + i < n and 0 <= c0 + j < n:
                    out[r0 + i, c0 + j] = kernel[i, j]
        return out

    def _blocked(self, fn) -> None:
        widgets = [self.size_combo, self.preset_combo, self.auto_divisor, self.divisor,
                   self.offset] + [c for row in self.cells for c in row]
        for w in widgets:
            w.blockSignals(True)
        try:
            fn()
        finally:
            for w in widgets:
                w.blockSignals(False)

    def _build_grid(self, n: int) -> None:
        if self.cells and len(self.cells) == n:
            return
        for row in self.cells:
            for cell in row:
                self.grid.removeWidget(cell)
                cell.hide()  # gone from view now, not when the event loop gets to it
                cell.deleteLater()
        self.cells = []
        for i in range(n):
            row = []
            for j in range(n):
                cell = _Cell(self.grid_box, n)
                cell.setObjectName(f"cell_{i}_{j}")
                cell.textEdited.connect(self._cell_edited)
                cell.editingFinished.connect(self._commit)
                self.grid.addWidget(cell, i, j)
                row.append(cell)
            self.cells.append(row)
        self._size = n
        self._choose_direction()

    def _choose_direction(self) -> None:
        """The grid beside its response when the room allows (a 3x3 in a laptop's dock),
        above it otherwise (a 5x5 there, any 7x7 or 9x9), so nothing is cut sideways.

        The room is the scroll area's viewport when the form sits in one: the form
        itself grows to whatever its layout asks, so its own width would never say no.
        """
        if not self.cells:
            return
        host = self.parentWidget()
        room = host.width() if host is not None and host.objectName() == \
            "qt_scrollarea_viewport" else self.width()
        beside = (self.grid_box.sizeHint().width() + 8
                  + self.response_view.minimumWidth() <= room) and self._size < 7
        direction = (QBoxLayout.Direction.LeftToRight if beside
                     else QBoxLayout.Direction.TopToBottom)
        if self.middle.direction() != direction:
            self.middle.setDirection(direction)
            self.updateGeometry()

    def resizeEvent(self, event) -> None:  # noqa: N802  (Qt override)
        super().resizeEvent(event)
        self._choose_direction()

    def _show(self, grid: np.ndarray, n: int, auto: bool, divisor: float, offset: float,
              preset: str | None) -> None:
        self._build_grid(n)
        for i in range(n):
            for j in range(n):
                self.cells[i][j].blockSignals(True)
                self.cells[i][j].setValue(float(grid[i, j]))
                self.cells[i][j].blockSignals(False)
        self.size_combo.setCurrentIndex(SIZES.index(n))
        index = self.preset_combo.findData(preset) if preset else 0
        self.preset_combo.setCurrentIndex(max(index, 0))
        self.auto_divisor.setChecked(auto)
        self.divisor.setValue(divisor)
        self.offset.setValue(offset)
        self._refresh()

    def _refresh(self) -> None:
        """Divisor field and frequency response follow the grid."""
        auto = self.auto_divisor.isChecked()
        self.divisor.setEnabled(not auto)
        if auto:
            total = float(self.grid_values().sum())
            self.divisor.blockSignals(True)
            self.divisor.setValue(total if abs(total) > 1e-12 else 1.0)
            self.divisor.blockSignals(False)
            self.divisor.setToolTip("sum of the weights" if abs(total) > 1e-12
                                    else "the weights sum to 0: not divided")
        kernel = self.applied_kernel()
        self.response_view.set_kernel(kernel)
        peak = kernel_frequency_response(kernel, RESPONSE_SIZE)
        dc = peak[RESPONSE_SIZE // 2, RESPONSE_SIZE // 2]
        text = describe_frequency_response(kernel)
        self.caption.setText(f"{text[:1].upper()}{text[1:]}; DC gain {dc:.2f}.")

    # -- user actions -------------------------------------------------------------
    def _size_chosen(self, _index: int) -> None:
        n = self.size_combo.currentData()
        preset = self.preset_combo.currentData()
        if preset:
            grid = kernel_preset(preset, n)
        else:
            grid = self._fit(self.grid_values(), n)
        self._blocked(lambda: self._show(grid, n, self.auto_divisor.isChecked(),
                                         self.divisor.value(), self.offset.value(), preset))
        self._changed()
        self._commit()

    def _preset_chosen(self, _index: int) -> None:
        preset = self.preset_combo.currentData()
        if not preset:
            return
        n = self.size_combo.currentData()
        offset = next(off for _label, name, off in PRESETS if name == preset)
        self._blocked(lambda: self._show(kernel_preset(preset, n), n, True, 1.0, offset,
                                         preset))
        self._changed()
        self._commit()

    def _divisor_toggled(self, _on: bool) -> None:
        self._refresh()
        self._changed()
        self._commit()

    def _cell_edited(self, _text: str) -> None:
        if self.preset_combo.currentIndex() != 0:
            self.preset_combo.blockSignals(True)
            self.preset_combo.setCurrentIndex(0)  # edited: no longer the preset
            self.preset_combo.blockSignals(False)
        self._refresh()
        self._changed()

    def _values_edited(self, _value: float) -> None:
        self._refresh()
        self._changed()
