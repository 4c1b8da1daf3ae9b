"""PySide6 widgets: main window, canvas, histogram panel, docks, dialogs."""

# Before any signal is emitted: PySide6 6.12 leaks references to True/None on
# Python < 3.12 and the interpreter aborts after enough emissions (see qtfix).
from editor.workers import qtfix  # noqa: F401
