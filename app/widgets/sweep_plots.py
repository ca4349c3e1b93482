"""The Sweeps page's plots: every trial's metric curve overlaid (pruned ones faded, the best one
bold) and a parallel-coordinates plot of parameters against the metric (one line per trial,
coloured by its value, the best one highlighted)."""
from __future__ import annotations

import math
from typing import Any, Sequence

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from app.widgets.plot_curves import style_plot
from app.widgets.theme import ACCENT_COLOR

BEST_COLOR = "#f59e0b"
FADED_ALPHA = 55
STATE_COLORS = {"completed": "#3b82f6", "running": "#30a46c", "pruned": "#8b8f97", "failed": "#e5484d",
                "interrupted": "#8b8f97", "stopped": "#8b8f97"}


def _text_color() -> QColor:
    return QApplication.palette().color(QPalette.ColorRole.WindowText)


class SweepCurves(pg.PlotWidget):
    """`show_trials(trials, best, metric)`: one curve per trial (epoch on x)."""

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.setObjectName("sweepCurves")
        style_plot(self)
        self.getPlotItem().setLabel("bottom", "epoch")
        self.curves: dict[int, pg.PlotDataItem] = {}

    def show_trials(self, trials: Sequence[Any], best: int | None, metric: str) -> None:
        self.getPlotItem().setLabel("left", metric)
        for view in trials:
            item = self.curves.get(view.number)
            if item is None:
                item = self.curves[view.number] = self.plot([], [])
            color = QColor(BEST_COLOR if view.number == best else STATE_COLORS.get(view.state, ACCENT_COLOR))
            if view.state in ("pruned", "failed", "interrupted", "stopped"):
                color.setAlpha(FADED_ALPHA)
            width = 3 if view.number == best else 1.5
            item.setPen(pg.mkPen(color, width=width))
            item.setZValue(10 if view.number == best else (0 if color.alpha() < 255 else 5))
            item.setData([e for e, _ in view.curve], [v for _, v in view.curve])

    def clear_trials(self) -> None:
        for item in self.curves.values():
            self.removeItem(item)
        self.curves.clear()


class ParallelCoordinates(pg.PlotWidget):
    """`show_trials(trials, axes, metric, best)`: one vertical axis per parameter plus the metric;
    each trial a line through its normalised values (log-scaled axes for log ranges;
    categorical choices spread evenly); colour from the metric (bright = better)."""

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.setObjectName("sweepParallel")
        style_plot(self)
        plot = self.getPlotItem()
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        self.lines: list[pg.PlotDataItem] = []
        self.labels: list[pg.TextItem] = []
        self.colormap = pg.colormap.get("viridis")

    def show_trials(self, trials: Sequence[Any], axes: Sequence[tuple[str, bool]], metric: str, best: int | None,
                    maximize: bool = True) -> None:
        """`axes`: (parameter path, log scale) in order; the metric is the last axis."""
        plot = self.getPlotItem()
        for item in [*self.lines, *self.labels]:
            plot.removeItem(item)
        self.lines, self.labels = [], []
        rows = [t for t in trials if t.params and t.last is not None]
        names = [name for name, _ in axes] + [metric]
        columns = [[_axis_value(t.params.get(name), log) for t in rows] for name, log in axes]
        columns.append([float(t.last) for t in rows])
        scales = [_scale(col) for col in columns]
        color = _text_color()
        for i, name in enumerate(names):
            self._add(pg.PlotDataItem([i, i], [0, 1], pen=pg.mkPen(color, width=1)), line=True)
            low, high = scales[i][2], scales[i][3]
            if i < len(axes) and axes[i][1] and isinstance(low, float):
                low, high = 10 ** low, 10 ** high  # a log axis shows its real values
            top, bottom = (low, high) if i == len(names) - 1 and not maximize else (high, low)
            self._label(i, 1.2, short_name(name), color, anchor=(0.5, 0))
            self._label(i, 1.0, top, color, anchor=(0.5, 1))
            self._label(i, 0.0, bottom, color, anchor=(0.5, 0))
        values = columns[-1]
        v_low, v_high = (min(values), max(values)) if values else (0.0, 1.0)
        for j, trial in enumerate(rows):
            ys = [scales[i][0](columns[i][j]) for i in range(len(names))]
            goodness = (values[j] - v_low) / (v_high - v_low) if v_high > v_low else 1.0
            goodness = goodness if maximize else 1 - goodness
            if not maximize:
                ys[-1] = 1 - ys[-1]  # better is up on the metric's axis too
            pen = pg.mkPen(BEST_COLOR, width=3.5) if trial.number == best else pg.mkPen(self.colormap.map(goodness, "qcolor"), width=1.5)
            self._add(pg.PlotDataItem(list(range(len(names))), ys, pen=pen), line=True, z=10 if trial.number == best else 1)
        plot.setXRange(-0.4, len(names) - 0.6, padding=0)
        plot.setYRange(-0.12, 1.24, padding=0)

    def _add(self, item: Any, *, line: bool, z: float = 0) -> None:
        item.setZValue(z)
        self.getPlotItem().addItem(item)
        self.lines.append(item)

    def _label(self, x: float, y: float, value: Any, color: QColor, anchor: tuple[float, float]) -> None:
        text = value if isinstance(value, str) else _fmt(value)
        item = pg.TextItem(text, color=color, anchor=anchor)
        item.setPos(x, y)
        self.getPlotItem().addItem(item)
        self.labels.append(item)


def _axis_value(value: Any, log: bool) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return math.log10(value) if log and value > 0 else float(value)


def _scale(column: Sequence[Any]):
    """(to [0, 1], -, shown low, shown high) for one axis: numbers linearly, text evenly."""
    if any(isinstance(v, str) for v in column):
        choices = sorted({str(v) for v in column})
        n = max(1, len(choices) - 1)
        return (lambda v: choices.index(str(v)) / n if len(choices) > 1 else 0.5), None, choices[0] if choices else "", \
            choices[-1] if choices else ""
    low, high = (min(column), max(column)) if column else (0.0, 1.0)
    span = high - low
    return (lambda v: (v - low) / span if span else 0.5), None, low, high


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def short_name(path: str) -> str:
    """optimizer.lr -> lr; model.layers[1].out_features -> layers[1].out_features."""
    head, _, rest = path.partition(".")
    return rest if head in ("optimizer", "model", "training", "data", "regularization", "scheduler") and rest else path
