"""Tools dock, generated from the op registry: categories, search, the op's form.

Selecting an op opens an adjustment *session* on the controller: moving a
control previews on a proxy; releasing it commits at full resolution (light
ops) into one merged undo step; Apply closes the session, Reset returns to the
defaults, Cancel stops jobs and drops the adjustment. The form comes from
:func:`editor.ui.forms.form_class_for`, so per-op overrides appear by existing.

A form may also take the canvas's pointer: ``canvas_clicked(x, y)`` (eyedroppers)
and ``canvas_hovered(x, y)`` get image coordinates from the canvas the panel is
attached to. While the open adjustment has a step of its own, forms are shown the
image it started from (its base), so a histogram or a picked value is the input's,
not the adjusted result's.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from editor.ui.forms import form_class_for
from editor.ui.input_rules import KEEP_TEXT_UNDO, guard_wheel_under
from editor.ui.richtext import plain_text, rich_text

log = logging.getLogger(__name__)


class ToolsPanel(QWidget):
    """Op browser plus the active op's form and its buttons."""

    opSelected = Signal(str)

    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.specs: dict[str, object] = {}
        self.form: QWidget | None = None
        self.spec = None
        self.canvas = None
        #: menu shortcuts by op: [(menu text, keys, opens the form)], shown in tool tips
        self.shortcuts: dict[str, list[tuple[str, str, bool]]] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search tools…")
        self.search.setClearButtonEnabled(True)
        self.search.setProperty(KEEP_TEXT_UNDO, True)  # Ctrl+Z edits the search text
        self.search.textChanged.connect(self._filter)
        layout.addWidget(self.search)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.tree = QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setRootIsDecorated(True)
        self.tree.setIndentation(14)
        self.tree.currentItemChanged.connect(self._item_changed)
        self.splitter.addWidget(self.tree)
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(0, 4, 0, 0)
        self.title = QLabel("Choose a tool")
        f = QFont(self.title.font())
        f.setPointSizeF(f.pointSizeF() * 1.15)
        f.setBold(True)
        self.title.setFont(f)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("color: #9a9a9a;")
        body_layout.addWidget(self.title)
        body_layout.addWidget(self.summary)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        body_layout.addWidget(self.scroll, 1)
        buttons = QHBoxLayout()
        self.apply_button = QPushButton("Apply")
        self.apply_button.setDefault(True)
        self.apply_button.setObjectName("applyButton")
        self.reset_button = QPushButton("Reset")
        self.cancel_button = QPushButton("Cancel")
        self.apply_button.setToolTip("Apply at full resolution (Ctrl+Return)")
        self.reset_button.setToolTip("Back to the default settings")
        self.cancel_button.setToolTip("Stop and drop this adjustment")
        self.apply_button.clicked.connect(self.apply)
        self.reset_button.clicked.connect(self.reset)
        self.cancel_button.clicked.connect(self.cancel)
        for b in (self.reset_button, self.cancel_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.apply_button)
        body_layout.addLayout(buttons)
        self.splitter.addWidget(body)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([380, 260])
        layout.addWidget(self.splitter, 1)
        self._set_buttons_enabled(False)
        # a history jump shows every step on its way; the form needs only the last one
        # (fetching each would reload spilled states from disk on the GUI thread)
        self._image_timer = QTimer(self)
        self._image_timer.setSingleShot(True)
        self._image_timer.setInterval(0)
        self._image_timer.timeout.connect(self._image_changed)
        controller.imageChanged.connect(self._image_timer.start)

    # -- registry -----------------------------------------------------------------
    def populate(self, specs, categories) -> None:
        """Fill the tree (called once the registry has loaded)."""
        self.tree.clear()
        self.specs = {s.name: s for s in specs}
        bold = QFont(self.tree.font())
        bold.setBold(True)
        for cat in categories:
            top = QTreeWidgetItem([cat])
            top.setFont(0, bold)
            top.setFlags(top.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            self.tree.addTopLevelItem(top)
            for s in specs:
                if s.category != cat:
                    continue
                label = s.title + ("  ·  AI" if s.ai else "")
                item = QTreeWidgetItem([label])
                item.setData(0, Qt.ItemDataRole.UserRole, s.name)
                top.addChild(item)
            top.setExpanded(True)
        self._update_tooltips()
        self._filter(self.search.text())

    def set_shortcuts(self, shortcuts: dict[str, list[tuple[str, str, bool]]]) -> None:
        """Menu shortcuts by op (``{op: [(menu text, keys, opens form)]}``) for tool tips."""
        self.shortcuts = dict(shortcuts)
        self._update_tooltips()

    def tooltip(self, name: str) -> str:
        """The tree's tool tip for op ``name``: "Curves (Ctrl+M)", then what it does."""
        spec = self.specs[name]
        first = spec.title
        others = []
        for text, keys, opens_form in self.shortcuts.get(name, []):
            if opens_form or text == spec.title:
                first = f"{spec.title} ({keys})"
            else:  # a preset applied at once (Desaturate is grayscale, Auto Tone…)
                others.append(f"{text} ({keys}) applies it at once.")
        lines = [first, plain_text(spec.summary), *others]  # no raw ``markup``
        if spec.heavy or spec.ai:
            lines.append("Runs when you press Apply.")
        return "\n".join(line for line in lines if line)

    def _update_tooltips(self) -> None:
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            for j in range(top.childCount()):
                item = top.child(j)
                name = item.data(0, Qt.ItemDataRole.UserRole)
                if name in self.specs:
                    item.setToolTip(0, self.tooltip(name))
        if self.spec is not None and self.spec.name in self.specs:
            self.title.setToolTip(self.tooltip(self.spec.name))

    def _filter(self, text: str) -> None:
        text = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            any_shown = False
            for j in range(top.childCount()):
                item = top.child(j)
                spec = self.specs.get(item.data(0, Qt.ItemDataRole.UserRole))
                hay = " ".join([spec.title, spec.name, spec.category, spec.summary]).lower() \
                    if spec else ""
                shown = not text or all(word in hay for word in text.split())
                item.setHidden(not shown)
                any_shown |= shown
            top.setHidden(not any_shown)
            if text and any_shown:
                top.setExpanded(True)

    def visible_ops(self) -> list[str]:
        """Names of the ops the search leaves visible (tests use it)."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            for j in range(top.childCount()):
                if not top.child(j).isHidden():
                    out.append(top.child(j).data(0, Qt.ItemDataRole.UserRole))
        return out

    # -- the active op ----------------------------------------------------------------
    def select_op(self, name: str) -> QWidget | None:
        """Make ``name`` the active tool and show it in the list; returns its form.

        A search that hides the op is cleared first (a menu or a shortcut asked
        for it by name).
        """
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            for j in range(top.childCount()):
                item = top.child(j)
                if item.data(0, Qt.ItemDataRole.UserRole) == name:
                    if item.isHidden():
                        self.search.clear()
                    top.setExpanded(True)
                    self.tree.setCurrentItem(item)
                    self.tree.scrollToItem(item)
                    return self.form
        return None

    def _item_changed(self, item, _previous) -> None:
        name = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        if name is None or (self.spec is not None and self.spec.name == name):
            return
        self._open(self.specs[name])

    def _open(self, spec) -> None:
        if self.form is not None:
            self.form.deleteLater()
            self.form = None
        self.spec = spec
        try:
            form = form_class_for(spec.name)(spec)
        except Exception as e:  # noqa: BLE001  (one broken override must not break the dock)
            log.exception("form for %s failed", spec.name)
            from editor.ui.forms.param_form import ParamForm

            form = ParamForm(spec)
            self.controller.message.emit(f"The custom form for {spec.title} failed ({e}); "
                                         "showing the plain one.")
        guard_wheel_under(form)  # the wheel scrolls the dock unless a field has the focus
        form.set_image(self._form_image())
        form.paramsChanged.connect(self.controller.session_changed)
        form.paramsCommitted.connect(self.controller.session_committed)
        self.form = form
        self.scroll.setWidget(form)
        self.title.setText(spec.title)
        self.title.setToolTip(self.tooltip(spec.name) if spec.name in self.specs else "")
        note = ""
        if not spec.preview:
            note = " Preview is off for this tool; press Apply."
        elif spec.heavy or spec.ai:
            note = " Press Apply to run it at full size."
        self.summary.setText(rich_text(spec.summary + note))
        self.controller.begin_session(spec)
        self._find_canvas()
        self._set_buttons_enabled(True)
        self._fit_form()
        self.opSelected.emit(spec.name)

    def _fit_form(self) -> None:
        """Give the form the room it asks for (up to 88 %), the list the rest."""
        total = sum(self.splitter.sizes())
        if total <= 0:
            return
        # a word-wrapped label's size hint is one line; ask for its height at its width
        summary = self.summary.heightForWidth(max(1, self.summary.width()))
        chrome = (self.title.sizeHint().height() + max(summary, 0)
                  + self.apply_button.sizeHint().height() + 40)
        want = min(int(total * 0.88), self.form.sizeHint().height() + chrome)
        want = max(want, int(total * 0.3))
        self.splitter.setSizes([total - want, want])

    def _set_buttons_enabled(self, on: bool) -> None:
        for b in (self.apply_button, self.reset_button, self.cancel_button):
            b.setEnabled(on)

    def _image_changed(self) -> None:
        if self.form is not None:
            self.form.set_image(self._form_image())
            shown = self.controller.session_follow()  # after undo/redo/jump: the step's values
            if shown is not None:
                self.form.blockSignals(True)
                self.form.set_params(shown)
                self.form.blockSignals(False)

    def _form_image(self):
        """The image the open adjustment applies to: its base while it has a step."""
        c = self.controller
        s, doc = c.session, c.document
        if s is not None and doc is not None and s.has_step and doc.has(s.base_id):
            return doc.get(s.base_id)
        return c.current_image()

    # -- the canvas's pointer, for eyedroppers ---------------------------------------------
    def attach_canvas(self, canvas) -> None:
        """Forward the canvas's clicks and hovers to forms that take them."""
        if canvas is self.canvas:
            return
        self.canvas = canvas
        canvas.pixelClicked.connect(self._canvas_clicked)
        canvas.pixelHovered.connect(self._canvas_hovered)

    def _find_canvas(self) -> None:
        if self.canvas is None:  # a window that did not attach one: its canvas
            from editor.ui.canvas import Canvas

            canvas = self.window().findChild(Canvas)
            if canvas is not None:
                self.attach_canvas(canvas)

    def _canvas_clicked(self, x: int, y: int) -> None:
        pick = getattr(self.form, "canvas_clicked", None)
        if pick is not None:
            pick(x, y)

    def _canvas_hovered(self, x: int, y: int) -> None:
        follow = getattr(self.form, "canvas_hovered", None)
        if follow is not None:
            follow(x, y)

    # -- buttons -------------------------------------------------------------------------
    def apply(self) -> None:
        if self.form is not None:
            self.controller.session_apply(self.form.params())

    def reset(self) -> None:
        if self.form is not None:
            self.controller.session_reset()
            self.form.blockSignals(True)
            self.form.reset()
            self.form.blockSignals(False)

    def cancel(self) -> None:
        if self.form is not None:
            self.controller.session_cancel()
            self.form.blockSignals(True)
            self.form.reset()
            self.form.blockSignals(False)
