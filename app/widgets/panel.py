"""A titled panel: the framed box with a small upper-case heading that pages lay out side by side,
and the splitter that lays them out."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QSplitter, QVBoxLayout, QWidget


def titled_panel(heading: str) -> tuple[QFrame, QVBoxLayout]:
    """(frame, its layout) with `heading` as the first row (style: QFrame#panel, QLabel#sectionTitle)."""
    frame = QFrame(objectName="panel")
    lay = QVBoxLayout(frame)
    lay.setContentsMargins(10, 8, 10, 10)
    lay.addWidget(QLabel(heading, objectName="sectionTitle"))
    return frame, lay


def side_by_side(left: QWidget, right: QWidget, sizes: tuple[int, int]) -> QSplitter:
    """`left` and `right` in a horizontal splitter at `sizes`; only `right` takes extra room."""
    split = QSplitter(Qt.Orientation.Horizontal)
    split.addWidget(left)
    split.addWidget(right)
    split.setStretchFactor(0, 0)
    split.setStretchFactor(1, 1)
    split.setSizes(list(sizes))
    return split
