"""The Fourier panel: the image's spectrum with the filter drawn on it.

- ``notch_filter``: a brush paints notches on the log spectrum; every point also
  removes its mirror ``(-fx, -fy)`` (drawn too), each stroke is one undo step, and
  the form emits the points (cycles per pixel) while painting, so the main
  window's live preview shows the spatial result.
- ``fft_filter``: the generic sliders plus the spectrum with the radial mask drawn
  over it.

The spectrum is computed on a proxy of at most :data:`PROXY_MAX` pixels a side, so
it is quick; a proxy spectrum pixel ``(x, y)`` of a ``w x h`` proxy is the frequency
``((x - w // 2) / w * s, (y - h // 2) / h * s)`` of the full image, with ``s`` the
proxy's scale (a pattern finer than the proxy's Nyquist frequency is not shown).
All maths is in :mod:`editor.ops.frequency`; this module only draws and listens.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from editor.core.image import luminance, max_value
from editor.ops.frequency import filter_mask_display, log_spectrum, notch_mask
from editor.ops.registry import OpSpec
from editor.ui.forms import register_form
from editor.ui.forms.fields import NumberField
from editor.ui.forms.param_form import ThrottledForm
from editor.ui.qimage import wrap_display
from editor.ui.richtext import count, rich_text

#: Longest side of the image the spectrum is computed from.
PROXY_MAX = 512
#: Colour of rejected frequencies in the overlay (RGB) and its maximum opacity.
REJECT_RGB = np.array([255, 60, 40], np.float32)
REJECT_OPACITY = 0.65


def spectrum_proxy(image: np.ndarray | None) -> np.ndarray | None:
    """Log spectrum (``[0, 1]`` float32, DC at the centre) of a <= PROXY_MAX proxy."""
    if image is None:
        return None
    h, w = image.shape[:2]
    gray = luminance(image) * np.float32(255.0 / max_value(image.dtype))
    scale = PROXY_MAX / max(h, w)
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    return log_spectrum(gray)


def overlay_rgba(spec: np.ndarray, gain: np.ndarray | None) -> np.ndarray:
    """Spectrum as 4-byte pixels with the rejected part tinted (BGRA order for RGB32).

    For display only, the log spectrum is stretched from its median (the noise
    floor) to its 99.95th percentile, so that isolated peaks (periodic patterns,
    the ones worth painting out) stand out white instead of mid-gray.
    """
    lo, hi = np.percentile(spec, (50.0, 99.95))
    g = np.clip((spec - lo) * np.float32(255.0 / max(hi - lo, 1e-6)), 0, 255)
    rgb = np.repeat(g[..., None], 3, axis=2)
    if gain is not None:
        tint = (np.float32(1.0) - gain)[..., None] * np.float32(REJECT_OPACITY)
        rgb = rgb * (1 - tint) + REJECT_RGB * tint
    out = np.empty(spec.shape + (4,), np.uint8)
    out[..., 2::-1] = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)  # RGB -> B, G, R
    out[..., 3] = 255
    return out


class SpectrumView(QWidget):
    """Shows a spectrum with an overlay; optionally paints notches with the mouse.

    Signals carry frequencies ``(fx, fy)`` in cycles per pixel *of the shown
    spectrum* (its pixel minus the centre ``(w // 2, h // 2)``, over ``(w, h)``).
    """

    pressed = Signal(float, float)
    dragged = Signal(float, float)
    released = Signal()

    def __init__(self, parent: QWidget | None = None, paintable: bool = True) -> None:
        super().__init__(parent)
        self.paintable = paintable
        self.brush_radius = 4.0
        self._rgba: np.ndarray | None = None  # kept alive: the QImage shares its pixels
        self._qimage: QImage | None = None
        self._hover: tuple[float, float] | None = None
        self._down = False
        self.setMouseTracking(True)
        # small enough that the whole form fits a laptop-height (720 px) tools dock;
        # it grows with the dock
        self.setMinimumSize(160, 110)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        if paintable:
            self.setCursor(Qt.CursorShape.CrossCursor)

    def sizeHint(self) -> QSize:  # noqa: N802  (Qt override: room when the dock has it)
        return QSize(320, 280)

    def set_pixels(self, rgba: np.ndarray | None) -> None:
        self._rgba = None if rgba is None else np.ascontiguousarray(rgba)
        if self._rgba is None:
            self._qimage = None
        else:
            self._qimage = wrap_display(self._rgba, alpha=False)
        self.update()

    def spectrum_size(self) -> tuple[int, int] | None:
        """(width, height) of the shown spectrum."""
        return None if self._rgba is None else (self._rgba.shape[1], self._rgba.shape[0])

    def target_rect(self) -> QRectF:
        """Where the spectrum is drawn: fitted to the widget, aspect kept."""
        size = self.spectrum_size()
        if size is None:
            return QRectF(self.rect())
        w, h = size
        s = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * s) / 2, (self.height() - h * s) / 2, w * s, h * s)

    def to_freq(self, pos: QPointF) -> tuple[float, float] | None:
        """Widget position -> (fx, fy) cycles per pixel, or None outside the spectrum."""
        size = self.spectrum_size()
        if size is None:
            return None
        r = self.target_rect()
        if not r.contains(pos):
            return None
        w, h = size
        x = (pos.x() - r.x()) / r.width() * w
        y = (pos.y() - r.y()) / r.height() * h
        # pixel x covers [x, x + 1) and is the frequency (x - w // 2) / w
        return (round((x - 0.5 - w // 2) / w, 5), round((y - 0.5 - h // 2) / h, 5))

    def to_widget(self, fx: float, fy: float) -> QPointF:
        w, h = self.spectrum_size()
        r = self.target_rect()
        return QPointF(r.x() + (fx * w + w // 2 + 0.5) * r.width() / w,
                       r.y() + (fy * h + h // 2 + 0.5) * r.height() / h)

    # -- Qt overrides ------------------------------------------------------------
    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(24, 24, 24))
        if self._qimage is None:
            p.setPen(QColor(150, 150, 150))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No image")
            return
        r = self.target_rect()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        p.drawImage(r, self._qimage)
        if self.paintable and self._hover is not None:
            fx, fy = self._hover
            # a circle in cycles per pixel is an ellipse on a non-square spectrum
            rx, ry = self.brush_radius * r.width(), self.brush_radius * r.height()
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            p.setPen(QPen(QColor(255, 230, 80), 1.5))
            p.drawEllipse(self.to_widget(fx, fy), rx, ry)
            p.setPen(QPen(QColor(255, 230, 80), 1.0, Qt.PenStyle.DashLine))
            p.drawEllipse(self.to_widget(-fx, -fy), rx, ry)  # the mirrored notch

    def mousePressEvent(self, event) -> None:
        f = self.to_freq(event.position())
        if self.paintable and event.button() == Qt.MouseButton.LeftButton and f is not None:
            self._down = True
            self.pressed.emit(*f)

    def mouseMoveEvent(self, event) -> None:
        f = self.to_freq(event.position())
        self._hover = f
        if self._down and f is not None:
            self.dragged.emit(*f)
        self.update()

    def mouseReleaseEvent(self, event) -> None:
        if self._down and event.button() == Qt.MouseButton.LeftButton:
            self._down = False
            self.released.emit()

    def leaveEvent(self, _event) -> None:
        self._hover = None
        self.update()


class _BrushHost:
    """What the radius field calls on its form: the brush follows, the notches re-send."""

    def __init__(self, form: NotchForm) -> None:
        self.form = form

    def _changed(self) -> None:
        self.form._radius_changed()

    def _commit(self) -> None:
        self.form._radius_committed()


@register_form("notch_filter")
class NotchForm(ThrottledForm):
    """Paint notches on the spectrum; each stroke updates the live preview."""

    def __init__(self, spec: OpSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.strokes: list[list[tuple[float, float]]] = []  # full-resolution cycles/pixel
        self._spectrum: np.ndarray | None = None
        self._proxy_scale = (1.0, 1.0)  # proxy / full size, (x, y)
        p_radius = spec.param("radius")

        self.view = SpectrumView(self)
        self.view.setObjectName("spectrum_view")
        self.view.setToolTip("Paint over bright spots to remove periodic patterns; "
                             "the mirrored spot (dashed) is removed too.")
        self.view.pressed.connect(self._stroke_start)
        self.view.dragged.connect(self._stroke_move)
        self.view.released.connect(self._commit)

        # the brush radius: slider and spin box from its spec, like every op's; it only
        # sends the form's parameters when there are notches for it to change
        self.radius = NumberField(p_radius, _BrushHost(self))
        self.editors = {"radius": self.radius}
        self.radius_slider, self.radius_spin = self.radius.slider, self.radius.spin
        self.radius_slider.setObjectName("radius_slider")
        self.radius_spin.setObjectName("param_radius")
        self.radius_spin.setSuffix(" c/px")
        self.radius.widget.setToolTip(rich_text(p_radius.description))

        self.undo_button = QPushButton("Undo stroke")
        self.undo_button.setObjectName("undo_stroke")
        self.undo_button.clicked.connect(self.undo_stroke)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setObjectName("clear_notches")
        self.clear_button.clicked.connect(self.clear)
        self.status = QLabel()
        self.status.setObjectName("notch_status")

        radius_row = QHBoxLayout()
        radius_row.addWidget(QLabel("Brush radius"))
        radius_row.addWidget(self.radius.widget, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.undo_button)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        buttons.addWidget(self.status)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addLayout(radius_row)
        layout.addLayout(buttons)
        self.set_params(spec.defaults())

    # -- protocol -----------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        points = [p for stroke in self.strokes for p in stroke]
        return {"points": points, "radius": float(self.radius_spin.value())}

    def set_params(self, params: dict[str, Any]) -> None:
        if "points" in params:
            pts = [(float(u), float(v)) for u, v in params["points"] or []]
            self.strokes = [pts] if pts else []
        if "radius" in params:
            self._set_radius(float(params["radius"]))
        self._redraw()

    def set_image(self, image: np.ndarray | None) -> None:
        self._spectrum = spectrum_proxy(image)
        if image is not None:
            ph, pw = self._spectrum.shape
            self._proxy_scale = (pw / image.shape[1], ph / image.shape[0])
        self._set_radius(self.radius_spin.value())
        self._redraw()

    def _to_full(self, fx: float, fy: float) -> tuple[float, float]:
        """Proxy spectrum frequency -> the full image's (cycles per pixel scale by s)."""
        sx, sy = self._proxy_scale
        return (round(fx * sx, 5), round(fy * sy, 5))

    def _view_radius(self, r: float) -> float:
        return r / (sum(self._proxy_scale) / 2)

    # -- editing -------------------------------------------------------------------
    def undo_stroke(self) -> None:
        if self.strokes:
            self.strokes.pop()
            self._redraw()
            self._changed()
            self._commit()

    def clear(self) -> None:
        if self.strokes:
            self.strokes.clear()
            self._redraw()
            self._changed()
            self._commit()

    def _stroke_start(self, u: float, v: float) -> None:
        self.strokes.append([self._to_full(u, v)])
        self._redraw()
        self._changed()

    def _stroke_move(self, u: float, v: float) -> None:
        if not self.strokes:
            return
        u, v = self._to_full(u, v)
        last_u, last_v = self.strokes[-1][-1]
        # a point every half radius makes a continuous groove without piling up points
        spacing = self.radius_spin.value() / 2
        dist = float(np.hypot(u - last_u, v - last_v))
        if dist < spacing:
            return
        steps = int(dist // spacing)
        for i in range(1, steps + 1):
            t = i * spacing / dist
            self.strokes[-1].append((round(last_u + t * (u - last_u), 5),
                                     round(last_v + t * (v - last_v), 5)))
        self._redraw()
        self._changed()

    def _set_radius(self, r: float) -> None:
        self.radius.set_value(r)
        self.view.brush_radius = self._view_radius(r)

    def _radius_changed(self) -> None:
        self.view.brush_radius = self._view_radius(self.radius_spin.value())
        self._redraw()
        if self.strokes:
            self._changed()

    def _radius_committed(self) -> None:
        if self.strokes:
            self._commit()

    def _redraw(self) -> None:
        n = sum(len(s) for s in self.strokes)
        self.status.setText(f"{count(len(self.strokes), 'stroke')}, "
                            f"{count(n, 'notch', 'notches')}" if n else "Paint on the spectrum")
        self.undo_button.setEnabled(bool(self.strokes))
        self.clear_button.setEnabled(bool(self.strokes))
        if self._spectrum is None:
            self.view.set_pixels(None)
            return
        h, w = self._spectrum.shape
        params = self.params()
        sx, sy = self._proxy_scale
        shown = [(fx / sx, fy / sy) for fx, fy in params["points"]
                 if abs(fx / sx) <= 0.5 and abs(fy / sy) <= 0.5]
        gain = (notch_mask(h, w, shown, self._view_radius(params["radius"]), layout="shifted")
                if shown else None)
        self.view.set_pixels(overlay_rgba(self._spectrum, gain))


@register_form("fft_filter")
class FFTFilterForm(ThrottledForm):
    """The generic sliders for ``fft_filter`` and the spectrum with its mask."""

    def __init__(self, spec: OpSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from editor.ui.forms.param_form import ParamForm

        self.spec = spec
        self._spectrum: np.ndarray | None = None
        self._image_size: tuple[int, int] | None = None  # full-resolution (w, h)
        self.inner = ParamForm(spec, self)
        self.inner.paramsChanged.connect(self._inner_changed)
        self.inner.paramsCommitted.connect(self._inner_committed)
        self.view = SpectrumView(self, paintable=False)
        self.view.setObjectName("spectrum_view")
        self.view.setToolTip("Log spectrum of the image; tinted frequencies are removed.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.inner)

    def params(self) -> dict[str, Any]:
        return self.inner.params()

    def set_params(self, params: dict[str, Any]) -> None:
        self.inner.set_params(params)
        self._redraw()

    def reset(self) -> None:
        self.inner.reset()

    def set_image(self, image: np.ndarray | None) -> None:
        self._image_size = None if image is None else (image.shape[1], image.shape[0])
        self._spectrum = spectrum_proxy(image)
        self._redraw()

    def _inner_changed(self, params: dict) -> None:
        self._redraw()
        self.paramsChanged.emit(params)

    def _inner_committed(self, params: dict) -> None:
        self.paramsCommitted.emit(params)

    def _redraw(self) -> None:
        if self._spectrum is None:
            self.view.set_pixels(None)
            return
        h, w = self._spectrum.shape
        p = self.params()
        gain = filter_mask_display((h, w), self._image_size, kind=p["kind"], shape=p["shape"],
                                   cutoff=p["cutoff"], width=p["width"], order=p["order"])
        self.view.set_pixels(overlay_rgba(self._spectrum, gain))
