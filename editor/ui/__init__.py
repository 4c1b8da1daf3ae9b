"""PySide6 widgets: main window, canvas, histogram panel, docks, dialogs."""
