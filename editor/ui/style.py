"""A calm dark theme (Fusion + palette), the look of photo tools people use."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

STYLESHEET = """
QMainWindow::separator { background: #1e1e20; width: 4px; height: 4px; }
QDockWidget { font-weight: 600; }
QDockWidget::title { background: #2b2b2e; padding: 5px 8px; border-bottom: 1px solid #1c1c1e; }
QTreeWidget, QUndoView, QListWidget { background: #242427; border: none; }
QTreeWidget::item, QUndoView::item { padding: 3px 2px; }
QTreeWidget::item:selected, QUndoView::item:selected, QListWidget::item:selected {
    background: #3a6ea5; color: white; }
QLineEdit, QSpinBox, QDoubleSpinBox, QComboBox { padding: 3px 5px; border: 1px solid #3c3c40;
    border-radius: 3px; background: #1f1f22; }
QPushButton { padding: 5px 12px; border: 1px solid #46464b; border-radius: 4px;
    background: #38383c; }
QPushButton:hover { background: #424247; }
QPushButton:pressed { background: #2f2f33; }
QPushButton:disabled { color: #6a6a6a; }
QPushButton#applyButton, QPushButton#primaryButton { background: #3a6ea5; border-color: #4a80b8;
    color: white; font-weight: 600; }
QPushButton#applyButton:disabled, QPushButton#primaryButton:disabled { background: #2e3742;
    border-color: #3a4450; color: #7a8797; }
QPushButton#applyButton:hover, QPushButton#primaryButton:hover { background: #4379b2; }
QSlider::groove:horizontal { height: 4px; background: #4a4a4f; border-radius: 2px; }
QSlider::sub-page:horizontal { background: #5b8fc7; border-radius: 2px; }
QSlider::handle:horizontal { background: #e6e6e6; width: 12px; margin: -5px 0;
    border-radius: 6px; }
QStatusBar { background: #232326; border-top: 1px solid #1a1a1c; }
QStatusBar QLabel { color: #b8b8b8; padding: 0 6px; }
QProgressBar { border: 1px solid #3c3c40; border-radius: 3px; background: #1f1f22;
    text-align: center; max-height: 14px; }
QProgressBar::chunk { background: #3a6ea5; border-radius: 2px; }
QMenu::item:selected { background: #3a6ea5; }
QToolTip { color: #e8e8e8; background: #2d2d30; border: 1px solid #505055; }
"""


def apply_dark_theme(app: QApplication) -> None:
    """Fusion style with a neutral dark palette (images read truest on grey)."""
    app.setStyle("Fusion")
    pal = QPalette()
    base, window, text = QColor(36, 36, 39), QColor(45, 45, 48), QColor(226, 226, 226)
    pal.setColor(QPalette.ColorRole.Window, window)
    pal.setColor(QPalette.ColorRole.WindowText, text)
    pal.setColor(QPalette.ColorRole.Base, base)
    pal.setColor(QPalette.ColorRole.AlternateBase, QColor(42, 42, 45))
    pal.setColor(QPalette.ColorRole.ToolTipBase, QColor(45, 45, 48))
    pal.setColor(QPalette.ColorRole.ToolTipText, text)
    pal.setColor(QPalette.ColorRole.Text, text)
    pal.setColor(QPalette.ColorRole.Button, QColor(56, 56, 60))
    pal.setColor(QPalette.ColorRole.ButtonText, text)
    pal.setColor(QPalette.ColorRole.BrightText, QColor(255, 90, 90))
    pal.setColor(QPalette.ColorRole.Link, QColor(100, 160, 230))
    pal.setColor(QPalette.ColorRole.Highlight, QColor(58, 110, 165))
    pal.setColor(QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
    pal.setColor(QPalette.ColorRole.PlaceholderText, QColor(130, 130, 130))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(110, 110, 110))
    app.setPalette(pal)
    app.setStyleSheet(STYLESHEET)
