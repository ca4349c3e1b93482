"""The Compress page's chart: accuracy (or error) against weights size for a source run and every
compressed variant of it (engine.compress.variants), the Pareto front drawn as a line through its
points, the source as a diamond and the selected variant ringed."""
from __future__ import annotations

from typing import Any, Sequence

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor

from app.widgets.plot_curves import style_plot
from app.widgets.sweep_plots import BEST_COLOR
from app.widgets.theme import ACCENT_COLOR

SOURCE_COLOR = "#8b8f97"
KB = 1024.0


class CompressChart(pg.PlotWidget):
    """`show_variants(variants, front, selected)`; `variantClicked(run_dir)` when a point is clicked."""

    variantClicked = Signal(str)

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.setObjectName("compressChart")
        style_plot(self)
        plot = self.getPlotItem()
        plot.setLabel("bottom", "weights file (KB)")
        plot.setLabel("left", "val_accuracy")
        plot.showGrid(x=True, y=True, alpha=0.15)
        for side in ("left", "bottom"):
            plot.getAxis(side).enableAutoSIPrefix(False)  # 0.97, not "970 (x0.001)"
        plot.getViewBox().setDefaultPadding(0.12)  # room for the labels of the outermost points
        self.legend = plot.addLegend(offset=(-10, -10))
        self.front_line = self.plot([], [], pen=pg.mkPen(BEST_COLOR, width=2), name="Pareto front")
        self.points = pg.ScatterPlotItem(size=11, hoverable=True, tip=self._tip)
        self.points.sigClicked.connect(self._clicked)
        self.addItem(self.points)
        self.labels: list[pg.TextItem] = []
        self.variants: list[Any] = []

    def show_variants(self, variants: Sequence[Any], front: Sequence[Any], selected: str | None = None) -> None:
        """Draw `variants` (engine.compress.variants.Variant); `front` is their Pareto front."""
        self.variants = [v for v in variants if v.quality is not None and v.weights_bytes > 0]
        on_front = {str(v.run_dir) for v in front}
        name = self.variants[0].quality_name if self.variants else "val_accuracy"
        self.getPlotItem().setLabel("left", name)
        spots = []
        for v in self.variants:
            key = str(v.run_dir)
            color = QColor(SOURCE_COLOR if not v.steps else (BEST_COLOR if key in on_front else ACCENT_COLOR))
            ring = pg.mkPen("#111827" if key == selected else color.darker(130), width=2.5 if key == selected else 1)
            spots.append({"pos": (v.weights_bytes / KB, v.quality), "data": key, "brush": pg.mkBrush(color), "pen": ring,
                          "symbol": "d" if not v.steps else "o", "size": 15 if key == selected else 11})
        self.points.setData(spots)
        self.front_line.setData([v.weights_bytes / KB for v in front], [v.quality for v in front])
        for label in self.labels:
            self.removeItem(label)
        self.labels = []
        widest = max((v.weights_bytes for v in self.variants), default=1)
        for v in self.variants:
            if not v.steps or str(v.run_dir) in on_front:
                right = v.weights_bytes > widest / 2  # labels of the right half point left, so none is cut off
                text = pg.TextItem(_short(v), anchor=(1.05 if right else -0.05, 1.1),
                                   color=SOURCE_COLOR if not v.steps else BEST_COLOR)
                text.setPos(v.weights_bytes / KB, v.quality)
                self.addItem(text)
                self.labels.append(text)
        self.getPlotItem().enableAutoRange()

    def _tip(self, x: float, y: float, data: Any) -> str:  # noqa: ARG002 (pyqtgraph's signature)
        found = next((v for v in self.variants if str(v.run_dir) == data), None)
        if found is None:
            return ""
        return (f"{found.run_dir.name}\n{found.label}\n{found.weights_bytes / KB:,.1f} KB · "
                f"{found.quality_name} {found.quality:.4f} · {found.latency_ms:.2f} ms")

    def _clicked(self, _item: Any, points: Any, *_: Any) -> None:
        if len(points):
            self.variantClicked.emit(str(points[0].data()))


def _short(v: Any) -> str:
    """A point's label: each step in a few characters, e.g. prune 50% → finetune 2 → int8_dynamic."""
    return "source" if not v.steps else " → ".join(short_step(step) for step in v.steps)


def short_step(label: str) -> str:
    """`prune:sparsity=0.5,structured=true,...` -> `prune 50% structured`; `finetune:epochs=2,...` ->
    `finetune 2`; `quantize:scheme=int8_dynamic,...` -> `int8_dynamic`."""
    name, _, rest = label.partition(":")
    options = dict(item.split("=", 1) for item in rest.split(",") if "=" in item)
    if name == "prune":
        sparsity = float(options.get("sparsity", 0.5))
        return f"prune {sparsity:.0%}" + (" structured" if options.get("structured") == "true" else "")
    if name == "finetune":
        return f"finetune {options.get('epochs', '')}".strip()
    if name == "quantize":
        return options.get("scheme", "quantize")
    return name
