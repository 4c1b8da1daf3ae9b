"""The Fourier panel: paint a notch on a stripe's spectral peak and the stripes go."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import psnr
from PySide6.QtCore import QPoint, Qt

from editor.core.image import luminance
from editor.ops import get_op
from editor.ui.forms import form_class_for
from editor.ui.forms.fourier_form import FFTFilterForm, NotchForm

pytestmark = pytest.mark.gui

U, V = 40, 15  # stripe frequency, cycles per image
SIZE = (700, 560)  # larger than the 512 px spectrum proxy, so the mapping is exercised


@pytest.fixture
def striped(astronaut):
    img = cv2.resize(astronaut, SIZE, interpolation=cv2.INTER_AREA)
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    wave = 40 * np.sin(2 * np.pi * (U * xx / w + V * yy / h))
    base = img.astype(float) * 0.8 + 20
    clean = np.rint(base).astype(np.uint8)
    noisy = np.clip(np.rint(base + wave[..., None]), 0, 255).astype(np.uint8)
    return clean, noisy


@pytest.fixture
def notch_form(qtbot):
    form = NotchForm(get_op("notch_filter"))
    qtbot.addWidget(form)
    form.resize(420, 520)
    form.show()
    qtbot.waitExposed(form)
    return form


def _peak_power(img):
    return np.abs(np.fft.fft2(luminance(img)))[V, U]


def test_forms_are_registered():
    assert form_class_for("notch_filter") is NotchForm
    assert form_class_for("fft_filter") is FFTFilterForm


def test_painting_the_peak_removes_the_stripes(qtbot, notch_form, striped):
    clean, noisy = striped
    form = notch_form
    form.set_image(noisy)
    spec = form._spectrum
    h, w = spec.shape
    # the stripe's peak is the brightest spot away from DC (and its mirror)
    masked = spec.copy()
    masked[h // 2 - 4:h // 2 + 5, w // 2 - 4:w // 2 + 5] = 0
    y, x = np.unravel_index(np.argmax(masked), masked.shape)
    u, v = x - w // 2, y - h // 2
    assert {(u, v), (-u, -v)} == {(U, V), (-U, -V)}

    changed, committed = [], []
    form.paramsChanged.connect(changed.append)
    form.paramsCommitted.connect(committed.append)
    view = form.view
    start = view.to_widget(u / w, v / h).toPoint()
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(view, start + QPoint(2, 1))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=start + QPoint(2, 1))
    qtbot.waitUntil(lambda: len(committed) == 1, timeout=1000)
    assert changed, "a stroke must update the live preview"
    params = committed[-1]
    assert params == form.params()
    pts = np.array(params["points"])
    # in full-resolution cycles per pixel; within 2 cycles per image of the peak
    # (a widget pixel is ~1.5 spectrum pixels here)
    w_full, h_full = SIZE
    assert np.hypot((pts[0, 0] - u / w_full) * w_full, (pts[0, 1] - v / h_full) * h_full) <= 2.0
    out = get_op("notch_filter")(noisy, **params)
    assert _peak_power(out) < _peak_power(noisy) / 20
    assert psnr(out, clean) > psnr(noisy, clean) + 10
    # the overlay shows the painted notch and its mirror in the reject colour
    rgba = view._rgba
    for fu, fv in ((u, v), (-u, -v)):
        b, g, r = rgba[fv + h // 2, fu + w // 2, :3]
        assert r > 150 and r > g + 60


def test_strokes_undo_clear_and_params_roundtrip(qtbot, notch_form, astronaut):
    form = notch_form
    form.set_image(astronaut)
    view = form.view
    a = view.to_widget(0.1, -0.05).toPoint()
    b = view.to_widget(0.15, -0.05).toPoint()
    for p in (a, b):
        qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=p)
        qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=p)
    assert len(form.strokes) == 2 and len(form.params()["points"]) == 2
    committed = []
    form.paramsCommitted.connect(committed.append)
    form.undo_button.click()
    assert len(form.strokes) == 1 and committed[-1]["points"] == form.params()["points"]
    form.clear_button.click()
    assert form.params()["points"] == [] and committed[-1]["points"] == []
    form.set_params({"points": [(0.05, 0.06), (-0.2, 0.3)], "radius": 0.0125})
    assert form.params() == {"points": [(0.05, 0.06), (-0.2, 0.3)], "radius": 0.0125}
    assert form.radius.value() == 0.0125
    assert form.radius_slider.value() == form.radius.scale.position(0.0125)
    assert view.brush_radius == pytest.approx(0.0125)  # astronaut is 512 px: no proxy
    get_op("notch_filter").bind(form.params())  # what the form emits is valid
    form.reset()
    assert form.params() == {"points": [], "radius": 0.008}
    form.set_image(None)  # no document: an empty view, no crash
    assert view._rgba is None


def test_drag_draws_a_continuous_groove_and_is_throttled(qtbot, notch_form, astronaut):
    form = notch_form
    form.set_image(astronaut)
    form.set_params({"radius": 0.008})
    changed = []
    form.paramsChanged.connect(changed.append)
    view = form.view

    def at(u):  # spectrum pixel u (of 512) on the row 40 pixels below the centre
        return view.to_widget(u / 512, 40 / 512).toPoint()

    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=at(-60))
    for u in range(-58, 61, 2):
        qtbot.mouseMove(view, at(u))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=at(60))
    pts = np.array(form.params()["points"])
    assert len(form.strokes) == 1
    gaps = np.hypot(*np.diff(pts, axis=0).T)
    assert gaps.max() <= 0.004 + 1e-5  # a point every half radius
    # from the press to within one spacing (+ a widget pixel) of the release
    assert pts[:, 0].min() <= -58 / 512 and pts[:, 0].max() >= 60 / 512 - 0.004 - 2 / 512
    # 60 moves in far less than 60 x 30 ms: throttled, and the last value delivered
    assert len(changed) < 40
    assert changed[-1] == form.params()


def test_fft_filter_form_draws_the_mask(qtbot, astronaut):
    form = FFTFilterForm(get_op("fft_filter"))
    qtbot.addWidget(form)
    form.resize(420, 700)
    form.set_image(np.ascontiguousarray(astronaut[:256, :384]))
    changed = []
    form.paramsChanged.connect(changed.append)
    form.set_params({"kind": "highpass", "shape": "ideal", "cutoff": 0.2})
    rgba = form.view._rgba
    h, w = rgba.shape[:2]
    centre, corner = rgba[h // 2, w // 2, :3], rgba[2, 2, :3]
    assert centre[2] > centre[1] + 60  # DC rejected by the high-pass: tinted red
    assert abs(int(corner[2]) - int(corner[1])) < 3  # high frequencies pass: gray
    form.inner.editors["cutoff"].spin.setValue(0.5)
    qtbot.waitUntil(lambda: bool(changed), timeout=1000)
    assert changed[-1]["cutoff"] == 0.5 and form.params()["kind"] == "highpass"
    get_op("fft_filter").bind(form.params())
