"""The canvas tool interface: what a tool of the tool bar receives and draws.

A tool is the thing the left mouse button does on the canvas (a marquee, a
lasso, a brush, a crop frame). The canvas keeps navigation for itself: the
middle button and Space+drag pan, the wheel zooms; everything else the pointer
does over the image is handed to the active tool in **image coordinates**
(floats: ``(0.5, 0.5)`` is the centre of the top-left pixel's square, so a tool
can place shapes between pixels). A tool paints its own overlay (rubber band,
handles, brush outline) after the image, in widget coordinates obtained with
``canvas.to_widget``, so it follows zoom and pan without keeping state about
them.

A tool class is registered with :func:`editor.ui.canvas_tools.register_tool`;
the tool bar is built from the registry, sorted by ``order``. Tools that share
a ``shortcut`` form a group: the key picks the group's first tool, and
pressing it again cycles through the group (M: rectangle, ellipse).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QCursor, QIcon, QPainter
from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from editor.ui.canvas import Canvas


class CanvasTool:
    """Base class of canvas tools (see the module docstring).

    Class attributes describe the tool for the tool bar and the keys:

    * ``name``: unique id (``"rect_select"``), also the tool bar action's object name;
    * ``title``: shown in tool tips and the options bar (``"Rectangle Select"``);
    * ``shortcut``: one key without modifiers (``"M"``); tools sharing it cycle;
    * ``order``: position in the tool bar (lower first; groups of ten by kind);
    * ``icon_text``: one or two characters drawn as the icon when ``icon()`` is not
      overridden;
    * ``cursor``: the pointer over the canvas while the tool is active;
    * ``buttons``: the mouse buttons the tool takes (the middle button always pans).

    Every method has a do-nothing default, so a tool overrides only what it uses.
    ``self.canvas`` and ``self.controller`` are set while the tool is active.
    """

    name: str = ""
    title: str = ""
    shortcut: str = ""
    order: int = 100
    icon_text: str = ""
    cursor: Qt.CursorShape = Qt.CursorShape.CrossCursor
    buttons: tuple[Qt.MouseButton, ...] = (Qt.MouseButton.LeftButton,)
    tooltip: str = ""  # one sentence after the title and key

    def __init__(self) -> None:
        self.canvas: Canvas | None = None
        self.controller: Any = None
        self._options: QWidget | None = None

    # -- life cycle -------------------------------------------------------------------
    def activate(self, canvas: Canvas, controller: Any) -> None:
        """The tool was chosen: remember the canvas and controller (call super)."""
        self.canvas, self.controller = canvas, controller

    def deactivate(self) -> None:
        """Another tool was chosen (or the window closes): drop unfinished work."""
        self.canvas = None

    def reset(self) -> None:
        """Another document was opened or the image closed: drop unfinished work."""

    @property
    def active(self) -> bool:
        return self.canvas is not None

    # -- pointer (image coordinates) ---------------------------------------------------
    def press(self, pos: QPointF, event) -> None:
        """A button of ``buttons`` went down over the canvas at image point ``pos``."""

    def move(self, pos: QPointF, event) -> None:
        """The pointer moved with a button held that ``press`` received."""

    def release(self, pos: QPointF, event) -> None:
        """The button that ``press`` received went up."""

    def hover(self, pos: QPointF, event) -> None:
        """The pointer moved with no button held (brush outlines, rubber bands)."""

    def double_click(self, pos: QPointF, event) -> None:
        """A double click of the left button (after its press and release)."""

    # -- keys -----------------------------------------------------------------------------
    def key_press(self, event) -> bool:
        """A key went down while the canvas had focus; True if the tool used it
        (Enter commits, Esc cancels...)."""
        return False

    def key_release(self, event) -> bool:
        return False

    def claims_key(self, event) -> bool:
        """True if ``event``'s key must reach :meth:`key_press` even though a window
        shortcut uses it (Esc is Cancel Job): claim Esc/Enter only while there is
        unfinished work (an open polygon, a crop frame)."""
        return False

    # -- drawing ------------------------------------------------------------------------
    def paint(self, painter: QPainter, canvas: Canvas) -> None:
        """Draw the tool's overlay after the image, in widget coordinates."""

    def update(self) -> None:
        """Ask the canvas to repaint (the tool's overlay changed)."""
        if self.canvas is not None:
            self.canvas.update()

    # -- tool bar and options bar ----------------------------------------------------------
    def icon(self) -> QIcon:
        """The tool bar icon (default: ``icon_text`` drawn in the palette's text colour)."""
        from editor.ui.canvas_tools.icons import text_icon

        return text_icon(self.icon_text or self.title[:1])

    def create_options(self) -> QWidget | None:
        """Build the options bar widget (called once); None: no options."""
        return None

    def options_widget(self) -> QWidget | None:
        """The widget the options bar shows while this tool is active (built once)."""
        if self._options is None:
            self._options = self.create_options()
        return self._options

    def pointer_cursor(self) -> QCursor | Qt.CursorShape:
        """The cursor now (a tool may change it with the pointer: handles)."""
        return self.cursor


class PanTool(CanvasTool):
    """Pan/Navigate (H): dragging pans, a click picks a pixel for the Tools dock's
    eyedroppers; the canvas does both itself when this tool is active."""

    name = "pan"
    title = "Pan"
    shortcut = "H"
    order = 0
    cursor = Qt.CursorShape.OpenHandCursor
    tooltip = "Drag to pan; click to pick a colour for an open eyedropper."

    def icon(self) -> QIcon:
        from PySide6.QtCore import QLineF

        from editor.ui.canvas_tools.icons import painted_icon

        def draw(p: QPainter, _pen) -> None:  # four arrows: move the view
            c = 16.0
            for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                tip = QPointF(c + 12 * dx, c + 12 * dy)
                p.drawLine(QLineF(QPointF(c, c), tip))
                side = QPointF(-dy, dx) * 4
                back = QPointF(c + 8 * dx, c + 8 * dy)
                p.drawLine(QLineF(tip, back + side))
                p.drawLine(QLineF(tip, back - side))

        return painted_icon(draw)
