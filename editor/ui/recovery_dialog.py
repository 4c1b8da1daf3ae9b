"""The dialog that offers every session a crash left behind."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


class RecoveryDialog(QDialog):
    """A checkable row per crashed session: Restore the checked ones, Discard All, or Not Now."""

    def __init__(self, sessions: list, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Restore unsaved edits?")
        self.sessions = list(sessions)
        self._choice: tuple[list, list] = ([], [])
        layout = QVBoxLayout(self)
        n = len(self.sessions)
        intro = QLabel(f"Convolve stopped while {'an image' if n == 1 else f'{n} images'} "
                       "had unsaved edits. Checked images are restored with their full "
                       "history; unchecked ones are offered again next time.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.list = QListWidget()
        for rec in self.sessions:
            steps = len(rec.plan().history.commands)
            when = time.strftime("%d %b %H:%M", time.localtime(rec.modified))
            item = QListWidgetItem(f"{rec.title} — {steps} step{'s' * (steps != 1)}, "
                                   f"last edit {when}")
            item.setToolTip(rec.source or "an image not saved to a file")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.list.addItem(item)
        layout.addWidget(self.list)
        buttons = QDialogButtonBox()
        self.restore_button = QPushButton("Restore")
        self.restore_button.setDefault(True)
        self.discard_button = QPushButton("Discard All")
        self.later_button = QPushButton("Not Now")
        buttons.addButton(self.restore_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.discard_button, QDialogButtonBox.ButtonRole.DestructiveRole)
        buttons.addButton(self.later_button, QDialogButtonBox.ButtonRole.RejectRole)
        self.restore_button.clicked.connect(self._restore)
        self.discard_button.clicked.connect(self._discard)
        self.later_button.clicked.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(520, 160 + 24 * min(n, 8))

    def checked(self) -> list:
        return [rec for i, rec in enumerate(self.sessions)
                if self.list.item(i).checkState() == Qt.CheckState.Checked]

    def _restore(self) -> None:
        self._choice = (self.checked(), [])
        self.accept()

    def _discard(self) -> None:
        self._choice = ([], list(self.sessions))
        self.accept()

    def ask(self) -> tuple[list, list]:
        """Run the dialog: ``(to restore, to discard)``; the rest are kept for later."""
        self.exec()
        return self._choice
