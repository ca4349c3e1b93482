"""Runs page: every run in the runs directory (from the GUI or the CLI), sortable and filterable;
open one in the Monitor, overlay several in one plot, clone a run's spec into the builder,
delete runs (with confirmation)."""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Sequence

from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QMessageBox, QPushButton,
    QSplitter, QStackedWidget, QTableView, QVBoxLayout, QWidget,
)

from app.services.metric_store import MetricStore
from engine import metrics
from app.services.tasks import BackgroundCall
from app.services.window_services import services_of
from app.widgets.plot_panel import PlotPanel

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
PATH_ROLE = Qt.ItemDataRole.UserRole + 2
#: (header, how to get the shown text and the sort key from a RunSummary)
COLUMNS: tuple[tuple[str, Any], ...] = (
    ("Name", lambda r: (r.name, r.name.lower())),
    ("Status", lambda r: (r.status, r.status)),
    ("Started", lambda r: (time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started)) if r.started else "—",
                           r.started or 0.0)),
    ("Wall time", lambda r: (_duration(r.duration), r.duration or 0.0)),
    ("Training time", lambda r: (_duration(getattr(r, "training_seconds", None)), getattr(r, "training_seconds", None) or 0.0)),
    ("Strategy", lambda r: (f"{r.strategy} × {r.processes}" if r.processes > 1 else r.strategy, r.strategy)),
    ("Epoch", lambda r: _num(r.epoch)),
    ("Step", lambda r: _num(r.step)),
    ("Train loss", lambda r: _num(r.metrics.get(metrics.TRAIN_LOSS))),
    ("Val loss", lambda r: _num(r.metrics.get(metrics.VAL_LOSS))),
    ("Val accuracy / error", lambda r: _num(r.metrics.get(metrics.VAL_ACCURACY, r.metrics.get(metrics.VAL_ERROR)))),
    ("Exports", lambda r: (", ".join(r.exports), len(r.exports))),
)

#: the two durations, defined once (the CLI's `runs` and the train summary's `wall_seconds` /
#: `training_seconds` are the same figures)
HEADER_TIPS = {
    "Wall time": "From start to end, start-up included (importing torch, loading data, starting ranks); "
                 "summed over resumed sessions",
    "Training time": "Time inside the training loop (start-up, data loading and pauses excluded); "
                     "shown once a session has ended",
}


def _duration(seconds: float | None) -> str:
    from app.pages.monitor import fmt_duration

    return fmt_duration(seconds)


def _num(value: Any) -> tuple[str, float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "—", float("-inf")
    return (f"{value:.4g}" if isinstance(value, float) else str(value)), float(value)


def load_stores(paths: Sequence[Path]) -> list[tuple[Path, MetricStore]]:
    """Each run's whole events log folded into a MetricStore (runs on a pool thread)."""
    from engine.runs import RunDir, read_events

    out = []
    for path in paths:
        store = MetricStore()
        events, _ = read_events(RunDir(Path(path)).events_path, 0)
        store.add_events(events)
        out.append((Path(path), store))
    return out


def delete_runs(paths: Sequence[Path]) -> list[str]:
    """Remove run folders; returns the names that could not be removed, with the reason."""
    failed = []
    for path in paths:
        try:
            shutil.rmtree(path)
        except OSError as err:
            failed.append(f"{Path(path).name}: {err.strerror or err}")
    return failed


class RunsPage(QWidget):
    def __init__(self, window: Any = None, services: Any = None):
        super().__init__()
        self.setObjectName("runsPage")
        self.window_ = window
        self.run_service = (services or services_of(window, self)).runs
        self.runs: dict[Path, Any] = {}
        self._lister = BackgroundCall(self)
        self._lister.finished.connect(self._show_runs)
        self._loader = BackgroundCall(self)
        self._loader.finished.connect(self._show_overlay)
        self._deleter = BackgroundCall(self)
        self._deleter.finished.connect(self._deleted)
        self._auto = QTimer(self, interval=3000, timeout=self.refresh)
        self._overlay_timer = QTimer(self, singleShot=True, interval=150, timeout=self._load_overlay)
        self._build()

    @property
    def runs_dir(self) -> Path:
        return self.run_service.runs_dir

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 12, 16, 12)
        title = QLabel("Runs", objectName="pageTitle")
        self.subtitle = QLabel(objectName="pageSubtitle")
        self.subtitle.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(title)
        outer.addWidget(self.subtitle)
        bar = QHBoxLayout()
        self.filter_edit = QLineEdit(objectName="runsFilter", placeholderText="Filter by name, status, strategy…")
        self.filter_edit.setClearButtonEnabled(True)
        self.status_combo = QComboBox(objectName="statusFilter")
        self.status_combo.addItem("All statuses", "")
        for status in ("running", "paused", "completed", "stopped", "failed", "crashed", "pruned", "created"):
            self.status_combo.addItem(status.capitalize(), status)
        bar.addWidget(self.filter_edit, 1)
        bar.addWidget(self.status_combo)
        self.open_button = QPushButton("Open in Monitor", objectName="openRunButton")
        self.clone_button = QPushButton("Clone and edit", objectName="cloneButton")
        self.export_button = QPushButton("Export model…", objectName="exportRunButton")
        self.export_button.setToolTip("ONNX, torch.export, a plain PyTorch project or a weights + spec bundle")
        self.export_button.clicked.connect(self.export_selected)
        self.delete_button = QPushButton("Delete…", objectName="deleteButton")
        self.refresh_button = QPushButton("Refresh", objectName="refreshButton")
        self.open_button.clicked.connect(self.open_selected)
        self.clone_button.clicked.connect(self.clone_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        self.refresh_button.clicked.connect(self.refresh)
        for button in (self.open_button, self.clone_button, self.export_button, self.delete_button, self.refresh_button):
            bar.addWidget(button)
        outer.addLayout(bar)

        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels([c[0] for c in COLUMNS])
        for column, tip in HEADER_TIPS.items():
            self.model.horizontalHeaderItem([c[0] for c in COLUMNS].index(column)).setToolTip(tip)
        self.proxy = _RunFilter(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.status_combo.currentIndexChanged.connect(
            lambda: self.proxy.set_status(self.status_combo.currentData()))
        self.table = QTableView(objectName="runsTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(2, Qt.SortOrder.DescendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(lambda _index: self.open_selected())
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)

        self.overlay = PlotPanel()
        self.overlay.setObjectName("overlayPanel")
        self.overlay_hint = QLabel("Select runs to compare their curves; each run gets its own colour.",
                                   objectName="pageSubtitle")
        bottom = self.overlay_box = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 6, 0, 0)
        bottom_layout.addWidget(self.overlay_hint)
        bottom_layout.addWidget(self.overlay, 1)
        self.empty = QLabel(objectName="runsEmpty")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("QLabel#runsEmpty { color: #555; font-size: 11pt; padding: 24px; }")
        self.table_stack = QStackedWidget(objectName="runsTableStack")
        self.table_stack.addWidget(self.table)
        self.table_stack.addWidget(self.empty)
        self.proxy.rowsInserted.connect(self._update_empty)
        self.proxy.rowsRemoved.connect(self._update_empty)
        self.proxy.modelReset.connect(self._update_empty)
        self.proxy.layoutChanged.connect(self._update_empty)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table_stack)
        split.addWidget(bottom)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([260, 440])
        outer.addWidget(split, 1)
        self._listed = False
        self._selection_changed()
        self._update_empty()

    def _update_empty(self, *_args: Any) -> None:
        """The table, or a message saying why it is empty (no runs yet / none match the filter)."""
        self.overlay_box.setVisible(bool(self.runs))  # nothing to compare without runs
        if self.proxy.rowCount():
            self.table_stack.setCurrentWidget(self.table)
            return
        if not self._listed:
            text = "Looking for runs…"
        elif not self.runs:
            text = ("<p style='font-size:15pt'><b>No runs yet</b></p>"
                    "<p>Press <b>Train</b> on the Train page, or run <code>netwright train SPEC.toml</code> in a "
                    "terminal:<br>every run appears here with its status, times and final metrics.</p>")
        else:
            text = f"No run matches the filter ({len(self.runs)} run(s) hidden)."
        self.empty.setText(text)
        self.table_stack.setCurrentWidget(self.empty)

    # ------------------------------------------------------------------ listing
    def on_shown(self) -> None:
        self.refresh()
        self._auto.start()

    def hideEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        self._auto.stop()
        super().hideEvent(event)

    def refresh(self) -> None:
        """List the runs again (off the GUI thread)."""
        self.subtitle.setText(f"Every run in {self.runs_dir}, started here or with `netwright train`.")
        if not self._lister.pending:
            self._lister.call(self.run_service.list)

    def _show_runs(self, summaries: list) -> None:
        first = not self._listed
        self._listed = True
        if list(self.runs.values()) == list(summaries):
            if first:
                self._update_empty()
            return  # nothing changed: keep the scroll position and current row
        selected = set(self.selected_paths())
        self.runs = {s.path: s for s in summaries}
        self.table.setSortingEnabled(False)
        self.model.setRowCount(0)
        for summary in summaries:
            row = []
            for _, get in COLUMNS:
                text, key = get(summary)
                item = QStandardItem(text)
                item.setData(key, SORT_ROLE)
                item.setData(str(summary.path), PATH_ROLE)
                row.append(item)
            row[1].setToolTip(summary.message or summary.status)
            row[0].setToolTip(str(summary.path))
            self.model.appendRow(row)
        self.table.setSortingEnabled(True)
        self._update_empty()
        if selected:
            self.select_paths([p for p in selected if p in self.runs], overlay=False)

    # ------------------------------------------------------------------ selection
    def selected_paths(self) -> list[Path]:
        rows = self.table.selectionModel().selectedRows(0)
        return [Path(index.data(PATH_ROLE)) for index in rows]

    def select_paths(self, paths: Sequence[Path], overlay: bool = True) -> None:
        """Select the rows of `paths` (as a user would with Ctrl+click)."""
        wanted = {str(p) for p in paths}
        selection = self.table.selectionModel()
        selection.blockSignals(not overlay)
        selection.clearSelection()
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if index.data(PATH_ROLE) in wanted:
                selection.select(index, selection.SelectionFlag.Select | selection.SelectionFlag.Rows)
        selection.blockSignals(False)
        if overlay:
            self._selection_changed()

    def _selection_changed(self, *_args: Any) -> None:
        paths = self.selected_paths()
        self.open_button.setEnabled(len(paths) == 1)
        self.clone_button.setEnabled(len(paths) == 1)
        self.export_button.setEnabled(len(paths) == 1)
        self.delete_button.setEnabled(bool(paths))
        self._overlay_timer.start()

    def _load_overlay(self) -> None:
        paths = self.selected_paths()
        if not paths:
            self.overlay.clear()
            self.overlay_hint.setText("Select runs to compare their curves; each run gets its own colour.")
            return
        self.overlay_hint.setText(f"Loading {len(paths)} run(s)…")
        self._loader.call(load_stores, paths)

    def _show_overlay(self, loaded: list) -> None:
        self.overlay.clear()
        for path, store in loaded:
            summary = self.runs.get(path)
            label = summary.name if summary is not None else path.name
            if sum(1 for s in self.runs.values() if s.name == label) > 1:
                label = f"{label} ({path.name.split('-')[1] if '-' in path.name else path.name})"
            self.overlay.set_store(str(path), label, store)
        self.overlay.flush()
        self.overlay.auto_range()
        names = ", ".join(self.overlay.label(str(p)) for p, _ in loaded)
        self.overlay_hint.setText(f"Comparing {len(loaded)} run(s): {names}")

    # ------------------------------------------------------------------ actions
    def open_selected(self) -> None:
        paths = self.selected_paths()
        if len(paths) != 1:
            return
        self.run_service.attach(paths[0])
        if self.window_ is not None:
            self.window_.show_page("monitor")

    def export_selected(self) -> None:
        """The Export dialog for the selected run (app/widgets/export_dialog.py)."""
        from app.widgets.export_dialog import ExportDialog

        paths = self.selected_paths()
        if len(paths) == 1:
            self.export_dialog = ExportDialog(paths[0], self)
            self.export_dialog.open()

    def clone_selected(self) -> None:
        """Load the run's spec into the builder as an undoable edit, and show the Build page."""
        paths = self.selected_paths()
        if len(paths) != 1 or self.window_ is None:
            return
        from engine.problems import SpecError
        from engine.runs import RunDir

        try:
            spec = RunDir.open(paths[0]).load_spec()
        except SpecError as err:
            self.window_.report_error("Cannot clone this run", err)
            return
        self.window_.document.edit(spec, f"Clone run {paths[0].name}")
        self.window_.show_page("build")

    def confirm_delete(self, names: Sequence[str]) -> bool:
        """Ask before deleting (tests replace this)."""
        shown = "\n".join(f"• {n}" for n in names[:10]) + ("\n…" if len(names) > 10 else "")
        answer = QMessageBox.question(
            self, "Delete runs", f"Delete {len(names)} run(s) and all their files (checkpoints, logs)?\n\n{shown}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes

    def delete_selected(self) -> None:
        from engine.runs import ACTIVE

        paths = self.selected_paths()
        live = [p for p in paths if p in self.runs and self.runs[p].status in ACTIVE]
        if live:
            QMessageBox.information(self, "Run still active", "Stop these runs before deleting them:\n"
                                    + "\n".join(p.name for p in live))
            return
        if not paths or not self.confirm_delete([self.runs[p].name if p in self.runs else p.name for p in paths]):
            return
        self.run_service.release(paths)
        self.overlay.clear()
        self._deleter.call(delete_runs, paths)

    def _deleted(self, failed: list) -> None:
        if failed:
            QMessageBox.warning(self, "Some runs were not deleted", "\n".join(failed))
        self.refresh()


class _RunFilter(QSortFilterProxyModel):
    """Free-text filter over every column plus an exact status filter."""

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self._status = ""

    def set_status(self, status: str) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.9 (invalidateFilter is deprecated there)
            self.beginFilterChange()
            self._status = status or ""
            self.endFilterChange()
        else:  # pragma: no cover - older Qt
            self._status = status or ""
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: Any) -> bool:  # noqa: N802 (Qt name)
        if self._status:
            status = self.sourceModel().index(row, 1, parent).data()
            if status != self._status:
                return False
        return super().filterAcceptsRow(row, parent)

