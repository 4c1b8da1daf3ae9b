"""Canvas tools: the tool bar's marquees, lassos, brushes and crop frame.

Each module of this package registers its tools at import with
:func:`register_tool`; :func:`load_tools` imports every module of the package
(so a new tool module needs no list to edit), and the tool bar
(:mod:`editor.ui.canvas_tools.manager`) is built from :func:`tool_classes`.
The interface a tool implements is :class:`~editor.ui.canvas_tools.base.CanvasTool`.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil

from editor.ui.canvas_tools.base import CanvasTool, PanTool

log = logging.getLogger(__name__)

#: modules of this package that hold no tools
_NOT_TOOLS = {"base", "icons", "manager"}
_TOOLS: dict[str, type[CanvasTool]] = {}


def register_tool(cls: type[CanvasTool]) -> type[CanvasTool]:
    """Add a tool class to the tool bar (usable as a class decorator).

    A later class with the same ``name`` replaces the earlier one (a module
    reloaded, a placeholder superseded).
    """
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _TOOLS[cls.name] = cls
    return cls


def unregister_tool(name: str) -> None:
    _TOOLS.pop(name, None)


def tool_classes() -> list[type[CanvasTool]]:
    """Registered tool classes in tool bar order."""
    return sorted(_TOOLS.values(), key=lambda c: (c.order, c.name))


def load_tools() -> list[type[CanvasTool]]:
    """Import every tool module of this package once; return :func:`tool_classes`.

    A module that fails to import is logged and skipped: one broken tool must
    not take the tool bar down.
    """
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_TOOLS or info.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"{__name__}.{info.name}")
        except Exception:  # noqa: BLE001
            log.exception("canvas tool module %s failed to load", info.name)
    return tool_classes()


register_tool(PanTool)

__all__ = ["CanvasTool", "PanTool", "load_tools", "register_tool", "tool_classes",
           "unregister_tool"]
