"""Tail a run directory live: new events, new log lines and the run's status, about 10 times a second.

The file is the source of truth (DESIGN.md, "How data flows"): a finished run, a crashed run and
a run started from the CLI are all opened the same way. Reads are incremental (from the last
offset, complete lines only) and happen on a private one-thread pool, so a large backlog never
stalls the GUI thread; results come back as queued Qt signals.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal, Slot

#: statuses after which nothing more will be written
FINAL_STATUSES = frozenset({"completed", "stopped", "failed", "crashed", "pruned"})  # pruned: a sweep trial stopped early
LOG_CHUNK = 256 * 1024
#: events handed to the GUI per event-loop turn: a long backlog arrives in slices, never in one stall
EVENT_SLICE = 2000


@dataclass
class TailResult:
    """What one poll found."""

    generation: int
    events: list[dict[str, Any]] = field(default_factory=list)
    event_offset: int = 0
    log_lines: list[str] = field(default_factory=list)
    log_offset: int = 0
    status: dict[str, Any] | None = None
    error: str = ""
    #: complete lines of events.jsonl that were not events (counted, skipped)
    skipped_lines: int = 0


def read_log_lines(path: Path, offset: int) -> tuple[list[str], int]:
    """Complete new lines of a text log from `offset` (a partial last line waits for the next poll)."""
    from engine.appendlog import LineTail

    tail = LineTail(path, offset, chunk=LOG_CHUNK)
    lines = tail.read()
    return [line.decode("utf-8", errors="replace").rstrip("\r") for line in lines], tail.offset


def poll_run(run_dir: Path, event_offset: int, log_offset: int, with_status: bool, generation: int) -> TailResult:
    """One incremental read of a run directory (runs on the tailer's pool thread) through the
    engine's one events reader (engine.events.EventTail)."""
    from engine.events import EventTail
    from engine.runs import RunDir

    run = RunDir(Path(run_dir))
    result = TailResult(generation, event_offset=event_offset, log_offset=log_offset)
    try:
        tail = EventTail(run.events_path, event_offset)
        result.events = tail.read()
        result.event_offset, result.skipped_lines = tail.offset, tail.skipped
        result.log_lines, result.log_offset = read_log_lines(run.log_path, log_offset)
        if with_status:
            result.status = _status_dict(run.path)
    except Exception as err:  # a run being deleted, a permissions problem: report, keep polling
        result.error = f"{run_dir}: {err}"
    return result


def _status_dict(run_dir: Path) -> dict[str, Any]:
    from engine import runs

    raw = runs.read_status(run_dir)
    info = dict(raw) if isinstance(raw, dict) else dict(getattr(raw, "__dict__", {}) or {})
    info["status"] = str(runs.effective_status(run_dir))
    return info


class _Signals(QObject):
    done = Signal(object)


class _PollTask(QRunnable):
    def __init__(self, args: tuple, signals: _Signals):
        super().__init__()
        self.args, self.signals = args, signals

    def run(self) -> None:  # pool thread
        self.signals.done.emit(poll_run(*self.args))


class EventTailer(QObject):
    """Watches one run directory. Signals: `events(list)` with new events in order,
    `logLines(list)` with new lines of log.txt, `statusChanged(str, dict)` whenever the
    effective status (running, paused, completed, stopped, failed, crashed) changes."""

    events = Signal(list)
    logLines = Signal(list)
    statusChanged = Signal(str, dict)
    readError = Signal(str)

    def __init__(self, parent: QObject | None = None, *, interval_ms: int = 100, status_every_s: float = 0.5):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _Signals()
        self._signals.done.connect(self._on_result)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._status_every = status_every_s
        self._run_dir: Path | None = None
        self._generation = 0
        self._busy = False
        self._event_offset = self._log_offset = 0
        self._last_status_poll = 0.0
        self._status = ""
        self._final_polls = 0
        self._backlog: list[dict[str, Any]] = []
        self._skipped = 0
        self._deliver = QTimer(self, singleShot=True, interval=0, timeout=self._deliver_slice)

    @property
    def run_dir(self) -> Path | None:
        return self._run_dir

    @property
    def status(self) -> str:
        return self._status

    @property
    def skipped_lines(self) -> int:
        """Complete lines of the attached run's events.jsonl that were not events."""
        return self._skipped

    def attach(self, run_dir: str | Path) -> None:
        """Start watching `run_dir` from its first event (earlier attachments are forgotten)."""
        self._generation += 1
        self._run_dir = Path(run_dir)
        self._event_offset = self._log_offset = 0
        self._status = ""
        self._last_status_poll = 0.0
        self._final_polls = 0
        self._skipped = 0
        self._backlog = []
        self._timer.start()
        self._tick()

    def detach(self) -> None:
        self._generation += 1
        self._run_dir = None
        self._backlog = []
        self._timer.stop()

    def poll_now(self) -> None:
        """Poll at once, status included (e.g. right after sending a control request)."""
        self._last_status_poll = 0.0
        self._tick()

    @property
    def backlog(self) -> int:
        """Events read but not yet handed out."""
        return len(self._backlog)

    @Slot()
    def _deliver_slice(self) -> None:
        if not self._backlog:
            return
        chunk, self._backlog = self._backlog[:EVENT_SLICE], self._backlog[EVENT_SLICE:]
        self.events.emit(chunk)
        if self._backlog:
            self._deliver.start()

    def wait_idle(self, msecs: int = 5000) -> bool:
        return self._pool.waitForDone(msecs)

    @Slot()
    def _tick(self) -> None:
        if self._busy or self._run_dir is None:
            return
        now = time.monotonic()
        with_status = now - self._last_status_poll >= self._status_every
        if with_status:
            self._last_status_poll = now
        self._busy = True
        args = (self._run_dir, self._event_offset, self._log_offset, with_status, self._generation)
        self._pool.start(_PollTask(args, self._signals))

    @Slot(object)
    def _on_result(self, result: TailResult) -> None:
        self._busy = False
        if result.generation != self._generation:
            self._tick()
            return
        self._event_offset, self._log_offset = result.event_offset, result.log_offset
        if result.error:
            self.readError.emit(result.error)
        if result.skipped_lines:
            self._skipped += result.skipped_lines
            self.readError.emit(f"{self._run_dir}: skipped {self._skipped} unreadable line(s) of events.jsonl")
        if result.events:
            self._backlog.extend(result.events)
            self._deliver_slice()
        if result.log_lines:
            self.logLines.emit(result.log_lines)
        if result.status is not None:
            status = result.status.get("status", "")
            if status != self._status:
                self._status = status
                self.statusChanged.emit(status, result.status)
            if status in FINAL_STATUSES:
                # a few more polls pick up the last events flushed after the status was written
                self._final_polls += 1
                if self._final_polls > 3 and not result.events and not result.log_lines and not self._backlog:
                    self._timer.stop()
            else:
                self._final_polls = 0
                if not self._timer.isActive():
                    self._timer.start()
