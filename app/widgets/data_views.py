"""Small painted views used by the data preview: an image grid with labels, class-balance bars
and a 2-D scatter of points. They take numpy arrays and paint with QPainter (no plotting library)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

#: a qualitative palette readable on light and dark backgrounds (class colours)
CLASS_COLORS = ("#3b82f6", "#f97316", "#10b981", "#e5484d", "#8b5cf6", "#eab308", "#06b6d4", "#ec4899",
                "#84cc16", "#64748b")


def to_pixmap(array: np.ndarray) -> QPixmap:
    """A float image (H, W) or (H, W, 3) in [0, 1] as a QPixmap."""
    data = np.ascontiguousarray(np.clip(np.asarray(array, dtype=np.float32), 0.0, 1.0) * 255).astype(np.uint8)
    if data.ndim == 3 and data.shape[2] == 1:
        data = np.ascontiguousarray(data[:, :, 0])
    h, w = data.shape[:2]
    if data.ndim == 2:
        image = QImage(data.data, w, h, w, QImage.Format.Format_Grayscale8)
    else:
        image = QImage(data.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())  # copy: the numpy buffer is temporary


class ImageGrid(QWidget):
    """Sample images in a grid, each with its label under it, scaled without smoothing."""

    TILE = 110
    MIN_TILE = 72
    GAP = 10
    LABEL = 18

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("imageGrid")
        self._pixmaps: list[QPixmap] = []
        self._labels: list[str] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def set_images(self, images: Sequence[np.ndarray], labels: Sequence[str]) -> None:
        self._pixmaps = [to_pixmap(image) for image in images]
        self._labels = list(labels)
        self.updateGeometry()
        self.update()

    def count(self) -> int:
        return len(self._pixmaps)

    def _layout(self, width: int) -> tuple[int, int]:
        """(columns, tile size): rows are filled evenly (16 samples -> 2 rows of 8 when they fit)."""
        n = max(1, len(self._pixmaps))
        fit = max(1, (width + self.GAP) // (self.MIN_TILE + self.GAP))
        columns = min(n, fit)
        for candidate in range(columns, max(1, columns // 2) - 1, -1):
            if n % candidate == 0:
                columns = candidate
                break
        tile = min(self.TILE, (width + self.GAP) // columns - self.GAP)
        return columns, max(self.MIN_TILE // 2, tile)

    def _columns(self, width: int) -> int:
        return self._layout(width)[0]

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt name)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt name)
        columns, tile = self._layout(width)
        rows = math.ceil(len(self._pixmaps) / columns) if self._pixmaps else 0
        return rows * (tile + self.LABEL + self.GAP)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return QSize(4 * (self.TILE + self.GAP), self.heightForWidth(4 * (self.TILE + self.GAP)))

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        columns, size = self._layout(self.width())
        text_color = self.palette().color(QPalette.ColorRole.WindowText)
        border = self.palette().color(QPalette.ColorRole.Mid)
        for i, pixmap in enumerate(self._pixmaps):
            r, c = divmod(i, columns)
            x = c * (size + self.GAP)
            y = r * (size + self.LABEL + self.GAP)
            target = QRectF(x, y, size, size)
            scaled = pixmap.size().scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio)
            inner = QRectF(x + (size - scaled.width()) / 2, y + (size - scaled.height()) / 2,
                           scaled.width(), scaled.height())
            painter.drawPixmap(inner, pixmap, QRectF(pixmap.rect()))
            painter.setPen(border)
            painter.drawRect(target.adjusted(0, 0, -1, -1))
            painter.setPen(text_color)
            label = self._labels[i] if i < len(self._labels) else ""
            painter.drawText(QRectF(x, y + size, size, self.LABEL),
                             Qt.AlignmentFlag.AlignCenter, painter.fontMetrics().elidedText(
                                 label, Qt.TextElideMode.ElideRight, size))
        painter.end()


class ClassBalance(QWidget):
    """Horizontal bars: samples per class (the first `MAX` classes, the rest summed)."""

    MAX = 12
    ROW = 20

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("classBalance")
        self._counts: list[tuple[str, int]] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_counts(self, counts: Sequence[tuple[str, int]]) -> None:
        counts = list(counts)
        if len(counts) > self.MAX:
            rest = sum(n for _, n in counts[self.MAX - 1:])
            counts = counts[:self.MAX - 1] + [(f"{len(counts) - self.MAX + 1} more", rest)]
        self._counts = counts
        self.setFixedHeight(max(0, len(counts) * self.ROW + 4))
        self.update()

    def counts(self) -> list[tuple[str, int]]:
        return list(self._counts)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if not self._counts:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        metrics = painter.fontMetrics()
        name_w = min(160, max(metrics.horizontalAdvance(n) for n, _ in self._counts) + 10)
        count_w = max(metrics.horizontalAdvance(f"{c:,}") for _, c in self._counts) + 10
        total = sum(c for _, c in self._counts) or 1
        biggest = max(c for _, c in self._counts) or 1
        bar_w = max(20, self.width() - name_w - count_w - 60)
        text = self.palette().color(QPalette.ColorRole.WindowText)
        for i, (name, count) in enumerate(self._counts):
            y = i * self.ROW + 2
            painter.setPen(text)
            painter.drawText(QRectF(0, y, name_w - 8, self.ROW - 4), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             metrics.elidedText(name, Qt.TextElideMode.ElideRight, name_w - 8))
            width = bar_w * count / biggest
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(CLASS_COLORS[i % len(CLASS_COLORS)]))
            painter.drawRoundedRect(QRectF(name_w, y + 3, max(2.0, width), self.ROW - 9), 3, 3)
            painter.setPen(text)
            painter.drawText(QRectF(name_w + width + 6, y, count_w + 60, self.ROW - 4),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             f"{count:,}  ({100 * count / total:.0f}%)")
        painter.end()


class PointPlot(QWidget):
    """A scatter of 2-D points coloured by class."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("pointPlot")
        self._points = np.zeros((0, 2), dtype=np.float32)
        self._labels = np.zeros((0,), dtype=np.int64)
        self.setMinimumHeight(220)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_points(self, points: np.ndarray | None, labels: np.ndarray | None) -> None:
        self._points = np.zeros((0, 2), dtype=np.float32) if points is None else np.asarray(points)[:, :2]
        self._labels = np.zeros(len(self._points), dtype=np.int64) if labels is None else np.asarray(labels).ravel()
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        frame = QRectF(self.rect()).adjusted(6, 6, -6, -6)
        painter.setPen(self.palette().color(QPalette.ColorRole.Mid))
        painter.setBrush(self.palette().color(QPalette.ColorRole.Base))
        painter.drawRoundedRect(frame, 6, 6)
        if len(self._points):
            low, high = self._points.min(axis=0), self._points.max(axis=0)
            span = np.where(high - low > 0, high - low, 1.0)
            side = min(frame.width(), frame.height()) - 20
            ox = frame.center().x() - side / 2
            oy = frame.center().y() - side / 2
            painter.setPen(Qt.PenStyle.NoPen)
            for (x, y), label in zip(self._points, self._labels):
                color = QColor(CLASS_COLORS[int(label) % len(CLASS_COLORS)] if float(label).is_integer() else CLASS_COLORS[0])
                color.setAlpha(190)
                painter.setBrush(color)
                px = ox + (x - low[0]) / span[0] * side
                py = oy + side - (y - low[1]) / span[1] * side
                painter.drawEllipse(QPointF(px, py), 2.6, 2.6)
        painter.end()
