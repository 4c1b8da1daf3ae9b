"""Undo commands: thin records of state ids over the Qt-free history store."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtGui import QUndoCommand

log = logging.getLogger(__name__)

#: QUndoCommand.id() of commands that may merge (one open adjustment)
MERGE_ID = 4711


class EditCommand(QUndoCommand):
    """Switch the document between two image states.

    Holds only ``before``/``after`` state ids, the recipe step and a title;
    the pixels live in :class:`~editor.core.history.HistoryStore`. Commands
    with the same ``merge_token`` (one adjustment session of a tool) merge, so
    dragging a slider and releasing it any number of times is one undo step.
    """

    def __init__(self, controller: Any, before: int, after: int, title: str,
                 op: str | None = None, params: dict | None = None,
                 merge_token: int | None = None) -> None:
        super().__init__(title)
        self.controller = controller
        self.before = before
        self.after = after
        self.op = op
        self.params = params
        self.merge_token = merge_token

    def id(self) -> int:  # noqa: A003  (Qt's name)
        return MERGE_ID if self.merge_token is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802  (Qt override)
        if (not isinstance(other, EditCommand) or other.merge_token != self.merge_token
                or other.before != self.before):
            return False
        self.after = other.after
        self.op, self.params = other.op, other.params
        self.setText(other.text())
        return True

    # Qt calls these from C++: an exception escaping them would take the process down,
    # so a state that cannot be shown is logged and reported instead
    def redo(self) -> None:
        self._show(self.after)

    def undo(self) -> None:
        self._show(self.before)

    def _show(self, sid: int) -> None:
        try:
            self.controller._show_state(sid)
        except Exception as e:  # noqa: BLE001
            log.exception("cannot show image state %s", sid)
            self.controller.report_error(f"{self.text()} cannot be shown: {e}.")
