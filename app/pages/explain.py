"""Explain page: why does the trained model predict what it does? (Captum attribution maps)

Pick a trained run and a split, browse its samples (thumbnails or table rows, filterable to the
misclassified ones), pick a method and its parameters, and see the attribution: heatmap and
overlay for images, feature bars for tabular data, coloured characters for text. Compare
methods on one sample, one method across samples, and run the model-randomization sanity check.
All computation happens in a worker process (app/services/explain_client.py); Cancel kills it.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QFileDialog, QFrame, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSlider,
    QSplitter, QTabWidget, QToolButton, QVBoxLayout, QWidget,
)

from app.widgets.explain_tabs import CompareTab, SanityTab
from app.services.explain_client import ExplainClient
from app.services.tasks import BackgroundCall
from app.services.window_services import services_of
from app.widgets.explain_result import ResultPanel, text_of
from app.widgets.method_panel import MethodPanel
from engine.metrics import VAL_ACCURACY
from app.widgets.sample_browser import SampleBrowser
from app.widgets.theme import icon


def trained_runs(runs_dir: Path) -> list[tuple[str, str]]:
    """(label, path) of the runs under `runs_dir` that have a checkpoint, newest first."""
    from engine.checkpoint import weights_path
    from engine.runs import list_runs

    out = []
    for run in list_runs(runs_dir):
        if weights_path(run.path) is None:
            continue
        acc = run.metrics.get(VAL_ACCURACY)
        extra = f" · val acc {acc:.3f}" if isinstance(acc, (int, float)) else ""
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started)) if run.started else run.id
        out.append((f"{run.name} — {when} ({run.status}{extra})", str(run.path)))
    return out


def checkpoint_choices(run_dir: str | Path) -> list[tuple[str, str, str]]:
    """(label, checkpoint, tooltip) of the weights a run offers: "latest" always; "best" with its
    metric and epoch when the run keeps a best checkpoint, else labelled as missing (choosing it
    then explains why and stays on latest). Reads two small files — no torch."""
    from engine.checkpoint import best_checkpoint, best_info
    from engine.runs import RunDir

    root = RunDir(Path(run_dir)).checkpoints
    out = [("latest", "latest", "The weights at the end of training (the newest checkpoint)")]
    best = best_checkpoint(root)
    if best is None:
        out.append(("best (none saved)", "best", f"Run {Path(run_dir).name} keeps no best checkpoint — use latest"))
        return out
    info = best_info(best)
    value, metric, epoch = info.get("value"), info.get("metric", "the watched metric"), info.get("epoch", "?")
    shown = f"{value:.4g}" if isinstance(value, (int, float)) else "?"
    out.append((f"best — {metric} {shown} at epoch {epoch}", "best",
                f"The weights of epoch {epoch}, where {metric} was best ({shown})"))
    return out


class ExplainPage(QWidget):
    def __init__(self, window: Any = None, services: Any = None):
        super().__init__()
        self.window_ = window
        self.run_service = (services or services_of(window, self)).runs
        self.runs_dir = self.run_service.runs_dir
        self.info: dict[str, Any] = {}
        self.split = "val"
        self.current_index: int | None = None
        self.current_result: dict[str, Any] | None = None
        self._main_rid = -1
        self._tickets: dict[int, str] = {}  # request id -> purpose
        self.client = ExplainClient(self)
        self.client.ready.connect(self._ready)
        self.client.loadFailed.connect(self._load_failed)
        self.client.result.connect(self._result)
        self.client.failed.connect(self._failed)
        self.client.progress.connect(self._progress)
        self.client.crashed.connect(lambda msg: self._status(f"The worker stopped: {msg.splitlines()[0]} — it restarts on the next request"))
        self.client.stateChanged.connect(self._state_changed)
        self._lister = BackgroundCall(self)
        self._lister.finished.connect(self._fill_runs)
        self._build()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(16, 12, 16, 12)
        title = QLabel("Explain")
        title.setObjectName("pageTitle")
        subtitle = QLabel("Why does the trained model predict what it does? Attribution maps computed with Captum "
                          "in a separate worker process.")
        subtitle.setObjectName("pageSubtitle")
        root.addWidget(title)
        root.addWidget(subtitle)

        bar = QHBoxLayout()
        self.run_combo = QComboBox()
        self.run_combo.setObjectName("explainRunCombo")
        self.run_combo.setMinimumWidth(300)
        self.run_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.run_combo.setMinimumContentsLength(40)
        self.run_combo.setPlaceholderText("no trained run yet — train one on the Train page")
        self.run_combo.activated.connect(lambda _i: self.open_run(self.run_combo.currentData()))
        refresh = QToolButton()
        refresh.setText("Refresh")
        refresh.setToolTip("Look for new trained runs")
        refresh.clicked.connect(self.refresh_runs)
        self.split_combo = QComboBox()
        self.split_combo.setObjectName("explainSplit")
        self.split_combo.addItem("validation", "val")
        self.split_combo.addItem("training", "train")
        self.split_combo.activated.connect(lambda _i: self.set_split(self.split_combo.currentData()))
        self.weights_combo = QComboBox()
        self.weights_combo.setObjectName("explainCheckpoint")
        self.weights_combo.setToolTip("Which weights to explain: the latest checkpoint, or the best one "
                                      "(the epoch with the best watched validation metric)")
        self.weights_combo.addItem("latest", "latest")
        self.weights_combo.activated.connect(lambda _i: self.set_checkpoint(self.weights_combo.currentData()))
        self.status = QLabel("")
        self.status.setObjectName("explainStatus")
        self.status.setWordWrap(True)
        bar.addWidget(QLabel("Run"))
        bar.addWidget(self.run_combo, 2)
        bar.addWidget(refresh)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Weights"))
        bar.addWidget(self.weights_combo)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Split"))
        bar.addWidget(self.split_combo)
        bar.addStretch(1)
        root.addLayout(bar)
        root.addWidget(self.status)  # its own line: a long message never squeezes the run box

        split = QSplitter(Qt.Orientation.Horizontal)
        self.browser = SampleBrowser()
        self.browser.selected.connect(self.select_sample)
        left = self._panel("SAMPLES", self.browser)
        left.setMinimumWidth(290)
        split.addWidget(left)

        controls = self._controls()
        self.tabs = QTabWidget()
        self.tabs.setObjectName("explainTabs")
        self.result_panel = ResultPanel()
        self.tabs.addTab(self.result_panel, "Sample")
        self.compare = CompareTab(self)
        self.tabs.addTab(self.compare.methods_tab, "Compare methods")
        self.tabs.addTab(self.compare.samples_tab, "Across samples")
        self.sanity = SanityTab(self)
        self.tabs.addTab(self.sanity, "Sanity check")
        split.addWidget(self.tabs)
        split.addWidget(controls)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 5)
        split.setStretchFactor(2, 2)
        split.setSizes([300, 640, 300])
        root.addWidget(split, 1)

    def _panel(self, heading: str, body: QWidget) -> QFrame:
        frame = QFrame()
        frame.setObjectName("panel")
        lay = QVBoxLayout(frame)
        lay.setContentsMargins(10, 8, 10, 10)
        label = QLabel(heading)
        label.setObjectName("sectionTitle")
        lay.addWidget(label)
        lay.addWidget(body, 1)
        return frame

    def _controls(self) -> QFrame:
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.setContentsMargins(0, 0, 0, 0)
        self.methods = MethodPanel()
        lay.addWidget(self.methods, 1)
        self.auto = QCheckBox("Explain when a sample is picked")
        self.auto.setChecked(True)
        lay.addWidget(self.auto)
        buttons = QHBoxLayout()
        self.explain_button = QPushButton(icon("explain", size=16), "Explain")
        self.explain_button.setObjectName("explainButton")
        self.explain_button.setDefault(True)
        self.explain_button.clicked.connect(self.explain_current)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("explainCancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.explain_button, 1)
        buttons.addWidget(self.cancel_button)
        lay.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setObjectName("explainProgress")
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.progress.hide()
        lay.addWidget(self.progress)
        view = QHBoxLayout()
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setObjectName("explainOpacity")
        self.opacity.setRange(0, 100)
        self.opacity.setValue(70)
        self.opacity.valueChanged.connect(lambda v: self.result_panel.view.heatmap.set_opacity(v / 100))
        self.colors = QComboBox()
        self.colors.setObjectName("explainColors")
        for text, mode in (("auto colours", "auto"), ("signed (diverging)", "signed"), ("absolute (sequential)", "absolute")):
            self.colors.addItem(text, mode)
        self.colors.currentIndexChanged.connect(lambda _i: self.result_panel.view.heatmap.set_mode(self.colors.currentData()))
        view.addWidget(QLabel("Overlay"))
        view.addWidget(self.opacity, 1)
        lay.addLayout(view)
        lay.addWidget(self.colors)
        export = QHBoxLayout()
        self.export_png_button = QPushButton("Export PNG…")
        self.export_png_button.clicked.connect(lambda: self._ask_export("png"))
        self.export_npy_button = QPushButton("Export .npy…")
        self.export_npy_button.clicked.connect(lambda: self._ask_export("npy"))
        for b in (self.export_png_button, self.export_npy_button):
            b.setEnabled(False)
            export.addWidget(b)
        lay.addLayout(export)
        frame = self._panel("METHOD", body)
        frame.setMinimumWidth(280)
        return frame

    # -- runs --------------------------------------------------------------------------------
    def on_shown(self) -> None:
        self.refresh_runs()

    def can_close(self) -> bool:
        self.client.close()
        return True

    def refresh_runs(self) -> None:
        self._lister.call(trained_runs, self.runs_dir)

    def _fill_runs(self, runs: list[tuple[str, str]]) -> None:
        current = self.run_combo.currentData()
        self.run_combo.clear()
        for label, path in runs:
            self.run_combo.addItem(label, path)
        if current:
            i = self.run_combo.findData(current)
            self.run_combo.setCurrentIndex(i)
        elif runs and self.client.run_dir is None:
            self.run_combo.setCurrentIndex(0)
            self.open_run(runs[0][1])

    def open_run(self, run_dir: str | Path | None, checkpoint: str | None = None) -> None:
        """Load a trained run in the worker (the model is loaded once, there) with the `checkpoint`
        weights ("latest" or "best"; by default what the Weights box shows, when the run has it)."""
        if not run_dir:
            return
        choices = checkpoint_choices(run_dir)
        wanted = checkpoint or self.weights_combo.currentData() or "latest"
        if wanted == "best" and choices[-1][0].startswith("best (none"):
            if checkpoint == "best":  # asked for explicitly: say why not
                self._status(choices[-1][2])
                self._fill_weights(choices, self.client.checkpoint if self.client.run_dir == Path(run_dir) else "latest")
                return
            wanted = "latest"
        self._fill_weights(choices, wanted)
        if (self.client.run_dir == Path(run_dir) and self.client.checkpoint == wanted
                and self.client.state in ("starting", "ready", "busy")):
            return  # already open
        if self.run_combo.findData(str(run_dir)) < 0:
            self.run_combo.addItem(Path(run_dir).name, str(run_dir))
        self.run_combo.setCurrentIndex(self.run_combo.findData(str(run_dir)))
        self.info, self.current_index, self.current_result = {}, None, None
        self._tickets.clear()
        self.result_panel.view.clear()
        self.result_panel.show_message("Loading the model…")
        self._status("Starting the explain worker and loading the model…")
        self.client.open(run_dir, wanted)

    def _fill_weights(self, choices: list[tuple[str, str, str]], current: str) -> None:
        self.weights_combo.clear()
        for i, (label, which, tip) in enumerate(choices):
            self.weights_combo.addItem(label, which)
            self.weights_combo.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        self.weights_combo.setCurrentIndex(max(0, self.weights_combo.findData(current)))

    def set_checkpoint(self, checkpoint: str) -> None:
        """Explain the open run with other weights ("latest" or "best")."""
        self.open_run(self.run_combo.currentData() or self.client.run_dir, checkpoint)

    def _ready(self, info: dict) -> None:
        first = not self.info or self.info.get("run_dir") != info.get("run_dir")
        self.info = info
        self._status(f"{info['name']}: {info['kind']} model, {info['num_classes']} classes — "
                     f"{info['splits'][self.split]} {self.split} samples")
        if first:
            self.methods.set_methods(info)
        if first or len(self.browser.true) == 0:
            self.load_split()

    def _load_failed(self, message: str) -> None:
        self._status("Cannot explain this run: " + message.replace("\n", " "))
        self.result_panel.show_message(message)

    def set_split(self, split: str) -> None:
        self.split = split
        if self.info:
            self.load_split()

    def load_split(self) -> None:
        self._send("predictions", "predictions", split=self.split)

    # -- requests ----------------------------------------------------------------------------
    def _send(self, purpose: str, op: str, **payload: Any) -> int:
        rid = self.client.request(op, **payload)
        self._tickets[rid] = purpose
        return rid

    def explain_request(self, purpose: str, index: int, method: str | None = None, params: dict | None = None) -> int:
        return self._send(purpose, "explain", split=self.split, index=int(index), method=method or self.methods.method(),
                          params=self.methods.params() if params is None else params, target=self.methods.target_value())

    def select_sample(self, index: int) -> None:
        self.current_index = int(index)
        if self.auto.isChecked():
            self.explain_current()

    def explain_current(self) -> None:
        if self.current_index is None or not self.info:
            self.result_panel.show_message("Pick a sample first.")
            return
        self.methods.show_problems("")
        self._main_rid = self.explain_request("main", self.current_index)
        self._busy(True)

    def cancel(self) -> None:
        """Stop the running computation (the worker is restarted, the model reloaded)."""
        self.client.cancel()  # pending requests fail with "cancelled"
        self._status("Cancelled — restarting the worker…")
        self._busy(False)

    def _busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)
        self.progress.setVisible(busy)
        self.progress.setValue(0)

    def _progress(self, rid: int, fraction: float) -> None:
        if rid == self._main_rid:
            self.progress.setValue(int(fraction * 1000))

    def _result(self, rid: int, op: str, result: dict) -> None:
        purpose = self._tickets.pop(rid, None)
        if purpose == "predictions" and result["split"] == self.split:
            self.browser.set_data(self.info["kind"], result["true"], result["predicted"], result["confidence"],
                                  self.info["class_names"], bool(result.get("regression")))
            shown = self.browser.visible_indices() if self.info["kind"] != "image" else list(range(min(len(result["true"]), 2000)))
            if self.info["kind"] in ("image", "text"):
                self._send("thumbs", "samples", split=self.split, indices=shown, rgb=True)
        elif purpose == "thumbs":
            if "rgb" in result:
                self.browser.set_thumbnails(result["indices"], result["rgb"])
            else:
                self.browser.set_texts(result["indices"], [text_of(self.info, d) for d in result["display"]])
        elif purpose == "main" and rid == self._main_rid:
            self.current_result = result
            self.result_panel.show_result(self.info, result)
            self.tabs.setCurrentWidget(self.result_panel)
            self._busy(False)
            self.export_png_button.setEnabled(True)
            self.export_npy_button.setEnabled(True)
        elif purpose is not None:
            self.compare.deliver(rid, purpose, result)
            self.sanity.deliver(rid, purpose, result)

    def _failed(self, rid: int, op: str, message: str) -> None:
        purpose = self._tickets.pop(rid, None)
        if purpose == "main" and rid == self._main_rid:
            self._busy(False)
            self.methods.show_problems(message)
            self.result_panel.show_message(("Cancelled." if message == "cancelled" else "⚠ " + message.replace("\n", "<br>")))
        elif purpose is not None:
            self.compare.fail(rid, purpose, message)
            self.sanity.fail(rid, purpose, message)

    def _state_changed(self, state: str) -> None:
        if state == "ready" and self.cancel_button.isEnabled() and self._main_rid not in self._tickets:
            self._busy(False)

    def _status(self, text: str) -> None:
        self.status.setText(text)

    # -- export ------------------------------------------------------------------------------
    def _ask_export(self, kind: str) -> None:
        stem = f"sample_{self.current_result['index']:05d}_{self.current_result['method']}" if self.current_result else "explain"
        path, _ = QFileDialog.getSaveFileName(self, "Export", stem + "." + kind, f"{kind.upper()} (*.{kind})")
        if path:
            (self.export_png if kind == "png" else self.export_npy)(Path(path))

    def export_png(self, path: Path) -> Path:
        """Save the current view (the visible tab) as a PNG."""
        self.tabs.currentWidget().grab().save(str(path), "PNG")
        return path

    def export_npy(self, path: Path) -> Path:
        """Save the current attribution array (same shape as the input) as .npy."""
        if self.current_result is None:
            raise ValueError("nothing to export yet: explain a sample first")
        np.save(path, np.asarray(self.current_result["values"]), allow_pickle=False)
        return path

