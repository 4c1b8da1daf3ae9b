"""Help ▸ Keyboard Shortcuts: a searchable table read from the window's own actions.

The table is generated from the ``QAction`` objects each time it is shown
(every menu, walked recursively, then actions outside menus that have a
shortcut), so a new op, a changed key or a panel's own menu shows up without
a list to keep in step.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from editor.ui.menus import NOT_COMMANDS, key_text, plain_text


@dataclass
class ShortcutRow:
    """One command: where it lives, what it is called, its keys (``""``: none)."""

    menu: str
    command: str
    keys: str
    action: QAction


def collect_actions(window: QMainWindow) -> list[ShortcutRow]:
    """Every command of ``window``'s menus in menu order, then other actions with keys.

    Menus marked :data:`~editor.ui.menus.NOT_COMMANDS` (recent files) are skipped.
    """
    rows: list[ShortcutRow] = []
    seen: set[int] = set()

    def walk(menu: QMenu, path: str) -> None:
        for action in menu.actions():
            if action.isSeparator():
                continue
            sub = action.menu()
            name = plain_text(action)
            if sub is not None:
                if not sub.property(NOT_COMMANDS):
                    walk(sub, f"{path} ▸ {name}")
                continue
            if id(action) in seen or not name:
                continue
            seen.add(id(action))
            rows.append(ShortcutRow(path, name, key_text(action), action))

    for top in window.menuBar().actions():
        if top.menu() is not None:
            walk(top.menu(), plain_text(top))
    # shortcuts not in a menu (a panel's own keys)
    for action in window.findChildren(QAction):
        if id(action) not in seen and action.shortcuts() and plain_text(action):
            seen.add(id(action))
            rows.append(ShortcutRow("Other", plain_text(action), key_text(action), action))
    return rows


class ShortcutsDialog(QDialog):
    """The Keyboard Shortcuts page (see the module docstring)."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window_ = window
        self.setWindowTitle("Keyboard Shortcuts")
        self.resize(640, 560)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search commands or keys (e.g. curves, Ctrl+M)…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._filter)
        self.only_keys = QCheckBox("Only commands with shortcuts")
        self.only_keys.toggled.connect(lambda _on: self._filter(self.search.text()))
        top.addWidget(self.search, 1)
        top.addWidget(self.only_keys)
        layout.addLayout(top)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Command", "Shortcut", "Menu"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.table, 1)
        self.count = QLabel("")
        self.count.setStyleSheet("color: #9a9a9a;")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Close).setIcon(QIcon())
        bottom = QHBoxLayout()
        bottom.addWidget(self.count, 1)
        bottom.addWidget(buttons)
        layout.addLayout(bottom)
        self.rows: list[ShortcutRow] = []
        self.refresh()

    def refresh(self) -> None:
        """Read the window's actions again (menus built since, keys changed)."""
        self.rows = collect_actions(self.window_)
        self.table.setRowCount(len(self.rows))
        for i, row in enumerate(self.rows):
            for j, text in enumerate((row.command, row.keys, row.menu)):
                item = QTableWidgetItem(text)
                if j == 1:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                if not row.action.isEnabled():
                    item.setForeground(self.palette().placeholderText())
                self.table.setItem(i, j, item)
        self._filter(self.search.text())

    def showEvent(self, event) -> None:  # noqa: N802
        self.refresh()
        super().showEvent(event)

    def visible_rows(self) -> list[ShortcutRow]:
        """The rows the search leaves shown (tests use it)."""
        return [r for i, r in enumerate(self.rows) if not self.table.isRowHidden(i)]

    def _filter(self, text: str) -> None:
        words = text.lower().split()
        shown = 0
        for i, row in enumerate(self.rows):
            hay = f"{row.command} {row.keys} {row.menu}".lower()
            ok = all(w in hay for w in words) and bool(row.keys or not self.only_keys.isChecked())
            self.table.setRowHidden(i, not ok)
            shown += ok
        with_keys = sum(1 for r in self.rows if r.keys)
        total = len(self.rows)
        self.count.setText(f"{shown} of {total} command{'' if total == 1 else 's'} shown; "
                           f"{with_keys} with a shortcut.")
