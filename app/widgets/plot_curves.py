"""Plot pieces shared by the plot panel and the LR preview: which plot a metric goes to,
palette-following plot styling, and a curve pair (raw + smoothed) for one metric."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette

from app.services.metric_store import Series
from engine.metrics import GRAD_NORM, LR, METRICS


@dataclass(frozen=True)
class PlotGroup:
    """One plot: which metrics it shows (by name) and how it is titled."""

    key: str
    title: str
    matches: Callable[[str], bool]
    object_name: str = ""


PLOT_GROUPS: tuple[PlotGroup, ...] = (
    PlotGroup("loss", "Loss", lambda n: n.endswith("loss"), "lossPlot"),
    PlotGroup("accuracy", "Accuracy / error", lambda n: "accuracy" in n or n.endswith("error"), "accuracyPlot"),
    PlotGroup("lr", METRICS[LR].label, lambda n: n in (LR, "learning_rate"), "lrPlot"),
    PlotGroup("grad_norm", METRICS[GRAD_NORM].label, lambda n: GRAD_NORM in n, "gradNormPlot"),
    PlotGroup("throughput", "Samples per second", lambda n: n.endswith(("per_second", "per_s")), "throughputPlot"),
    PlotGroup("other", "Step time and other", lambda n: True, "otherPlot"),
)
LOG_GROUPS = ("loss", "lr", "grad_norm", "other")  # plots that switch to a log y axis with "Log y"
X_LABELS = {"step": "Step", "epoch": "Epoch", "time": "Wall time (s)"}
#: colours for metrics of one run, and for runs when several are overlaid
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f")
FEW_POINTS = 60  # series shorter than this are drawn with point markers (e.g. per-epoch val_loss)


def style_plot(widget: pg.PlotWidget) -> None:
    """Draw a plot in the system palette's colours (light or dark) instead of pyqtgraph's black."""
    palette = widget.palette()
    base = palette.color(QPalette.ColorRole.Base)
    text = palette.color(QPalette.ColorRole.Text)
    widget.setBackground(base)
    item = widget.getPlotItem()
    for name in ("left", "bottom"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen(text))
        axis.setTextPen(pg.mkPen(text))
    item.titleLabel.setAttr("color", text.name())


def group_of(metric: str) -> PlotGroup:
    return next(g for g in PLOT_GROUPS if g.matches(metric))


class Curve:
    """A raw curve and its smoothed twin for one (source, metric)."""

    def __init__(self, plot: pg.PlotItem, name: str | None, color: str, dashed: bool):
        style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
        faint = QColor(color)
        faint.setAlpha(70)
        self.color = color
        self.raw = plot.plot([], [], pen=pg.mkPen(color, width=1.5, style=style))
        self.smooth = plot.plot([], [], pen=pg.mkPen(color, width=2, style=style))
        self.faint_pen = pg.mkPen(faint, width=1, style=style)
        self.full_pen = pg.mkPen(color, width=1.5, style=style)
        for item in (self.raw, self.smooth):
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
        self.smooth.hide()
        self._raw_key: tuple | None = None  # what the raw curve was last given (see update)
        # the legend shows the full colour even while the raw curve is drawn faint
        self.sample = pg.PlotDataItem(pen=pg.mkPen(color, width=2, style=style))
        if plot.legend is not None and name:
            plot.legend.addItem(self.sample, name)

    def update(self, series: Series, axis: str, weight: float) -> None:
        x, y = series.x(axis), series.y
        few = len(y) < FEW_POINTS
        symbol = dict(symbol="o", symbolSize=5, symbolPen=None, symbolBrush=self.color) if few else dict(symbol=None)
        # a series known to be finite skips pyqtgraph's per-update scan of every point
        lines = dict(connect="all", skipFiniteCheck=True) if series.all_finite else dict(connect="finite")
        smoothing = weight > 0 and not few
        # series only grow, so this identifies what the raw curve shows: a smoothing-slider move
        # leaves it alone (re-setting a million points makes pyqtgraph downsample them again)
        raw_key = (series, axis, len(y), series.all_finite, smoothing)  # Series compares by identity
        if raw_key != self._raw_key:
            if smoothing:
                self.raw.setData(x, y, pen=self.faint_pen, symbol=None, **lines)
            else:
                self.raw.setData(x, y, pen=self.full_pen, **lines, **symbol)
            self._raw_key = raw_key
        if smoothing:
            self.smooth.setData(x, series.smoothed(weight), **lines)
            self.smooth.show()
        else:
            self.smooth.hide()
