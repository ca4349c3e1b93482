"""FeatureBars: horizontal bars with names, sorted by magnitude.

Signed mode (feature attributions): bars grow left (negative, blue) or right (positive, red)
from a centre line. Positive mode (class probabilities): bars grow from the left, the first one
highlighted. Painted directly, so thousands of updates stay cheap.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from engine.interpret.render import NEGATIVE, POSITIVE


class FeatureBars(QWidget):
    """`set_values(values, names)`; `rows` holds the drawn (name, value) pairs, top first."""

    def __init__(self, parent: QWidget | None = None, *, signed: bool = True, top_k: int = 20, row_height: int = 22,
                 value_format: str = "{:+.3g}"):
        super().__init__(parent)
        self.signed = signed
        self.top_k = top_k
        self.row_height = row_height
        self.value_format = value_format
        self.rows: list[tuple[str, float]] = []
        self.empty_text = "No attribution yet"
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def set_values(self, values: np.ndarray, names: Sequence[str]) -> None:
        v = np.asarray(values, dtype=np.float64).ravel()
        names = list(names) if len(names) == len(v) else [f"x{i}" for i in range(len(v))]
        key = -np.abs(v) if self.signed else -v
        order = np.argsort(key, kind="stable")[: self.top_k]
        self.rows = [(names[i], float(v[i])) for i in order]
        self.updateGeometry()
        self.update()

    def clear(self) -> None:
        self.rows = []
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return QSize(360, max(60, self.row_height * max(1, len(self.rows)) + 8))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return QSize(200, min(self.sizeHint().height(), 4 * self.row_height + 8))

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.WindowText)
        muted = pal.color(QPalette.ColorRole.PlaceholderText)
        if not self.rows:
            painter.setPen(muted)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.empty_text)
            return
        fm = QFontMetrics(self.font())
        label_w = min(max(fm.horizontalAdvance(n) for n, _ in self.rows) + 12, int(self.width() * 0.4))
        value_w = fm.horizontalAdvance("+0.000e+00") + 8
        area_x, area_w = label_w, max(20.0, self.width() - label_w - value_w)
        peak = max(abs(v) for _, v in self.rows) or 1.0
        row_h = min(self.row_height, max(12, (self.height() - 4) // len(self.rows)))
        centre = area_x + area_w / 2 if self.signed else area_x
        scale = (area_w / 2 if self.signed else area_w) / peak
        for r, (name, value) in enumerate(self.rows):
            y = 2 + r * row_h
            painter.setPen(text)
            painter.drawText(QRectF(0, y, label_w - 8, row_h), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                             fm.elidedText(name, Qt.TextElideMode.ElideRight, label_w - 8))
            if self.signed:
                color = QColor(*(POSITIVE if value >= 0 else NEGATIVE))
            else:
                color = pal.color(QPalette.ColorRole.Highlight) if r == 0 else muted
            length = value * scale
            x0, x1 = sorted((centre, centre + length))
            painter.fillRect(QRectF(x0, y + 3, max(1.0, x1 - x0), row_h - 6), color)
            painter.setPen(muted)
            painter.drawText(QRectF(area_x + area_w + 6, y, value_w, row_h), Qt.AlignmentFlag.AlignVCenter,
                             self.value_format.format(value))
        if self.signed:
            painter.setPen(muted)
            painter.drawLine(int(centre), 2, int(centre), 2 + row_h * len(self.rows))
