"""The Select menu and the marching ants of one main window.

Select ▸ All (Ctrl+A), Deselect (Ctrl+Shift+A), Invert (Ctrl+Shift+I),
Feather…, Grow…, Shrink…, Border… (one value in pixels), Save Selection as
PNG…, Load Selection from PNG…, and Show Selection (marching ants on or off).
Every entry that changes the selection is one undo step through
``controller.select`` (or ``set_selection`` for a loaded mask), so it shows
in the History dock with its title and replays from the recipe.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QMenu,
    QVBoxLayout,
)

from editor.ui.marching_ants import MarchingAnts

if TYPE_CHECKING:
    from editor.ui.main_window import MainWindow

#: (menu text, op, parameter, default px, dialog sentence)
MODIFY = (
    ("&Feather…", "select_feather", "radius", 10.0,
     "Soften the selection's edge over this radius."),
    ("&Grow…", "select_grow", "pixels", 5.0, "Enlarge the selection by this many pixels."),
    ("&Shrink…", "select_shrink", "pixels", 5.0, "Shrink the selection by this many pixels."),
    ("&Border…", "select_border", "pixels", 5.0,
     "Select a band this wide along the selection's edge."),
)


class PixelsDialog(QDialog):
    """One value in pixels (Feather, Grow, Shrink, Border)."""

    def __init__(self, title: str, sentence: str, value: float, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        col = QVBoxLayout(self)
        col.addWidget(QLabel(sentence))
        form = QFormLayout()
        self.spin = QDoubleSpinBox()
        self.spin.setRange(0.0, 500.0)
        self.spin.setDecimals(1)
        self.spin.setSuffix(" px")
        self.spin.setValue(value)
        form.addRow("Pixels:", self.spin)
        col.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        col.addWidget(buttons)


class SelectionUI(QObject):
    """The Select menu, its dialogs and the marching ants (see the module docstring)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.controller = c = window.controller
        self.ants = MarchingAnts(window.canvas, c.make_lane("selection outline",
                                                           latest_wins=True))
        window.canvas.ants = self.ants
        #: tests replace these: ``ask(title, sentence, value) -> float | None``,
        #: ``ask_path(save: bool) -> str``
        self.ask = self._ask_dialog
        self.ask_path = self._ask_path_dialog
        self.last_values: dict[str, float] = {op: v for _t, op, _p, v, _s in MODIFY}
        self._build_menu()
        c.selectionChanged.connect(self._selection_changed)
        c.documentChanged.connect(self._update_actions)
        self._update_actions()

    # -- menu ---------------------------------------------------------------------------
    def _build_menu(self) -> None:
        w = self.window
        bar = w.menuBar()
        menu = QMenu("&Select", w)
        view = getattr(w, "view_menu", None)
        if view is not None:
            bar.insertMenu(view.menuAction(), menu)
        else:
            bar.addMenu(menu)
        self.menu = menu

        def add(text, slot, keys=None) -> QAction:
            a = QAction(text, w)
            if keys:
                a.setShortcut(QKeySequence(keys))
            a.triggered.connect(slot)
            menu.addAction(a)
            return a

        self.all_action = add("&All", self.select_all, "Ctrl+A")
        self.none_action = add("&Deselect", self.select_none, "Ctrl+Shift+A")
        self.invert_action = add("&Invert Selection", self.invert, "Ctrl+Shift+I")
        menu.addSeparator()
        self.modify_actions: dict[str, QAction] = {}
        for text, op, _param, _v, _s in MODIFY:
            self.modify_actions[op] = add(text, lambda _=False, op=op: self.modify(op))
        menu.addSeparator()
        self.save_action = add("Save Selection as &PNG…", self.save_png)
        self.load_action = add("&Load Selection from PNG…", self.load_png)
        menu.addSeparator()
        self.show_action = add("Show &Selection Outline", self.set_outline_visible)
        self.show_action.setCheckable(True)
        self.show_action.setChecked(True)

    def _update_actions(self, *_args) -> None:
        has = self.controller.document is not None
        sel = self.controller.has_selection()
        for a in (self.all_action, self.invert_action, self.load_action):
            a.setEnabled(has)
        for a in (self.none_action, self.save_action, *self.modify_actions.values()):
            a.setEnabled(sel)

    def _selection_changed(self, mask) -> None:
        self.ants.set_mask(mask)
        self._update_actions()

    # -- commands -------------------------------------------------------------------------
    def select_all(self) -> None:
        self.controller.select("select_all", {}, "Select All")

    def select_none(self) -> None:
        if self.controller.has_selection():
            self.controller.select("select_none", {}, "Select None")

    def invert(self) -> None:
        self.controller.select("select_invert", {}, "Invert Selection")

    def modify(self, op: str, value: float | None = None) -> None:
        """Feather, grow, shrink or border by ``value`` px (asked when None)."""
        text, _op, param, _d, sentence = next(m for m in MODIFY if m[1] == op)
        title = text.replace("&", "").rstrip("…")
        if not self.controller.has_selection():
            self.controller.report_error(f"{title} needs a selection: select an area first.")
            return
        if value is None:
            value = self.ask(f"{title} Selection", sentence, self.last_values[op])
            if value is None:
                return
        self.last_values[op] = float(value)
        self.controller.select(op, {param: float(value)},
                               f"{title} Selection {float(value):g} px")

    def set_outline_visible(self, on: bool) -> None:
        self.ants.visible = bool(on)
        self.window.canvas.update()

    def save_png(self, path: str | None = None) -> bool:
        """Write the selection as a 16-bit grayscale PNG (white = selected)."""
        from editor.core.selection import mask_to_image
        from editor.io import SaveError, save_image

        mask = self.controller.selection()
        if mask is None:
            self.controller.report_error("There is no selection to save: select an area first.")
            return False
        path = path or self.ask_path(True)
        if not path:
            return False
        if not path.lower().endswith(".png"):
            path += ".png"
        try:
            save_image(path, mask_to_image(mask), format="PNG")
        except (SaveError, OSError) as e:
            reason = getattr(e, "strerror", None) or str(e).rstrip(".")
            self.controller.report_error(f"Could not write {Path(path).name}: {reason}.")
            return False
        self.controller.message.emit(f"Saved the selection to {Path(path).name}.")
        return True

    def load_png(self, path: str | None = None) -> bool:
        """Make a mask image (white = inside, the image's size) the selection."""
        from editor.core.selection import SelectionError
        from editor.ops.select import load_mask

        img = self.controller.current_image()
        if img is None:
            return False
        path = path or self.ask_path(False)
        if not path:
            return False
        try:
            mask = load_mask(path, img.shape)
        except SelectionError as e:
            self.controller.report_error(str(e))
            return False
        # recorded by its SHA-256 (set_selection adds it); a saved recipe writes the
        # mask beside itself, so the recipe does not depend on this file staying put
        self.controller.set_selection(mask, "Load Selection", op="select_mask")
        return True

    # -- dialogs ----------------------------------------------------------------------------
    def _ask_dialog(self, title: str, sentence: str, value: float) -> float | None:
        dlg = PixelsDialog(title, sentence, value, self.window)
        return dlg.spin.value() if dlg.exec() else None

    def _ask_path_dialog(self, save: bool) -> str:
        doc = self.controller.document
        start = str(Path(doc.directory) / f"{Path(doc.path or 'untitled').stem}-selection.png")
        if save:
            path, _ = QFileDialog.getSaveFileName(self.window, "Save Selection as PNG", start,
                                                  "PNG images (*.png)")
        else:
            path, _ = QFileDialog.getOpenFileName(self.window, "Load Selection from PNG",
                                                  str(Path(start).parent),
                                                  "Images (*.png *.tif *.tiff *.jpg *.bmp)")
        return path


def install_selection(window: MainWindow) -> SelectionUI:
    """Add the Select menu and the marching ants to ``window``."""
    return SelectionUI(window)
