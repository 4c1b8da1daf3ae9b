"""A message bar across the top of the canvas: errors a user cannot miss, without a modal box.

The status bar shows a sentence for a few seconds at the bottom edge, where a
failed export or a refused edit goes unseen. :class:`MessageBar` (KDE's
KMessageWidget, the information bars of browsers) lays the sentence over the top
of the central area until the user closes it (×) or a newer message
replaces it; the same sentence again adds a count instead of a second bar. It
never takes the keyboard focus and never blocks the window.

``install_message_bar(window)`` puts one on a main window's central widget and
returns it; the window calls :meth:`MessageBar.show_error` with each error sentence.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QStackedWidget,
    QToolButton,
    QWidget,
)

#: (background, left edge, text) colours by kind, for the dark theme
COLORS = {"error": ("#4a2226", "#e5534b", "#f4d6d4"),
          "warning": ("#4a3c1c", "#d29922", "#f2e3c0"),
          "info": ("#1f3550", "#4493f8", "#d6e6fa")}


class MessageBar(QFrame):
    """One dismissable sentence over the top edge of ``host`` (see the module doc)."""

    def __init__(self, host: QWidget) -> None:
        super().__init__(host)
        self.setObjectName("messageBar")
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.kind = "error"
        self.repeats = 0
        self._text = ""
        self.label = QLabel()
        self.label.setObjectName("messageBarText")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.close_button = QToolButton()
        self.close_button.setObjectName("messageBarClose")
        self.close_button.setText("×")
        self.close_button.setToolTip("Dismiss")
        self.close_button.setAutoRaise(True)
        self.close_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.close_button.clicked.connect(self.dismiss)
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 6, 6, 6)
        row.addWidget(self.label, 1)
        row.addWidget(self.close_button, 0, Qt.AlignmentFlag.AlignTop)
        self._host = host
        host.installEventFilter(self)
        self.hide()

    # -- API -----------------------------------------------------------------------
    def show_error(self, text: str) -> None:
        """Show an error sentence (the same one again counts instead of repeating)."""
        self.show_message(text, "error")

    def show_message(self, text: str, kind: str = "info") -> None:
        text = " ".join(str(text).split())
        if not text:
            return
        if self.isVisible() and text == self._text and kind == self.kind:
            self.repeats += 1
        else:
            self._text, self.kind, self.repeats = text, kind, 1
        self.label.setText(self._text + (f"  (×{self.repeats})" if self.repeats > 1 else ""))
        back, edge, fore = COLORS.get(kind, COLORS["info"])
        self.setStyleSheet(
            f"#messageBar {{ background: {back}; border: 1px solid {edge}; "
            f"border-left: 4px solid {edge}; border-radius: 3px; }}"
            f"#messageBarText {{ color: {fore}; background: transparent; }}"
            f"#messageBarClose {{ color: {fore}; font-size: 15px; padding: 0 4px; }}")
        self.show()
        self.raise_()
        self._place()

    def text(self) -> str:
        """The sentence shown ("" when hidden)."""
        return self._text if self.isVisible() else ""

    def dismiss(self) -> None:
        self.hide()
        self._text, self.repeats = "", 0

    # -- layout ----------------------------------------------------------------------
    def _place(self) -> None:
        host = self._host
        margin = 8
        width = max(120, host.width() - 2 * margin)
        height = self.heightForWidth(width)
        if height <= 0:
            height = self.sizeHint().height()
        self.setGeometry(margin, margin, width, height)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if watched is self._host and event.type() == QEvent.Type.Resize and self.isVisible():
            self._place()
        return False



def install_message_bar(window) -> MessageBar:
    """A :class:`MessageBar` over ``window``'s central widget (returned)."""
    host = window.centralWidget()
    bar = MessageBar(host)
    if isinstance(host, QStackedWidget):  # a page shown later must not cover the bar
        host.currentChanged.connect(lambda _i: bar.isVisible() and bar.raise_())
    return bar
