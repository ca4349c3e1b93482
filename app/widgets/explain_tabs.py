"""The Explain page's comparison tabs: one sample under several methods, one method across
samples, and the model-randomization sanity check. They send requests through the page
(`page.explain_request` / `page._send`) and receive replies via `deliver` / `fail`."""
from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QScrollArea, QSpinBox,
    QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget, QHeaderView, QAbstractItemView,
)

from app.widgets.explain_result import ResultTile

COLUMNS = 5
DEFAULT_COMPARE = ("Saliency", "IntegratedGradients", "GuidedBackprop", "LayerGradCam", "Occlusion", "FeatureAblation")
#: methods that attribute to a convolutional layer (left unticked for a model without one)
NEEDS_CONV = ("LayerGradCam",)


class TileGrid(QScrollArea):
    """A scrolling grid of ResultTiles keyed by request id."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.inner = QWidget()
        self.grid = QGridLayout(self.inner)
        self.grid.setSpacing(8)
        self.setWidget(self.inner)
        self.tiles: dict[int, ResultTile] = {}

    def clear(self) -> None:
        for tile in self.tiles.values():
            tile.deleteLater()
        self.tiles = {}

    def add(self, rid: int, title: str) -> ResultTile:
        tile = ResultTile(title)
        self.tiles[rid] = tile
        self._relayout()
        return tile

    def columns(self) -> int:
        return max(1, min(COLUMNS, self.viewport().width() // 158))

    def _relayout(self) -> None:
        cols = self.columns()
        for n, tile in enumerate(self.tiles.values()):
            self.grid.removeWidget(tile)
            self.grid.addWidget(tile, n // cols, n % cols)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._relayout()


class CompareTab:
    """Builds `methods_tab` (one sample, several methods) and `samples_tab` (one method, many samples)."""

    def __init__(self, page: Any):
        self.page = page
        self._filled_for_convs = False
        # one sample, several methods
        self.methods_tab = QWidget()
        lay = QHBoxLayout(self.methods_tab)
        side = QVBoxLayout()
        self.method_list = QListWidget()
        self.method_list.setObjectName("explainCompareMethods")
        self.method_list.setMaximumWidth(170)
        self.compare_button = QPushButton("Compare on this sample")
        self.compare_button.setObjectName("explainCompareButton")
        self.compare_button.clicked.connect(self.compare_methods)
        side.addWidget(QLabel("Methods (default parameters;\nthe selected one uses yours)"))
        side.addWidget(self.method_list, 1)
        side.addWidget(self.compare_button)
        lay.addLayout(side)
        self.method_grid = TileGrid()
        lay.addWidget(self.method_grid, 1)
        # one method, many samples
        self.samples_tab = QWidget()
        lay2 = QVBoxLayout(self.samples_tab)
        row = QHBoxLayout()
        self.count = QSpinBox()
        self.count.setRange(1, 64)
        self.count.setValue(12)
        self.samples_button = QPushButton("Explain these samples")
        self.samples_button.setObjectName("explainAcrossButton")
        self.samples_button.clicked.connect(self.across_samples)
        row.addWidget(QLabel("The first"))
        row.addWidget(self.count)
        row.addWidget(QLabel("samples shown in the list, with the selected method and parameters"))
        row.addStretch(1)
        row.addWidget(self.samples_button)
        lay2.addLayout(row)
        self.sample_grid = TileGrid()
        lay2.addWidget(self.sample_grid, 1)
        page.methods.methodChanged.connect(lambda _n: self._fill_methods())

    def _fill_methods(self) -> None:
        names = self.page.methods.methods()
        convs = bool(self.page.info.get("conv_layers"))
        if [self.method_list.item(i).text() for i in range(self.method_list.count())] == names and \
                convs == self._filled_for_convs:
            return
        self._filled_for_convs = convs
        self.method_list.clear()
        for name in names:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            usable = convs or name not in NEEDS_CONV  # LayerGradCam on a model without convolutions only fails
            item.setCheckState(Qt.CheckState.Checked if name in DEFAULT_COMPARE and usable else Qt.CheckState.Unchecked)
            if not usable:
                item.setToolTip(f"{name} needs a convolutional layer; this model has none")
            self.method_list.addItem(item)

    def checked(self) -> list[str]:
        return [self.method_list.item(i).text() for i in range(self.method_list.count())
                if self.method_list.item(i).checkState() == Qt.CheckState.Checked]

    def compare_methods(self) -> None:
        page = self.page
        if page.current_index is None:
            return
        self.method_grid.clear()
        for name in self.checked():
            params = page.methods.params() if name == page.methods.method() else {}
            rid = page.explain_request("compare", page.current_index, name, params)
            self.method_grid.add(rid, name)

    def across_samples(self) -> None:
        page = self.page
        self.sample_grid.clear()
        for index in page.browser.visible_indices()[: self.count.value()]:
            rid = page.explain_request("across", index)
            self.sample_grid.add(rid, f"sample {index}")

    def deliver(self, rid: int, purpose: str, result: dict) -> None:
        grid = {"compare": self.method_grid, "across": self.sample_grid}.get(purpose)
        if grid is not None and rid in grid.tiles:
            grid.tiles[rid].show_result(self.page.info, result)

    def fail(self, rid: int, purpose: str, message: str) -> None:
        grid = {"compare": self.method_grid, "across": self.sample_grid}.get(purpose)
        if grid is not None and rid in grid.tiles:
            grid.tiles[rid].show_error(message)


class SanityTab(QWidget):
    """The model-randomization test: trained vs re-initialized weights, rank correlations."""

    def __init__(self, page: Any):
        super().__init__()
        self.page = page
        self._rid = -1
        lay = QVBoxLayout(self)
        intro = QLabel("Does the map depend on what the model learned? The selected method is run on the trained "
                       "model and on copies with re-initialized weights (all layers, then layer by layer from the "
                       "output). A high rank correlation means the map ignores the weights (Adebayo et al., 2018).")
        intro.setWordWrap(True)
        intro.setObjectName("hint")
        lay.addWidget(intro)
        row = QHBoxLayout()
        self.count = QSpinBox()
        self.count.setRange(1, 64)
        self.count.setValue(8)
        self.button = QPushButton("Run the check")
        self.button.setObjectName("explainSanityButton")
        self.button.clicked.connect(self.run_check)
        row.addWidget(QLabel("Samples"))
        row.addWidget(self.count)
        row.addStretch(1)
        row.addWidget(self.button)
        lay.addLayout(row)
        self.verdict = QLabel("")
        self.verdict.setObjectName("explainSanityVerdict")
        self.verdict.setWordWrap(True)
        lay.addWidget(self.verdict)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["weights re-initialized", "rank correlation (mean)"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        lay.addWidget(self.table, 1)
        self.result: dict | None = None

    def run_check(self) -> None:
        page = self.page
        indices = page.browser.visible_indices()[: self.count.value()]
        if not indices:
            return
        self.verdict.setText(f"Running {page.methods.method()} on {len(indices)} samples, trained and re-initialized…")
        self._rid = page._send("sanity", "sanity", split=page.split, indices=indices, method=page.methods.method(),
                               params=page.methods.params(), target=page.methods.target_value())

    def deliver(self, rid: int, purpose: str, result: dict) -> None:
        if purpose != "sanity" or rid != self._rid:
            return
        self.result = result
        self.verdict.setText(f"<b>{result['verdict']}</b><br>per sample: "
                             + ", ".join(f"{c:.2f}" for c in result["correlations"]))
        rows = [("all layers", result["mean"])] + [(f"{name} and above", c) for name, c in result["cascade"]]
        self.table.setRowCount(len(rows))
        for r, (name, value) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(name))
            self.table.setItem(r, 1, QTableWidgetItem(f"{value:.3f}" if np.isfinite(value) else "—"))

    def fail(self, rid: int, purpose: str, message: str) -> None:
        if purpose == "sanity" and rid == self._rid:
            self.verdict.setText("⚠ " + message)
