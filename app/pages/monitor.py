"""Monitor page: one run live (or read-only once it has ended) — curves, progress, system load,
log and errors, and the Stop / Pause / Resume / Resume-from-checkpoint controls. A run submitted to
a cluster also shows its job's state from the scheduler (queued with Slurm's reason, running on
which nodes, or how the job ended), asked every few seconds off the GUI thread."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFrame, QHBoxLayout, QLabel, QMessageBox, QProgressBar, QPushButton, QSplitter, QStackedWidget, QVBoxLayout,
    QWidget,
)

from app.services.event_tailer import FINAL_STATUSES, EventTailer
from app.services.run_service import has_checkpoint
from app.services.system_sampler import SystemMonitor
from app.services.tasks import BackgroundCall
from app.services.window_services import services_of
from app.widgets.log_console import LogConsole
from app.widgets.plot_panel import PlotPanel
from app.widgets.startup_phases import StartupPhases
from app.widgets.system_panel import SystemPanel

#: status -> (label colour, background) of the status chip
STATUS_COLORS = {
    "created": ("#555", "#e6e6e6"), "running": ("#fff", "#2f8f5b"), "paused": ("#222", "#f0c341"),
    "completed": ("#fff", "#3b82f6"), "stopped": ("#fff", "#7a7f87"), "failed": ("#fff", "#d9534f"),
    "crashed": ("#fff", "#b02a37"), "starting": ("#fff", "#5b7fb0"), "pruned": ("#fff", "#8b8f97"), "": ("#555", "#e6e6e6"),
    "queued": ("#fff", "#8a6fb0"), "cancelled": ("#fff", "#7a7f87"),
}
#: how often the scheduler is asked about the shown run's job
JOB_POLL_MS = 2000
#: what the log says when a run reaches a status (the status event's message follows)
STATUS_LINES = {"paused": "paused", "completed": "completed", "stopped": "stopped", "failed": "failed",
                "pruned": "pruned by the sweep"}
STOP_GRACE_MS = 20_000  # then SIGTERM
#: choices of the close-window question
CLOSE_STOP, CLOSE_KEEP, CLOSE_CANCEL = "stop", "keep", "cancel"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def find_live_run(runs_dir: Path) -> Path | None:
    """The newest run under `runs_dir` whose worker is still alive (for re-attaching)."""
    from engine.runs import ACTIVE as LIVE, list_runs

    for summary in list_runs(runs_dir):
        if summary.status in LIVE:
            return summary.path
    return None


class MonitorPage(QWidget):
    """Attach with :meth:`attach`; start a new run with :meth:`start_run`."""

    statusChanged = Signal(str)

    def __init__(self, window: Any = None, services: Any = None):
        super().__init__()
        self.setObjectName("monitorPage")
        self.window_ = window
        self.run_service = (services or services_of(window, self)).runs
        self.tailer = EventTailer(self)
        self.system = SystemMonitor(self)
        self.run_dir: Path | None = None
        self.status = ""
        self._status_info: dict[str, Any] = {}
        self._progress_at = 0.0
        self._build()
        self.tailer.events.connect(self._on_events)
        self.tailer.logLines.connect(self.console.add_lines)
        self._last_logged_status = ""
        self.tailer.statusChanged.connect(self._on_status)
        self.system.sampled.connect(self.system_panel.show_sample)
        self.run_service.processExited.connect(self._on_process_exited)
        self.run_service.attachRequested.connect(self.attach)
        self.run_service.runsReleased.connect(self._release)
        self._clock = QTimer(self, interval=1000, timeout=self._update_progress)
        self._finder = BackgroundCall(self)
        self._finder.finished.connect(self._reattach)
        self.job = None  # engine.launchers.JobState of the shown run's job (None: a local run)
        self._job_asker = BackgroundCall(self)
        self._job_asker.finished.connect(self._show_job)
        self._job_timer = QTimer(self, interval=JOB_POLL_MS, timeout=self._ask_job)
        self._set_status("")
        if self.run_service.shown is not None:  # a run was started or opened before this page was built
            self.attach(self.run_service.shown)
        elif window is not None:
            QTimer.singleShot(0, self, lambda: self._finder.call(find_live_run, self.run_service.runs_dir))

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 12, 16, 12)
        header = QHBoxLayout()
        titles = QVBoxLayout()
        self.title = QLabel("No run yet", objectName="pageTitle")
        self.subtitle = QLabel("Press Train on the Train page, or open a run from the Runs page.",
                               objectName="pageSubtitle")
        self.subtitle.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        titles.addWidget(self.title)
        titles.addWidget(self.subtitle)
        header.addLayout(titles, 1)
        self.job_label = QLabel(objectName="jobLabel")
        self.job_label.setMaximumWidth(420)  # one line: "Slurm job 12 PENDING (Resources)"
        self.job_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.job_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.job_label.hide()
        header.addWidget(self.job_label)
        self.status_label = QLabel(objectName="statusLabel")
        self.status_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status_label.setMinimumWidth(96)
        header.addWidget(self.status_label)
        self.pause_button = QPushButton("Pause", objectName="pauseButton")
        self.pause_button.setToolTip("Hold all ranks between steps; press again to resume")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button = QPushButton("Stop", objectName="stopButton")
        self.stop_button.setToolTip("Finish the current step, save a checkpoint and stop")
        self.stop_button.clicked.connect(self.stop)
        self.resume_button = QPushButton("Resume from checkpoint", objectName="resumeButton")
        self.resume_button.setToolTip("Continue this run from its last checkpoint (from step 0 if it has none yet)")
        self.resume_button.clicked.connect(self.resume_from_checkpoint)
        self.folder_button = QPushButton("Open folder", objectName="openFolderButton")
        self.folder_button.clicked.connect(self.open_folder)
        self.export_button = QPushButton("Export model…", objectName="exportRunButton")
        self.export_button.clicked.connect(self.export_run)
        for button in (self.pause_button, self.stop_button, self.resume_button, self.folder_button, self.export_button):
            header.addWidget(button)
        outer.addLayout(header)

        progress_row = QHBoxLayout()
        self.progress = QProgressBar(objectName="progressBar")
        self.progress.setRange(0, 1000)
        self.progress.setFormat("")
        self.progress.setTextVisible(True)
        self.progress_info = QLabel(objectName="progressInfo")
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.progress_info)
        outer.addLayout(progress_row)

        self.phases = StartupPhases()
        outer.addWidget(self.phases)

        self.plots = PlotPanel()
        self.system_panel = SystemPanel()
        self.system_panel.setMinimumWidth(240)
        side = QFrame(objectName="panel")
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(10, 8, 10, 8)
        side_layout.addWidget(QLabel("SYSTEM", objectName="sectionTitle"))
        side_layout.addWidget(self.system_panel)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.plots)
        top.addWidget(side)
        top.setStretchFactor(0, 4)
        top.setStretchFactor(1, 1)
        top.setSizes([900, 280])
        self.console = LogConsole()
        split = QSplitter(Qt.Orientation.Vertical, objectName="monitorSplitter")
        split.addWidget(top)
        split.addWidget(self.console)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        split.setSizes([560, 150])
        self.body = QStackedWidget(objectName="monitorBody")
        self.body.addWidget(self._empty_state())
        self.body.addWidget(split)
        outer.addWidget(self.body, 1)

    def _empty_state(self) -> QWidget:
        """What the Monitor shows before any run: where runs come from."""
        empty = QWidget(objectName="monitorEmpty")
        column = QVBoxLayout(empty)
        column.addStretch(1)
        heading = QLabel("No run to show yet", objectName="emptyTitle")
        heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        heading.setStyleSheet("font-size: 16pt; font-weight: 600;")
        text = QLabel("Press <b>Train</b> on the Train page to start one — its start-up, curves, system load "
                      "and log appear here live.<br>Or open a past run from the <b>Runs</b> page; a run still "
                      "training when Netwright starts is re-attached automatically.", objectName="emptyText")
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text.setWordWrap(True)
        row = QHBoxLayout()
        row.addStretch(1)
        for label, key, name in (("Go to Train", "train", "goTrainButton"), ("Open Runs", "runs", "goRunsButton")):
            button = QPushButton(label, objectName=name)
            button.clicked.connect(lambda _=False, k=key: self.window_.show_page(k) if self.window_ is not None else None)
            row.addWidget(button)
        row.addStretch(1)
        column.addWidget(heading)
        column.addWidget(text)
        column.addLayout(row)
        column.addStretch(2)
        return empty

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return QSize(1100, 720)

    # ------------------------------------------------------------------ runs
    def start_run(self, spec) -> Path:
        """Start a run of `spec` through the run service (which asks this page to show it)."""
        return self.run_service.start(spec)

    def _release(self, paths: list) -> None:
        """Runs about to be deleted: stop reading the one shown."""
        if self.run_dir is not None and str(self.run_dir) in paths:
            self.tailer.detach()

    def attach(self, run_dir: str | Path) -> None:
        """Show `run_dir` (live while its worker runs, read-only once it has ended)."""
        self.run_dir = Path(run_dir)
        self.body.setCurrentIndex(1)
        self.plots.clear()
        self.console.clear()
        self._last_logged_status = ""
        from app.services.run_service import job_id, submits

        # a cluster's job (or one being submitted): its start-up phases show once it starts on the cluster
        queued_job = bool(job_id(self.run_dir)) or submits(self.run_dir)
        self.phases.begin(None if queued_job else self.run_service.launched_at(self.run_dir))
        self.tailer.attach(self.run_dir)
        self.title.setText(self._run_name())
        self.subtitle.setText(str(self.run_dir))
        self.job = None
        self.job_label.hide()
        self._job_timer.stop()
        if queued_job:
            self._ask_job()
            self._job_timer.start()
        self._set_status("")
        self._refresh_system_target()
        self.system.start()
        self._clock.start()
        self._update_progress()

    def _ask_job(self) -> None:
        from engine.launchers import job_state_of  # (engine.launchers loads with the spec's registries)

        if self.run_dir is not None and not self._job_asker.pending:
            self._job_asker.call(job_state_of, self.run_dir)

    def _show_job(self, job) -> None:
        """The scheduler's word on the shown run's job: a line beside the status, and a log line
        when the state changes."""
        if job is None or self.run_dir is None:
            return
        changed = self.job is None or (self.job.state, self.job.reason) != (job.state, job.reason)
        self.job = job
        from engine.runs import load_status

        kind = load_status(self.run_dir).launcher or "cluster"
        self.job_label.setText(f"{kind.capitalize()} {job.describe()}")
        self.job_label.setToolTip(job.message or job.describe())
        self.job_label.show()
        if changed:
            self.console.add_lines([f"{kind} {job.describe()}"])
            self._set_status(self.status)
        if job.final:
            self._job_timer.stop()
            self.tailer.poll_now()

    def _reattach(self, run_dir: Path | None) -> None:
        if run_dir is not None and self.run_dir is None:
            self.attach(run_dir)
            bar = getattr(self.window_, "statusBar", None)
            if callable(bar):
                bar().showMessage(f"Re-attached to the run still training: {self.title.text()} — see Monitor", 10_000)

    def _run_name(self) -> str:
        from engine.runs import read_status

        return str(read_status(self.run_dir).get("name") or self.run_dir.name)

    def is_active(self) -> bool:
        """True while the attached run is training (or its worker is still alive)."""
        if self.run_dir is None or self.status in FINAL_STATUSES or self.run_service.is_exiting(self.run_dir):
            return False
        return self.status in ("running", "paused") or self.run_service.is_running(self.run_dir)

    # ------------------------------------------------------------------ controls
    def stop(self) -> None:
        """Graceful stop: a request the ranks act on between steps. A worker still starting up
        (it clears old requests when training begins) or one that does not answer within
        STOP_GRACE_MS gets SIGTERM, which the worker also turns into a graceful stop."""
        if self.run_dir is None:
            return
        how = self.run_service.stop(self.run_dir)
        self.console.add_lines([{
            "requested": "stop requested: the run finishes its step, saves a checkpoint and stops",
            "terminated": "stop requested while the worker was starting: it is being ended",
            "exiting": "the run is already stopping",
            "cancelled": "the queued job is being cancelled (scancel)",
        }.get(how, "no process of this run is alive")])
        if how == "requested":
            QTimer.singleShot(STOP_GRACE_MS, self, lambda run=self.run_dir: self._stop_fallback(run))
        self.stop_button.setEnabled(False)
        self.stop_button.setText("Stopping…")
        self.tailer.poll_now()

    def _stop_fallback(self, run_dir: Path) -> None:
        if run_dir == self.run_dir and self.status in ("running", "paused") and self.run_service.terminate(run_dir):
            self.console.add_lines([f"(no answer to the stop request within {STOP_GRACE_MS // 1000} s: sent SIGTERM)"])

    def toggle_pause(self) -> None:
        if self.run_dir is None:
            return
        action = "resume" if self.status == "paused" else "pause"
        self.run_service.request(self.run_dir, action)
        self.console.add_lines([f"{action} requested"])
        self.pause_button.setEnabled(False)
        QTimer.singleShot(3000, self, self._reenable_pause)
        self.tailer.poll_now()

    def _reenable_pause(self) -> None:
        self.pause_button.setEnabled(self.status in ("running", "paused"))

    def resume_from_checkpoint(self) -> None:
        if self.run_dir is None:
            return
        try:
            self.run_service.resume_from_checkpoint(self.run_dir)
        except RuntimeError as err:
            QMessageBox.warning(self, "Cannot resume", str(err))
            return
        self.attach(self.run_dir)

    def open_folder(self) -> None:
        if self.run_dir is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.run_dir)))

    def export_run(self) -> None:
        """The Export dialog for the shown run (app/widgets/export_dialog.py)."""
        from app.widgets.export_dialog import ExportDialog

        if self.run_dir is not None:
            self.export_dialog = ExportDialog(self.run_dir, self)
            self.export_dialog.open()

    # ------------------------------------------------------------------ updates
    def _on_events(self, events: list) -> None:
        self.plots.add_events(events)
        self.console.add_events(events)
        self._log_milestones(events)
        if not self.phases.done:
            for event in events:
                self.phases.add_event(event)
            if self.phases.done:
                self._set_status(self.status)
        self.system_panel.add_events(events)
        if any(e.get("type") in ("start", "status") for e in events):
            self._refresh_system_target()
        now = time.monotonic()
        if now - self._progress_at >= 0.2:  # the bar follows the events, at most 5 times a second
            self._progress_at = now
            self._update_progress()

    def _log_milestones(self, events: list) -> None:
        """Start-up phases and status changes as log lines (log.txt has the rest)."""
        lines = []
        for event in events:
            kind = event.get("type")
            if kind == "phase":
                lines.append(f"{event.get('phase')}…")
            elif kind == "status" and event.get("status") in STATUS_LINES:
                status = str(event["status"])
                if status == self._last_logged_status:
                    continue
                self._last_logged_status = status
                step = f" at step {event['step']}" if event.get("step") is not None else ""
                message = f": {event['message']}" if event.get("message") else ""
                lines.append(f"{STATUS_LINES[status]}{step}{message}")
            elif kind == "status" and event.get("status") == "running" and self._last_logged_status == "paused":
                self._last_logged_status = "running"
                lines.append("resumed")
        if lines:
            self.console.add_lines(lines)

    def _on_status(self, status: str, info: dict) -> None:
        self._status_info = info
        self._set_status(status)
        if status == "failed" and info.get("message") and self.console.last_error is None:
            self.console.banner.show_error({"message": info["message"]})
        self._refresh_system_target()
        self._update_progress()

    def _on_process_exited(self, run_dir: str, code: int) -> None:
        if self.run_dir is not None and Path(run_dir) == self.run_dir:
            self.tailer.poll_now()

    def _set_status(self, status: str) -> None:
        self.status = status
        starting_up = self.phases.isVisibleTo(self) and not self.phases.done and status in ("", "created", "running")
        queued = self.job is not None and not self.job.final and self.job.state != "RUNNING" and status in ("", "created")
        # a job that ended before its worker wrote anything (cancelled while queued, a node that cannot
        # see the run directory): the scheduler's word is all there is
        never_ran = self.job is not None and self.job.final and status in ("", "created")
        shown = self.job.state.lower() if never_ran else "queued" if queued else "starting" if starting_up else status
        fg, bg = STATUS_COLORS.get(shown, STATUS_COLORS["failed" if never_ran else ""])
        self.status_label.setText(shown or ("…" if self.run_dir else "no run"))
        self.status_label.setStyleSheet(f"QLabel#statusLabel {{ color: {fg}; background: {bg}; border-radius: 10px;"
                                        f" padding: 3px 12px; font-weight: 600; }}")
        live = status in ("running", "paused")
        starting = status in ("", "created") and self.run_dir is not None and (
            self.run_dir in self.run_service.active_runs() or self.job is not None and not self.job.final)
        self.stop_button.setEnabled(live or starting)
        self.stop_button.setText("Stop")
        self.pause_button.setEnabled(live and not starting_up)  # nothing to hold before the first step
        self.pause_button.setText("Resume" if status == "paused" else "Pause")
        ended = status in FINAL_STATUSES  # read-only: no controls that cannot act
        self.pause_button.setVisible(not ended and self.run_dir is not None)
        self.stop_button.setVisible(not ended and self.run_dir is not None)
        # a stopped or crashed run resumes even before its first checkpoint (the engine starts it from
        # step 0 in the same run directory); a failed one only from a checkpoint (else it fails again)
        can_resume = self.run_dir is not None and (status in ("stopped", "crashed", "pruned")
                                                   or status == "failed" and has_checkpoint(self.run_dir))
        self.resume_button.setVisible(can_resume)
        self.folder_button.setEnabled(self.run_dir is not None)
        # export writes into the run (export.json), which its training process owns until it ends
        self.export_button.setEnabled(self.run_dir is not None and not (live or starting))
        self.export_button.setToolTip("Export the trained model (ONNX, torch.export, a PyTorch project, a bundle)"
                                      if not (live or starting) else "Available once the run has ended")
        for widget in (self.status_label, self.folder_button, self.export_button, self.progress, self.progress_info):
            widget.setVisible(self.run_dir is not None)  # the empty state has nothing to control
        if status in FINAL_STATUSES:
            self._clock.stop()
            self.system.pid = None
            self.phases.finish()
        self.statusChanged.emit(status)

    def _refresh_system_target(self) -> None:
        if self.run_dir is None:
            return
        live = self.status in ("running", "paused", "created", "")
        self.system.pid = self.run_service.worker_pid(self.run_dir) if live else None
        self.system.run_dir = self.run_dir

    def _update_progress(self) -> None:
        if not self.phases.done:
            self.phases.tick()
            if self.status_label.text() == "starting" and self.phases.isHidden():
                self._set_status(self.status)
        progress = self.plots.store().progress()
        if progress.total_steps:
            self.progress.setValue(int(1000 * progress.fraction))
        elif self.status == "completed":
            self.progress.setValue(1000)
        epoch = f"epoch {progress.epoch:.1f}".replace(".0", "") + (f"/{progress.total_epochs}" if progress.total_epochs else "")
        step = f"step {progress.step}" + (f"/{progress.total_steps}" if progress.total_steps else "")
        self.progress.setFormat(f"{epoch} · {step}" if self.run_dir else "")
        training, wall = self._durations(progress.elapsed)
        eta = progress.eta if self.status == "running" else None
        speed = f"{progress.samples_per_second:,.0f} samples/s" if progress.samples_per_second else "— samples/s"
        self.progress_info.setText(f"training {fmt_duration(training)} · wall {fmt_duration(wall)} · "
                                   f"ETA {fmt_duration(eta)} · {speed}")

    def _durations(self, loop_seconds: float) -> tuple[float | None, float | None]:
        """(training time, wall time) as the Runs page and the CLI summary define them: training =
        inside the training loop (from the run's `start` event; status.json's `training_seconds`
        once a session has ended); wall = from the click (or the run's start) to now or its end,
        start-up included (status.json's `wall_seconds` once ended)."""
        info, now = self._status_info, time.time()
        ended = self.status in FINAL_STATUSES
        starting = not self.phases.done and self.phases.t0 is not None
        training: float | None = loop_seconds if self.plots.store().t0 is not None and not starting else None
        if self.status in ("running", "paused") and self.plots.store().t0 is not None and not starting:
            training = max(loop_seconds, now - self.plots.store().t0)
        if ended and isinstance(info.get("training_seconds"), (int, float)):
            training = float(info["training_seconds"])
        start = self.phases.t0 if self.phases.t0 is not None else info.get("started")
        wall = None
        if ended and isinstance(info.get("wall_seconds"), (int, float)):
            wall = float(info["wall_seconds"])
        elif isinstance(start, (int, float)):
            end = info.get("ended") if ended and isinstance(info.get("ended"), (int, float)) else now
            wall = max(0.0, end - start)
        return training, wall

    # ------------------------------------------------------------------ window hooks
    def on_shown(self) -> None:
        if self.run_dir is not None and self.status not in FINAL_STATUSES:
            self.system.start()

    def ask_close_action(self) -> str:
        """Ask what to do with the active run; returns CLOSE_STOP, CLOSE_KEEP or CLOSE_CANCEL."""
        active = self.active_runs()
        what = f"“{self.title.text()}” is still {self.status or 'running'}." if len(active) == 1 and \
            active[0] == self.run_dir else f"{len(active)} runs started here are still training."
        box = QMessageBox(QMessageBox.Icon.Question, "A run is still training", what, parent=self)
        box.setInformativeText("Stop it gracefully (it saves a checkpoint), or keep it running in the background? "
                               "Netwright re-attaches to it on the next start.")
        stop = box.addButton("Stop the run", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep running", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(keep)
        box.exec()
        clicked = box.clickedButton()
        return CLOSE_STOP if clicked is stop else CLOSE_KEEP if clicked is keep else CLOSE_CANCEL

    def active_runs(self) -> list[Path]:
        """The attached run if it is training, plus any other run this window started that is.
        A run that is stopping or has ended while its worker exits is not training: closing the
        window neither asks about it nor touches its worker."""
        runs = [self.run_dir] if self.is_active() else []
        return runs + [p for p in self.run_service.training_runs() if p not in runs]

    def can_close(self) -> bool:
        """Asked before the window closes: stop the active run(s) gracefully, keep them running
        in the background (re-attached on the next start), or cancel the close."""
        active = self.active_runs()
        if not active:
            self._shutdown()
            return True
        choice = self.ask_close_action()
        if choice == CLOSE_CANCEL:
            return False
        if choice == CLOSE_STOP:
            for run_dir in active:
                self.run_service.stop(run_dir)
        self._shutdown()
        return True

    def _shutdown(self) -> None:
        self.tailer.detach()
        self.system.stop()
        self._clock.stop()
        self.run_service.forget()

