"""Operation forms: the generic one built from an op's parameter specs, and overrides.

A form is a ``QWidget`` with this protocol (see :class:`OpForm`):

- ``paramsChanged(dict)``: emitted, throttled, while the user adjusts (live preview);
- ``paramsCommitted(dict)``: emitted when an adjustment is finished (slider released);
- ``params() -> dict``, ``set_params(dict)``, ``reset()``;
- ``set_image(ndarray | None)``: the current document image, for forms that show it
  (a spectrum, a kernel's effect).

An op whose form needs more than sliders and combo boxes (a kernel grid, a spectrum
painter, a matrix) registers an override with :func:`register_form`; every module in
this package is imported by :func:`form_for`, so an override only has to exist.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

_OVERRIDES: dict[str, Callable] = {}


def register_form(op_name: str) -> Callable:
    """Class decorator: use this form class for ``op_name`` instead of the generic one."""

    def decorate(cls):
        _OVERRIDES[op_name] = cls
        return cls

    return decorate


def _import_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


def form_class_for(op_name: str):
    """The form class for an op: its override if any, else the generic ``ParamForm``."""
    _import_all()
    if op_name in _OVERRIDES:
        return _OVERRIDES[op_name]
    from editor.ui.forms.param_form import ParamForm

    return ParamForm
