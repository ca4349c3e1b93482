"""PretrainedPanel: the inside of a Pretrained layer's card — freeze controls, the frozen and
trainable parameter counts, and (expanded) the model's top-level parts with their output shapes
and parameters, each with a lock that freezes the model up to that part."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QButtonGroup, QGridLayout, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from engine.pretrained.anatomy import frozen_names

LOCKED, UNLOCKED = "●", "○"  # a part frozen / trained (glyphs every desktop font has)
FREEZE_LABELS = (("none", "Train all"), ("all", "Freeze all"), ("up_to", "Freeze up to…"))


def default_until(anatomy) -> str:
    """The part "Freeze up to…" starts at: the last one within the first half of the parameters."""
    half, seen, chosen = anatomy.params / 2, 0, ""
    for part in anatomy.parts:
        seen += part.params
        if part.params and seen <= half:
            chosen = part.name
    return chosen or (anatomy.parts[0].name if anatomy.parts else "")


class PretrainedPanel(QWidget):
    """`optionsRequested(dict)`: set these layer options in one edit; `expandToggled(bool)`."""

    optionsRequested = Signal(dict)
    expandToggled = Signal(bool)

    def __init__(self, options: dict[str, Any], anatomy, expanded: bool, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("pretrainedPanel")
        self.anatomy = anatomy
        mode, until = options.get("freeze", "none"), options.get("freeze_until", "")
        self.mode = mode
        frozen = anatomy.frozen_params(mode, until)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 4, 0, 0)
        column.setSpacing(4)

        line = QHBoxLayout()
        line.setSpacing(4)
        self.freeze_buttons: dict[str, QToolButton] = {}
        group = QButtonGroup(self)
        for value, text in FREEZE_LABELS:
            button = QToolButton()
            button.setObjectName("freezeButton")
            button.setText(text)
            button.setCheckable(True)
            button.setChecked(value == mode)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.clicked.connect(lambda _=False, v=value: self._choose(v))
            group.addButton(button)
            line.addWidget(button)
            self.freeze_buttons[value] = button
        line.addStretch(1)
        self.expand_button = QToolButton()
        self.expand_button.setObjectName("partsButton")
        self.expand_button.setAutoRaise(True)
        self.expand_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.expand_button.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.expand_button.setText(f"{len(anatomy.parts)} parts")
        self.expand_button.setToolTip("Show / hide the model's top-level parts")
        self.expand_button.clicked.connect(self._toggle)
        line.addWidget(self.expand_button)
        column.addLayout(line)
        self.counts = QLabel(f"{frozen:,} parameters frozen · {anatomy.params - frozen:,} trainable")
        self.counts.setObjectName("cardFrozen")
        self.counts.setToolTip("Frozen parameters are not trained (and frozen batch-norm statistics stay as loaded)")
        column.addWidget(self.counts)

        self.parts = QWidget()
        self.parts.setObjectName("pretrainedParts")
        grid = QGridLayout(self.parts)
        grid.setContentsMargins(18, 2, 0, 0)
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(1)
        frozen_names = set(_frozen_names(anatomy, mode, until))
        self.locks: dict[str, QToolButton] = {}
        for i, part in enumerate(anatomy.parts):
            lock = QToolButton()
            lock.setObjectName("partLock")
            lock.setAutoRaise(True)
            lock.setCheckable(True)
            lock.setChecked(part.name in frozen_names)
            lock.setText(LOCKED if part.name in frozen_names else UNLOCKED)
            lock.setToolTip(f"Freeze {part.name} and every part before it")
            lock.clicked.connect(lambda _=False, n=part.name: self.optionsRequested.emit({"freeze": "up_to",
                                                                                         "freeze_until": n}))
            self.locks[part.name] = lock
            cells = (part.name, part.type, "—" if part.out_shape is None else "×".join(map(str, part.out_shape)),
                     f"{part.params:,}")
            grid.addWidget(lock, i, 0)
            for j, text in enumerate(cells, start=1):
                label = QLabel(text)
                label.setObjectName("partFrozen" if part.name in frozen_names else "partCell")
                if j >= 3:
                    label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                grid.addWidget(label, i, j)
        grid.setColumnStretch(2, 1)
        self.parts.setVisible(expanded)
        column.addWidget(self.parts)

    def _choose(self, value: str) -> None:
        if value == self.mode:  # the checked button clicked again: keep the part the user chose
            return
        change: dict[str, Any] = {"freeze": value}
        if value == "up_to":
            change["freeze_until"] = default_until(self.anatomy)
        self.optionsRequested.emit(change)

    def _toggle(self) -> None:
        shown = not self.parts.isVisible()
        self.parts.setVisible(shown)
        self.expand_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.expandToggled.emit(shown)


def _frozen_names(anatomy, mode: str, until: str) -> tuple[str, ...]:
    return frozen_names(anatomy.part_names(), mode, until, anatomy.heads)
