"""The main window: canvas, docks (histogram, tools, history), menus, status bar."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QToolButton,
    QUndoView,
    QVBoxLayout,
    QWidget,
)

from editor.ui.canvas import Canvas
from editor.ui.canvas_tools.manager import install_canvas_tools
from editor.ui.controller import Controller
from editor.ui.histogram_panel import HistogramPanel
from editor.ui.input_rules import install_document_undo_keys
from editor.ui.menus import NOT_COMMANDS, OpMenus, key_text
from editor.ui.message_bar import install_message_bar
from editor.ui.overlay import install_overlay
from editor.ui.richtext import count
from editor.ui.selection_ui import install_selection
from editor.ui.tools_dock import ToolsPanel

log = logging.getLogger(__name__)

#: modules that may add docks: each one's ``install(main_window)`` is called at start-up
PANEL_MODULES = ("editor.ui.ai_panels", "editor.ui.teach", "editor.ui.batch_dialog",
                 "editor.ui.models_dialog")
RESOURCES = Path(__file__).resolve().parents[2] / "resources"
SAMPLE_PHOTO = RESOURCES / "sample-coffee.png"
MAX_RECENT = 10
#: windows opened with File ▸ New Window (kept alive here until they close)
WINDOWS: list = []


class WelcomeWidget(QWidget):
    """Shown when no image is open: Open, the sample photo, recent files."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__()
        self.window_ = window
        outer = QVBoxLayout(self)
        outer.addStretch(2)
        box = QWidget()
        box.setMaximumWidth(520)
        col = QVBoxLayout(box)
        title = QLabel("Convolve")
        title.setStyleSheet("font-size: 34px; font-weight: 300; color: #e6e6e6;")
        sub = QLabel("From classical filters to convolutional networks. "
                     "Open a photo, or drop one here.")
        sub.setWordWrap(True)
        sub.setStyleSheet("color: #9a9a9a; font-size: 14px;")
        col.addWidget(title)
        col.addWidget(sub)
        col.addSpacing(14)
        row = QHBoxLayout()
        self.open_button = QPushButton("Open Image…")
        self.open_button.setObjectName("primaryButton")
        self.open_button.clicked.connect(window.open_dialog)
        self.sample_button = QPushButton("Try the Sample Photo")
        self.sample_button.clicked.connect(window.open_sample)
        self.sample_button.setEnabled(SAMPLE_PHOTO.exists())
        for b in (self.open_button, self.sample_button):
            b.setMinimumHeight(34)
            row.addWidget(b)
        row.addStretch(1)
        col.addLayout(row)
        col.addSpacing(16)
        self.recent_label = QLabel("Recent")
        self.recent_label.setStyleSheet("color: #8a8a8a; font-weight: 600;")
        col.addWidget(self.recent_label)
        self.recent = QListWidget()
        self.recent.setMaximumHeight(170)
        def open_item(item) -> None:
            window.open_path(item.data(Qt.ItemDataRole.UserRole))

        self.recent.itemActivated.connect(open_item)
        self.recent.itemClicked.connect(open_item)
        col.addWidget(self.recent)
        hint = QLabel("Ctrl+O open · Ctrl+Z undo · Ctrl+0 fit · Ctrl+1 100 % · "
                      "hold \\ to see the original")
        hint.setStyleSheet("color: #6f6f6f; font-size: 11px;")
        col.addWidget(hint)
        h = QHBoxLayout()
        h.addStretch(1)
        h.addWidget(box, 3)
        h.addStretch(1)
        outer.addLayout(h)
        outer.addStretch(3)

    def set_recent(self, paths: list[str]) -> None:
        self.recent.clear()
        for p in paths:
            self.recent.addItem(Path(p).name + "   —   " + str(Path(p).parent))
            self.recent.item(self.recent.count() - 1).setData(Qt.ItemDataRole.UserRole, p)
        self.recent.setVisible(bool(paths))
        self.recent_label.setVisible(bool(paths))


class MainWindow(QMainWindow):
    """Convolve's main window. ``controller`` is the API other panels use."""

    def __init__(self, settings: QSettings | None = None, controller: Controller | None = None,
                 load_registry: bool = True, install_panels: bool = True) -> None:
        super().__init__()
        self.setWindowTitle("Convolve")
        self.setObjectName("ConvolveMainWindow")
        self.settings = settings or QSettings("Convolve", "Convolve")
        self.controller = controller or Controller(self)
        self.last_error = ""
        self.panels: dict[str, QDockWidget] = {}
        self.registry_loaded = False
        self._confirm = None  # tests replace the unsaved-changes prompt
        self.canvas = Canvas()
        self.controller.view_provider = self.canvas.view_request
        self.welcome = WelcomeWidget(self)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.canvas)
        self.setCentralWidget(self.stack)
        self.message_bar = install_message_bar(self)
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks
                            | QMainWindow.DockOption.AllowTabbedDocks)
        self._build_docks()
        self._build_status_bar()
        self._build_menus()
        install_document_undo_keys()  # Ctrl+Z in a spin box undoes the document step
        self._connect()
        self.overlay = install_overlay(self)  # detector overlays: bar, View actions
        # tool bar, tool options bar and tool keys (before restoreState: it places them)
        self.selection_ui = install_selection(self)  # Select menu, marching ants
        self.canvas_tools = install_canvas_tools(self)
        self._restore_settings()
        self._update_actions()
        if install_panels:
            self._install_panels()
        if load_registry:
            QTimer.singleShot(0, self.load_registry)

    # -- construction ---------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area, name: str) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    def _build_docks(self) -> None:
        right = Qt.DockWidgetArea.RightDockWidgetArea
        self.histogram = HistogramPanel(settings=self.settings)
        self.histogram_dock = self._dock("Histogram", self.histogram, right, "histogramDock")
        self.tools = ToolsPanel(self.controller)
        self.tools.attach_canvas(self.canvas)  # eyedroppers and pickers read canvas clicks
        self.tools_dock = self._dock("Tools", self.tools, right, "toolsDock")
        self.history_view = QUndoView(self.controller.undo_stack)
        self.history_view.setEmptyLabel("Original")
        self.history_dock = self._dock("History", self.history_view,
                                       Qt.DockWidgetArea.LeftDockWidgetArea, "historyDock")
        self.resizeDocks([self.histogram_dock, self.tools_dock],
                         [self.histogram.sizeHint().height(), 600],
                         Qt.Orientation.Vertical)
        self.resizeDocks([self.histogram_dock, self.history_dock], [340, 190],
                         Qt.Orientation.Horizontal)

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.pixel_label = QLabel("")
        self.pixel_label.setMinimumWidth(260)
        self.zoom_label = QLabel("")
        self.zoom_label.setMinimumWidth(60)
        self.device_label = QLabel(self.controller.device_label)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFixedWidth(180)
        self.progress.setTextVisible(False)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Cancel the running job (Esc)")
        self.cancel_button.clicked.connect(self.controller.cancel_jobs)
        self.progress_label = QLabel("")
        for w in (self.progress_label, self.progress, self.cancel_button):
            w.setVisible(False)
        for w in (self.progress_label, self.progress, self.cancel_button, self.pixel_label,
                  self.zoom_label, self.device_label):
            sb.addPermanentWidget(w)

    def _action(self, menu, text: str, slot, shortcut=None, checkable=False) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            if isinstance(shortcut, (list, tuple)):
                a.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                a.setShortcut(QKeySequence(shortcut))
        a.setCheckable(checkable)
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    def _build_menus(self) -> None:
        """File, Edit, View, the op menus (Image, Filters, Analysis), Window, Help."""
        self._build_file_menu()
        self._build_edit_menu()
        self._build_view_menu()
        # filled from the registry once it has loaded (see load_registry)
        self.op_menus = OpMenus(self)
        mb = self.menuBar()
        self.window_menu = mb.addMenu("&Window")
        for dock in (self.histogram_dock, self.tools_dock, self.history_dock):
            self.window_menu.addAction(dock.toggleViewAction())
        h = mb.addMenu("&Help")
        self.shortcuts_action = self._action(h, "&Keyboard Shortcuts", self.show_shortcuts,
                                             "Ctrl+/")
        h.addSeparator()
        self._action(h, "&About Convolve", self.about)
        self._shortcut_tooltips()

    def _build_file_menu(self) -> None:
        f = self.menuBar().addMenu("&File")
        self.file_menu = f
        self.open_action = self._action(f, "&Open…", self.open_dialog,
                                        QKeySequence.StandardKey.Open)
        self.recent_menu = f.addMenu("Open &Recent")
        self.recent_menu.setProperty(NOT_COMMANDS, True)  # file names, not commands
        self._action(f, "Open &Sample Photo", self.open_sample)
        self._action(f, "New &Window", self.new_window, QKeySequence.StandardKey.New)
        f.addSeparator()
        self.save_action = self._action(f, "&Save", self.save, QKeySequence.StandardKey.Save)
        self.save_as_action = self._action(f, "Save &As…", self.save_as_dialog,
                                           QKeySequence.StandardKey.SaveAs)
        f.addSeparator()
        self.export_action = self._action(f, "&Export As…", self.export_dialog, "Ctrl+Shift+E")
        self.save_recipe_action = self._action(f, "Save Re&cipe…", self.save_recipe_dialog)
        self.apply_recipe_action = self._action(f, "&Apply Recipe…", self.apply_recipe_dialog)
        f.addSeparator()
        self.revert_action = self._action(f, "Re&vert", self.revert)
        self.close_action = self._action(f, "&Close Image", self.close_image, "Ctrl+W")
        f.addSeparator()
        self._action(f, "&Quit", self.close, QKeySequence.StandardKey.Quit)

    def _build_edit_menu(self) -> None:
        e = self.menuBar().addMenu("&Edit")
        self.undo_action = self.controller.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence("Ctrl+Z"))
        self.redo_action = self.controller.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        e.addAction(self.undo_action)
        e.addAction(self.redo_action)
        e.addSeparator()
        self.apply_action = self._action(e, "Apply &Tool", self.tools.apply, "Ctrl+Return")
        self.cancel_action = self._action(e, "&Cancel Job", self.controller.cancel_jobs, "Esc")

    def _build_view_menu(self) -> None:
        v = self.menuBar().addMenu("&View")
        self.view_menu = v
        self.zoom_in_action = self._action(v, "Zoom &In", self.canvas.zoom_in,
                                           ["Ctrl++", "Ctrl+="])
        self.zoom_out_action = self._action(v, "Zoom &Out", self.canvas.zoom_out, "Ctrl+-")
        self.fit_action = self._action(v, "&Fit in Window", self.canvas.fit, "Ctrl+0")
        self.actual_action = self._action(v, "&Actual Size (100 %)", self.canvas.actual_size,
                                          "Ctrl+1")
        v.addSeparator()
        self.split_action = self._action(v, "&Before/After Split", self.set_split, "Ctrl+B",
                                         checkable=True)
        hint = QAction("Hold \\ to Show the Original", self)
        hint.setEnabled(False)
        v.addAction(hint)
        self.log_action = self._action(v, "&Logarithmic Histogram", self.histogram.set_log,
                                       checkable=True)
        self.log_action.setChecked(self.histogram.log_box.isChecked())
        self.histogram.log_box.toggled.connect(self.log_action.setChecked)

    def _shortcut_tooltips(self) -> None:
        """Shortcuts in tool tips, read from the actions (so they cannot drift)."""
        self.tools.apply_button.setToolTip(
            f"Apply at full resolution ({key_text(self.apply_action)})")
        self.cancel_button.setToolTip(f"Cancel the running job ({key_text(self.cancel_action)})")
        self.tools.set_shortcuts(self.op_menus.tool_shortcuts())

    def _connect(self) -> None:
        c = self.controller
        c.documentChanged.connect(self._document_changed)
        c.renderedChanged.connect(self.canvas.set_rendered)
        c.originalChanged.connect(self.canvas.set_original)
        c.previewChanged.connect(self.canvas.set_preview)
        c.histogramChanged.connect(self.histogram.set_histogram)
        c.message.connect(self.show_message)
        c.errorOccurred.connect(self._error)
        c.busyChanged.connect(self._busy_changed)
        c.progressChanged.connect(self._progress)
        c.deviceLabelChanged.connect(self.device_label.setText)
        c.dirtyChanged.connect(lambda _d: self._update_title())
        c.extrasChanged.connect(self._extras_changed)
        c.undo_stack.indexChanged.connect(lambda _i: self._update_actions())
        self.canvas.pixelHovered.connect(self._pixel_hovered)
        self.canvas.zoomChanged.connect(lambda z: self.zoom_label.setText(f"{z * 100:.0f} %"))
        self.canvas.viewChanged.connect(c.refresh_preview)

    # -- panels from other modules ---------------------------------------------------
    def add_panel(self, title: str, widget: QWidget,
                  area=Qt.DockWidgetArea.RightDockWidgetArea) -> QDockWidget:
        """Add a dock (listed in the Window menu); its layout is remembered."""
        dock = self._dock(title, widget, area, "panel_" + "".join(
            ch if ch.isalnum() else "_" for ch in title))
        self.panels[title] = dock
        self.window_menu.addAction(dock.toggleViewAction())
        if area == Qt.DockWidgetArea.RightDockWidgetArea:
            # a tab beside Tools keeps the right column readable
            self.tabifyDockWidget(self.tools_dock, dock)
            self.tools_dock.raise_()
        if self.settings.value("windowState") is not None:
            self.restoreDockWidget(dock)
        return dock

    def _install_panels(self) -> None:
        for name in PANEL_MODULES:
            try:
                module = importlib.import_module(name)
            except ImportError as e:
                if getattr(e, "name", None) not in (name, name.rsplit(".", 1)[0]):
                    log.warning("panel module %s failed to import: %s", name, e)
                continue
            except Exception:  # noqa: BLE001
                log.exception("panel module %s failed to import", name)
                continue
            try:
                module.install(self)
            except Exception:  # noqa: BLE001  (a broken panel must not stop the editor)
                log.exception("panel module %s failed to install", name)

    def load_registry(self, sync: bool = False) -> None:
        """Import the ops (off the GUI thread unless ``sync``) and fill the tools dock."""

        def load(_ctx=None):
            from editor.ops import IMPORT_ERRORS, all_ops, categories

            return all_ops(), categories(), dict(IMPORT_ERRORS)

        def done(result):
            specs, cats, errors = result
            self.tools.populate(specs, cats)
            self.op_menus.populate(specs, cats)
            self._shortcut_tooltips()
            self.registry_loaded = True
            if errors:
                log.warning("op modules failed to import: %s", errors)
                self.show_message(f"{count(len(errors), 'tool module')} failed to load; "
                                  f"see {len(specs)} others.")

        if sync:
            done(load())
            return
        # its own thread: the shared lanes may be busy (a panel warming up a model)
        from editor.workers.lanes import Job

        def warm(_ctx=None):
            # then the histograms' compiled counters: loading Numba and their cached
            # code takes ~0.7 s, mostly holding the GIL (OpenCV counts until then)
            from editor.core.kernels import warm_up_counters

            warm_up_counters()

        lane = self.controller.make_lane("registry")
        lane.submit(Job(load, "Loading tools", on_done=done,
                        on_error=lambda msg: self._error(f"Tools failed to load: {msg}")))
        lane.submit(Job(warm, "Loading tools", on_done=lambda _: lane.stop(),
                        on_error=lambda _msg: lane.stop()))
        self._registry_lane = lane

    def open_tool(self, name: str) -> QWidget | None:
        """Show op ``name``'s form in the Tools dock, as choosing it there does.

        The menus and their shortcuts use this. The keyboard focus stays where it
        was (a field given the focus would commit when it loses it). Returns the
        form (``None`` if the op is not listed).
        """
        self.tools_dock.show()
        self.tools_dock.raise_()
        return self.tools.select_op(name)

    def show_shortcuts(self) -> None:
        """Help ▸ Keyboard Shortcuts (built from the window's actions each time)."""
        from editor.ui.shortcuts_dialog import ShortcutsDialog

        dialog = getattr(self, "shortcuts_dialog", None)
        if dialog is None:
            dialog = self.shortcuts_dialog = ShortcutsDialog(self)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()

    # -- files ----------------------------------------------------------------------------
    def open_dialog(self) -> None:
        from editor.io.formats import open_filter

        start = self.settings.value("lastDir", str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(self, "Open Image", start, open_filter())
        if path:
            self.open_path(path)

    def open_path(self, path: str) -> None:
        """Open ``path`` (asks first if there are unsaved edits)."""
        if not self.maybe_discard("open another image"):
            return
        self.controller.open_path(str(path), on_done=lambda: self._opened(str(path)))

    def open_sample(self) -> None:
        if SAMPLE_PHOTO.exists():
            self.open_path(str(SAMPLE_PHOTO))

    def _opened(self, path: str) -> None:
        self.add_recent(path)
        self.settings.setValue("lastDir", str(Path(path).parent))

    def add_recent(self, path: str) -> None:
        recent = [p for p in self.recent_files() if p != path]
        recent.insert(0, path)
        self.settings.setValue("recentFiles", recent[:MAX_RECENT])
        self._refresh_recent()

    def recent_files(self) -> list[str]:
        value = self.settings.value("recentFiles", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        paths = [p for p in self.recent_files() if Path(p).exists()]
        for p in paths:
            a = self.recent_menu.addAction(Path(p).name)
            a.setToolTip(p)
            a.triggered.connect(lambda _=False, p=p: self.open_path(p))
        if not paths:
            a = self.recent_menu.addAction("No recent files")
            a.setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear List", self._clear_recent)
        self.welcome.set_recent(paths)

    def _clear_recent(self) -> None:
        self.settings.setValue("recentFiles", [])
        self._refresh_recent()

    def export_dialog(self) -> None:
        doc = self.controller.document
        if doc is None:
            return
        from editor.ui.export_dialog import ExportDialog

        stem = Path(doc.path).stem if doc.path else "untitled"
        start = str(Path(self.settings.value("exportDir", doc.directory)) / f"{stem}-edit.jpg")
        img = doc.image
        dlg = ExportDialog(start, {"alpha": img.ndim == 3 and img.shape[2] == 4,
                                   "bits16": img.dtype == np.uint16}, self,
                           export=self.controller.export)  # open until written or cancelled
        if dlg.exec() and dlg.path():
            self.settings.setValue("exportDir", str(Path(dlg.path()).parent))

    # -- projects: the work with its history ------------------------------------------------
    def save(self, wait: bool = False) -> bool:
        """Save to the project the image came from, else ask where (Save As)."""
        doc = self.controller.document
        if doc is None:
            return False
        if doc.project_path:
            return self.save_project(doc.project_path, wait)
        return self.save_as_dialog(wait)

    def save_as_dialog(self, wait: bool = False) -> bool:
        """Ask for a ``.convolve`` file and save the image with its whole history."""
        doc = self.controller.document
        if doc is None:
            return False
        stem = Path(doc.project_path or doc.path or "untitled").stem
        path, _ = QFileDialog.getSaveFileName(self, "Save Project",
                                              str(Path(doc.directory) / f"{stem}.convolve"),
                                              "Convolve projects (*.convolve)")
        return bool(path) and self.save_project(path, wait)

    def save_project(self, path: str, wait: bool = False) -> bool:
        """Save as a project; with ``wait``, return once written (True) or failed (False)."""
        from PySide6.QtCore import QEventLoop

        loop, ok = QEventLoop(), []

        def done(written: str) -> None:
            self.add_recent(written)
            ok.append(True)
            loop.quit()

        def failed(msg: str) -> None:
            QMessageBox.warning(self, "Not saved", msg)
            loop.quit()

        job = self.controller.save_project(path, on_done=done, on_error=failed)
        if job is None:
            return False
        if wait:
            job.on_cancelled = loop.quit
            loop.exec()  # the save runs on a worker; the window keeps painting
            return bool(ok)
        return True

    def save_recipe_dialog(self) -> None:
        doc = self.controller.document
        if doc is None:
            return
        stem = Path(doc.path).stem if doc.path else "untitled"
        path, _ = QFileDialog.getSaveFileName(self, "Save Recipe",
                                              str(Path(doc.directory) / f"{stem}.recipe.json"),
                                              "Recipes (*.json)")
        if path:
            self.save_recipe(path)

    def save_recipe(self, path: str) -> None:
        doc = self.controller.document
        try:
            self.controller.save_recipe(path)
        except OSError as e:
            self._error(f"Could not write {Path(path).name}: {e.strerror or e}.")
            return
        except ValueError as e:
            self._error(str(e))
            return
        note = "" if doc.replayable() else \
            " Some steps (painted or AI edits without an op) are not in it."
        self.show_message(f"Saved recipe with {count(len(doc.recipe_steps()), 'step')} to "
                          f"{Path(path).name}.{note}")

    def apply_recipe_dialog(self) -> None:
        if self.controller.document is None:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Apply Recipe", "", "Recipes (*.json)")
        if not path:
            return
        try:
            from editor.core.recipe import Recipe

            recipe = Recipe.load(path)
        except Exception as e:  # noqa: BLE001  (bad file: one sentence)
            self._error(f"Could not read the recipe {Path(path).name}: {e}")
            return
        self.controller.apply_recipe(recipe, f"Recipe {Path(path).stem}")

    def revert(self) -> None:
        doc = self.controller.document
        if doc is None or not doc.path:
            return
        if not self.maybe_discard("revert to the saved file"):
            return
        self.controller.open_path(doc.path)

    def close_image(self) -> None:
        if self.controller.document is not None and self.maybe_discard("close the image"):
            self.controller.close_document()

    def maybe_discard(self, doing: str) -> bool:
        """True if there are no unsaved edits, or once the user has saved, exported or
        chosen to discard them; False on Cancel (or a save that failed)."""
        doc = self.controller.document
        if doc is None or not doc.dirty:
            return True
        if self._confirm is not None:
            return bool(self._confirm(doing))
        box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved edits",
                          f"{doc.name} has unsaved edits.",
                          QMessageBox.StandardButton.Cancel, self)
        box.setInformativeText(f"Save them as a project (with their history), export the "
                               f"image, or discard them to {doing}.")
        save = box.addButton("Save", QMessageBox.ButtonRole.AcceptRole)
        export = box.addButton("Export…", QMessageBox.ButtonRole.ActionRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(save)
        box.exec()
        if box.clickedButton() is discard:
            return True
        if box.clickedButton() is save:
            return self.save(wait=True) and not doc.dirty
        if box.clickedButton() is export:
            self.export_dialog()
            return not doc.dirty
        return False

    # -- recovery --------------------------------------------------------------------------
    def offer_recovery(self, answer=None, into_self: bool | None = None) -> int:
        """Offer every session a crash or kill left behind; return how many were restored.

        Each session is offered (two windows that crashed together leave two).
        The first restored one opens here when this window has no image (and
        ``into_self`` is not False), the others in windows of their own.
        ``answer(sessions) -> sessions to restore`` replaces the dialog (tests);
        sessions not chosen are discarded. In the dialog, unchecked sessions are
        kept for the next start, and Discard All deletes them.
        """
        from editor.core.recovery import pending_recoveries

        found = [r for r in pending_recoveries(self.controller.journal.root) if r.claim()]
        if not found:
            return 0
        if answer is None:
            from editor.ui.recovery_dialog import RecoveryDialog

            chosen, discard = RecoveryDialog(found, self).ask()
        else:
            chosen = list(answer(found))
            discard = [r for r in found if r not in chosen]
        for rec in found:
            if rec in discard:
                rec.discard()
            elif rec not in chosen:
                rec.release()  # offered again at the next start
        if into_self is None:
            into_self = self.controller.document is None
        for rec in chosen:
            target = self if into_self else self.new_window()
            into_self = False
            target.controller.restore(rec)
            target.raise_()
        return len(chosen)

    def new_window(self) -> MainWindow:
        """Another editing window in this process (File ▸ New Window)."""
        window = MainWindow(settings=self.settings)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        WINDOWS.append(window)
        window.destroyed.connect(lambda *_: WINDOWS.remove(window) if window in WINDOWS
                                 else None)
        window.show()
        return window

    # -- view ------------------------------------------------------------------------------
    def set_split(self, on: bool) -> None:
        self.canvas.split = bool(on)
        if self.split_action.isChecked() != bool(on):
            self.split_action.setChecked(bool(on))
        self.canvas.update()

    def show_message(self, text: str, timeout_ms: int = 8000) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    def _error(self, text: str) -> None:
        self.last_error = text
        self.show_message(text, 15000)
        self.message_bar.show_error(text)  # the status bar alone is easy to miss

    def about(self) -> None:
        from editor import __version__

        QMessageBox.about(self, "About Convolve",
                          f"<b>Convolve {__version__}</b><br>An image editor from classical "
                          "filters to convolutional networks.<br>Sample photo: scikit-image "
                          "data (CC0).")

    # -- signal handlers ---------------------------------------------------------------------
    def _document_changed(self) -> None:
        has = self.controller.document is not None
        self.stack.setCurrentWidget(self.canvas if has else self.welcome)
        if has:
            self.canvas.setFocus()
        else:
            self.canvas.set_rendered(None)
            self.canvas.set_original(None)
            self.canvas.set_preview(None)
            self.pixel_label.setText("")
        self._update_actions()
        self._update_title()

    def _update_title(self) -> None:
        doc = self.controller.document
        if doc is None:
            self.setWindowTitle("Convolve")
        else:
            self.setWindowTitle(f"{doc.name}[*] — Convolve")
        self.setWindowModified(bool(doc and doc.dirty))

    def _update_actions(self) -> None:
        has = self.controller.document is not None
        for a in (self.export_action, self.save_action, self.save_as_action,
                  self.save_recipe_action, self.apply_recipe_action,
                  self.close_action, self.zoom_in_action, self.zoom_out_action,
                  self.fit_action, self.actual_action, self.split_action):
            a.setEnabled(has)
        self.op_menus.set_document(has)
        self.revert_action.setEnabled(bool(has and self.controller.document.path))

    def _busy_changed(self, busy: bool, title: str) -> None:
        for w in (self.progress_label, self.progress, self.cancel_button):
            w.setVisible(busy)
        self.progress_label.setText(title)
        if not busy:
            self.progress.setValue(0)

    def _progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(int(fraction * 1000))
        if text:
            self.progress_label.setText(text)

    def _pixel_hovered(self, x: int, y: int) -> None:
        if x < 0:
            self.pixel_label.setText("")
            return
        value = self.controller.pixel_at(x, y)
        if value is None:
            self.pixel_label.setText("")
            return
        names = {1: "L", 3: "RGB", 4: "RGBA"}.get(len(value), "")
        self.pixel_label.setText(f"x {x}  y {y}   {names} "
                                 + " ".join(str(v) for v in value))

    def _extras_changed(self, extras: dict) -> None:
        self.overlay.set_extras(extras)  # the current state's overlay, if its op made one

    # -- drag and drop -----------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        files = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open_path(files[0])

    # -- settings and closing ---------------------------------------------------------------------
    def _restore_settings(self) -> None:
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(QSize(1440, 900))
        state = self.settings.value("windowState")
        if state is not None:
            self.restoreState(state)
        split = self.settings.value("splitView", False, type=bool)
        self.set_split(split)
        self._refresh_recent()

    def save_settings(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("windowState", self.saveState())
        self.settings.setValue("splitView", self.canvas.split)
        self.settings.sync()

    def closeEvent(self, event) -> None:  # noqa: N802
        if not self.maybe_discard("quit"):
            event.ignore()
            return
        self.save_settings()
        self.controller.shutdown()
        event.accept()

