"""The canvas tool framework (issue 10): tool bar, keys, the pointer handed to a tool.

A recording tool registered for the test receives real mouse events in image
coordinates; navigation (Space+drag, middle button, wheel) stays the canvas's;
with the Pan tool (H) the canvas pans and eyedropper clicks still arrive.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import open_image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from editor.ui.canvas_tools import CanvasTool, register_tool, tool_classes, unregister_tool

pytestmark = pytest.mark.gui
LEFT, MIDDLE = Qt.MouseButton.LeftButton, Qt.MouseButton.MiddleButton
NO_MOD = Qt.KeyboardModifier.NoModifier


def at(canvas, x: float, y: float) -> QPoint:
    """The widget pixel over image point (x, y)."""
    p = canvas.to_widget(QPointF(x, y))
    return QPoint(round(p.x()), round(p.y()))


class Recorder(CanvasTool):
    name = "test_recorder"
    title = "Recorder"
    shortcut = "K"
    order = 990

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, float, float]] = []
        self.keys: list[int] = []
        self.painted = 0

    def press(self, pos, event):
        self.events.append(("press", pos.x(), pos.y()))

    def move(self, pos, event):
        self.events.append(("move", pos.x(), pos.y()))

    def release(self, pos, event):
        self.events.append(("release", pos.x(), pos.y()))

    def claims_key(self, event):
        return event.key() == Qt.Key.Key_Escape

    def key_press(self, event):
        self.keys.append(event.key())
        return event.key() == Qt.Key.Key_Escape

    def paint(self, painter, canvas):
        self.painted += 1


class Recorder2(Recorder):
    name = "test_recorder2"
    title = "Recorder Two"
    order = 991


@pytest.fixture
def tools_window(window, qtbot, tmp_path, coffee):
    register_tool(Recorder)
    register_tool(Recorder2)
    from editor.ui.canvas_tools.manager import ToolManager

    try:
        window.canvas_tools.dispose()
        window.canvas_tools = ToolManager(window)  # a tool bar that has the recorders
        open_image(qtbot, window, coffee[100:260, 150:400], tmp_path / "coffee-small.png")
        qtbot.waitUntil(lambda: window.canvas.image_size() is not None, timeout=10000)
        window.activateWindow()
        window.canvas.setFocus()
        yield window
    finally:
        unregister_tool("test_recorder")
        unregister_tool("test_recorder2")


def test_registry_orders_tools_and_pan_comes_first():
    names = [c.name for c in tool_classes()]
    assert names[0] == "pan"


def test_tool_gets_press_move_release_in_image_coordinates(tools_window, qtbot):
    w = tools_window
    tool = w.canvas_tools.activate("test_recorder")
    assert w.canvas.tool is tool
    c = w.canvas
    c.set_zoom(2.0)
    QTest.mousePress(c, LEFT, NO_MOD, at(c, 100, 60))
    QTest.mouseMove(c, at(c, 120, 70))
    QTest.mouseRelease(c, LEFT, NO_MOD, at(c, 130, 80))
    kinds = [e[0] for e in tool.events]
    assert kinds[0] == "press" and kinds[-1] == "release" and "move" in kinds
    press, rel = tool.events[0], tool.events[-1]
    # one widget pixel is half an image pixel at 200 %
    assert abs(press[1] - 100) <= 0.5 and abs(press[2] - 60) <= 0.5
    assert abs(rel[1] - 130) <= 0.5 and abs(rel[2] - 80) <= 0.5
    center = QPointF(c.center)
    assert c.center == center  # the drag did not pan


def test_middle_button_still_pans_with_a_tool(tools_window, qtbot):
    w = tools_window
    tool = w.canvas_tools.activate("test_recorder")
    c = w.canvas
    c.set_zoom(3.0)
    before = QPointF(c.center)
    QTest.mousePress(c, MIDDLE, NO_MOD, QPoint(200, 200))
    QTest.mouseMove(c, QPoint(260, 230))
    QTest.mouseRelease(c, MIDDLE, NO_MOD, QPoint(260, 230))
    assert tool.events == []
    assert c.center != before


def test_pan_tool_keeps_eyedropper_clicks(tools_window, qtbot):
    w = tools_window
    w.canvas_tools.activate("test_recorder")
    QTest.keyClick(w.canvas, Qt.Key.Key_H)
    assert w.canvas_tools.current.name == "pan" and w.canvas.tool is None
    clicks = []
    w.canvas.pixelClicked.connect(lambda x, y: clicks.append((x, y)))
    QTest.mouseClick(w.canvas, LEFT, NO_MOD, at(w.canvas, 40.5, 30.5))
    assert clicks == [(40, 30)]


def test_tool_clicks_are_not_eyedropper_clicks(tools_window, qtbot):
    w = tools_window
    w.canvas_tools.activate("test_recorder")
    clicks = []
    w.canvas.pixelClicked.connect(lambda x, y: clicks.append((x, y)))
    QTest.mouseClick(w.canvas, LEFT, NO_MOD, at(w.canvas, 40.5, 30.5))
    assert clicks == []


def test_shared_key_cycles_the_group_and_escape_reaches_the_tool(tools_window, qtbot):
    w = tools_window
    m = w.canvas_tools
    QTest.keyClick(w.canvas, Qt.Key.Key_K)
    assert m.current.name == "test_recorder"
    QTest.keyClick(w.canvas, Qt.Key.Key_K)
    assert m.current.name == "test_recorder2"
    QTest.keyClick(w.canvas, Qt.Key.Key_K)
    assert m.current.name == "test_recorder"
    # Esc is also Edit ▸ Cancel Job: the tool claims it and gets it
    QTest.keyClick(w.canvas, Qt.Key.Key_Escape)
    assert Qt.Key.Key_Escape in m.current.keys
    assert m.actions["test_recorder"].isChecked()
    assert "(K)" in m.actions["test_recorder"].toolTip()


def test_tool_paints_after_the_image(tools_window, qtbot):
    w = tools_window
    tool = w.canvas_tools.activate("test_recorder")
    img = w.canvas.grab()
    assert tool.painted >= 1 and not img.isNull()
    assert np.ndim(tool.painted) == 0


def test_tool_letters_type_into_text_fields(tools_window, qtbot):
    """Single-letter tool keys must not steal letters from a search box."""
    w = tools_window
    box = w.tools.search
    box.setFocus()
    before = w.canvas_tools.current.name
    QTest.keyClicks(box, "mlwqh")
    assert box.text() == "mlwqh"
    assert w.canvas_tools.current.name == before
