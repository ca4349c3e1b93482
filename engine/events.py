"""The events log: one JSON object per line, written by rank 0, tailed by the GUI.

Every event has ``v`` (schema version), ``seq`` (0, 1, 2, ... across the whole run, resumes
included), ``time`` (Unix seconds) and ``type`` (see EVENT_TYPES), plus its own fields.
Writes are batched: a background timer encodes and writes pending events in one ``write``
at least every 0.2 s; 64 pending events are written at once; :meth:`EventWriter.flush` and
:meth:`close` write what is pending. A reader sees
whole lines only; a line cut short by a crash is ignored until it is complete.
"""
from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

EVENTS_VERSION = 1
EVENT_TYPES = ("start", "metric", "epoch", "checkpoint", "status", "error", "log", "system", "phase")
#: start-up phases, in order, each a ``phase`` event (``phase`` = the name) emitted as it begins:
#: the worker process is up and starts the ranks; rank 0 loads the data, builds the model, and
#: runs the first step (the phase ends with the first ``metric`` event)
PHASES = ("starting worker", "loading data", "building model", "first step")


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become strings ("nan", "inf", "-inf"); tuples become lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _encode(record: dict[str, Any]) -> str:
    line = json.dumps(record, allow_nan=True, separators=(",", ":"), default=str)  # never fail in the flush thread
    if "NaN" in line or "Infinity" in line:
        line = json.dumps(_clean(record), separators=(",", ":"), default=str)
    return line + "\n"


class EventWriter:
    """Appends events to `path` in small batches. Thread-safe; a background timer makes sure a
    pending event never waits longer than `flush_interval` seconds even when no new event comes."""

    def __init__(self, path: str | Path, *, flush_interval: float = 0.2, max_pending: int = 64):
        self.path = Path(path)
        self.flush_interval = flush_interval
        self.max_pending = max_pending
        self._seq = last_seq(self.path) + 1
        self._pending: list[str] = []
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        _cut_partial_line(self.path)  # a writer killed mid-line must not swallow this session's first event
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._closed = threading.Event()
        #: the OSError that stopped writing (e.g. the disk is full); later events are dropped, and
        #: the owner (RunReporter) turns it into a failed run — the flush thread never dies of it
        self.error: OSError | None = None
        self._torn = False
        self._timer = threading.Thread(target=self._tick, name="events-flush", daemon=True)
        self._timer.start()

    def event(self, type: str, **fields: Any) -> dict[str, Any]:
        """Queue one event and return it. Cheap: encoding and writing happen in the background
        timer (at most `flush_interval` later), or here when `max_pending` events are waiting.
        Field values must not be mutated after the call."""
        record = {"v": EVENTS_VERSION, "seq": 0, "time": round(time.time(), 6), "type": type}
        record.update(fields)
        with self._lock:
            record["seq"] = self._seq
            self._seq += 1
            self._pending.append(record)
            if len(self._pending) >= self.max_pending:
                self._flush_locked()
        return record

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        self._last_flush = time.monotonic()
        if not self._pending or self._fd < 0:
            return
        data = "".join(_encode(record) for record in self._pending).encode("utf-8")
        self._pending.clear()
        view = memoryview(b"\n" + data if self._torn else data)  # end a line cut by a failed write
        try:
            if _fault_armed():
                _half_then_fault(self._fd, view)
            while view:
                view = view[os.write(self._fd, view):]
            self._torn = False
        except OSError as err:  # disk full, I/O error: whole lines written so far stay readable
            self.error, self._torn = err, True

    def _tick(self) -> None:
        while not self._closed.wait(self.flush_interval / 2):
            if self._pending and time.monotonic() - self._last_flush >= self.flush_interval / 2:
                self.flush()

    def close(self) -> None:
        """Flush what is pending and close the file (idempotent)."""
        self._closed.set()
        with self._lock:
            self._flush_locked()
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> "EventWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _cut_partial_line(path: Path) -> None:
    """Truncate a last line without its newline (left by a writer killed mid-write)."""
    try:
        with open(path, "rb+") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            start = max(0, size - (1 << 20))
            fh.seek(start)
            tail = fh.read()
            cut = tail.rfind(b"\n")
            fh.truncate(start + cut + 1 if cut >= 0 else (start if start else 0))
    except FileNotFoundError:
        return


def _fault_armed() -> bool:
    from engine import faults

    return faults._faults != [] and faults.enabled("mid_event_write")


def _half_then_fault(fd: int, view: memoryview) -> None:
    """Test hook (engine.faults "mid_event_write"): write half the batch, then fire the fault."""
    from engine import faults

    fault = faults.armed("mid_event_write")
    if fault is not None:
        os.write(fd, view[: max(1, len(view) // 2)])
        faults.fire(fault)


def read_events(path: str | Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Complete events from byte `offset` on, and the offset to continue from next time.

    Incremental and cheap (reads only the new bytes); a trailing partial line is left for the
    next call; a corrupt complete line is skipped. A missing file gives ([], offset)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    events = []
    for line in data[: end + 1].splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events, offset + end + 1


def last_seq(path: str | Path) -> int:
    """The highest `seq` in the log (-1 when empty or missing); reads only the file's tail."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            chunk = 1 << 16
            while True:
                start = max(0, size - chunk)
                fh.seek(start)
                lines = fh.read(size - start).split(b"\n")
                complete = lines[1:] if start > 0 else lines
                for line in reversed(complete):
                    try:
                        return int(json.loads(line)["seq"])
                    except (ValueError, KeyError, TypeError):
                        continue
                if start == 0:
                    return -1
                chunk *= 4
    except FileNotFoundError:
        return -1
