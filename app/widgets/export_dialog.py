"""The Export dialog (Runs and Monitor pages): choose a format (the engine's FORMATS registry, with
each format's options as a generated form), the checkpoint and where to write; the export runs as
`python -m engine export ...` in its own process (torch stays out of the GUI process, and a
crashing exporter cannot take the window down) and its one-line result is shown, with the run's
earlier exports from RUN_DIR/export.json."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QProcess, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget, QPushButton,
    QVBoxLayout, QWidget,
)

from app.widgets.schema_form import SchemaForm


def export_command(run_dir: Path, fmt: str, out: str, checkpoint: str, options: dict[str, Any]) -> list[str]:
    """The CLI arguments (after the interpreter) for one export."""
    args = ["-m", "engine", "export", str(run_dir), "--format", fmt, "--checkpoint", checkpoint]
    if out.strip():
        args += ["--out", out.strip()]
    for key, value in options.items():
        args += ["--option", f"{key}={json.dumps(value) if isinstance(value, str) else _toml(value)}"]
    return args


def _toml(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else repr(value)


class ExportDialog(QDialog):
    """Export one run. `finished_export(result)` carries the CLI's JSON result when one ends."""

    finished_export = Signal(dict)

    def __init__(self, run_dir: str | Path, parent: QWidget | None = None):
        super().__init__(parent)
        from engine.export.base import FORMATS  # registry only: no torch

        self.run_dir = Path(run_dir)
        self.formats = {entry.name: entry for entry in FORMATS}
        self.process: QProcess | None = None
        self.result: dict[str, Any] = {}
        self.setObjectName("exportDialog")
        self.setWindowTitle(f"Export {self.run_dir.name}")
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        intro = QLabel("Take the trained model out of Netwright. Every export is checked against the PyTorch "
                       "model on validation samples.", objectName="pageSubtitle")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.format_combo = QComboBox(objectName="exportFormat")
        for name, entry in self.formats.items():
            self.format_combo.addItem(name, name)
            self.format_combo.setItemData(self.format_combo.count() - 1, entry.description, Qt.ItemDataRole.ToolTipRole)
        self.description = QLabel(objectName="exportDescription")
        self.description.setWordWrap(True)
        self.checkpoint_combo = QComboBox(objectName="exportCheckpoint")
        self.checkpoint_combo.addItem("Latest", "latest")
        self.checkpoint_combo.addItem("Best (validation)", "best")
        out_row = QHBoxLayout()
        self.out_edit = QLineEdit(objectName="exportOut")
        self.out_edit.setPlaceholderText("default: the run's exports/ folder")
        browse = QPushButton("Browse…", objectName="exportBrowse")
        browse.clicked.connect(self._browse)
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(browse)
        form.addRow("Format", self.format_combo)
        form.addRow("", self.description)
        form.addRow("Weights", self.checkpoint_combo)
        form.addRow("Save to", out_row)
        layout.addLayout(form)
        self.options = SchemaForm()
        self.options.setObjectName("exportOptions")
        layout.addWidget(self.options)
        self.status = QLabel(objectName="exportStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        layout.addWidget(QLabel("Earlier exports of this run", objectName="sectionTitle"))
        self.history = QListWidget(objectName="exportHistory")
        self.history.setMaximumHeight(120)
        layout.addWidget(self.history)
        layout.addStretch(1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.export_button = QPushButton("Export", objectName="exportButton")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start)
        close = QPushButton("Close", objectName="exportClose")
        close.clicked.connect(self.reject)
        buttons.addWidget(self.export_button)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self.format_combo.currentIndexChanged.connect(self._format_changed)
        self._format_changed()
        self.show_history()

    # ------------------------------------------------------------------ form
    @property
    def format(self) -> str:
        return str(self.format_combo.currentData())

    def _format_changed(self, *_args: Any) -> None:
        entry = self.formats[self.format]
        self.description.setText(entry.description)
        self.options.set_params(entry.params, entry.defaults())

    def _browse(self) -> None:
        entry = self.formats[self.format]
        suffix = entry.extra.get("suffix", "")
        if suffix:
            path, _ = QFileDialog.getSaveFileName(self, "Export to", str(self.run_dir / f"model{suffix}"),
                                                  f"{self.format} (*{suffix})")
        else:
            path = QFileDialog.getExistingDirectory(self, "Export into folder", str(self.run_dir))
        if path:
            self.out_edit.setText(path)

    def show_history(self) -> None:
        """The run's exports (newest first) from RUN_DIR/export.json."""
        from engine.export.core import read_records  # json only: no torch

        self.history.clear()
        for record in reversed(read_records(self.run_dir)):
            diff = record.get("max_abs_diff")
            check = f"max diff {diff:.2g} (tolerance {record.get('tolerance'):g})" if isinstance(diff, (int, float)) else ""
            self.history.addItem(f"{record.get('format')}: {record.get('file')}  {check}")
            self.history.item(self.history.count() - 1).setToolTip(f"{record.get('method', '')}\n{record.get('file')}")
        if not self.history.count():
            self.history.addItem("none yet")

    # ------------------------------------------------------------------ running
    def start(self) -> None:
        """Start the export process (one at a time)."""
        if self.process is not None:
            return
        args = export_command(self.run_dir, self.format, self.out_edit.text(), str(self.checkpoint_combo.currentData()),
                              self.options.values())
        self.process = QProcess(self)
        self.process.setProgram(sys.executable)
        self.process.setArguments(args)
        self.process.finished.connect(self._finished)
        self.export_button.setEnabled(False)
        self.status.setText(f"Exporting as {self.format}… (the check runs the exported model on validation samples)")
        self.process.start()

    def _finished(self, code: int, _status: Any) -> None:
        process, self.process = self.process, None
        assert process is not None
        out = bytes(process.readAllStandardOutput().data()).decode("utf-8", "replace")
        err = bytes(process.readAllStandardError().data()).decode("utf-8", "replace")
        self.export_button.setEnabled(True)
        result: dict[str, Any] = {}
        for line in reversed(out.strip().splitlines()):
            try:
                result = json.loads(line)
                break
            except ValueError:
                continue
        self.result = result
        if code == 0:
            summary = next((line for line in out.splitlines() if line.startswith(f"{self.format}:")), "")
            self.status.setText(f"<b>Exported.</b> {summary}")
        else:
            problems = [line.strip().removeprefix("problem:").strip() for line in err.splitlines()
                        if line.strip().startswith(("problem:", "error:"))]
            self.status.setText("<b>Export failed.</b> " + ("<br>".join(problems) or err.strip()[-500:] or f"exit {code}"))
        self.show_history()
        self.finished_export.emit(result)

    def wait(self, msecs: int = 300_000) -> bool:
        """Block until the running export ends (tests)."""
        return self.process is None or self.process.waitForFinished(msecs)
