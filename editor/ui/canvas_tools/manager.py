"""The tool bar (left), the tool options bar (top) and the tool keys.

:class:`ToolManager` makes one instance of every registered tool class, one
checkable tool bar action per tool (tool tip: title, key, one sentence) and
one key action per distinct shortcut (View ▸ Canvas Tools lists them, so the
Keyboard Shortcuts page does too). A key picks the first tool of its group, or
the next one when a tool of the group is already active (M: rectangle ↔
ellipse). A tool with ``toggles = True`` (quick mask) goes back to the previous
tool when its key is pressed again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolBar, QWidget

from editor.ui.canvas_tools import CanvasTool, PanTool, load_tools

if TYPE_CHECKING:
    from editor.ui.main_window import MainWindow


class ToolManager(QObject):
    """Owns the tool instances and which one the canvas hands the pointer to."""

    toolChanged = Signal(str)  # the active tool's name

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.canvas = window.canvas
        self.controller = window.controller
        self.tools: dict[str, CanvasTool] = {cls.name: cls() for cls in load_tools()}
        self.current: CanvasTool | None = None
        self.previous: str = PanTool.name
        self.actions: dict[str, QAction] = {}
        self.key_actions: dict[str, QAction] = {}
        self._build_tool_bar()
        self._build_options_bar()
        self._build_keys()
        self.controller.documentChanged.connect(self._document_changed)
        self.activate(PanTool.name)

    # -- construction ----------------------------------------------------------------
    def groups(self) -> dict[str, list[CanvasTool]]:
        """Tools by shortcut key, in tool bar order."""
        out: dict[str, list[CanvasTool]] = {}
        for tool in self.tools.values():
            if tool.shortcut:
                out.setdefault(tool.shortcut.upper(), []).append(tool)
        return out

    def _build_tool_bar(self) -> None:
        bar = QToolBar("Canvas Tools", self.window)
        bar.setObjectName("canvasToolBar")
        bar.setIconSize(QSize(24, 24))
        bar.setMovable(True)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.group = QActionGroup(self)
        self.group.setExclusive(True)
        last_block = None
        for tool in self.tools.values():
            if last_block is not None and tool.order // 10 != last_block:
                bar.addSeparator()
            last_block = tool.order // 10
            a = QAction(tool.icon(), tool.title, self)
            a.setObjectName(f"tool_{tool.name}")
            a.setCheckable(True)
            key = f" ({tool.shortcut})" if tool.shortcut else ""
            a.setToolTip(f"{tool.title}{key}" + (f" — {tool.tooltip}" if tool.tooltip else ""))
            a.setStatusTip(tool.tooltip or tool.title)
            a.triggered.connect(lambda _=False, n=tool.name: self.activate(n))
            self.group.addAction(a)
            bar.addAction(a)
            self.actions[tool.name] = a
        self.window.addToolBar(Qt.ToolBarArea.LeftToolBarArea, bar)
        self.tool_bar = bar

    def _build_options_bar(self) -> None:
        bar = QToolBar("Tool Options", self.window)
        bar.setObjectName("toolOptionsBar")
        bar.setMovable(False)
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(6, 0, 6, 0)
        row.setSpacing(10)
        self.options_title = QLabel("")
        self.options_title.setStyleSheet("font-weight: 600;")
        row.addWidget(self.options_title)
        self._options_row = row
        self._options_widget: QWidget | None = None
        # one height for every tool's options: switching tools never moves the canvas
        holder.setFixedHeight(30)
        bar.addWidget(holder)
        self.window.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        self.options_bar = bar

    def _build_keys(self) -> None:
        self.keys_menu = None
        view = getattr(self.window, "view_menu", None)
        if view is not None:
            view.addSeparator()
            self.keys_menu = view.addMenu("Canvas &Tools")
        for key, tools in self.groups().items():
            text = " / ".join(t.title for t in tools)
            a = QAction(text, self.window)
            a.setObjectName(f"toolkey_{key}")
            a.setShortcut(QKeySequence(key))
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            a.triggered.connect(lambda _=False, k=key: self.key(k))
            if self.keys_menu is not None:
                self.keys_menu.addAction(a)
            else:
                self.window.addAction(a)
            self.key_actions[key] = a

    # -- switching ---------------------------------------------------------------------
    def tool(self, name: str) -> CanvasTool:
        return self.tools[name]

    def activate(self, name: str) -> CanvasTool:
        """Make tool ``name`` the active one (the previous one is deactivated)."""
        tool = self.tools[name]
        if tool is self.current:
            self.actions[name].setChecked(True)
            return tool
        if self.current is not None:
            self.previous = self.current.name
            self.current.deactivate()
        self.current = tool
        tool.activate(self.canvas, self.controller)
        self.canvas.set_tool(None if isinstance(tool, PanTool) else tool)
        self.actions[name].setChecked(True)
        self._show_options(tool)
        self.toolChanged.emit(name)
        return tool

    def key(self, key: str) -> None:
        """A tool key: the group's first tool, the next one, or back (toggles)."""
        tools = self.groups().get(key.upper(), [])
        if not tools:
            return
        cur = self.current
        if cur in tools:
            if len(tools) == 1:
                if getattr(cur, "toggles", False):
                    self.activate(self.previous if self.previous != cur.name
                                  else PanTool.name)
                return
            self.activate(tools[(tools.index(cur) + 1) % len(tools)].name)
        else:
            self.activate(tools[0].name)

    def _show_options(self, tool: CanvasTool) -> None:
        if self._options_widget is not None:
            self._options_row.removeWidget(self._options_widget)
            self._options_widget.hide()
        w = tool.options_widget()
        self.options_title.setText(tool.title)
        self._options_widget = w
        if w is not None:
            self._options_row.addWidget(w)
            w.show()

    def _document_changed(self) -> None:
        for tool in self.tools.values():
            tool.reset()
        self.canvas.update()

    def dispose(self) -> None:
        """Take the bars and keys away (a manager rebuilt from a changed registry)."""
        if self.current is not None:
            self.current.deactivate()
            self.current = None
        self.canvas.set_tool(None)
        for a in self.key_actions.values():
            a.setShortcut(QKeySequence())
            a.deleteLater()
        if self.keys_menu is not None:
            self.keys_menu.menuAction().setVisible(False)
            self.keys_menu.deleteLater()
        for bar in (self.tool_bar, self.options_bar):
            self.window.removeToolBar(bar)
            bar.deleteLater()
        self.controller.documentChanged.disconnect(self._document_changed)


def install_canvas_tools(window: MainWindow) -> ToolManager:
    """Add the tool bar, the options bar and the tool keys to ``window``."""
    return ToolManager(window)
