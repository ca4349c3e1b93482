"""The system panel: CPU per core, memory, GPUs and the run's processes (one row per rank)."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView, QGridLayout, QHeaderView, QLabel, QProgressBar, QSizePolicy, QTableWidget,
    QTableWidgetItem, QVBoxLayout, QWidget,
)

from app.services.system_sampler import GpuSample, SystemSample, gpus_from_event

GIB = 1024 ** 3


def human_bytes(n: float) -> str:
    for unit, size in (("GiB", GIB), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


class CoreBars(QWidget):
    """One thin vertical bar per CPU core (works for 2 cores or 128)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("coreBars")
        self.values: tuple[float, ...] = ()
        self.setMinimumHeight(44)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return QSize(200, 48)

    def set_values(self, values: Sequence[float]) -> None:
        self.values = tuple(values)
        self.setToolTip("\n".join(f"core {i}: {v:.0f}%" for i, v in enumerate(self.values)))
        self.update()

    def paintEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        if not self.values:
            return
        painter = QPainter(self)
        palette = self.palette()
        track = palette.color(QPalette.ColorRole.Mid)
        track.setAlpha(60)
        fill = palette.color(QPalette.ColorRole.Highlight)
        n, w, h = len(self.values), self.width(), self.height()
        gap = 2 if n < 48 else 1
        bar = max(1.0, (w - gap * (n - 1)) / n)
        for i, value in enumerate(self.values):
            x = i * (bar + gap)
            painter.fillRect(QRectF(x, 0, bar, h), track)
            level = h * max(0.0, min(100.0, value)) / 100.0
            color = QColor("#d9534f") if value > 90 else fill
            painter.fillRect(QRectF(x, h - level, bar, level), color)
        painter.end()


def _bar(name: str) -> QProgressBar:
    bar = QProgressBar(objectName=name)
    bar.setRange(0, 1000)
    bar.setTextVisible(True)
    bar.setMaximumHeight(18)
    return bar


class SystemPanel(QWidget):
    """Shows `SystemSample`s; GPU rows come from NVML or from the worker's `system` events."""

    COLUMNS = ("Process", "PID", "CPU %", "Memory")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("systemPanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.cpu_label = QLabel("CPU", objectName="sectionLabel")
        self.cores = CoreBars()
        self.mem_label = QLabel("Memory", objectName="sectionLabel")
        self.mem_bar = _bar("memoryBar")
        self.gpu_label = QLabel("GPUs", objectName="sectionLabel")
        self.gpu_grid = QGridLayout()
        self.gpu_grid.setContentsMargins(0, 0, 0, 0)
        self.no_gpu = QLabel("No GPU in use", objectName="hintLabel")
        self.gpu_grid.addWidget(self.no_gpu, 0, 0, 1, 2)
        self.proc_label = QLabel("Run processes", objectName="sectionLabel")
        self.table = QTableWidget(0, len(self.COLUMNS), objectName="processTable")
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in (1, 2, 3):
            self.table.horizontalHeader().setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumHeight(90)
        for widget in (self.cpu_label, self.cores, self.mem_label, self.mem_bar, self.gpu_label):
            layout.addWidget(widget)
        layout.addLayout(self.gpu_grid)
        layout.addWidget(self.proc_label)
        layout.addWidget(self.table, 1)
        self._gpu_rows: list[tuple[QLabel, QProgressBar, QProgressBar]] = []
        self._event_gpus: tuple[GpuSample, ...] = ()
        self.last_sample: SystemSample | None = None

    def add_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Take GPU figures from the worker's `system` events (used when NVML is not here)."""
        for event in events:
            if event.get("type") == "system" and event.get("gpus"):
                self._event_gpus = gpus_from_event(event)
            elif event.get("type") == "metric" and isinstance(event.get("gpu_memory"), (int, float)):
                # the trainer reports rank 0's peak allocated CUDA memory with its metrics
                self._event_gpus = (GpuSample(0, str(event.get("device", "rank 0's GPU")), None,
                                              int(event["gpu_memory"]), 0),)
        if self._event_gpus and (self.last_sample is None or not self.last_sample.gpus):
            self._show_gpus(self._event_gpus)

    def show_sample(self, sample: SystemSample) -> None:
        self.last_sample = sample
        cores = sample.cpu_per_core
        avg = sum(cores) / len(cores) if cores else 0.0
        self.cpu_label.setText(f"CPU — {len(cores)} cores, {avg:.0f}% average")
        self.cores.set_values(cores)
        self.mem_bar.setValue(int(1000 * sample.mem_used / sample.mem_total) if sample.mem_total else 0)
        self.mem_bar.setFormat(f"{human_bytes(sample.mem_used)} of {human_bytes(sample.mem_total)}")
        self._show_gpus(sample.gpus or self._event_gpus)
        self.table.setRowCount(len(sample.processes))
        for row, proc in enumerate(sample.processes):
            cells = (proc.role, str(proc.pid), f"{proc.cpu_percent:.0f}", human_bytes(proc.rss_bytes))
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        self.proc_label.setText(f"Run processes ({len(sample.processes)})" if sample.processes
                                else "Run processes — none running")

    def _show_gpus(self, gpus: Sequence[GpuSample]) -> None:
        self.no_gpu.setVisible(not gpus)
        while len(self._gpu_rows) < len(gpus):
            row = len(self._gpu_rows)
            label, util, mem = QLabel(), _bar(f"gpuUtil{row}"), _bar(f"gpuMem{row}")
            self.gpu_grid.addWidget(label, 1 + 2 * row, 0, 1, 2)
            self.gpu_grid.addWidget(util, 2 + 2 * row, 0)
            self.gpu_grid.addWidget(mem, 2 + 2 * row, 1)
            self._gpu_rows.append((label, util, mem))
        for i, (label, util, mem) in enumerate(self._gpu_rows):
            visible = i < len(gpus)
            for widget in (label, util, mem):
                widget.setVisible(visible)
            if not visible:
                continue
            gpu = gpus[i]
            label.setText(f"cuda:{gpu.index} — {gpu.name}")
            util.setValue(int(10 * (gpu.util_percent or 0)))
            util.setFormat("util n/a" if gpu.util_percent is None else f"util {gpu.util_percent:.0f}%")
            mem.setValue(int(1000 * gpu.mem_used / gpu.mem_total) if gpu.mem_total else 0)
            mem.setFormat(f"{human_bytes(gpu.mem_used)} of {human_bytes(gpu.mem_total)}" if gpu.mem_total
                          else f"{human_bytes(gpu.mem_used)} peak allocated")
