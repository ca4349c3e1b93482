"""A small preview of the learning rate over the planned optimizer steps."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, QTimer
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from app.widgets.plot_curves import style_plot

MAX_POINTS = 2000


def thin(values: Sequence[float], limit: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(steps, rates) with at most ~`limit` points, keeping the first and last step (the
    schedule is smooth or piecewise constant, so evenly spaced samples draw it faithfully)."""
    y = np.asarray(values, dtype=np.float64)
    if len(y) <= limit:
        return np.arange(len(y), dtype=np.float64), y
    idx = np.unique(np.r_[np.linspace(0, len(y) - 1, limit).astype(np.int64), len(y) - 1])
    return idx.astype(np.float64), y[idx]


class LrPreview(QWidget):
    """`set_curve(rates)` draws the rate of every planned step; a caption gives start/peak/end."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("lrPreview")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._plot: pg.PlotWidget | None = None
        self._curve = None
        self.caption = QLabel(objectName="pageSubtitle")
        self.caption.setWordWrap(True)
        self._layout.addWidget(self.caption)
        self.rates: np.ndarray = np.empty(0)
        # the pyqtgraph plot (~15 ms) is built on the next event-loop turn, not inside the
        # Train page's build, or on first use if that comes sooner
        QTimer.singleShot(0, self, self._build_plot)

    def _build_plot(self) -> None:
        if self._plot is not None:
            return
        plot = pg.PlotWidget()
        plot.setObjectName("lrPreviewPlot")
        plot.setMinimumHeight(110)
        plot.setMaximumHeight(150)
        style_plot(plot)
        item = plot.getPlotItem()
        item.showGrid(x=True, y=True, alpha=0.2)
        item.setLabel("bottom", "step")
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
        self._curve = item.plot([], [], pen=pg.mkPen("#3b82f6", width=2))
        self._plot = plot
        self._layout.insertWidget(0, plot)

    @property
    def plot(self) -> pg.PlotWidget:
        self._build_plot()
        return self._plot

    @property
    def curve(self) -> pg.PlotDataItem:
        self._build_plot()
        return self._curve

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return QSize(320, 150)

    def set_curve(self, rates: Sequence[float], note: str = "") -> None:
        x, y = thin(rates)
        self.rates = y
        self.curve.setData(x, y)
        item = self.plot.getPlotItem()
        item.enableAutoRange(x=True)
        if len(y):
            item.setYRange(0.0, float(y.max()) * 1.1 or 1.0, padding=0)
        if len(y):
            self.caption.setText(f"{len(rates):,} steps · start {y[0]:.3g} · peak {y.max():.3g} · end {y[-1]:.3g}"
                                 + (f" · {note}" if note else ""))
        else:
            self.caption.setText(note or "No steps planned.")

    def set_unavailable(self, reason: str) -> None:
        self.rates = np.empty(0)
        self.curve.setData([], [])
        self.caption.setText(reason)
