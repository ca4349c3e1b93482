"""A titled panel: the framed box with a small upper-case heading that pages lay out side by side."""
from __future__ import annotations

from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout


def titled_panel(heading: str) -> tuple[QFrame, QVBoxLayout]:
    """(frame, its layout) with `heading` as the first row (style: QFrame#panel, QLabel#sectionTitle)."""
    frame = QFrame(objectName="panel")
    lay = QVBoxLayout(frame)
    lay.setContentsMargins(10, 8, 10, 10)
    lay.addWidget(QLabel(heading, objectName="sectionTitle"))
    return frame, lay
