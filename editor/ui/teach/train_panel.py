"""The Train panel of the Classifier window: settings, training, curves and scores.

The settings form is built from :data:`editor.teach.config.SETTINGS`, the same
table that bounds :class:`~editor.teach.config.TrainConfig` and the
``convolve train`` flags: a number typed outside its bounds is refused with the
table's sentence in the status bar, as the library and the command line do.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QBoxLayout,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from editor.core.context import OpError
from editor.teach.config import SETTINGS, Setting, TrainConfig
from editor.ui.richtext import count
from editor.ui.teach.widgets import (
    TEST_COLOR,
    TRAIN_COLOR,
    ConfusionMatrix,
    CurvePlot,
    ImageGridDialog,
)

if TYPE_CHECKING:
    from editor.ui.teach.window import ClassifierWindow


class _Refusing:
    """Shared by the two spin boxes: refuse an out-of-bounds number with its sentence.

    Qt silently drops a keystroke that makes the number too large and silently
    reverts one left too small; here both also say why (``refused``).
    """

    setting: Setting
    _said: str | None = None

    def _refusal(self, text: str) -> str | None:
        t = text.strip()
        for cut in (self.prefix(), self.suffix()):
            t = t.replace(cut, "") if cut else t
        value, ok = self.locale().toDouble(t.strip())
        if not ok:
            return None
        try:
            self.setting.check(int(value) if value.is_integer() and self.setting.kind is int
                               else value)
        except OpError as e:
            return str(e)
        return None

    def _say(self, text: str) -> None:
        message = self._refusal(text)
        if message is not None and text != self._said:
            self._said = text
            self.refused.emit(message)

    def validate(self, text: str, pos: int):
        result = super().validate(text, pos)
        state = result[0] if isinstance(result, tuple) else result
        if state == QValidator.State.Invalid:
            self._say(text)  # the keystroke is dropped: say why
        return result

    def focusOutEvent(self, event) -> None:  # noqa: N802
        self._say(self.lineEdit().text())  # too small: Qt reverts it, say why
        super().focusOutEvent(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._say(self.lineEdit().text())
        super().keyPressEvent(event)


class SettingSpinBox(_Refusing, QSpinBox):
    refused = Signal(str)


class SettingDoubleSpinBox(_Refusing, QDoubleSpinBox):
    refused = Signal(str)


def setting_widget(s: Setting) -> QWidget:
    """The editor for one setting, bounded and initialised from the table."""
    if s.kind is bool:
        w = QCheckBox(s.label)
        w.setChecked(bool(s.default))
    elif s.kind is str:
        w = QComboBox()
        w.addItems(list(s.choices))
        w.setCurrentText(s.default)
    else:
        w = SettingSpinBox() if s.kind is int else SettingDoubleSpinBox()
        w.setting = s
        if s.kind is float:
            w.setDecimals(s.decimals)
            w.setSingleStep(s.step)
        w.setRange(s.lo, s.hi)
        w.setValue(s.default)
        if s.suffix:
            w.setSuffix(s.suffix)
        if s.special:
            w.setSpecialValueText(s.special)
    w.setToolTip(s.describe()[:1].upper() + s.describe()[1:] + ".")
    if not isinstance(w, QCheckBox):
        w.setMinimumWidth(140)  # room for the longest value and its unit, e.g. "20 per image"
    return w


def widget_value(w: QWidget) -> Any:
    if isinstance(w, QCheckBox):
        return w.isChecked()
    if isinstance(w, QComboBox):
        return w.currentText()
    return w.value()


class _ColumnsWhenWide(QWidget):
    """Its widgets side by side when it is at least ``width`` pixels wide, else stacked."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self._width = width
        self._box = QBoxLayout(QBoxLayout.Direction.TopToBottom, self)
        self._box.setContentsMargins(0, 0, 0, 0)

    def add(self, w: QWidget) -> None:
        self._box.addWidget(w, 1, Qt.AlignmentFlag.AlignTop)

    def resizeEvent(self, event) -> None:  # noqa: N802
        wide = event.size().width() >= self._width
        self._box.setDirection(QBoxLayout.Direction.LeftToRight if wide
                               else QBoxLayout.Direction.TopToBottom)
        super().resizeEvent(event)


class TrainPanel(QGroupBox):
    """Settings, the Train button, live curves, per-class accuracy and the confusion matrix."""

    def __init__(self, host: ClassifierWindow) -> None:
        super().__init__("2  Train")
        self.host = host
        self.widgets: dict[str, QWidget] = {}
        self.cell_dialog: ImageGridDialog | None = None
        self.augment_dialog: ImageGridDialog | None = None
        self._build()
        host.busyChanged.connect(lambda busy: self.train_button.setEnabled(not busy))

    def _build(self) -> None:
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        self.train_button = QPushButton("Train model")
        self.train_button.setDefault(True)
        self.train_button.clicked.connect(self.train)
        self.augment_button = QPushButton("Preview augmentation")
        self.augment_button.setToolTip("Show augmented copies of a few images, drawn with "
                                       "the settings below")
        self.augment_button.clicked.connect(self.preview_augmentation)
        row.addWidget(self.train_button, 1)
        row.addWidget(self.augment_button)
        lay.addLayout(row)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        progress = QWidget()
        plots = QVBoxLayout(progress)
        plots.setContentsMargins(0, 6, 0, 0)
        self.loss_plot = CurvePlot("Loss")
        self.acc_plot = CurvePlot("Accuracy", y_range=(0.0, 1.0))
        self.loss_plot.setMinimumHeight(110)
        self.acc_plot.setMinimumHeight(110)
        plots.addWidget(self.loss_plot, 2)
        plots.addWidget(self.acc_plot, 2)
        self.per_class_label = QLabel("Per-class accuracy appears after training.")
        self.per_class_label.setWordWrap(True)
        plots.addWidget(self.per_class_label)
        plots.addWidget(QLabel("Confusion matrix (rows: true, columns: predicted; "
                               "click a cell)"))
        self.confusion = ConfusionMatrix()
        self.confusion.cellOpened.connect(self.show_confusion_cell)
        plots.addWidget(self.confusion, 1)
        self.tabs.addTab(progress, "Progress")
        self.settings_tab = self._build_settings()
        self.tabs.addTab(self.settings_tab, "Settings")
        lay.addWidget(self.tabs, 1)

    def _build_settings(self) -> QWidget:
        groups = _ColumnsWhenWide(560)
        for group, title in (("training", "Training"), ("augmentation", "Augmentation")):
            gb = QGroupBox(title)
            form = QFormLayout(gb)
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
            for s in SETTINGS:
                if s.group != group:
                    continue
                w = setting_widget(s)
                if isinstance(w, _Refusing):
                    w.refused.connect(self.host.status)
                self.widgets[s.name] = w
                form.addRow("" if s.kind is bool else s.label, w)
            groups.add(gb)
        groups.add(self._build_cluster())
        reset = QPushButton("Restore defaults")
        reset.clicked.connect(self.restore_defaults)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(reset)
        inner = QWidget()
        col = QVBoxLayout(inner)
        col.setContentsMargins(0, 6, 0, 0)
        col.addWidget(groups)
        col.addLayout(row)
        col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(inner)
        return scroll

    def _build_cluster(self) -> QGroupBox:
        """Where the backbone features are computed: here, or a Dask cluster's workers."""
        gb = QGroupBox("Features")
        form = QFormLayout(gb)
        self.cluster_box = QCheckBox("Compute features on a Dask cluster")
        self.cluster_box.setToolTip("The photos' backbone features are computed on the "
                                    "cluster's workers (Convolve installed there, the photos "
                                    "on shared storage), then cached and trained on here")
        self.scheduler_edit = QLineEdit()
        self.scheduler_edit.setPlaceholderText("tcp://host:8786")
        self.scheduler_edit.setEnabled(False)
        self.cluster_box.toggled.connect(self.scheduler_edit.setEnabled)
        form.addRow("", self.cluster_box)
        form.addRow("Scheduler", self.scheduler_edit)
        return gb

    def scheduler(self) -> str | None:
        """The Dask scheduler address when the cluster option is on, else None."""
        text = self.scheduler_edit.text().strip()
        return text if self.cluster_box.isChecked() and text else None

    # -- settings -------------------------------------------------------------------------
    def widget(self, name: str) -> QWidget:
        """The editor of setting ``name`` (see :data:`editor.teach.config.SETTINGS`)."""
        return self.widgets[name]

    def restore_defaults(self) -> None:
        for s in SETTINGS:
            w = self.widgets[s.name]
            if s.kind is bool:
                w.setChecked(bool(s.default))
            elif s.kind is str:
                w.setCurrentText(s.default)
            else:
                w.setValue(s.default)

    def values(self) -> dict[str, Any]:
        return {name: widget_value(w) for name, w in self.widgets.items()}

    def config(self) -> TrainConfig:
        """The settings shown, validated (:class:`OpError` with the table's sentence)."""
        return TrainConfig.from_values(self.values())

    def _config_or_say(self) -> TrainConfig | None:
        try:
            return self.config()
        except OpError as e:
            self.host.status(str(e))
            return None

    # -- training -------------------------------------------------------------------------
    def train(self) -> None:
        cfg = self._config_or_say()
        if cfg is None:
            return
        if self.cluster_box.isChecked() and not self.scheduler():
            self.host.status("Give the Dask scheduler's address (tcp://host:8786), or turn "
                             "the cluster option off.")
            return
        scheduler = self.scheduler()
        ds = self.host.dataset
        self.loss_plot.clear()
        self.acc_plot.clear()
        self.tabs.setCurrentIndex(0)  # watch the curves

        def work(ctx):
            from editor.teach.train import train

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return train(ds, cfg, ctx, on_epoch=ctx.emit_partial, scheduler=scheduler)

        self.host.submit(work, "Training", on_done=self._trained, on_partial=self._epoch)

    def _trained(self, result) -> None:
        ev = result.evaluation
        names = result.model.class_names
        where = "held-out" if ev.on_test_split else "training"
        parts = [f"<b>{n}</b> {a:.0%}" if a == a else f"<b>{n}</b> –"
                 for n, a in zip(names, ev.per_class, strict=True)]
        self.per_class_label.setText(f"Accuracy on {count(len(ev.paths), where + ' image')}: "
                                     f"<b>{ev.accuracy:.1%}</b> — " + ", ".join(parts))
        self.confusion.set_matrix(names, ev.confusion)
        self.host.set_trained(result)
        self.host.status(f"Trained in {result.seconds:.1f} s: {ev.accuracy:.1%} on {where} "
                         "images")

    def _epoch(self, stats) -> None:
        self.loss_plot.add_point("train", TRAIN_COLOR, stats.epoch, stats.train_loss)
        self.loss_plot.add_point("test", TEST_COLOR, stats.epoch, stats.test_loss)
        self.acc_plot.add_point("train", TRAIN_COLOR, stats.epoch, stats.train_acc)
        self.acc_plot.add_point("test", TEST_COLOR, stats.epoch, stats.test_acc)

    def show_confusion_cell(self, true: int, predicted: int) -> None:
        result = self.host.result
        if result is None:
            return
        from editor.teach.images import UnreadableImage, read_rgb

        paths = result.evaluation.cell(true, predicted)
        names = result.model.class_names
        images, caps = [], []
        for p in paths[:40]:
            try:
                images.append(read_rgb(p, max_side=256))
                caps.append(Path(p).name)
            except UnreadableImage:
                continue
        title = f"True {names[true]}, predicted {names[predicted]} ({count(len(paths), 'image')})"
        self.cell_dialog = ImageGridDialog(title, images, caps, parent=self)
        self.cell_dialog.show()

    def preview_augmentation(self) -> None:
        from editor.teach.augment import preview_grid
        from editor.teach.images import UnreadableImage, read_rgb

        cfg = self._config_or_say()
        if cfg is None:
            return
        ds = self.host.dataset
        samples = []
        for name in ds.class_names:
            imgs = ds.images(name)
            for p in imgs[:: max(1, len(imgs) // 2)][:2]:
                try:
                    samples.append(read_rgb(p, max_side=512))
                except UnreadableImage:
                    pass
        if not samples:
            self.host.status("Add images to a class to preview augmentation.")
            return
        tiles = preview_grid(samples[:4], seed=cfg.seed, per_image=5, config=cfg.augment,
                             size=128)
        caps = (["original"] + [f"augmented {k}" for k in range(1, 6)]) * len(samples[:4])
        self.augment_dialog = ImageGridDialog("Augmentation preview (editor ops)", tiles,
                                              caps, columns=6, parent=self)
        self.augment_dialog.show()

    def clear_scores(self) -> None:
        """Forget the curves and scores (another project was opened)."""
        self.loss_plot.clear()
        self.acc_plot.clear()
        self.per_class_label.setText("Per-class accuracy appears after training.")
        self.confusion.setRowCount(0)
        self.confusion.setColumnCount(0)
