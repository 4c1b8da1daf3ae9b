"""Two input rules every editing window follows, whatever widget has the focus.

* **The wheel changes a value only where the user has put the focus.** A
  slider, spin box or combo box under a scrolling mouse is not a request to
  change it: unfocused, the wheel scrolls the panel around it instead (today's
  Tools dock otherwise nudged Translate x to −26 px while the user scrolled
  past it). :func:`guard_wheel` gives such widgets ``Qt.StrongFocus`` (a click
  or Tab focuses them, the wheel does not) and one shared event filter.
* **Ctrl+Z is the document's undo.** A spin box or line edit keeps its own
  text-undo history and claims Ctrl+Z (a *ShortcutOverride*), so after typing a
  value and pressing Enter the document step could not be undone from the
  keyboard. :class:`DocumentUndoKeys`, installed once on the application,
  declines that claim for value editors inside a window that has document undo
  (``undo_action``/``redo_action``), so the window's Undo/Redo shortcut fires.
  A field marked with :data:`KEEP_TEXT_UNDO` (free text such as a search box)
  keeps its own; so does any field while the document has nothing to undo (a
  disabled action takes no shortcut, and the key reaches the field).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDockWidget,
    QLineEdit,
    QScrollBar,
    QWidget,
)

#: dynamic property: a line edit whose Ctrl+Z undoes its own text (search boxes)
KEEP_TEXT_UNDO = "convolveKeepsTextUndo"


def _wheel_target(widget: QWidget) -> bool:
    """Widgets whose value a stray wheel would change (scroll bars are meant to scroll)."""
    return isinstance(widget, (QAbstractSpinBox, QComboBox)) or (
        isinstance(widget, QAbstractSlider) and not isinstance(widget, QScrollBar))


class WheelGuard(QObject):
    """Event filter: an unfocused value widget passes the wheel to the panel around it."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() != QEvent.Type.Wheel or not isinstance(obj, QWidget) \
                or obj.hasFocus():
            return False
        area = _scroll_area_of(obj)
        if area is not None:
            # sent, not propagated: Qt propagates only spontaneous wheel events,
            # and sending works the same for real and synthetic ones
            QApplication.sendEvent(area.viewport(), event)
            event.accept()
        else:
            event.ignore()  # a real wheel event goes on to the parents
        return True


def _scroll_area_of(widget: QWidget) -> QAbstractScrollArea | None:
    w = widget.parentWidget()
    while w is not None:
        if isinstance(w, QAbstractScrollArea):
            return w
        w = w.parentWidget()
    return None


_WHEEL_GUARD: WheelGuard | None = None


def guard_wheel(*widgets: QWidget) -> None:
    """Let the wheel change these widgets only while they have the focus."""
    global _WHEEL_GUARD
    if _WHEEL_GUARD is None:
        _WHEEL_GUARD = WheelGuard()
    for w in widgets:
        if w is None or w.property("convolveWheelGuarded"):
            continue
        w.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        w.installEventFilter(_WHEEL_GUARD)
        w.setProperty("convolveWheelGuarded", True)


def guard_wheel_under(root: QWidget) -> int:
    """Apply :func:`guard_wheel` to every slider, spin box and combo box under ``root``.

    Custom forms (kernel grid, Transform, Fourier, Curves) build their own
    widgets; the Tools dock calls this on each form it opens, so their rule
    needs no code of their own. Returns how many widgets were guarded.
    """
    found = [w for w in root.findChildren(QWidget) if _wheel_target(w)]
    guard_wheel(*found)
    return len(found)


def _value_editor(obj: QObject) -> QWidget | None:
    """The spin box or line edit a key event was sent to, if it is a value editor."""
    if not isinstance(obj, (QAbstractSpinBox, QLineEdit)):
        return None
    if obj.property(KEEP_TEXT_UNDO):
        return None
    parent = obj.parentWidget()
    if isinstance(obj, QLineEdit) and isinstance(parent, QAbstractSpinBox):
        return parent  # a spin box's own line edit
    if isinstance(obj, QLineEdit) and isinstance(parent, QComboBox) \
            and parent.property(KEEP_TEXT_UNDO):
        return None
    return obj


def _document_window(widget: QWidget):
    """The window with document undo that ``widget`` is part of, or ``None``.

    Docks count when floating; a dialog (Export, Keyboard Shortcuts) is a window of
    its own, where Ctrl+Z stays the field's.
    """
    w = widget
    while w is not None:
        if getattr(w, "undo_action", None) is not None \
                and getattr(w, "redo_action", None) is not None:
            return w
        if w.isWindow() and not isinstance(w, QDockWidget):
            return None
        w = w.parentWidget()
    return None


class DocumentUndoKeys(QObject):
    """Application event filter: Undo/Redo keys in a value editor go to the document."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() != QEvent.Type.ShortcutOverride:
            return False
        editor = _value_editor(obj)
        if editor is None:
            return False
        window = _document_window(editor)
        if window is None:
            return False
        pressed = QKeySequence(event.keyCombination())
        for action in (window.undo_action, window.redo_action):
            if action.isEnabled() and any(
                    pressed.matches(s) == QKeySequence.SequenceMatch.ExactMatch
                    for s in action.shortcuts()):
                # declined (not accepted, not delivered): the shortcut map runs the action
                event.ignore()
                return True
        return False


_UNDO_KEYS: DocumentUndoKeys | None = None


def install_document_undo_keys() -> None:
    """Install :class:`DocumentUndoKeys` on the application (once per process)."""
    global _UNDO_KEYS
    app = QApplication.instance()
    if app is None or _UNDO_KEYS is not None:
        return
    _UNDO_KEYS = DocumentUndoKeys(app)
    app.installEventFilter(_UNDO_KEYS)
