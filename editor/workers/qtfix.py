"""Work around a reference-count bug of PySide6 6.12 on Python < 3.12.

``SignalInstance.emit()`` returns ``True`` without taking a reference, so
every emission from Python removes one reference from ``True`` (and some
paths from ``None``). A few hundred thousand progress ticks later CPython
frees the singleton and aborts with "bool_dealloc: deallocating True or False".
Python 3.12 made these singletons immortal (PEP 683); here we do the same by
hand, once, giving them 2**40 extra references so the leak can never reach
zero. Harmless: the singletons are never freed anyway.
"""

from __future__ import annotations

import ctypes
import sys

_done = False


def immortalize_singletons() -> None:
    """Make ``None``, ``True`` and ``False`` effectively immortal on CPython < 3.12."""
    global _done
    if _done or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        _done = True
        return
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40
    _done = True


immortalize_singletons()
