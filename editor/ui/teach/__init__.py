"""The Classifier window (Teachable-Machine style) and its entry in the editor's menus.

:func:`install` is called by the main window at start-up; it adds a
"Classifier" menu whose action opens :class:`~editor.ui.teach.window.ClassifierWindow`.
Nothing here imports torch: the window's jobs do, when they run.
"""

from __future__ import annotations


def install(main_window) -> None:
    """Add Classifier ▸ Open Classifier… (Ctrl+Shift+K) to the main window's menu bar."""
    from PySide6.QtGui import QAction, QKeySequence

    menu_bar = main_window.menuBar()
    before = next((a for a in menu_bar.actions() if a.text().replace("&", "") == "Help"), None)
    menu = menu_bar.addMenu("&Classifier") if before is None else None
    if menu is None:
        from PySide6.QtWidgets import QMenu

        menu = QMenu("&Classifier", menu_bar)
        menu_bar.insertMenu(before, menu)
    action = QAction("Open &Classifier…", main_window)
    action.setShortcut(QKeySequence("Ctrl+Shift+K"))
    action.setStatusTip("Teach a classifier from camera frames or photos, then use it")
    action.triggered.connect(lambda: open_classifier(main_window))
    menu.addAction(action)
    main_window.classifier_action = action


def open_classifier(main_window=None, project=None):
    """Show the Classifier window (one per main window), creating it on first use."""
    from editor.ui.teach.window import ClassifierWindow

    win = getattr(main_window, "classifier_window", None) if main_window is not None else None
    if win is None:
        win = ClassifierWindow(main_window, project)
        if main_window is not None:
            main_window.classifier_window = win
    win.show()
    win.raise_()
    win.activateWindow()
    return win
