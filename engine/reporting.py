"""Reporters: how the training loop talks to the outside world (Orange3-style state object).

The loop calls only ``reporter.event(type, **fields)`` (plain Python values) and
``reporter.control() -> "run" | "pause" | "stop"``. `RunReporter` backs them with a run
directory; tests use a fake; the CLI tees a progress bar in.
"""
from __future__ import annotations

import os
import time
from typing import Any, Protocol, Sequence

from engine.events import EventWriter
from engine.runs import RunDir, clear_control, read_control, read_status, write_status

FINAL = ("completed", "stopped", "failed", "pruned")
#: events written to events.jsonl as soon as they are reported, not with the next batch: each
#: records a state a kill must not lose (the session's start and status, an epoch's numbers, a
#: checkpoint on disk, an error). Per-step metrics and the rest go in batches (EventWriter).
WRITE_AT_ONCE = frozenset({"start", "status", "epoch", "checkpoint", "error"})


class Reporter(Protocol):
    def event(self, type: str, **fields: Any) -> None: ...

    def control(self) -> str: ...


class NullReporter:
    """Reports nothing and never asks to stop (ranks other than 0)."""

    def event(self, type: str, **fields: Any) -> None:
        pass

    def control(self) -> str:
        return "run"


class RunReporter:
    """Writes events to the run's events.jsonl, keeps status.json current, appends log and error
    lines to log.txt, and reads control requests (at most every `poll` seconds, so calling
    :meth:`control` every step is cheap). :meth:`request_stop` is for signal handlers.
    Events in :data:`WRITE_AT_ONCE` are written before :meth:`event` returns; per-step metrics
    wait for the writer's next batch (at most `flush_interval` seconds)."""

    def __init__(self, run: RunDir, *, poll: float = 0.1, status_every: float = 2.0, flush_interval: float = 0.2):
        self.run = run
        self.writer = EventWriter(run.events_path, flush_interval=flush_interval)
        self.poll = poll
        self.status_every = status_every
        self._stop_asked = self._prune_asked = False  # in this process (a signal handler, a sweep's pruner)
        self._last_poll = 0.0
        self._last_mtime: int | None = None
        self._request = "run"
        self._last_status = 0.0
        self._write_failed = False
        if read_status(run).get("status", "created") != "created":
            clear_control(run)  # a stale request from an earlier session must not stop a resumed run
        # (a fresh run keeps a request made before training started: stop means stop)

    def event(self, type: str, **fields: Any) -> None:
        self.writer.event(type, **fields)
        if type == "status":
            status = fields.get("status", "running")
            extra = {k: fields[k] for k in ("message", "metrics", "epoch", "step", "checkpoint") if k in fields}
            write_status(self.run, status, **extra)
        elif type == "epoch":
            now = time.monotonic()
            if now - self._last_status >= self.status_every:
                self._last_status = now
                write_status(self.run, "running", epoch=fields.get("epoch"), step=fields.get("step"),
                             metrics={k: v for k, v in fields.items() if k.startswith(("train_", "val_"))})
        elif type in ("log", "error"):
            stamp = time.strftime("%H:%M:%S")
            rank = f" [rank {fields['rank']}]" if "rank" in fields else ""
            text = f"{stamp}{rank} {type.upper() if type == 'error' else fields.get('level', 'info').upper()}: {fields.get('message', '')}"
            if fields.get("traceback"):
                text += "\n" + str(fields["traceback"]).rstrip()
            try:
                self.run.log(text)
            except OSError:  # log.txt is best effort (a full disk): the event and status still tell
                pass
        if type in WRITE_AT_ONCE:
            self.writer.flush()

    def control(self) -> str:
        if self._stop_asked or self._prune_asked or (self.writer.error is not None and not self._write_failed):
            return self._asked_here()
        now = time.monotonic()
        if now - self._last_poll < self.poll:
            return self._request
        self._last_poll = now
        try:
            mtime = os.stat(self.run.control_path).st_mtime_ns
        except FileNotFoundError:
            self._last_mtime = None
            self._request = "run"
            return self._request
        if mtime != self._last_mtime:
            self._last_mtime = mtime
            self._request = read_control(self.run)
        return self._request

    def _asked_here(self) -> str:
        if self.writer.error is not None and not self._write_failed:
            self._write_failed = True  # the events file could not be written (disk full): the loop fails with it
            raise self.writer.error
        return "stop" if self._stop_asked else "prune"

    def request_stop(self) -> None:
        """Ask for a graceful stop (safe to call from a signal handler)."""
        self._stop_asked = True

    def request_prune(self) -> None:
        """A sweep's pruner judged this trial bad: stop after this step with status "pruned"."""
        self._prune_asked = True  # (a stop asked too outranks it)

    def close(self) -> None:
        self.writer.close()


class TeeReporter:
    """Sends events to several reporters; control comes from the first one."""

    def __init__(self, primary: Reporter, *others: Any):
        self.primary = primary
        self.others: Sequence[Any] = others

    def event(self, type: str, **fields: Any) -> None:
        self.primary.event(type, **fields)
        for other in self.others:
            other.event(type, **fields)

    def control(self) -> str:
        return self.primary.control()
