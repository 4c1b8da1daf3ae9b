"""The Hue / Saturation form for the ``hue_saturation`` op: one panel, a range at a time.

A range box picks what the three sliders adjust: Master (every colour) or one of
the six hue ranges (reds, yellows, greens, cyans, blues, magentas), as in GIMP's
and Photoshop's Hue/Saturation dialogs; ranges with changes are marked. Overlap
feathers the ranges' borders. Colorize swaps the sliders for its hue, saturation
and lightness. Above them two hue bars show every hue before and after the
adjustment, computed by the op itself, with the chosen range bracketed. Each
slider is the generic field of its parameter, so every range comes from the spec.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from editor.ops.color import HUE_RANGES
from editor.ops.registry import OpSpec
from editor.ui.forms import register_form
from editor.ui.forms.fields import Field, field_class
from editor.ui.forms.param_form import ThrottledForm, line_up_spins
from editor.ui.qimage import to_qimage
from editor.ui.richtext import rich_text

MASTER = "master"
#: the range box's entries: (key, label, parameter prefix, swatch hue in degrees)
RANGES = ((MASTER, "Master", "", None),) + tuple(
    (r, r.capitalize(), f"{r}_", 60.0 * i) for i, r in enumerate(HUE_RANGES))
AMOUNTS = ("hue", "saturation", "lightness")


def _hue_ramp(width: int) -> np.ndarray:
    """Fully saturated mid-lightness colours for hues 0..360 deg, ``(1, width, 3)`` uint8."""
    import cv2

    hls = np.zeros((1, width, 3), np.float32)
    hls[0, :, 0] = np.linspace(0.0, 360.0, width, endpoint=False)
    hls[0, :, 1] = 0.5
    hls[0, :, 2] = 1.0
    return np.clip(cv2.cvtColor(hls, cv2.COLOR_HLS2RGB) * 255 + 0.5, 0, 255).astype(np.uint8)


def _swatch(hue: float | None) -> QIcon:
    pm = QPixmap(12, 12)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    if hue is None:  # master: a little colour wheel's worth of all hues
        for i in range(6):
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor.fromHsv(i * 60, 220, 235))
            p.drawPie(QRectF(1, 1, 10, 10), i * 60 * 16, 60 * 16)
    else:
        p.setPen(QPen(QColor(30, 30, 30), 1))
        p.setBrush(QColor.fromHsv(int(hue) % 360, 220, 235))
        p.drawEllipse(QRectF(1, 1, 10, 10))
    p.end()
    return QIcon(pm)


class HueBars(QWidget):
    """Every hue before (top) and after (bottom) the adjustment, the range bracketed."""

    WIDTH = 360

    def __init__(self, spec: OpSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.ramp = _hue_ramp(self.WIDTH)
        self.after = self.ramp
        self.span: tuple[float, float, float] | None = None  # centre, half width, feather
        self._before_img = to_qimage(self.ramp)
        self._after_img = self._before_img
        self.setFixedHeight(38)
        self.setMinimumWidth(160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:  # noqa: N802  (Qt override)
        return QSize(300, 38)

    def set_params(self, params: dict[str, Any], range_key: str) -> None:
        self.after = self.spec(self.ramp, **params)  # the op itself on every hue
        self._after_img = to_qimage(self.after)
        if range_key == MASTER or params.get("colorize"):
            self.span = None
        else:
            feather = 30.0 * params.get("overlap", 0.0) / 100.0
            self.span = (60.0 * HUE_RANGES.index(range_key), 30.0, feather)
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802  (Qt override)
        p = QPainter(self)
        w = self.width() - 2
        top = QRectF(1, 1, w, 13)
        bottom = QRectF(1, 24, w, 13)
        p.drawImage(top, self._before_img)
        p.drawImage(bottom, self._after_img)
        p.setPen(QPen(QColor(70, 70, 75), 1))
        p.drawRect(top)
        p.drawRect(bottom)
        if self.span is not None:
            centre, half, feather = self.span
            p.setPen(QPen(QColor(235, 235, 235), 2))
            for shift in (-360.0, 0.0, 360.0):  # reds wrap round 0 deg
                lo = (centre - half + shift) / 360.0 * w + 1
                hi = (centre + half + shift) / 360.0 * w + 1
                y = 19.0
                p.drawLine(QPointF(lo, y), QPointF(hi, y))
                if feather:
                    p.setPen(QPen(QColor(235, 235, 235, 110), 2))
                    for edge in (lo, hi):
                        d = feather / 360.0 * w
                        p.drawLine(QPointF(edge - d, y), QPointF(edge + d, y))
                    p.setPen(QPen(QColor(235, 235, 235), 2))
        p.end()


@register_form("hue_saturation")
class HueSaturationForm(ThrottledForm):
    """Range box, three sliders for the chosen range, overlap, and Colorize."""

    def __init__(self, spec: OpSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.editors: dict[str, Field] = {}

        self.range_combo = QComboBox()
        self.range_combo.setObjectName("hsl_range")
        self.range_combo.setToolTip("What the sliders adjust: every colour (Master) or one "
                                    "range of hues, added to Master")
        for key, label, _prefix, hue in RANGES:
            self.range_combo.addItem(_swatch(hue), label, key)
        self.colorize = field_class(spec.param("colorize"))(spec.param("colorize"), self)
        self.colorize.widget.setText("Colorize")
        self.colorize.widget.setObjectName("param_colorize")
        self.colorize.widget.setToolTip(rich_text(spec.param("colorize").description))
        self.editors["colorize"] = self.colorize
        top = QHBoxLayout()
        top.addWidget(QLabel("Range"))
        top.addWidget(self.range_combo, 1)
        top.addWidget(self.colorize.widget)

        self.bars = HueBars(spec)
        self.bars.setObjectName("hue_bars")
        self.bars.setToolTip("Every hue before (top) and after (bottom); the bracket marks "
                             "the range the sliders adjust")

        # one page of three sliders per range, and one for Colorize
        self.pages = QStackedWidget()
        self.page_index: dict[str, int] = {}
        for key, _label, prefix, _hue in RANGES:
            self._add_page(key, [f"{prefix}{a}" for a in AMOUNTS])
        self._add_page("colorize", [f"colorize_{a}" for a in AMOUNTS])
        self.overlap = self._field("overlap")
        rest = QFormLayout()
        rest.setContentsMargins(0, 0, 0, 0)
        rest.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.overlap_label = QLabel(spec.param("overlap").label)
        self.overlap_label.setToolTip(rich_text(spec.param("overlap").description))
        rest.addRow(self.overlap_label, self.overlap.widget)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.bars)
        layout.addWidget(self.pages)
        layout.addLayout(rest)
        layout.addStretch(1)
        self._line_up()

        self.range_combo.currentIndexChanged.connect(self._range_chosen)
        self.paramsChanged.connect(self._refresh)
        self.set_params(spec.defaults())

    def _field(self, name: str) -> Field:
        p = self.spec.param(name)
        ed = field_class(p)(p, self)
        ed.widget.setObjectName(f"param_{name}")
        ed.widget.setToolTip(rich_text(p.description + (f" ({p.unit})" if p.unit else "")))
        self.editors[name] = ed
        return ed

    def _add_page(self, key: str, names: list[str]) -> None:
        page = QWidget()
        rows = QFormLayout(page)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        for name, amount in zip(names, AMOUNTS, strict=True):
            ed = self._field(name)
            label = QLabel(amount.capitalize())
            label.setToolTip(rich_text(self.spec.param(name).description))
            label.setBuddy(ed.widget)
            rows.addRow(label, ed.widget)
        self.page_index[key] = self.pages.addWidget(page)

    def _line_up(self) -> None:
        """Spin boxes of one width and labels of one width, so every page aligns."""
        line_up_spins(self.editors)
        names = ("Hue", "Saturation", "Lightness", self.overlap_label.text())
        labels = [lb for lb in self.findChildren(QLabel) if lb.text() in names]
        lw = max(lb.sizeHint().width() for lb in labels)
        for lb in labels:
            lb.setMinimumWidth(lw)

    # -- protocol -------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return {name: ed.value() for name, ed in self.editors.items()}

    def set_params(self, params: dict[str, Any]) -> None:
        for name, value in params.items():
            if name in self.editors:
                self.editors[name].set_value(value)
        self._refresh()

    def set_image(self, image) -> None:
        """The hue bars show hues, not the image."""

    # -- ranges ---------------------------------------------------------------------------
    def range_key(self) -> str:
        return self.range_combo.currentData()

    def select_range(self, key: str) -> None:
        self.range_combo.setCurrentIndex(self.range_combo.findData(key))

    def sliders(self) -> dict[str, Field]:
        """The three fields shown now (by amount: hue, saturation, lightness)."""
        if self.colorize.value():
            return {a: self.editors[f"colorize_{a}"] for a in AMOUNTS}
        prefix = dict((k, p) for k, _l, p, _h in RANGES)[self.range_key()]
        return {a: self.editors[f"{prefix}{a}"] for a in AMOUNTS}

    def _range_chosen(self, _index: int) -> None:
        self._refresh()

    def _refresh(self, *_args) -> None:
        params = self.params()
        colorize = bool(params["colorize"])
        self.pages.setCurrentIndex(self.page_index["colorize" if colorize
                                                   else self.range_key()])
        self.range_combo.setEnabled(not colorize)
        self.overlap.widget.setEnabled(not colorize)
        self.overlap_label.setEnabled(not colorize)
        defaults = self.spec.defaults()
        for i, (_key, label, prefix, _hue) in enumerate(RANGES):
            changed = any(params[f"{prefix}{a}"] != defaults[f"{prefix}{a}"] for a in AMOUNTS)
            self.range_combo.setItemText(i, label + ("  •" if changed else ""))
        self.bars.set_params(params, self.range_key())
