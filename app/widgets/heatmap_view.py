"""HeatmapView: an image sample, its attribution heatmap and their overlay, side by side.

The colours come from engine.interpret.render (the same colormaps and scaling as the PNGs the
`explain` command writes). Signed maps use a diverging colormap centred on zero, absolute maps a
sequential one; the overlay's opacity is adjustable. Pixels stay crisp (nearest-neighbour).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from engine.interpret.render import apply_colormap, heatmap_2d, image_rgb, overlay, scale_values

PANELS = ("input", "attribution", "overlay")


def to_qimage(rgb: np.ndarray) -> QImage:
    """A deep-copied QImage from a uint8 (H, W, 3) array."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class HeatmapView(QWidget):
    """`set_result(display, values, signed)`; `set_opacity(0..1)`; `set_mode("auto"|"signed"|"absolute")`."""

    def __init__(self, panels: Sequence[str] = PANELS, parent: QWidget | None = None, *, titles: bool = True,
                 colorbar: bool = True):
        super().__init__(parent)
        self.panels = tuple(panels)
        self.titles = titles
        self.colorbar = colorbar
        self.opacity = 0.7
        self.mode = "auto"
        self._display: np.ndarray | None = None
        self._values: np.ndarray | None = None
        self._method_signed = True
        self.arrays: dict[str, np.ndarray] = {}
        self._images: dict[str, QImage] = {}
        self.peak = 0.0
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(120 * len(self.panels), 120)

    @property
    def signed(self) -> bool:
        return self._method_signed if self.mode == "auto" else self.mode == "signed"

    def set_result(self, display: np.ndarray, values: np.ndarray, signed: bool) -> None:
        self._display, self._values, self._method_signed = np.asarray(display), np.asarray(values), signed
        self._render()

    def clear(self) -> None:
        self._display = self._values = None
        self.arrays, self._images = {}, {}
        self.update()

    def set_opacity(self, opacity: float) -> None:
        self.opacity = float(opacity)
        self._render()

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self._render()

    def _render(self) -> None:
        if self._display is None or self._values is None:
            return
        rgb = image_rgb(self._display)
        heat = heatmap_2d(self._values)
        signed = self.signed
        self.peak = float(np.percentile(np.abs(heat), 99.5)) if heat.size else 0.0
        scaled = scale_values(heat, signed)
        self.arrays = {"input": np.round(rgb * 255).astype(np.uint8), "attribution": apply_colormap(scaled, signed),
                       "overlay": overlay(rgb, scaled, signed, self.opacity)}
        self._images = {k: to_qimage(v) for k, v in self.arrays.items() if k in self.panels}
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.PlaceholderText)
        if not self._images:
            painter.setPen(text)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No attribution yet")
            return
        gap, title_h = 12, (18 if self.titles else 0)
        bar_w = self._colorbar_width() if self.colorbar else 0
        n = len(self.panels)
        side = max(16, min((self.width() - gap * (n - 1) - bar_w) / n, self.height() - title_h - 24))
        total = n * side + gap * (n - 1) + bar_w
        x0 = (self.width() - total) / 2
        y0 = title_h + 4
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        for i, key in enumerate(self.panels):
            x = x0 + i * (side + gap)
            image = self._images[key]
            scale = side / max(image.width(), image.height())
            w, h = image.width() * scale, image.height() * scale
            target = QRectF(x + (side - w) / 2, y0 + (side - h) / 2, w, h)
            painter.drawImage(target, image)
            if self.titles:
                painter.setPen(text)
                painter.drawText(QRectF(x, y0 - title_h, side, title_h), Qt.AlignmentFlag.AlignLeft, key)
        if self.colorbar:
            self._paint_colorbar(painter, x0 + n * (side + gap) - gap + 10, y0, side, text)

    def _label_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.8))
        return font

    def _colorbar_width(self) -> int:
        """Room for the bar and its end labels ("+0.57"), so the labels are never cut off."""
        label = QFontMetrics(self._label_font()).horizontalAdvance(f"+{self.peak:.2g}")
        return 10 + max(10, label - 4) + 2

    def _paint_colorbar(self, painter: QPainter, x: float, y: float, height: float, text: QColor) -> None:
        signed = self.signed
        ramp = np.linspace(1, -1 if signed else 0, 128)[:, None].repeat(2, axis=1)
        painter.drawImage(QRectF(x, y, 10, height), to_qimage(apply_colormap(ramp, signed)))
        painter.setPen(text)
        painter.setFont(self._label_font())
        top = f"{self.peak:.2g}"
        painter.drawText(QRectF(x - 4, y - 16, 60, 14), Qt.AlignmentFlag.AlignLeft, "+" + top if signed else top)
        painter.drawText(QRectF(x - 4, y + height + 2, 60, 14), Qt.AlignmentFlag.AlignLeft, "−" + top if signed else "0")
