"""Sweeps page: search hyper-parameters over many runs (engine/sweep, on Optuna).

Set up from the current spec: pick options from its schema in the parameter table, their
distributions, the sampler, pruner, budget and how many trials run at once; Start validates the
sweep (every problem named), creates the sweep directory and runs the sweep's driver in a
background process. Watch it: a live, sortable trials table with the best trial highlighted,
all trials' curves overlaid (pruned ones faded), a parallel-coordinates plot and Optuna's
parameter importances. Open a trial in Monitor or Explain; "Use these settings" copies a
trial's values into the builder (an undoable edit)."""
from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QDoubleSpinBox, QFormLayout, QFrame, QHBoxLayout, QHeaderView, QLabel, QPushButton,
    QSpinBox, QSplitter, QTableView, QTabWidget, QVBoxLayout, QWidget,
)

from app.services.tasks import BackgroundCall
from app.services.window_services import services_of
from app.widgets.feature_bars import FeatureBars
from app.widgets.panel import side_by_side, titled_panel
from app.widgets.schema_form import SchemaForm
from app.widgets.sweep_params import SweepParamsTable
from app.widgets.sweep_plots import BEST_COLOR, ParallelCoordinates, SweepCurves, short_name
from engine.sweep.config import METRICS
from engine.sweep.pruners import PRUNERS
from engine.sweep.samplers import SAMPLERS

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
TRIAL_ROLE = Qt.ItemDataRole.UserRole + 2
POLL_MS = 500


def prepare_sweep(base: Any, table: dict[str, Any]):
    """(SweepSpec, problems) for the current spec and the page's [sweep] table (a pool thread:
    validation reads the data's description)."""
    from engine.sweep.config import parse_sweep, validate_sweep

    sweep = parse_sweep(table, base)
    return sweep, validate_sweep(sweep)


class SweepsPage(QWidget):
    def __init__(self, window: Any = None, services: Any = None):
        super().__init__()
        self.setObjectName("sweepsPage")
        self.window_ = window
        self.run_service = (services or services_of(window, self)).runs
        self.watch: Any = None
        self.axes: list[tuple[str, bool]] = []  # the watched sweep's parameters and whether each is log-scaled
        self.proc: subprocess.Popen | None = None
        self._validator = BackgroundCall(self)
        self._validator.finished.connect(self._validated)
        self._validator.failed.connect(lambda message: self._show_problems([message]))
        self._timer = QTimer(self, interval=POLL_MS, timeout=self.poll)
        self._build()

    @property
    def sweeps_dir(self) -> Path:
        return Path(self.run_service.runs_dir) / "sweeps"

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 12, 16, 12)
        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.addWidget(QLabel("Sweeps", objectName="pageTitle"))
        self.subtitle = QLabel("Search hyper-parameters over many runs: pick options, ranges and a budget, then start.",
                               objectName="pageSubtitle")
        titles.addWidget(self.subtitle)
        head.addLayout(titles, 1)
        self.sweep_combo = QComboBox(objectName="sweepChooser")
        self.sweep_combo.setMinimumWidth(320)
        self.sweep_combo.activated.connect(lambda *_: self.open_sweep(self.sweep_combo.currentData()))
        head.addWidget(QLabel("Sweep:"))
        head.addWidget(self.sweep_combo)
        outer.addLayout(head)
        outer.addWidget(side_by_side(self._setup_panel(), self._watch_panel(), (520, 730)), 1)

    @staticmethod
    def _show_options(form: SchemaForm, registry: Any, combo: QComboBox, values: dict | None = None) -> None:
        params = registry.get(combo.currentData()).params if combo.currentData() in registry else ()
        form.set_params(params, values or {})
        form.setVisible(bool(params))

    def _setup_panel(self) -> QFrame:
        frame, lay = titled_panel("SEARCH")
        self.params = SweepParamsTable()
        self.params.changed.connect(self._clear_problems)
        lay.addWidget(self.params, 1)
        hint = QLabel("Options come from the current spec. A log range suits learning rates; values lists choices "
                      "(comma-separated).", objectName="hint", wordWrap=True)
        lay.addWidget(hint)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add option", objectName="addSweepParam")
        self.add_button.clicked.connect(lambda: self.params.add_row())
        self.remove_button = QPushButton("Remove", objectName="removeSweepParam")
        self.remove_button.clicked.connect(self.params.remove_selected)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        lay.addLayout(row)
        form = QFormLayout()
        self.sampler = QComboBox(objectName="sweepSampler")
        for entry in SAMPLERS:
            self.sampler.addItem(entry.name, entry.name)
            self.sampler.setItemData(self.sampler.count() - 1, entry.description, Qt.ItemDataRole.ToolTipRole)
        self.sampler.setCurrentIndex(self.sampler.findData("tpe"))
        # each sampler's and pruner's options, from its registry entry's schema
        self.sampler_form = SchemaForm(show_help=False)  # the help is each field's tooltip
        self.pruner_form = SchemaForm(show_help=False)
        self.sampler_form.setObjectName("samplerOptions")
        self.pruner_form.setObjectName("prunerOptions")
        self.pruner = QComboBox(objectName="sweepPruner")
        for entry in PRUNERS:
            self.pruner.addItem(entry.name.replace("_", " "), entry.name)
            self.pruner.setItemData(self.pruner.count() - 1, entry.description, Qt.ItemDataRole.ToolTipRole)
        self.metric = QComboBox(objectName="sweepMetric")
        self.metric.addItem("quality (accuracy or error)", "")
        for name in METRICS:
            self.metric.addItem(name, name)
        self.trials = QSpinBox(objectName="sweepTrials", minimum=0, maximum=100_000, value=20)
        self.trials.setSpecialValueText("whole grid / 20")
        self.minutes = QDoubleSpinBox(objectName="sweepMinutes", minimum=0, maximum=100_000, decimals=1, value=0)
        self.minutes.setSpecialValueText("no limit")
        self.concurrency = QSpinBox(objectName="sweepConcurrency", minimum=1, maximum=256, value=2)
        form.addRow("Sampler", self.sampler)
        form.addRow(self.sampler_form)
        form.addRow("Pruner", self.pruner)
        form.addRow(self.pruner_form)
        self.sampler.currentIndexChanged.connect(lambda *_: self._show_options(self.sampler_form, SAMPLERS, self.sampler))
        self.pruner.currentIndexChanged.connect(lambda *_: self._show_options(self.pruner_form, PRUNERS, self.pruner))
        self._show_options(self.sampler_form, SAMPLERS, self.sampler)
        self._show_options(self.pruner_form, PRUNERS, self.pruner)
        form.addRow("Metric", self.metric)
        form.addRow("Trials", self.trials)
        form.addRow("Minutes", self.minutes)
        form.addRow("Trials at once", self.concurrency)
        lay.addLayout(form)
        self.problems = QLabel(objectName="sweepProblems", wordWrap=True)
        self.problems.setStyleSheet("color: #e5484d;")
        self.problems.hide()
        lay.addWidget(self.problems)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start sweep", objectName="startSweep")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop", objectName="stopSweep", enabled=False)
        self.stop_button.clicked.connect(self.stop)
        buttons.addWidget(self.start_button, 1)
        buttons.addWidget(self.stop_button)
        lay.addLayout(buttons)
        return frame

    def _watch_panel(self) -> QWidget:
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        frame, inner = titled_panel("TRIALS")
        self.summary = QLabel("No sweep yet — set one up on the left and press Start sweep.", objectName="sweepSummary",
                              wordWrap=True)
        inner.addWidget(self.summary)
        self.model = QStandardItemModel(self)
        self.proxy = QSortFilterProxyModel(self, sortRole=SORT_ROLE)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView(objectName="sweepTrials")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setWordWrap(False)
        self.table.doubleClicked.connect(lambda *_: self.open_in_monitor())
        inner.addWidget(self.table, 1)
        actions = QHBoxLayout()
        self.monitor_button = QPushButton("Open in Monitor", objectName="trialMonitor")
        self.monitor_button.clicked.connect(self.open_in_monitor)
        self.explain_button = QPushButton("Open in Explain", objectName="trialExplain")
        self.explain_button.clicked.connect(self.open_in_explain)
        self.use_button = QPushButton("Use these settings", objectName="useTrial")
        self.use_button.clicked.connect(self.use_settings)
        for button in (self.monitor_button, self.explain_button, self.use_button):
            actions.addWidget(button)
        actions.addStretch(1)
        inner.addLayout(actions)
        self.tabs = QTabWidget(objectName="sweepPlots")
        self.curves = SweepCurves()
        self.parallel = ParallelCoordinates()
        self.importances = FeatureBars(signed=False, value_format="{:.2f}")
        self.importances.setObjectName("sweepImportances")
        self.importances.empty_text = "Importances appear once three trials have completed"
        self.tabs.addTab(self.curves, "Curves")
        self.tabs.addTab(self.parallel, "Parameters vs metric")
        self.tabs.addTab(self.importances, "Importances")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(frame)
        split.addWidget(self.tabs)
        split.setSizes([330, 330])
        lay.addWidget(split)
        return box

    # ------------------------------------------------------------------ page hooks
    def on_shown(self) -> None:
        spec = getattr(getattr(self.window_, "document", None), "spec", None)
        if spec is not None:
            self.params.set_spec(spec)
            if self.params.rowCount() == 0:
                self.params.add_row("optimizer.lr")
        self.refresh_sweeps()

    def refresh_sweeps(self) -> None:
        from engine.sweep.watch import list_sweeps

        current = self.watch.dir.path if self.watch is not None else None
        self.sweep_combo.clear()
        self.sweep_combo.addItem("New sweep (set up on the left)", None)
        for sweep_dir in list_sweeps(self.sweeps_dir):
            self.sweep_combo.addItem(sweep_dir.id, str(sweep_dir.path))
        if current is not None:
            self.sweep_combo.setCurrentIndex(max(0, self.sweep_combo.findData(str(current))))

    def can_close(self) -> bool:
        return True  # a running sweep lives on in its own process; reopening the page re-attaches

    # ------------------------------------------------------------------ start / stop
    def sweep_table(self) -> dict[str, Any]:
        """The [sweep] table the setup describes."""
        return {"sampler": self.sampler.currentData(), "pruner": self.pruner.currentData(),
                "sampler_options": self.sampler_form.values(), "pruner_options": self.pruner_form.values(),
                "metric": self.metric.currentData(), "trials": self.trials.value(), "minutes": self.minutes.value(),
                "concurrency": self.concurrency.value(), "params": self.params.table()}

    def start(self) -> None:
        spec = getattr(getattr(self.window_, "document", None), "spec", None)
        if spec is None:
            return
        self.start_button.setEnabled(False)
        self.start_button.setText("Checking…")
        self._validator.call(prepare_sweep, spec, self.sweep_table())

    def _validated(self, result: Any) -> None:
        from engine.problems import SpecError
        from engine.sweep.launch import start_sweep
        from engine.sweep.sweepdir import SweepDir

        sweep, problems = result
        self.start_button.setText("Start sweep")
        self.start_button.setEnabled(True)
        if problems:
            self._show_problems([str(p) for p in problems])
            return
        try:
            sweep_dir = SweepDir.create(self.sweeps_dir, sweep)
        except SpecError as err:  # the sweeps folder cannot be written
            self._show_problems([str(p) for p in err.problems])
            return
        self.proc = start_sweep(sweep_dir)
        self.open_sweep(str(sweep_dir.path))
        self.refresh_sweeps()

    def _show_problems(self, lines: list[str]) -> None:
        self.problems.setText("Cannot start:\n" + "\n".join(f"• {line}" for line in lines))
        self.problems.show()
        self.start_button.setText("Start sweep")
        self.start_button.setEnabled(True)

    def _clear_problems(self) -> None:
        self.problems.hide()

    def stop(self) -> None:
        if self.watch is not None:
            self.watch.dir.request_stop()
            self.stop_button.setEnabled(False)
            self.stop_button.setText("Stopping…")

    # ------------------------------------------------------------------ watching
    def open_sweep(self, path: str | None) -> None:
        """Watch the sweep directory at `path` (None: back to setting up a new one)."""
        from engine.sweep.sweepdir import SweepDir
        from engine.sweep.watch import SweepWatch

        self.model.clear()
        self.curves.clear_trials()
        self.watch = SweepWatch(SweepDir(Path(path))) if path else None
        if self.watch is None:
            self._timer.stop()
            self.summary.setText("No sweep yet — set one up on the left and press Start sweep.")
            self.stop_button.setEnabled(False)
            return
        self._load_setup()
        self.axes = self._axes()
        self.poll()
        self._timer.start()

    def _load_setup(self) -> None:
        """Show the watched sweep's own settings on the left (a finished one can be run again)."""
        from engine.problems import SpecError

        try:
            sweep = self.watch.dir.load_spec()
        except SpecError:
            return
        self.params.set_spec(sweep.base)
        self.params.set_table({d.path: d.to_dict() for d in sweep.dimensions})
        for combo, value in ((self.sampler, sweep.sampler), (self.pruner, sweep.pruner), (self.metric, sweep.metric)):
            combo.setCurrentIndex(max(0, combo.findData(value)))
        self._show_options(self.sampler_form, SAMPLERS, self.sampler, dict(sweep.sampler_options))
        self._show_options(self.pruner_form, PRUNERS, self.pruner, dict(sweep.pruner_options))
        self.trials.setValue(sweep.trials)
        self.minutes.setValue(sweep.minutes)
        self.concurrency.setValue(sweep.concurrency)

    def poll(self) -> None:
        if self.watch is None:
            return
        if not self.watch.poll() and self.model.rowCount():
            return
        status = self.watch.status
        state = status.get("effective", "created")
        self.stop_button.setEnabled(state == "running")
        if state != "running":
            self.stop_button.setText("Stop")
        driver_alive = self.proc is not None and self.proc.poll() is None
        if state in ("completed", "stopped", "failed", "crashed") and not driver_alive:
            self._timer.stop()  # a finished sweep changes no more (reopening it reads it again)
        self._show_summary(state)
        self._fill_table()
        best = self.watch.best()
        trials = list(self.watch.trials.values())
        self.curves.show_trials(trials, best.number if best else None, self.watch.metric)
        self.parallel.show_trials(trials, self.axes, self.watch.metric, best.number if best else None,
                                  self.watch.direction == "maximize")
        found = status.get("importances") or {}
        if found:
            self.importances.set_values(list(found.values()), list(found))

    def _axes(self) -> list[tuple[str, bool]]:
        from engine.problems import SpecError

        try:
            return [(d.path, d.log) for d in self.watch.dir.load_spec().dimensions]
        except SpecError:
            return [(p, False) for p in self.watch.status.get("params", [])]

    def _show_summary(self, state: str) -> None:
        counts = self.watch.status.get("counts") or {}
        budget = self.watch.status.get("budget")
        done = sum(counts.get(k, 0) for k in ("completed", "pruned", "failed", "invalid", "stopped"))
        parts = [f"<b>{self.watch.dir.id}</b> — {state}", f"{done}/{budget or '∞'} trials done"]
        parts += [f"{counts[k]} {k}" for k in ("running", "pruned", "failed", "invalid") if counts.get(k)]
        best = self.watch.best()
        if best is not None:
            values = ", ".join(f"{k.rsplit('.', 1)[-1]}={_fmt(v)}" for k, v in best.params.items())
            parts.append(f"best <span style='color:{BEST_COLOR}'>■</span> trial {best.number}: "
                         f"{self.watch.metric} {best.value:.4g} ({values})")
        self.summary.setText(" · ".join(parts))
        self.subtitle.setText(str(self.watch.dir.path))

    def _fill_table(self) -> None:
        selected = self.selected_trial()
        names = list(dict.fromkeys(k for t in self.watch.trials.values() for k in t.params))
        headers = ["#", "State", self.watch.metric or "value", *(short_name(n) for n in names), "Epochs", "Time"]
        self.model.clear()
        self.model.setHorizontalHeaderLabels(headers)
        best = self.watch.best()
        for view in self.watch.trials.values():
            cells = [(str(view.number), view.number), (view.state, view.state), _num(view.last)]
            cells += [(_fmt(view.params.get(k)), _sort_key(view.params.get(k))) for k in names]
            cells += [(str(len(view.curve)), len(view.curve)), _num(view.seconds, "{:.1f} s")]
            items = []
            for text, key in cells:
                item = QStandardItem(text)
                item.setData(key, SORT_ROLE)
                item.setData(view.number, TRIAL_ROLE)
                if view.message:
                    item.setToolTip(view.message)
                if best is not None and view.number == best.number:
                    font = QFont()
                    font.setBold(True)
                    item.setFont(font)
                    item.setBackground(QBrush(QColor(245, 158, 11, 60)))
                items.append(item)
            self.model.appendRow(items)
        self.table.sortByColumn(self.table.horizontalHeader().sortIndicatorSection(),
                                self.table.horizontalHeader().sortIndicatorOrder())
        if selected is not None:
            self.select_trial(selected)

    # ------------------------------------------------------------------ a trial
    def selected_trial(self) -> int | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return rows[0].data(TRIAL_ROLE) if rows else None

    def select_trial(self, number: int) -> None:
        for row in range(self.proxy.rowCount()):
            index = self.proxy.index(row, 0)
            if index.data(TRIAL_ROLE) == number:
                self.table.selectRow(row)
                return

    def _trial_run(self) -> Path | None:
        number = self.selected_trial()
        if number is None and self.watch is not None and self.watch.best() is not None:
            number = self.watch.best().number
        path = self.watch.run_path(number) if self.watch is not None and number is not None else None
        return path if path is not None and path.is_dir() else None

    def open_in_monitor(self) -> None:
        path = self._trial_run()
        if path is not None:
            self.run_service.attach(path)
            if self.window_ is not None:
                self.window_.show_page("monitor")

    def open_in_explain(self) -> None:
        path = self._trial_run()
        if path is not None and self.window_ is not None:
            self.window_.page("explain").open_run(path)
            self.window_.show_page("explain")

    def use_settings(self) -> None:
        """Copy the selected (or best) trial's values into the builder as one undoable edit."""
        from engine.problems import SpecError
        from engine.sweep.config import SweepSpec, trial_spec

        number = self.selected_trial()
        if number is None and self.watch is not None and self.watch.best() is not None:
            number = self.watch.best().number
        if number is None or self.window_ is None:
            return
        document = self.window_.document
        params = self.watch.trials[number].params
        try:
            spec = trial_spec(SweepSpec(base=document.spec), params, number)
        except SpecError as err:
            self.window_.report_error("Cannot use this trial's settings", err)
            return
        spec = dataclasses.replace(spec, name=document.spec.name)
        document.edit(spec, f"Use the settings of sweep trial {number}")
        self.window_.show_page("build")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def _sort_key(value: Any) -> Any:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _num(value: Any, pattern: str = "{:.4g}") -> tuple[str, float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "—", float("-inf")
    return pattern.format(value), float(value)
