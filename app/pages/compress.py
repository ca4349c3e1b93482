"""Compress page: make a trained run smaller (engine/compress) and compare every result.

Choose a trained run, build a list of steps (each step's options form comes from its schema in
the STEPS registry, so a new technique appears here without page code) and press Compress: the
steps run in a background process (app.services.compress_job) with progress and Cancel. The
before/after table shows the result's measures against its source, and the chart places the
source and every compressed variant of it by accuracy and weights size, with the Pareto front
highlighted; clicking a point shows that variant's table."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QFrame, QHBoxLayout, QHeaderView, QLabel, QListWidget, QListWidgetItem,
    QProgressBar, QPushButton, QSplitter, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from app.services.compress_job import CompressJob
from app.services.window_services import services_of
from app.widgets.compress_chart import CompressChart, short_step
from app.widgets.panel import side_by_side, titled_panel
from app.widgets.schema_form import SchemaForm
from engine.compress.base import STEPS, StepRequest, check_step

STEP_ROLE = Qt.ItemDataRole.UserRole + 1
#: the steps a new compression starts with (the issue's flow): prune 50% -> fine-tune 2 epochs -> int8
DEFAULT_STEPS = (("prune", {"sparsity": 0.5}), ("finetune", {"epochs": 2}), ("quantize", {"scheme": "int8_dynamic"}))
COLUMNS = ("Measure", "Source", "Compressed", "Change")


class CompressPage(QWidget):
    def __init__(self, window: Any = None, services: Any = None):
        super().__init__()
        self.setObjectName("compressPage")
        self.window_ = window
        self.run_service = (services or services_of(window, self)).runs
        self.job = CompressJob(self)
        self.job.progress.connect(self._progress)
        self.job.finished.connect(self._finished)
        self.job.failed.connect(self._failed)
        self.job.cancelled.connect(self._cancelled)
        self.shown_run: str | None = None  # the compressed run whose table is shown
        self._refused: list[str] = []  # the problems of a form value the current step refused
        self.variants: list[Any] = []  # the chart's points (engine.compress.variants.Variant)
        self._build()
        for name, options in DEFAULT_STEPS:
            self.add_step(name, options)
        self.steps.setCurrentRow(0)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 12, 16, 12)
        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.addWidget(QLabel("Compress", objectName="pageTitle"))
        self.subtitle = QLabel("Prune, fine-tune and quantize a trained run; each result is a new run measured "
                               "against its source.", objectName="pageSubtitle")
        titles.addWidget(self.subtitle)
        head.addLayout(titles, 1)
        head.addWidget(QLabel("Trained run:"))
        self.source = QComboBox(objectName="compressSource")
        self.source.setMinimumWidth(340)
        self.source.activated.connect(lambda *_: self.show_source())
        head.addWidget(self.source)
        refresh = QPushButton("Refresh", objectName="compressRefresh")
        refresh.clicked.connect(self.refresh_runs)
        head.addWidget(refresh)
        outer.addLayout(head)
        outer.addWidget(side_by_side(self._steps_panel(), self._result_panel(), (400, 850)), 1)

    def _steps_panel(self) -> QFrame:
        frame, lay = titled_panel("STEPS")
        self.steps = QListWidget(objectName="compressSteps")
        self.steps.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)  # reorder by dragging
        self.steps.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.steps.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.steps.setMaximumHeight(120)
        self.steps.currentRowChanged.connect(lambda *_: self._show_step_options())
        lay.addWidget(self.steps)
        row = QHBoxLayout()
        self.kind = QComboBox(objectName="compressStepKind")
        for entry in STEPS:
            self.kind.addItem(entry.name, entry.name)
            self.kind.setItemData(self.kind.count() - 1, entry.description, Qt.ItemDataRole.ToolTipRole)
        add = QPushButton("Add step", objectName="addCompressStep")
        add.clicked.connect(lambda: self.add_step(self.kind.currentData()))
        remove = QPushButton("Remove", objectName="removeCompressStep")
        remove.clicked.connect(self.remove_step)
        row.addWidget(self.kind, 1)
        row.addWidget(add)
        row.addWidget(remove)
        lay.addLayout(row)
        self.step_title = QLabel(objectName="hint", wordWrap=True)
        lay.addWidget(self.step_title)
        self.options = SchemaForm(show_help=False, wrap_labels=True)  # each field's help is its tooltip
        self.options.setObjectName("compressStepOptions")
        self.options.valueChanged.connect(self._option_changed)
        lay.addWidget(self.options)
        lay.addStretch(1)
        self.problems = QLabel(objectName="compressProblems", wordWrap=True)
        self.problems.setStyleSheet("color: #e5484d;")
        self.problems.hide()
        lay.addWidget(self.problems)
        self.progress = QProgressBar(objectName="compressProgress", minimum=0, maximum=100, value=0)
        self.progress.setTextVisible(True)
        self.status = QLabel("", objectName="compressStatus", wordWrap=True)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Compress", objectName="startCompress")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel", objectName="cancelCompress", enabled=False)
        self.cancel_button.clicked.connect(self.job.cancel)
        buttons.addWidget(self.start_button, 1)
        buttons.addWidget(self.cancel_button)
        lay.addLayout(buttons)
        return frame

    def _result_panel(self) -> QWidget:
        frame, lay = titled_panel("BEFORE / AFTER")
        self.summary = QLabel("Choose a trained run, check the steps and press Compress.", objectName="compressSummary",
                              wordWrap=True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.summary)
        self.table = QTableWidget(0, len(COLUMNS), objectName="compressTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setMinimumHeight(24 * 7 + 6)  # every measure visible: header + six rows
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        lay.addWidget(self.table)
        self.notes = QLabel(objectName="hint", wordWrap=True)
        lay.addWidget(self.notes)
        actions = QHBoxLayout()
        self.monitor_button = QPushButton("Open in Monitor", objectName="compressMonitor", enabled=False)
        self.monitor_button.clicked.connect(self.open_in_monitor)
        self.explain_button = QPushButton("Open in Explain", objectName="compressExplain", enabled=False)
        self.explain_button.clicked.connect(self.open_in_explain)
        actions.addWidget(self.monitor_button)
        actions.addWidget(self.explain_button)
        actions.addStretch(1)
        lay.addLayout(actions)
        chart_frame, chart_lay = titled_panel("VARIANTS: ACCURACY VS SIZE")
        self.chart = CompressChart()
        self.chart.variantClicked.connect(self.show_variant)
        chart_lay.addWidget(self.chart, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(frame)
        split.addWidget(chart_frame)
        split.setSizes([340, 340])
        return split

    # ------------------------------------------------------------------ steps
    def add_step(self, name: str, options: dict[str, Any] | None = None) -> None:
        """Insert the step `name` with `options` (the schema's defaults for the rest) after the
        selected step (at the end when none is selected)."""
        request = check_step(name, options or {}, name)
        item = QListWidgetItem()
        self._set_item(item, request)
        row = self.steps.currentRow()
        self.steps.insertItem(row + 1 if row >= 0 else self.steps.count(), item)
        self.steps.setCurrentItem(item)

    def remove_step(self) -> None:
        row = self.steps.currentRow()
        if row >= 0:
            self.steps.takeItem(row)

    def step_texts(self) -> list[str]:
        """The steps in order, as the command takes them (``prune:sparsity=0.5,...``)."""
        return [self.steps.item(i).data(STEP_ROLE).label() for i in range(self.steps.count())]

    @staticmethod
    def _set_item(item: QListWidgetItem, request: StepRequest) -> None:
        item.setData(STEP_ROLE, request)
        details = short_step(request.label()).removeprefix(request.name).strip()
        details += " epochs" if request.name == "finetune" else ""
        item.setText(f"{request.name}  ·  {details}" if details else request.name)
        item.setToolTip(request.label() + "\n" + STEPS.get(request.name).description)

    def _show_step_options(self) -> None:
        item = self.steps.currentItem()
        if item is None:
            self.options.set_params(())
            self.step_title.setText("Add a step below.")
            return
        request: StepRequest = item.data(STEP_ROLE)
        self.step_title.setText(f"<b>{request.name}</b> — {STEPS.get(request.name).description}")
        self.options.set_params(STEPS.get(request.name).params, dict(request.options))
        self._refused = []  # the form shows the step's own (valid) options again

    def _option_changed(self, name: str, value: Any) -> None:
        item = self.steps.currentItem()
        if item is None:
            return
        request: StepRequest = item.data(STEP_ROLE)
        self.problems.hide()
        try:
            self._set_item(item, check_step(request.name, {**request.options, name: value}, request.name))
            self._refused = []
        except ValueError as err:  # SpecError: a value the schema refuses (the step keeps its last valid one)
            self._refused = str(err).splitlines()
            self._show_problems(self._refused)

    # ------------------------------------------------------------------ runs
    def on_shown(self) -> None:
        self.refresh_runs()

    def can_close(self) -> bool:
        if self.job.running:  # the compression is cancelled (no half-made run is kept)
            self.job.cancel()
            if not self.job.wait(5000):  # still training: a second SIGTERM interrupts the step at once (the
                self.job.cancel()  # command still removes its run; a kill by the closing window would not)
                self.job.wait(5000)
        return True

    def refresh_runs(self) -> None:
        current = self.source.currentData()
        self.source.clear()
        for summary in self.run_service.list():
            if summary.status != "completed":
                continue
            quality = summary.metrics.get("val_accuracy", summary.metrics.get("val_error"))
            text = f"{summary.id}  ·  {summary.name}" + (f"  ·  {quality:.3f}" if isinstance(quality, float) else "")
            self.source.addItem(text, str(summary.path))
        if self.source.count() == 0:
            self.source.addItem("no trained run yet — train one first", None)
        if current is not None and self.source.findData(current) >= 0:
            self.source.setCurrentIndex(self.source.findData(current))
        self.show_source()

    def select_source(self, run_dir: str | Path) -> None:
        """Choose the run to compress (and show its variants)."""
        index = self.source.findData(str(run_dir))
        if index < 0:
            self.refresh_runs()
            index = self.source.findData(str(run_dir))
        if index >= 0:
            self.source.setCurrentIndex(index)
            self.show_source()

    def show_source(self) -> None:
        """Chart the chosen run's variants (the source of a compressed run is its own source's)."""
        from engine.compress.core import read_record

        path = self.source.currentData()
        self.start_button.setEnabled(path is not None and not self.job.running)
        if path is None:
            self.chart.show_variants([], [])
            return
        record = read_record(path)
        root = path
        while record is not None and record.get("source"):  # the chart's source: the original trained run
            root = record["source"]
            record = read_record(root)
        self.redraw(root)

    def redraw(self, root: str) -> None:
        from engine.compress.variants import pareto_front, variants_of

        variants = variants_of(root, [s.path for s in self.run_service.list()])
        self.variants = variants
        self.chart.show_variants(variants, pareto_front(variants), self.shown_run)

    # ------------------------------------------------------------------ running
    def start(self) -> None:
        source = self.source.currentData()
        if source is None or self.job.running:
            return
        texts = self.step_texts()
        if not texts:
            self._show_problems(["add at least one step"])
            return
        if self._refused:  # the form shows a value the step refused: compressing would use another
            self._show_problems(self._refused)
            return
        self.problems.hide()
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.job.start(source, texts, self.run_service.runs_dir)

    def _progress(self, fraction: float, text: str) -> None:
        if fraction >= 0:
            self.progress.setValue(round(fraction * 100))
        self.status.setText(text)

    def _done(self) -> None:
        self.start_button.setEnabled(self.source.currentData() is not None)
        self.cancel_button.setEnabled(False)

    def _finished(self, record: dict) -> None:
        self._done()
        self.progress.setValue(100)
        self.status.setText(f"done: {Path(record['run_dir']).name}")
        self.show_record(record)
        self.show_source()

    def _failed(self, message: str) -> None:
        self._done()
        self.progress.setValue(0)
        self.status.setText("failed")
        self._show_problems(message.splitlines())

    def _cancelled(self) -> None:
        self._done()
        self.progress.setValue(0)
        self.status.setText("cancelled — no new run was kept")

    def _show_problems(self, lines: list[str]) -> None:
        self.problems.setText("Cannot compress:\n" + "\n".join(f"• {line}" for line in lines))
        self.problems.show()

    # ------------------------------------------------------------------ results
    def show_variant(self, run_dir: str) -> None:
        """Show the table of the variant `run_dir` (a chart click); the source itself has none."""
        from engine.compress.core import read_record

        record = read_record(run_dir)
        if record is not None:
            self.show_record({**record, "run_dir": run_dir})
            self.redraw_current()

    def redraw_current(self) -> None:
        if self.variants:
            from engine.compress.variants import pareto_front

            self.chart.show_variants(self.variants, pareto_front(self.variants), self.shown_run)

    def show_record(self, record: dict) -> None:
        """Fill the before/after table from a compress record (compress.json or the command's JSON)."""
        from engine.compress.measure import Measures, comparison_rows

        before, after = Measures(**record["before"]), Measures(**record["after"])
        rows = comparison_rows(before, after, record.get("deltas") or {})
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        self.shown_run = str(record["run_dir"])
        self.summary.setText(f"<b>{Path(record['source']).name}</b> → <b>{Path(self.shown_run).name}</b>: "
                             + " → ".join(short_step(step) for step in record.get("steps") or []))
        self.notes.setText("\n".join(f"note: {n}" for n in record.get("notes") or []))
        self.monitor_button.setEnabled(True)
        self.explain_button.setEnabled(True)

    def open_in_monitor(self) -> None:
        if self.shown_run is not None:
            self.run_service.attach(self.shown_run)
            if self.window_ is not None:
                self.window_.show_page("monitor")

    def open_in_explain(self) -> None:
        if self.shown_run is not None and self.window_ is not None:
            self.window_.page("explain").open_run(self.shown_run)
            self.window_.show_page("explain")

