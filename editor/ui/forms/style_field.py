"""The style-transfer ``style`` field: a file name, a picker, the canvas image, a thumbnail.

It replaces only that parameter's row in the generic form (the AI dock's Style
tab passes it as ``fields={"style": ...}``); placeholder, dialog title and
tooltip come from the op's spec like every other field.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from editor.ops.params import Param
from editor.ui.forms.fields import Field
from editor.ui.forms.param_form import ThrottledForm
from editor.ui.richtext import rich_text

THUMB_SIDE = 96
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp)"


class StyleImageField(Field):
    """Path of the style image with File… / Use canvas buttons and a thumbnail.

    Parameters
    ----------
    param, form
        As for every field.
    current_image : callable
        Returns the canvas image (or None), for "Use canvas".
    say : callable
        Shows one line of status text.
    fallback : str
        File offered while no style is chosen (the painting shipped with the editor).
    """

    def __init__(self, param: Param, form: ThrottledForm, *,
                 current_image: Callable[[], np.ndarray | None],
                 say: Callable[[str], None], fallback: str = "") -> None:
        super().__init__(param, form)
        self._current_image = current_image
        self._say = say
        self._fallback = fallback
        self.path = QLineEdit()
        self.path.setPlaceholderText(param.hint or param.label)
        browse = QPushButton("File…")
        browse.setToolTip(f"Choose the {param.label.lower()}")
        browse.clicked.connect(self.browse)
        snap = QPushButton("Use canvas")
        snap.setToolTip("Take the image open now as the style; then open the photo to paint")
        snap.clicked.connect(self.use_canvas)
        self.thumb = QLabel()
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumb.setFixedSize(THUMB_SIDE, THUMB_SIDE * 3 // 4)
        self.thumb.setStyleSheet("QLabel { background: #202020; color: #aaa; }")
        self.thumb.setWordWrap(True)
        # thumbnail beside the name and buttons: one short row in a short dock
        self.widget = QWidget()
        row = QHBoxLayout(self.widget)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.thumb)
        column = QVBoxLayout()
        column.addWidget(self.path)
        buttons = QHBoxLayout()
        buttons.addWidget(browse)
        buttons.addWidget(snap)
        buttons.addStretch(1)
        column.addLayout(buttons)
        row.addLayout(column, 1)
        self.path.editingFinished.connect(self._edited)

    def value(self) -> str:
        return self.path.text().strip()

    def set_value(self, value: str) -> None:
        if not value and self._fallback and os.path.exists(self._fallback):
            value = os.path.normpath(self._fallback)
        self.path.setText(value or "")
        self._load_thumb()

    def _edited(self) -> None:
        self._load_thumb()
        self.form._changed()
        self.form._commit()

    def browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.widget, self.param.label, "", IMAGE_FILTER)
        if path:
            self.path.setText(path)
            self._edited()

    def use_canvas(self) -> None:
        """Save the canvas image to a file and use it as the style."""
        image = self._current_image()
        if image is None:
            self._say("Open the style image first.")
            return
        # a file keeps the recipe replayable: the op records a path, not pixels
        from PIL import Image

        from editor.core.image import as_rgb, to_uint8

        fd, path = tempfile.mkstemp(prefix="convolve_style_", suffix=".png")
        os.close(fd)
        Image.fromarray(as_rgb(to_uint8(image))).save(path)
        self.path.setText(path)
        self._edited()
        self._say("Style taken from the canvas; now open the photo to paint.")

    def _load_thumb(self) -> None:
        from editor.ui.ai_panels import to_pixmap  # the dock's array-to-pixmap helper

        path = self.value()
        self.path.setToolTip(path or rich_text(self.param.description))
        if not path or not os.path.exists(path):
            self.thumb.setText("no style")
            return
        try:
            from editor.ops.ai._util import read_image

            self.thumb.setPixmap(to_pixmap(read_image(path), THUMB_SIDE * 3 // 4))
        except Exception as e:  # noqa: BLE001  (shown, not raised)
            self.thumb.setText(str(e))
