"""A detector's overlay on the canvas: show or hide it, style it, count it, export it, burn it.

Feature detectors (Harris, Shi-Tomasi, Moravec, HOG, Canny) leave the pixels as
they are and publish an :class:`editor.ops.overlays.Overlay`; this module shows it.

* The overlay follows the history: the one shown belongs to the current state
  (the controller keeps side outputs per state and announces them with
  ``extrasChanged``), so undoing the detector's step takes its overlay away.
  While a tool's live preview carries an overlay (already placed in image
  coordinates by the preview lane), that one is shown instead.
* Showing, hiding or restyling it repaints the canvas only: the pixels, the
  histogram and the history never change.
* *Burn into Image* is the one step that changes pixels: the same detector with
  the same parameters and ``output="burn"``, committed through
  ``controller.apply_op`` as one undo step (so recipes replay it).
* *Export Overlay Points…* writes the current overlay as CSV or JSON.

The bar floats over the canvas's bottom-left corner; :func:`install_overlay`
builds it and adds View ▸ Show Overlay and View ▸ Export Overlay Points…
(``burn_action`` is there for a menu that edits the image to list).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QWidget,
)

from editor.ui.overlay_layer import DEFAULT_STYLES, SHAPES, OverlayStyle
from editor.ui.pipeline import COMMITTED

log = logging.getLogger(__name__)

#: Toggle shortcut (Photoshop's View ▸ Extras).
SHOW_SHORTCUT = "Ctrl+H"
#: Size ranges of the style's ``size`` by overlay kind: (min, max, step, tool tip).
SIZE_RANGES = {
    "points": (3.0, 60.0, 1.0, "Marker size on screen, pixels"),
    "cells": (0.5, 6.0, 0.5, "Glyph line width on screen, pixels"),
    "mask": (1.0, 6.0, 1.0, "Edge width on screen when zoomed out, pixels"),
}

BAR_STYLE = """
QFrame#overlayBar { background: rgba(30, 30, 33, 228); border: 1px solid #48484d;
    border-radius: 6px; }
QFrame#overlayBar QLabel { color: #e2e2e2; }
QFrame#overlayBar QLabel:disabled { color: #7c7c80; }
QFrame#overlayBar QCheckBox::indicator { width: 12px; height: 12px; border: 1px solid #8a8a90;
    border-radius: 3px; background: #1f1f22; }
QFrame#overlayBar QCheckBox::indicator:checked { background: #4a86c5; border-color: #7fb0e0; }
QFrame#overlayBar QLabel#overlayCount { font-weight: 600; padding: 0 4px; }
QFrame#overlayBar QPushButton { padding: 3px 9px; }
"""


def _swatch(rgb: tuple[int, int, int], size: int = 14) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(QColor(*rgb))
    return QIcon(pm)


class OverlayBar(QFrame):
    """The floating bar: Show, the count, colour, size, shape, Export…, Burn into Image."""

    MARGIN = 10

    def __init__(self, canvas: QWidget) -> None:
        super().__init__(canvas)
        self.setObjectName("overlayBar")
        self.setStyleSheet(BAR_STYLE)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 6, 4)
        row.setSpacing(6)
        self.show_box = QCheckBox("Overlay")
        self.show_box.setToolTip(f"Show or hide the detector's overlay ({SHOW_SHORTCUT}); "
                                 "the image is not changed")
        self.count_label = QLabel("")
        self.count_label.setObjectName("overlayCount")
        self.color_button = QToolButton()
        self.color_button.setToolTip("Overlay colour")
        self.size_spin = QDoubleSpinBox()
        self.size_spin.setSuffix(" px")
        self.size_spin.setDecimals(1)
        self.size_spin.setKeyboardTracking(False)
        self.size_spin.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # no wheel changes unasked
        self.shape_combo = QComboBox()
        for shape in SHAPES:
            self.shape_combo.addItem(shape.capitalize(), shape)
        self.shape_combo.setToolTip("Marker shape")
        self.export_button = QPushButton("Export…")
        self.burn_button = QPushButton("Burn into Image")
        self.burn_button.setToolTip("Draw the markers into the pixels (one undo step)")
        for w in (self.show_box, self.count_label, self.color_button, self.size_spin,
                  self.shape_combo, self.export_button, self.burn_button):
            row.addWidget(w)
        canvas.installEventFilter(self)
        self.hide()

    def place(self) -> None:
        """Bottom-left of the canvas, as wide as it needs (or the canvas allows)."""
        parent = self.parentWidget()
        self.adjustSize()
        width = min(self.sizeHint().width(), parent.width() - 2 * self.MARGIN)
        self.resize(max(width, 0), self.sizeHint().height())
        self.move(self.MARGIN, parent.height() - self.height() - self.MARGIN)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if obj is self.parentWidget() and event.type() == QEvent.Type.Resize:
            self.place()
        return False


class OverlayController(QObject):
    """Chooses the overlay to show, keeps its style and visibility, exports and burns it."""

    overlayChanged = Signal(object)  # the Overlay shown now, or None

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.c = window.controller
        self.canvas = window.canvas
        self.settings = window.settings
        self.state_overlay = None
        self.preview_overlay = None
        self.styles = {kind: self._load_style(kind, style)
                       for kind, style in DEFAULT_STYLES.items()}
        self.visible = self.settings.value("overlay/visible", True, type=bool)
        self.bar = OverlayBar(self.canvas)
        self.show_action = QAction("Show &Overlay", window)
        self.show_action.setCheckable(True)
        self.show_action.setShortcut(QKeySequence(SHOW_SHORTCUT))
        self.show_action.setToolTip(f"Show the detector's overlay ({SHOW_SHORTCUT})")
        self.export_action = QAction("Export Overlay &Points…", window)
        self.burn_action = QAction("&Burn Overlay into Image", window)
        for a in (self.show_action, self.export_action, self.burn_action):
            window.addAction(a)  # shortcuts work wherever the actions are listed
        self.show_action.setChecked(self.visible)
        self.bar.show_box.setChecked(self.visible)
        self.show_action.toggled.connect(self.set_visible)
        self.bar.show_box.toggled.connect(self.set_visible)
        self.export_action.triggered.connect(self.export_dialog)
        self.bar.export_button.clicked.connect(self.export_dialog)
        self.burn_action.triggered.connect(self.burn)
        self.bar.burn_button.clicked.connect(self.burn)
        self.bar.color_button.clicked.connect(self._pick_color)
        self.bar.size_spin.valueChanged.connect(lambda v: self.set_style(size=float(v)))
        self.bar.shape_combo.currentIndexChanged.connect(
            lambda _i: self.set_style(shape=self.bar.shape_combo.currentData()))
        self.c.previewChanged.connect(self._preview_changed)
        self.c.documentChanged.connect(self._document_changed)
        self.c.requestFinished.connect(self._request_finished)
        self.canvas.set_overlay_visible(self.visible)
        self._refresh()

    # -- what is shown ------------------------------------------------------------------
    def current(self):
        """The overlay shown now: the live preview's, else the current state's."""
        return self.preview_overlay if self.preview_overlay is not None else self.state_overlay

    def set_extras(self, extras: dict | None) -> None:
        """Side outputs of the state now shown (``controller.extrasChanged``)."""
        self.state_overlay = _find(extras)
        self._refresh()

    def _preview_changed(self, result) -> None:
        # a preview that replaces the picture (geometry ops) has no place for one
        self.preview_overlay = None if result is None or result.region is None \
            else _find(result.extras)
        self._refresh()

    def _request_finished(self, req) -> None:
        # the pipeline has just said "Harris corners: 547 points, overlay."; say it plainly
        doc, ov = self.c.document, self.state_overlay
        if req.outcome == COMMITTED and ov is not None and doc is not None \
                and req.state_id == doc.current_id:
            self.c.message.emit(f"{req.title}: {ov.summary()} shown over the image, which is "
                                f"unchanged ({SHOW_SHORTCUT} hides them).")

    def _document_changed(self) -> None:
        if self.c.document is None:
            self.state_overlay = self.preview_overlay = None
            self._refresh()

    def set_visible(self, on: bool) -> None:
        """Show or hide the overlay (a repaint only: pixels and histogram stay)."""
        on = bool(on)
        self.visible = on
        for w in (self.show_action, self.bar.show_box):
            if w.isChecked() != on:
                w.blockSignals(True)
                w.setChecked(on)
                w.blockSignals(False)
        self.settings.setValue("overlay/visible", on)
        self.canvas.set_overlay_visible(on)
        self._refresh_bar()

    def style(self, kind: str) -> OverlayStyle:
        return self.styles.get(kind, OverlayStyle())

    def set_style(self, **changes) -> None:
        """Change the current overlay kind's style (``color=(r, g, b)``, ``size``, ``shape``)."""
        ov = self.current()
        if ov is None:
            return
        style = replace(self.style(ov.kind), **changes)
        if style == self.style(ov.kind):
            return
        self.styles[ov.kind] = style
        self._save_style(ov.kind, style)
        self.canvas.set_overlay(ov, style)
        self._refresh_bar()

    def _refresh(self) -> None:
        ov = self.current()
        self.canvas.set_overlay(ov, self.style(ov.kind) if ov is not None else None)
        self._refresh_bar()
        self.overlayChanged.emit(ov)

    def _refresh_bar(self) -> None:
        ov = self.current()
        bar = self.bar
        self.export_action.setEnabled(ov is not None and not ov.preview)
        self.burn_action.setEnabled(self.burn_target() is not None)
        if ov is None:
            bar.hide()
            return
        style = self.style(ov.kind)
        text = ov.summary() + (" · preview" if ov.preview else "")
        bar.count_label.setText(text)
        bar.count_label.setEnabled(self.visible)
        bar.color_button.setIcon(_swatch(style.color))
        lo, hi, step, tip = SIZE_RANGES.get(ov.kind, (1.0, 20.0, 1.0, "Size"))
        bar.size_spin.blockSignals(True)
        bar.size_spin.setRange(lo, hi)
        bar.size_spin.setSingleStep(step)
        bar.size_spin.setValue(style.size)
        bar.size_spin.blockSignals(False)
        bar.size_spin.setToolTip(tip)
        bar.shape_combo.blockSignals(True)
        bar.shape_combo.setCurrentIndex(max(0, bar.shape_combo.findData(style.shape)))
        bar.shape_combo.blockSignals(False)
        bar.shape_combo.setVisible(ov.kind == "points")
        bar.export_button.setEnabled(not ov.preview)
        bar.export_button.setToolTip(
            f"Save the {ov.noun[1]} as CSV or JSON" if not ov.preview else
            "Apply the tool first: the preview's positions come from a reduced copy")
        bar.burn_button.setEnabled(self.burn_action.isEnabled())
        bar.show()
        bar.place()
        bar.raise_()

    # -- export ---------------------------------------------------------------------------
    def export(self, path: str | Path) -> int:
        """Write the current (non-preview) overlay to ``path`` (.csv or .json); rows written."""
        from editor.io import atomic_write_bytes

        ov = self.current()
        if ov is None or ov.preview:
            raise ValueError("There is no full-resolution overlay to export.")
        path = Path(path)
        text = ov.to_json() if path.suffix.lower() == ".json" else ov.to_csv()
        atomic_write_bytes(path, text.encode("utf-8"))
        return ov.count() if ov.kind != "mask" else ov.pixels

    def export_dialog(self) -> None:
        ov = self.current()
        if ov is None or ov.preview:
            return
        doc = self.c.document
        stem = Path(doc.path).stem if doc is not None and doc.path else "image"
        folder = self.settings.value("overlay/exportDir", doc.directory if doc else "")
        start = str(Path(folder) / f"{stem}-{ov.noun[1]}.csv")
        path, chosen = QFileDialog.getSaveFileName(self.window, "Export Overlay Points", start,
                                                   "CSV (*.csv);;JSON (*.json)")
        if not path:
            return
        if Path(path).suffix.lower() not in (".csv", ".json"):
            path += ".json" if "json" in chosen.lower() else ".csv"
        self.settings.setValue("overlay/exportDir", str(Path(path).parent))
        try:
            rows = self.export(path)
        except OSError as e:
            self.c.report_error(f"Could not write {Path(path).name}: {e.strerror or e}.")
            return
        self.c.message.emit(f"Exported {rows:,} rows to {Path(path).name}.")

    # -- burn -----------------------------------------------------------------------------
    def burn_target(self) -> tuple[str, dict] | None:
        """``(op, params)`` that burns the overlay shown now, or None.

        A state's overlay carries the full-resolution parameters it was made with;
        a preview's come from the open tool's form (the proxy's are scaled).
        """
        ov = self.current()
        if ov is None or not ov.op or self.c.document is None:
            return None
        if ov.preview:
            s = self.c.session
            if s is None or s.spec.name != ov.op:
                return None
            params = dict(s.latest or s.spec.defaults())
        else:
            params = dict(ov.params)
        params.pop("output", None)
        return ov.op, params

    def burn(self):
        """Commit the detector again with ``output="burn"``: one undo step with the markers."""
        target = self.burn_target()
        if target is None:
            return None
        from editor.ops import get_op

        op, params = target
        title = f"Burn {get_op(op).title}"
        return self.c.apply_op(op, {**params, "output": "burn"}, title=title)

    # -- style persistence ----------------------------------------------------------------
    def _pick_color(self) -> None:
        ov = self.current()
        if ov is None:
            return
        color = QColorDialog.getColor(QColor(*self.style(ov.kind).color), self.window,
                                      "Overlay Colour")
        if color.isValid():
            self.set_style(color=(color.red(), color.green(), color.blue()))

    def _load_style(self, kind: str, default: OverlayStyle) -> OverlayStyle:
        s = self.settings
        color = QColor(str(s.value(f"overlay/{kind}/color", "")))
        size = s.value(f"overlay/{kind}/size", default.size, type=float)
        shape = str(s.value(f"overlay/{kind}/shape", default.shape))
        lo, hi, _step, _tip = SIZE_RANGES.get(kind, (0.5, 60.0, 1.0, ""))
        return replace(default,
                       color=(color.red(), color.green(), color.blue()) if color.isValid()
                       else default.color,
                       size=min(max(float(size), lo), hi),
                       shape=shape if shape in SHAPES else default.shape)

    def _save_style(self, kind: str, style: OverlayStyle) -> None:
        self.settings.setValue(f"overlay/{kind}/color", QColor(*style.color).name())
        self.settings.setValue(f"overlay/{kind}/size", style.size)
        self.settings.setValue(f"overlay/{kind}/shape", style.shape)


def _find(extras: dict | None):
    if not extras:
        return None
    from editor.ops.overlays import find_overlay  # the registry has loaded by now

    return find_overlay(extras)


def _view_menu(window):
    for action in window.menuBar().actions():
        menu = action.menu()
        if menu is not None and action.text().replace("&", "") == "View":
            return menu
    return None


def install_overlay(window) -> OverlayController:
    """Build the overlay bar over ``window.canvas`` and list its actions in View."""
    ctrl = OverlayController(window)
    menu = _view_menu(window)
    if menu is not None:
        menu.addSeparator()
        menu.addAction(ctrl.show_action)
        menu.addAction(ctrl.export_action)
    else:
        log.warning("no View menu: the overlay actions are only in the overlay bar")
    return ctrl
