"""The robustness report: accuracy curves under FGSM and edits, with flipped examples."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from editor.ui.qimage import to_pixmap
from editor.ui.teach.widgets import TEST_COLOR, CurvePlot

TITLES = {"fgsm": "FGSM attack", "brightness": "Brightness", "rotation": "Rotation",
          "blur": "Gaussian blur", "jpeg": "JPEG quality"}


class RobustnessDialog(QDialog):
    """One plot per sweep (accuracy and share of flipped predictions) and examples."""

    def __init__(self, report, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Robustness report")
        self.resize(1200, 820)
        outer = QVBoxLayout(self)
        outer.addWidget(QLabel(f"{report.n_images} held-out images, clean accuracy "
                               f"<b>{report.clean_accuracy:.1%}</b>. Each plot: accuracy "
                               "(blue) and predictions that flipped (orange) as the change "
                               "grows; below, images whose prediction flipped."))
        body = QWidget()
        grid = QGridLayout(body)
        self.plots: dict[str, CurvePlot] = {}
        for k, sweep in enumerate(report.sweeps):
            cell = QVBoxLayout()
            plot = CurvePlot(TITLES.get(sweep.name, sweep.name), y_range=(0.0, 1.0),
                             x_label=sweep.unit)
            plot.setMinimumSize(340, 200)
            if sweep.available:
                plot.set_series("accuracy", "#1a73e8", [(p.value, p.accuracy)
                                                        for p in sweep.points])
                plot.set_series("flipped", TEST_COLOR, [(p.value, p.flipped)
                                                        for p in sweep.points])
            self.plots[sweep.name] = plot
            cell.addWidget(plot)
            if not sweep.available:
                cell.addWidget(QLabel(sweep.note))
            examples = QHBoxLayout()
            shown = 0
            for p in sweep.points:
                if p.example is None or shown >= 3:
                    continue
                pic = QLabel()
                pic.setPixmap(to_pixmap(p.example).scaled(
                    96, 96, Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation))
                pic.setToolTip(p.example_label)
                text = QLabel(f"{p.value:g}: {p.example_label}")
                text.setWordWrap(True)
                text.setMaximumWidth(110)
                col = QVBoxLayout()
                col.addWidget(pic)
                col.addWidget(text)
                examples.addLayout(col)
                shown += 1
            if not shown and sweep.available:
                examples.addWidget(QLabel("no prediction flipped"))
            examples.addStretch(1)
            cell.addLayout(examples)
            holder = QWidget()
            holder.setLayout(cell)
            grid.addWidget(holder, k // 2, k % 2)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        outer.addWidget(scroll)
