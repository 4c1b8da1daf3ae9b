"""Tool bar icons drawn with QPainter (no image files to ship or theme)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPen, QPixmap

SIZE = 32
INK = QColor(225, 225, 225)


def painted_icon(draw: Callable[[QPainter, QPen], None]) -> QIcon:
    """An icon drawn by ``draw(painter, pen)`` on a transparent 32x32 square."""
    pm = QPixmap(SIZE, SIZE)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(INK, 2.0)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    draw(p, pen)
    p.end()
    return QIcon(pm)


def text_icon(text: str) -> QIcon:
    """One or two characters, centred (the default icon)."""
    def draw(p: QPainter, _pen: QPen) -> None:
        f = QFont()
        f.setPixelSize(18 if len(text) < 2 else 13)
        f.setBold(True)
        p.setFont(f)
        p.drawText(QRectF(0, 0, SIZE, SIZE), Qt.AlignmentFlag.AlignCenter, text)

    return painted_icon(draw)


def dashed(pen: QPen) -> QPen:
    """``pen`` with the marching-ants dash the selection icons share."""
    d = QPen(pen)
    d.setWidthF(2.0)
    d.setDashPattern([2.0, 1.5])
    d.setCapStyle(Qt.PenCapStyle.FlatCap)
    return d
