"""SampleBrowser: the samples of a split with true label, prediction and confidence.

Images are a grid of thumbnails; tabular, points and text samples are table rows. A check box
keeps only the misclassified samples. `selected(index)` is emitted with the sample's index in
the split when the user picks one.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QHBoxLayout, QHeaderView, QLabel, QListView, QListWidget, QListWidgetItem,
    QStackedWidget, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from app.widgets.heatmap_view import to_qimage
from app.widgets.theme import PROBLEM_COLOR

MAX_SHOWN = 600
THUMB = 48


class SampleBrowser(QWidget):
    selected = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.kind = "image"
        self.regression = False
        self.true = np.zeros(0, np.int64)
        self.predicted = np.zeros(0, np.int64)
        self.confidence = np.zeros(0, np.float32)
        self.class_names: tuple[str, ...] = ()
        self._thumbs: dict[int, QIcon] = {}
        self._texts: dict[int, str] = {}
        self._shown: list[int] = []

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        self.only_wrong = QCheckBox("Misclassified only")
        self.only_wrong.setObjectName("explainMisclassified")
        self.only_wrong.toggled.connect(self._refill)
        self.count = QLabel("")
        self.count.setObjectName("hint")
        top.addWidget(self.only_wrong)
        top.addStretch(1)
        top.addWidget(self.count)
        layout.addLayout(top)

        self.grid = QListWidget()
        self.grid.setObjectName("explainThumbnails")
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setIconSize(QSize(THUMB, THUMB))
        self.grid.setGridSize(QSize(THUMB + 26, THUMB + 36))
        self.grid.setSpacing(2)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setWordWrap(True)
        self.grid.currentItemChanged.connect(lambda item, _: item is not None and self.selected.emit(item.data(Qt.ItemDataRole.UserRole)))

        self.table = QTableWidget(0, 4)
        self.table.setObjectName("explainSampleTable")
        self.table.setHorizontalHeaderLabels(["#", "true", "predicted", "conf."])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.currentCellChanged.connect(self._table_pick)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(22)

        self.stack = QStackedWidget()
        self.stack.addWidget(self.grid)
        self.stack.addWidget(self.table)
        layout.addWidget(self.stack, 1)

    # -- data --------------------------------------------------------------------------------
    def set_data(self, kind: str, true: np.ndarray, predicted: np.ndarray, confidence: np.ndarray,
                 class_names: Sequence[str], regression: bool = False) -> None:
        """Classification: class labels, predictions, confidences. Regression: target values,
        outputs and absolute errors (no misclassified filter)."""
        self.kind = kind
        self.regression = regression
        self.only_wrong.setVisible(not regression)
        if regression:
            self.only_wrong.setChecked(False)
        self.true, self.predicted, self.confidence = np.asarray(true), np.asarray(predicted), np.asarray(confidence)
        self.class_names = tuple(class_names)
        self._thumbs, self._texts = {}, {}
        text = kind == "text"
        self.table.setColumnCount(5 if text else 4)
        heads = ["#", "target", "output", "|error|"] if regression else ["#", "true", "predicted", "conf."]
        self.table.setHorizontalHeaderLabels(heads + (["text"] if text else []))
        self.stack.setCurrentWidget(self.grid if kind == "image" else self.table)
        self._refill()

    def set_thumbnails(self, indices: Sequence[int], rgb: np.ndarray) -> None:
        """Thumbnails (uint8 (n, H, W, 3)) for image samples."""
        for i, image in zip(indices, rgb):
            pix = QPixmap.fromImage(to_qimage(image).scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                                            Qt.TransformationMode.FastTransformation))
            self._thumbs[int(i)] = QIcon(pix)
        for row in range(self.grid.count()):
            item = self.grid.item(row)
            icon = self._thumbs.get(item.data(Qt.ItemDataRole.UserRole))
            if icon is not None:
                item.setIcon(icon)
        self.grid.doItemsLayout()

    def set_texts(self, indices: Sequence[int], texts: Sequence[str]) -> None:
        self._texts.update({int(i): t for i, t in zip(indices, texts)})
        if self.kind == "text":
            for row in range(self.table.rowCount()):
                index = self.table.item(row, 0).data(Qt.ItemDataRole.UserRole)
                item = QTableWidgetItem(self._texts.get(index, ""))
                item.setToolTip(item.text())  # the whole text (the column is narrow)
                self.table.setItem(row, 4, item)

    def name(self, c: int) -> str:
        if c < 0:
            return "?"
        return self.class_names[c] if c < len(self.class_names) else str(c)

    def wrong(self) -> np.ndarray:
        if self.regression:
            return np.zeros(len(self.true), bool)
        return (self.true >= 0) & (self.true != self.predicted)

    def visible_indices(self) -> list[int]:
        return list(self._shown)

    def _refill(self) -> None:
        keep = np.flatnonzero(self.wrong()) if self.only_wrong.isChecked() else np.arange(len(self.true))
        self._shown = [int(i) for i in keep[:MAX_SHOWN]]
        total = len(keep)
        self.count.setText(f"{total} samples" if total <= MAX_SHOWN else f"first {MAX_SHOWN} of {total}")
        red = QBrush(QColor(PROBLEM_COLOR))
        if self.kind == "image":
            self.grid.blockSignals(True)
            self.grid.clear()
            for i in self._shown:
                item = QListWidgetItem(f"{self.name(self.true[i])}→{self.name(self.predicted[i])}\n{self.confidence[i]:.0%}")
                item.setData(Qt.ItemDataRole.UserRole, i)
                item.setToolTip(f"sample {i}: true {self.name(self.true[i])}, predicted {self.name(self.predicted[i])} "
                                f"({self.confidence[i]:.1%})")
                if i in self._thumbs:
                    item.setIcon(self._thumbs[i])
                if self.wrong()[i]:
                    item.setForeground(red)
                self.grid.addItem(item)
            self.grid.blockSignals(False)
            return
        self.table.blockSignals(True)
        self.table.setRowCount(len(self._shown))
        wrong = self.wrong()
        for row, i in enumerate(self._shown):
            if self.regression:
                cells = [str(i), f"{self.true[i]:.4g}", f"{self.predicted[i]:.4g}", f"{self.confidence[i]:.3g}"]
            else:
                cells = [str(i), self.name(self.true[i]), self.name(self.predicted[i]), f"{self.confidence[i]:.1%}"]
            if self.kind == "text":
                cells.append(self._texts.get(i, ""))
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, i)
                if wrong[i] and col in (1, 2):
                    item.setForeground(red)
                self.table.setItem(row, col, item)
        self.table.blockSignals(False)

    def _table_pick(self, row: int, *_args) -> None:
        if 0 <= row < self.table.rowCount():
            self.selected.emit(int(self.table.item(row, 0).data(Qt.ItemDataRole.UserRole)))

    def select(self, index: int) -> bool:
        """Select sample `index` as if clicked (False when it is filtered out)."""
        if index not in self._shown:
            return False
        row = self._shown.index(index)
        if self.kind == "image":
            self.grid.setCurrentRow(row)
        else:
            self.table.setCurrentCell(row, 0)
        return True
