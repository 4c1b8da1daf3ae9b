"""QThread processing lanes (QtCore only): preview, apply and AI."""
