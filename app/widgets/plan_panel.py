"""The plan shown before launch: layout, global batch, steps, memory estimate, pipeline bubble,
devices found, every open problem, and for multi-node runs the command for each node — or, for a
run submitted to a cluster, the launcher's script (sbatch) or command (ray job) before submitting."""
from __future__ import annotations

import html
from typing import Any, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QFormLayout, QFrame, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPlainTextEdit, QPushButton,
    QVBoxLayout, QWidget,
)

from app.services.train_plan import TrainPlan
from app.widgets.system_panel import human_bytes
from app.services.problem_checker import section_title


def _value_label(name: str) -> QLabel:
    label = QLabel("—", objectName=name)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    return label


class PlanPanel(QFrame):
    """Shows a TrainPlan. `problemActivated(path)` fires when the user double-clicks a problem."""

    problemActivated = Signal(str)

    FIELDS = (("layout", "Layout"), ("globalBatch", "Global batch"), ("steps", "Steps"),
              ("memory", "Memory / device"), ("bubble", "Pipeline bubble"), ("devices", "Devices found"))

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("planPanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.addWidget(QLabel("PLAN", objectName="sectionTitle"))
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        self.values: dict[str, QLabel] = {}
        for key, title in self.FIELDS:
            self.values[key] = _value_label(f"plan_{key}")
            form.addRow(title, self.values[key])
        layout.addLayout(form)
        self.problems_title = QLabel("PROBLEMS", objectName="sectionTitle")
        self.problems = QListWidget(objectName="planProblems")
        self.problems.setWordWrap(True)
        self.problems.setMinimumHeight(70)
        self.problems.itemDoubleClicked.connect(lambda item: self.problemActivated.emit(item.data(Qt.ItemDataRole.UserRole)))
        layout.addWidget(self.problems_title)
        layout.addWidget(self.problems, 1)
        self.nodes_title = QLabel("COMMANDS FOR THE OTHER NODES", objectName="sectionTitle")
        self.commands = QPlainTextEdit(objectName="nodeCommands")
        self.commands.setReadOnly(True)
        self.commands.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)  # a script reads line by line
        self.commands.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.commands.setMaximumHeight(90)
        self.copy_button = QPushButton("Copy commands", objectName="copyCommandsButton")
        self.copy_button.clicked.connect(self.copy_commands)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.copy_button)
        for widget in (self.nodes_title, self.commands):
            layout.addWidget(widget)
        layout.addLayout(row)
        self._show_commands([])
        self.plan: TrainPlan | None = None

    def set_busy(self) -> None:
        self.problems_title.setText("PROBLEMS — checking…")

    def set_plan(self, plan: TrainPlan) -> None:
        self.plan = plan
        summary = plan.summary
        v = self.values
        if summary is not None:
            v["layout"].setText(f"{summary.strategy} · {summary.processes} process(es) × {summary.nnodes} node(s) = "
                                f"{summary.world_size} rank(s) · {summary.backend} on {summary.device}")
            v["globalBatch"].setText(f"{summary.global_batch:,} ({summary.batch_per_rank:,} per rank"
                                     f"{', × ' + str(plan.spec.training.grad_accumulation) + ' accumulated' if plan.spec.training.grad_accumulation > 1 else ''})")
            v["memory"].setText(summary.memory.describe() if summary.memory is not None
                                else f"— (fix the {summary.memory_blocked_by or 'model'} first)")
            bubble = summary.bubble
            v["bubble"].setText(f"{bubble:.1%} idle ({len(summary.stages)} stages, "
                                f"{plan.spec.parallel.microbatches} micro-batches)" if bubble is not None else "— (no pipeline)")
        if plan.steps_per_epoch:
            v["steps"].setText(f"{plan.steps_per_epoch:,} per epoch · {plan.total_steps:,} in total "
                               f"({plan.train_samples:,} training samples)")
        else:
            v["steps"].setText("— (the data could not be loaded)")
        v["devices"].setText("\n".join(f"{d.name}" + (f" · {human_bytes(d.memory_bytes)}" if d.memory_bytes else "")
                                       for d in plan.devices) or "—")
        if plan.launch_script:  # the job runs on the cluster's nodes, not here
            v["devices"].setText(f"{v['devices'].text()} (this machine; the job gets the cluster's nodes)")
        self._show_problems(plan.problems)
        if plan.launch_script:
            self._show_commands(plan.launch_script.splitlines(), f"{plan.spec.launcher.kind.upper()} SUBMITS", "Copy script")
        else:
            self._show_commands(list(summary.node_commands) if summary is not None and summary.nnodes > 1 else [])

    def _show_problems(self, problems: Sequence[Any]) -> None:
        self.problems.clear()
        for problem in problems:
            item = QListWidgetItem(f"{section_title(problem)} · {problem.path}: {problem.message}")
            item.setData(Qt.ItemDataRole.UserRole, problem.path)
            item.setToolTip(html.escape(f"{problem.path}: {problem.message}"))
            self.problems.addItem(item)
        if not problems:
            item = QListWidgetItem("None — ready to train.")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.problems.addItem(item)
        self.problems_title.setText(f"PROBLEMS ({len(problems)})" if problems else "PROBLEMS")

    def _show_commands(self, commands: list[str], title: str = "COMMANDS FOR THE OTHER NODES",
                       copy: str = "Copy commands") -> None:
        self.nodes_title.setText(title)
        self.copy_button.setText(copy)
        self.commands.setMaximumHeight(90 if title.startswith("COMMANDS") else 16777215)
        self.commands.setPlainText("\n".join(commands))
        for widget in (self.nodes_title, self.commands, self.copy_button):
            widget.setVisible(bool(commands))

    def copy_commands(self) -> None:
        QGuiApplication.clipboard().setText(self.commands.toPlainText())
