"""QThread processing lanes (QtCore only): preview, apply and AI."""

from editor.workers import qtfix  # noqa: F401  (PySide6 6.12 refcount workaround, first)
