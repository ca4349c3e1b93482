"""SummaryBar: total parameters, estimated size, input and output shape, number of problems."""
from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.widgets.layer_card import shape_text
from engine.layers.pretrained import frozen_parameters
from engine.problems import Problem

BYTES_PER_PARAM = 4  # fp32


def size_text(params: int) -> str:
    """Estimated fp32 weight size: '0.05 MB', '4.0 GB'."""
    size = params * BYTES_PER_PARAM
    if size >= 1e9:
        return f"{size / 1e9:.2f} GB"
    return f"{size / 1e6:.2f} MB"


class _ClickLabel(QLabel):
    clicked = Signal()

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.clicked.emit()
        super().mousePressEvent(event)


class SummaryBar(QFrame):
    """Emits `problemClicked()` when the problem count is clicked (go to the first problem)."""

    problemClicked = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("summaryBar")
        row = QHBoxLayout(self)
        row.setContentsMargins(14, 6, 14, 6)
        row.setSpacing(28)
        self.values: dict[str, QLabel] = {}
        for key, title in (("params", "Parameters"), ("trainable", "Trainable"), ("size", "Size (fp32)"), ("input", "Input"),
                           ("output", "Output")):
            cell = QVBoxLayout()
            cell.setSpacing(0)
            name = QLabel(title)
            name.setObjectName("summaryKey")
            value = QLabel("—")
            value.setObjectName("summaryValue")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            cell.addWidget(name)
            cell.addWidget(value)
            row.addLayout(cell)
            self.values[key] = value
        row.addStretch(1)
        self.problems_label = _ClickLabel()
        self.problems_label.setObjectName("problemsLabel")
        self.problems_label.setCursor(Qt.CursorShape.PointingHandCursor)
        self.problems_label.clicked.connect(self.problemClicked)
        row.addWidget(self.problems_label)

    def update_from(self, report, problems: Sequence[Problem], pending: str = "",
                    others: Sequence[Problem] = ()) -> None:
        """Show `report` (engine.shapes.ModelReport) and the model's `problems`; `pending`: what the
        shapes still wait for ("" when they are known); `others`: the other sections' problems
        (counted, so the bar never says "No problems" while the data or the training has one)."""
        if pending:
            for label in self.values.values():
                label.setText("…")
            self.problems_label.setText("Checking…")
            self.problems_label.setToolTip(f"Shapes are inferred as soon as this is done: {pending}.")
            self.problems_label.setProperty("ok", True)
            return
        total = report.total_params if report is not None else 0
        self.values["params"].setText(f"{total:,}")
        frozen = frozen_parameters(report.rows) if report is not None and not report.problems else 0
        self.values["trainable"].setText(f"{total - frozen:,}")
        self.values["trainable"].setToolTip(f"{frozen:,} parameters are frozen (not trained)" if frozen
                                            else "Every parameter is trained")
        self.values["size"].setText(size_text(total))
        self.values["input"].setText(shape_text(report.input_shape) if report and report.input_shape is not None else "unknown")
        self.values["output"].setText(shape_text(report.output_shape) if report and report.output_shape is not None else "?")
        count = len(problems) + len(others)
        if problems:
            extra = f" (+{len(others)} elsewhere)" if others else ""
            self.problems_label.setText(f"⚠ {len(problems)} problem{'s' if len(problems) != 1 else ''}{extra}")
        elif others:
            sections = sorted({p.path.split(".")[0].split("[")[0].capitalize() for p in others})
            self.problems_label.setText(f"✓ Model fits · ⚠ {len(others)} problem{'s' if len(others) != 1 else ''}"
                                        f" in {', '.join(sections)}")
        else:
            self.problems_label.setText("✓ No problems")
        self.problems_label.setToolTip("Click to go to the first one.\n" + "\n".join(f"• {p}" for p in (*problems, *others))
                                       if count else "The model fits the data and the task.")
        self.problems_label.setProperty("ok", count == 0)
        self.problems_label.style().unpolish(self.problems_label)
        self.problems_label.style().polish(self.problems_label)
