"""The Image, Filters and Analysis menus, built from the op registry.

The menus a Photoshop or GIMP user reaches for first: Image ▸ Adjustments
(Levels Ctrl+L, Curves Ctrl+M, Hue/Saturation Ctrl+U, …), Image ▸ Transform
(rotate, flip, canvas size, image size Ctrl+Alt+I), Filters (one entry per
op of the registry's filter categories; Ctrl+F repeats the last filter) and
Analysis (spectrum, corners, HOG).

An entry either **opens the op's form in the Tools dock** (its text ends in
"…"; the same form, session and undo merging as choosing the op there), or,
for an op without parameters or a preset with fixed parameters (Invert,
Desaturate, Auto Tone, Rotate 90°, Flip), **applies at once** as one undo step
through the commit pipeline. The tables below name the ops; an op that is not
registered (an optional module, a tool still being written) gives a disabled
entry, so the menus work with any registry. Ops of a category that no table
lists appear by themselves: every op of the Color and Tone categories is in
Adjustments, of Geometry in Transform, and every other category is a part of
Filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

if TYPE_CHECKING:
    from editor.ui.main_window import MainWindow


@dataclass
class MenuEntry:
    """One menu entry for op ``op``.

    ``text`` defaults to the op's title; ``params`` set: a preset applied at once.
    """

    op: str
    text: str = ""
    shortcut: str = ""
    params: dict[str, Any] | None = None


ADJUSTMENTS: tuple[MenuEntry | None, ...] = (
    MenuEntry("levels", "Levels", "Ctrl+L"),
    MenuEntry("curves", "Curves", "Ctrl+M"),
    MenuEntry("hue_saturation", "Hue/Saturation", "Ctrl+U"),
    MenuEntry("brightness_contrast", "Brightness/Contrast"),
    None,
    MenuEntry("grayscale", "Desaturate", "Ctrl+Shift+U", params={}),
    MenuEntry("invert", "Invert", "Ctrl+I"),
    # one linear stretch for all channels (colour balance kept), 0.5 % clipped
    MenuEntry("auto_contrast", "Auto Tone", "Ctrl+Shift+L", params={}),
)
TRANSFORM: tuple[MenuEntry | None, ...] = (
    MenuEntry("rotate90", "Rotate 180°", params={"turns": 2}),
    MenuEntry("rotate90", "Rotate 90° Clockwise", params={"turns": 1}),
    MenuEntry("rotate90", "Rotate 90° Counter-clockwise", params={"turns": -1}),
    MenuEntry("rotate", "Rotate by Angle"),
    None,
    MenuEntry("flip", "Flip Horizontal", params={"axis": "horizontal"}),
    MenuEntry("flip", "Flip Vertical", params={"axis": "vertical"}),
    None,
    MenuEntry("canvas_size", "Canvas Size", "Ctrl+Alt+C"),
    MenuEntry("resize", "Image Size", "Ctrl+Alt+I"),
    MenuEntry("crop", "Crop"),
)
ANALYSIS: tuple[MenuEntry | None, ...] = (
    MenuEntry("spectrum", "Fourier Spectrum"),
    None,
    MenuEntry("harris", "Harris Corners"),
    MenuEntry("shi_tomasi", "Shi-Tomasi Corners"),
    MenuEntry("moravec", "Moravec Corners"),
    None,
    MenuEntry("hog", "HOG"),
)
#: registry categories whose other ops follow each table
ADJUSTMENT_CATEGORIES = ("Color", "Tone")
TRANSFORM_CATEGORIES = ("Geometry",)
#: the filter category whose ops sit in the Filters menu itself (the others get submenus)
INLINE_FILTER_CATEGORY = "Filters"
REPEAT_SHORTCUT = "Ctrl+F"
#: menu property: its entries are data, not commands (Open Recent's file names);
#: the Keyboard Shortcuts page leaves them out
NOT_COMMANDS = "convolveNotCommands"


def key_text(action: QAction) -> str:
    """``action``'s shortcuts as the user reads them ("Ctrl+M"), or ``""``."""
    return ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText)
                     for s in action.shortcuts())


def plain_text(action: QAction) -> str:
    """An action's menu text without mnemonics or the trailing ellipsis."""
    return action.text().replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…")


class OpMenus(QObject):
    """Builds and runs the op menus of one main window (see the module docstring)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.controller = window.controller
        bar = window.menuBar()
        self.image_menu = bar.addMenu("&Image")
        self.adjustments_menu = self.image_menu.addMenu("&Adjustments")
        self.transform_menu = self.image_menu.addMenu("&Transform")
        # the selection's bounding box (editor/ui/canvas_tools/crop_tool.py)
        self.crop_selection_action = QAction("Crop to &Selection", window)
        self.crop_selection_action.setObjectName("menu_crop_to_selection")
        self.crop_selection_action.setStatusTip("Crop the image to the selection's bounding box")
        self.crop_selection_action.triggered.connect(self.crop_to_selection)
        self.image_menu.addAction(self.crop_selection_action)
        self.controller.selectionChanged.connect(lambda _m: self._update_crop_selection())
        self.filters_menu = bar.addMenu("Fil&ters")
        self.analysis_menu = bar.addMenu("&Analysis")
        self.repeat_action = QAction("Repeat Last Filter", window)
        self.repeat_action.setShortcut(QKeySequence(REPEAT_SHORTCUT))
        self.repeat_action.triggered.connect(self.repeat_last_filter)
        #: (op, params) of the last committed filter, for Ctrl+F
        self.last_filter: tuple[str, dict] | None = None
        self.specs: dict[str, Any] = {}
        #: every op entry: (entry, action, opens_form)
        self.entries: list[tuple[MenuEntry, QAction, bool]] = []
        self.filter_ops: set[str] = set()
        self._submenus: list[QMenu] = []
        self._has_document = False
        self.populate([], [])
        self.controller.requestFinished.connect(self._request_finished)

    # -- building ----------------------------------------------------------------------
    def populate(self, specs, categories) -> None:
        """(Re)build the menus from the registry's ``specs`` and ``categories``."""
        self.specs = {s.name: s for s in specs}
        for menu in (self.adjustments_menu, self.transform_menu, self.filters_menu,
                     self.analysis_menu):
            menu.clear()
        for _entry, action, _form in self.entries:
            action.deleteLater()
        for sub in self._submenus:
            sub.deleteLater()
        self.entries, self._submenus = [], []
        self.filters_menu.addAction(self.repeat_action)
        self.filters_menu.addSeparator()
        if not specs:  # the registry loads off the GUI thread
            for menu in (self.adjustments_menu, self.transform_menu, self.filters_menu,
                         self.analysis_menu):
                menu.addAction("Loading tools…").setEnabled(False)
            self.set_document(self._has_document)
            return
        self._fill(self.adjustments_menu, ADJUSTMENTS, ADJUSTMENT_CATEGORIES)
        self._fill(self.transform_menu, TRANSFORM, TRANSFORM_CATEGORIES)
        self._fill(self.analysis_menu, ANALYSIS, ())
        filter_cats = [c for c in categories
                       if c not in ADJUSTMENT_CATEGORIES + TRANSFORM_CATEGORIES]
        self.filter_ops = {s.name for s in specs if s.category in filter_cats}
        inline = [s for s in specs if s.category == INLINE_FILTER_CATEGORY]
        for s in inline:
            self._add(self.filters_menu, MenuEntry(s.name))
        if inline:
            self.filters_menu.addSeparator()
        for cat in filter_cats:
            if cat == INLINE_FILTER_CATEGORY:
                continue
            sub = QMenu(cat, self.filters_menu)
            self.filters_menu.addMenu(sub)
            self._submenus.append(sub)
            for s in specs:
                if s.category == cat:
                    self._add(sub, MenuEntry(s.name))
        self.set_document(self._has_document)

    def _fill(self, menu: QMenu, table, categories) -> None:
        for entry in table:
            if entry is None:
                menu.addSeparator()
            else:
                self._add(menu, entry)
        listed = {e.op for e in table if e}
        rest = [s for s in self.specs.values()
                if s.category in categories and s.name not in listed]
        if rest:
            menu.addSeparator()
            for s in sorted(rest, key=lambda s: (categories.index(s.category), s.title)):
                self._add(menu, MenuEntry(s.name))

    def _add(self, menu: QMenu, entry: MenuEntry) -> QAction:
        spec = self.specs.get(entry.op)
        text = entry.text or (spec.title if spec else entry.op)
        opens_form = entry.params is None and (spec is None or bool(spec.params))
        action = QAction(text + ("…" if opens_form else ""), self)
        action.setObjectName(f"menu_{entry.op}")
        if entry.shortcut:
            action.setShortcut(QKeySequence(entry.shortcut))
        if spec is None:
            action.setToolTip(f"{text} is not available: no {entry.op} tool is registered.")
        else:
            verb = "Open the form of" if opens_form else "Apply"
            action.setToolTip(f"{verb} {spec.title} — {spec.summary}")
            action.setStatusTip(spec.summary)
        action.triggered.connect(lambda _=False, e=entry, f=opens_form: self.run(e, f))
        menu.addAction(action)
        self.entries.append((entry, action, opens_form))
        return action

    # -- state -------------------------------------------------------------------------
    def set_document(self, has: bool) -> None:
        """Enable the entries that can run now (an image is open, the op exists)."""
        self._has_document = bool(has)
        for entry, action, _form in self.entries:
            action.setEnabled(self._has_document and entry.op in self.specs)
        self._update_repeat()
        self._update_crop_selection()

    def _update_crop_selection(self) -> None:
        self.crop_selection_action.setEnabled(
            self._has_document and self.controller.has_selection())

    def crop_to_selection(self) -> None:
        """Image ▸ Crop to Selection: one undo step."""
        from editor.ui.canvas_tools.crop_tool import crop_to_selection

        crop_to_selection(self.controller)

    def action(self, text: str) -> QAction:
        """The op entry whose menu text (without "…") is ``text`` (tests, tools)."""
        for _entry, action, _form in self.entries:
            if plain_text(action) == text:
                return action
        raise KeyError(f"no menu entry {text!r}")

    def tool_shortcuts(self) -> dict[str, list[tuple[str, str, bool]]]:
        """Shortcut of each op's entries: ``{op: [(menu text, keys, opens form)]}``."""
        out: dict[str, list[tuple[str, str, bool]]] = {}
        for entry, action, opens_form in self.entries:
            keys = key_text(action)
            if keys:
                out.setdefault(entry.op, []).append((plain_text(action), keys, opens_form))
        return out

    # -- running -----------------------------------------------------------------------
    def run(self, entry: MenuEntry, opens_form: bool) -> None:
        """Open ``entry``'s form in the Tools dock, or apply it at once."""
        if entry.op not in self.specs:
            return
        if opens_form:
            self.window.open_tool(entry.op)
            return
        spec = self.specs[entry.op]
        self.controller.apply_op(entry.op, dict(entry.params or {}),
                                 title=entry.text or spec.title)

    def repeat_last_filter(self) -> None:
        """Ctrl+F: run the last committed filter again with its last parameters."""
        if self.last_filter is None or self.controller.document is None:
            return
        op, params = self.last_filter
        self.controller.apply_op(op, dict(params))

    def _request_finished(self, req) -> None:
        if req.outcome == "committed" and req.op in self.filter_ops and not req.steps:
            self.last_filter = (req.op, dict(req.params or {}))
            self._update_repeat()

    def _update_repeat(self) -> None:
        last = self.last_filter
        spec = self.specs.get(last[0]) if last else None
        self.repeat_action.setText(f"Repeat {spec.title}" if spec else "Repeat Last Filter")
        self.repeat_action.setEnabled(spec is not None and self._has_document)
