"""Live training curves: one small plot per metric group, for one run or several overlaid.

pyqtgraph recipe for long runs (examples/scrollingPlots.py): growing numpy buffers, `setData`
on each update, peak downsampling and clip-to-view, so a million points stay smooth. The raw
curve is drawn faint under an exponential moving average when smoothing is on.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QMenu, QSlider,
    QToolButton, QVBoxLayout, QWidget,
)

from app.services.metric_store import MetricStore
from app.widgets.plot_curves import (  # noqa: F401  (re-exported)
    FEW_POINTS, LOG_GROUPS, PALETTE, PLOT_GROUPS, X_LABELS, PlotGroup, Curve, group_of, style_plot,
)
from app.widgets.sticky_range import follow_x, follow_y


REDRAW_BUDGET_S = 0.012  # per event-loop turn
SECONDARY_INTERVAL_MS = 60  # between redraws of the plots other than the loss plot


class _LazyPlots(dict):
    """plot key -> PlotWidget, built by `make(key)` the first time a key is looked up."""

    def __init__(self, make):
        super().__init__()
        self._make = make

    def __missing__(self, key: str) -> pg.PlotWidget:
        if not any(g.key == key for g in PLOT_GROUPS):
            raise KeyError(key)
        return self._make(key)


class PlotPanel(QWidget):
    """Curves of one run (`add_events`) or of several runs overlaid (`add_events(..., source=)`)."""

    exported = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("plotPanel")
        self._stores: dict[str, MetricStore] = {}
        self._labels: dict[str, str] = {}
        self._curves: dict[tuple[str, str], Curve] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._last_group = ""
        self._dash_note: set[str] = set()  # plots whose legend explains the dashed lines
        self._follow: dict[str, bool] = {g.key: True for g in PLOT_GROUPS}  # False once the user zooms/pans
        self._fitted: set[str] = set()  # plots fitted to their data at least once
        # plots are built on first use, and the rest one per event-loop turn once the panel is
        # shown: six pyqtgraph PlotWidgets take ~100 ms, too long for one turn of the GUI thread
        self._plots: dict[str, pg.PlotWidget] = _LazyPlots(self._add_plot)
        self._hover: dict[str, pg.TextItem] = {}
        self._build_toolbar()
        self._grid = QGridLayout()
        self._grid.setSpacing(6)
        self._plot_area = QWidget()
        self._plot_area.setLayout(self._grid)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._toolbar)
        layout.addWidget(self._plot_area, 1)
        self._refresh = QTimer(self, singleShot=True, interval=0, timeout=self._redraw)
        self._builder = QTimer(self, singleShot=True, interval=0, timeout=self._build_next_plot)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        """The plots not built yet are built once the panel is first shown, one per event-loop turn
        (a panel on a page built in the background during startup costs nothing until then)."""
        super().showEvent(event)
        if len(self._plots) < len(PLOT_GROUPS) and not self._builder.isActive():
            self._builder.start()

    def _add_plot(self, key: str) -> pg.PlotWidget:
        """Build plot `key` and put it in its grid cell (the "other" plot starts hidden)."""
        index, group = next((i, g) for i, g in enumerate(PLOT_GROUPS) if g.key == key)
        widget = self._make_plot(group)
        dict.__setitem__(self._plots, key, widget)
        self._grid.addWidget(widget, index // 3, index % 3)
        if key == "other":
            widget.hide()
        return widget

    def _build_next_plot(self) -> None:
        missing = [g.key for g in PLOT_GROUPS if g.key not in self._plots]
        if missing:
            self._plots[missing[0]]
            if len(missing) > 1:
                self._builder.start()

    def build_all_plots(self) -> None:
        """Build every plot now (export and tests; otherwise they appear one per event-loop turn)."""
        for group in PLOT_GROUPS:
            self._plots[group.key]

    # ------------------------------------------------------------------ construction
    def _build_toolbar(self) -> None:
        bar = self._toolbar = QHBoxLayout()
        bar.addWidget(QLabel("X axis"))
        self.x_combo = QComboBox(objectName="xAxisCombo")
        for key, label in X_LABELS.items():
            self.x_combo.addItem(label, key)
        self.x_combo.currentIndexChanged.connect(self._restyle)
        bar.addWidget(self.x_combo)
        self.log_check = QCheckBox("Log y", objectName="logYCheck", toolTip="Logarithmic y axis on the loss, "
                                   "learning-rate and gradient-norm plots")
        self.log_check.toggled.connect(self._restyle)
        bar.addWidget(self.log_check)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Smoothing"))
        self.smooth_slider = QSlider(Qt.Orientation.Horizontal, objectName="smoothingSlider")
        self.smooth_slider.setRange(0, 99)
        self.smooth_slider.setValue(60)
        self.smooth_slider.setFixedWidth(140)
        self.smooth_slider.setToolTip("Exponential moving average over the faint raw curve (0 = off)")
        self.smooth_label = QLabel()
        self.smooth_slider.valueChanged.connect(self._restyle)
        bar.addWidget(self.smooth_slider)
        bar.addWidget(self.smooth_label)
        bar.addStretch(1)
        self.autorange_button = QToolButton(text="Auto-range", objectName="autoRangeButton")
        self.autorange_button.clicked.connect(self.auto_range)
        bar.addWidget(self.autorange_button)
        self.export_button = QToolButton(text="Export", objectName="exportButton")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        menu.addAction("Curves as PNG…", lambda: self._export_dialog("png"))
        menu.addAction("Curves as SVG…", lambda: self._export_dialog("svg"))
        menu.addAction("Metrics as CSV…", lambda: self._export_dialog("csv"))
        self.export_button.setMenu(menu)
        bar.addWidget(self.export_button)
        self._update_smooth_label()

    def _make_plot(self, group: PlotGroup) -> pg.PlotWidget:
        widget = pg.PlotWidget()
        widget.setObjectName(group.object_name)  # pyqtgraph hands constructor keywords to its PlotItem, not the widget
        widget.setMinimumSize(QSize(220, 150))
        plot = widget.getPlotItem()
        plot.setTitle(group.title, size="10pt")
        style_plot(widget)
        plot.setDownsampling(mode="peak")
        plot.setClipToView(True)
        plot.disableAutoRange()  # ranges follow the data in steps (see sticky_range)
        plot.vb.sigRangeChangedManually.connect(lambda *_a, key=group.key: self._follow.__setitem__(key, False))
        legend_fill = widget.palette().color(QPalette.ColorRole.Base)
        legend_fill.setAlpha(210)
        plot.addLegend(offset=(-8, 8), labelTextSize="8pt", brush=pg.mkBrush(legend_fill),
                       labelTextColor=widget.palette().color(QPalette.ColorRole.Text))
        plot.setLabel("bottom", X_LABELS["step"])
        palette = widget.palette()
        fill = palette.color(QPalette.ColorRole.ToolTipBase)
        fill.setAlpha(225)
        text = pg.TextItem(anchor=(0, 0), color=palette.color(QPalette.ColorRole.ToolTipText), fill=pg.mkBrush(fill),
                           border=pg.mkPen(palette.color(QPalette.ColorRole.Mid)))
        text.setZValue(100)
        text.hide()
        plot.addItem(text, ignoreBounds=True)
        self._hover[group.key] = text
        proxy = pg.SignalProxy(widget.scene().sigMouseMoved, rateLimit=30,
                               slot=lambda ev, key=group.key: self._on_hover(key, ev[0]))
        widget._hover_proxy = proxy  # keep it alive
        return widget

    # ------------------------------------------------------------------ data
    @property
    def x_axis(self) -> str:
        return self.x_combo.currentData()

    @property
    def smoothing(self) -> float:
        return self.smooth_slider.value() / 100.0

    def plot(self, key: str) -> pg.PlotWidget:
        return self._plots[key]

    def store(self, source: str = "run") -> MetricStore:
        return self._stores.setdefault(source, MetricStore())

    def sources(self) -> list[str]:
        return list(self._stores)

    def clear(self) -> None:
        """Forget every source and curve."""
        for (_, metric), curve in self._curves.items():
            plot = self._plots[group_of(metric).key].getPlotItem()
            for item in (curve.raw, curve.smooth):
                plot.removeItem(item)
        for widget in self._plots.values():
            legend = widget.getPlotItem().legend
            if legend is not None:
                legend.clear()
        self._dash_note.clear()
        self._curves.clear()
        self._stores.clear()
        self._labels.clear()
        self._dirty.clear()
        self._follow = {g.key: True for g in PLOT_GROUPS}
        self._fitted = set()
        self._plots["other"].hide()

    def add_source(self, source: str, label: str) -> None:
        """Name a source for the legend (used when several runs are overlaid)."""
        self._labels[source] = label
        self.store(source)

    def set_store(self, source: str, label: str, store: MetricStore) -> None:
        """Show an already-filled store (e.g. a finished run loaded off the GUI thread)."""
        self._labels[source] = label
        self._stores[source] = store
        self._dirty.update((source, name) for name in store.series)
        self._refresh.start(0)

    def label(self, source: str) -> str:
        return self._labels.get(source, source)

    def add_events(self, events: Iterable[Mapping[str, Any]], source: str = "run") -> None:
        """Fold new events into `source`'s curves; the redraw is coalesced into one per event-loop turn."""
        grown = self.store(source).add_events(events)
        if grown:
            self._dirty.update((source, name) for name in grown)
            self._refresh.start(0)

    def flush(self) -> None:
        """Redraw everything pending now (tests call this instead of waiting a turn)."""
        self._refresh.stop()
        while self._dirty:
            self._redraw(budget_s=float("inf"))

    def _curve(self, source: str, metric: str) -> Curve:
        key = (source, metric)
        curve = self._curves.get(key)
        if curve is None:
            group = group_of(metric)
            widget = self._plots[group.key]
            widget.show()
            overlay = len(self._labels) > 1
            plot = widget.getPlotItem()
            if overlay:  # one legend entry per run (its colour); validation curves are dashed
                color = PALETTE[list(self._labels).index(source) % len(PALETTE)]
                seen = any(s == source and group_of(m) is group for (s, m) in self._curves)
                name = None if seen else self._labels[source]
                if metric.startswith("val") and group.key not in self._dash_note and plot.legend is not None:
                    self._dash_note.add(group.key)
                    plot.legend.addItem(pg.PlotDataItem(pen=pg.mkPen("#888", width=2, style=Qt.PenStyle.DashLine)),
                                        "dashed: validation")
            else:
                same_plot = [m for (s, m) in self._curves if s == source and group_of(m) is group]
                color = PALETTE[len(same_plot) % len(PALETTE)]
                name = metric
            dashed = overlay and metric.startswith("val")
            curve = self._curves[key] = Curve(plot, name, color, dashed)
            self._apply_axes(widget, group)
        return curve

    def _redraw(self, budget_s: float = REDRAW_BUDGET_S) -> None:
        """Redraw dirty curves. Each redrawn plot is repainted whole, so one event-loop turn
        redraws the loss plot plus ONE other plot (round robin; the rest follow every
        SECONDARY_INTERVAL_MS), and stops early when its time budget is spent: a busy run
        or a million points never stall the event loop for long."""
        if not self._dirty:
            return
        everything = budget_s == float("inf")
        order = {source: i for i, source in enumerate(self._stores)}
        chosen = sorted(self._dirty, key=lambda k: (group_of(k[1]).key != "loss", order.get(k[0], 0), k[1]))
        if not everything:
            rank = {g.key: i for i, g in enumerate(PLOT_GROUPS)}
            others = [g.key for g in PLOT_GROUPS if g.key != "loss"
                      and any(group_of(m).key == g.key for _, m in self._dirty)]
            if others:  # round robin in plot order
                last = rank.get(self._last_group, -1)
                after = [g for g in others if rank[g] > last] or others
                self._last_group = after[0]
            chosen = [k for k in chosen if group_of(k[1]).key in ("loss", self._last_group if others else "loss")]
        axis, weight = self.x_axis, self.smoothing
        start = time.perf_counter()
        touched = set()
        for key in chosen:
            self._dirty.discard(key)
            store = self._stores.get(key[0])
            if store is not None and key[1] in store.series:
                self._curve(*key).update(store.series[key[1]], axis, weight)
                touched.add(group_of(key[1]).key)
            if time.perf_counter() - start > budget_s:
                break
        for group_key in touched:
            self._fit(group_key)
        if self._dirty:
            self._refresh.start(0 if any(group_of(m).key == "loss" for _, m in self._dirty) else SECONDARY_INTERVAL_MS)

    # ------------------------------------------------------------------ view options
    def _restyle(self) -> None:
        self._update_smooth_label()
        for group in PLOT_GROUPS:
            self._apply_axes(self._plots[group.key], group)
        self._dirty.update(self._curves)
        self._refresh.start(0)
        self.auto_range()

    def _apply_axes(self, widget: pg.PlotWidget, group: PlotGroup) -> None:
        plot = widget.getPlotItem()
        plot.setLabel("bottom", X_LABELS[self.x_axis])
        plot.setLogMode(x=False, y=self._log_y(group.key))

    def _update_smooth_label(self) -> None:
        self.smooth_label.setText(f"{self.smoothing:.2f}" if self.smoothing else "off")

    def auto_range(self) -> None:
        """Fit every plot to its data again and keep following it (undoes a manual zoom/pan)."""
        for key in self._plots:
            self._follow[key] = True
            self._fit(key, force=True)

    def _fit(self, key: str, force: bool = False) -> None:
        """Follow the data of plot `key` in steps (no change while the data fits the view)."""
        if not self._follow[key]:
            return
        axis, log_y = self.x_axis, self._log_y(key)
        xs_lo, xs_hi, ys_lo, ys_hi = [], [], [], []
        for (source, metric) in self._curves:
            if group_of(metric).key != key:
                continue
            series = self._stores[source].series.get(metric)
            if series is None or not len(series):
                continue
            x = series.x(axis)
            xs_lo.append(x[0])
            xs_hi.append(x[-1])
            lo = series.pos_min if log_y else series.vmin
            if math.isfinite(lo) and math.isfinite(series.vmax):
                ys_lo.append(math.log10(lo) if log_y else lo)
                ys_hi.append(math.log10(series.vmax) if log_y and series.vmax > 0 else series.vmax)
        if not xs_lo:
            return
        vb = self._plots[key].getPlotItem().vb
        (cx0, cx1), (cy0, cy1) = vb.viewRange()
        if key not in self._fitted:  # the first data decides, not pyqtgraph's default view
            self._fitted.add(key)
            force = True
        if force:
            cx0 = cx1 = cy0 = cy1 = math.nan
        new_x = follow_x((cx0, cx1), float(np.nanmin(xs_lo)), float(np.nanmax(xs_hi)))
        new_y = follow_y((cy0, cy1), min(ys_lo), max(ys_hi)) if ys_lo else None
        if new_x is not None or new_y is not None:
            vb.setRange(xRange=new_x, yRange=new_y, padding=0)

    def _log_y(self, key: str) -> bool:
        return self.log_check.isChecked() and key in LOG_GROUPS

    # ------------------------------------------------------------------ hover read-out
    def _on_hover(self, key: str, scene_pos: QPointF) -> None:
        widget, text = self._plots[key], self._hover[key]
        plot = widget.getPlotItem()
        if not plot.sceneBoundingRect().contains(scene_pos):
            text.hide()
            return
        point = plot.vb.mapSceneToView(scene_pos)
        lines = self.readout(key, point.x())
        if not lines:
            text.hide()
            return
        text.setText("\n".join(lines))
        text.setPos(point.x(), point.y())
        text.show()

    def readout(self, key: str, x: float) -> list[str]:
        """The value of every curve in plot `key` nearest to x (the hover read-out's text)."""
        axis, weight, lines = self.x_axis, self.smoothing, []
        for (source, metric), curve in self._curves.items():
            if group_of(metric).key != key:
                continue
            series = self._stores[source].series[metric]
            xs = series.x(axis)
            if not len(xs):
                continue
            i = int(np.clip(np.searchsorted(xs, x), 0, len(xs) - 1))
            if i > 0 and abs(xs[i - 1] - x) < abs(xs[i] - x):
                i -= 1
            value = (series.smoothed(weight) if weight > 0 and len(xs) >= FEW_POINTS else series.y)[i]
            label = f"{self._labels[source]} · {metric}" if len(self._labels) > 1 else metric
            lines.append(f"{label} = {value:.5g}  ({X_LABELS[axis].split(' ')[0].lower()} {xs[i]:g})")
        return lines

    # ------------------------------------------------------------------ export
    def _export_dialog(self, kind: str) -> None:
        filters = {"png": "PNG image (*.png)", "svg": "SVG drawing (*.svg)", "csv": "CSV table (*.csv)"}
        path, _ = QFileDialog.getSaveFileName(self, f"Export {kind.upper()}", f"curves.{kind}", filters[kind])
        if path:
            self.export(path)

    def export(self, path: str | Path) -> Path:
        """Write the curves (.png/.svg) or the metrics (.csv), chosen by the file's suffix."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".csv":
            self._export_csv(path)
        elif suffix == ".svg":
            self._export_svg(path)
        elif suffix == ".png":
            self.build_all_plots()
            if not self._plot_area.grab().save(str(path)):
                raise OSError(f"could not write {path}")
        else:
            raise ValueError(f"{path.name}: export as .png, .svg or .csv")
        self.exported.emit(str(path))
        return path

    def _export_csv(self, path: Path) -> None:
        if len(self._stores) <= 1:
            store = next(iter(self._stores.values()), MetricStore())
            store.to_csv(path, run=self._labels.get(next(iter(self._stores), ""), ""))
            return
        parts = []
        for source, store in self._stores.items():
            tmp = path.with_suffix(f".{len(parts)}.part")
            store.to_csv(tmp, run=self._labels.get(source, source))
            lines = tmp.read_text(encoding="utf-8").splitlines(keepends=True)
            parts.append(lines if not parts else lines[1:])
            tmp.unlink()
        path.write_text("".join(line for part in parts for line in part), encoding="utf-8")

    def _export_svg(self, path: Path) -> None:
        from PySide6.QtSvg import QSvgGenerator

        self.build_all_plots()
        area = self._plot_area
        generator = QSvgGenerator()
        generator.setFileName(str(path))
        generator.setSize(area.size())
        generator.setViewBox(QRectF(0, 0, area.width(), area.height()))
        generator.setTitle("Netwright training curves")
        painter = QPainter(generator)
        try:
            area.render(painter, QPoint(0, 0))
        finally:
            painter.end()
