"""The events log: one JSON object per line, written by rank 0, tailed by the GUI.

Every event has ``v`` (schema version), ``seq`` (0, 1, 2, ... across the whole run, resumes
included), ``time`` (Unix seconds) and ``type`` (see EVENT_TYPES), plus its own fields.
Writes are batched: a background timer encodes and writes pending events in one ``write``
at least every 0.2 s; 64 pending events are written at once; :meth:`EventWriter.flush` and
:meth:`close` write what is pending. A reader sees whole lines only; a line cut short by a
crash is cut off by the next writer before it appends (engine.appendlog), so a resumed
session's events never merge into it. :class:`EventTail` is the one incremental reader (the
CLI's progress and the GUI's tailer both use it); it counts lines it had to skip.

The event types and their fields are typed in engine.event_types.
"""
from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

from engine.appendlog import LineTail, open_append, write_all
from engine.event_types import EVENT_TYPES, EVENTS_VERSION, PHASES, Event  # noqa: F401  (re-exported)


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
        self._fd = -1
        self._seq = 0
        self._pending: list[str] = []
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._fd = open_append(self.path)  # first: a partial line left by a crash is cut off
        self._seq = last_seq(self.path) + 1
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

    def emit(self, event: Event) -> dict[str, Any]:
        """Queue a typed event (see engine.event_types) and return its record."""
        return self.event(event.TYPE, **event.fields())

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        self._last_flush = time.monotonic()
        if not self._pending or self._fd < 0:
            return
        data = "".join(_encode(record) for record in self._pending).encode("utf-8")
        self._pending.clear()
        try:  # a line cut by a failed write (disk full) is ended before the next batch
            write_all(self._fd, b"\n" + data if self._torn else data, fault="mid_event_write")
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


class EventTail:
    """The incremental events reader: each :meth:`read` returns the complete events added since
    the last one (reads only new bytes; a partial last line waits for its newline). Complete
    lines that are not an event object are skipped and counted in `skipped`."""

    def __init__(self, path: str | Path, offset: int = 0):
        self._lines = LineTail(path, offset)

    @property
    def offset(self) -> int:
        return self._lines.offset

    @property
    def skipped(self) -> int:
        return self._lines.skipped

    def read(self) -> list[dict[str, Any]]:
        events = []
        for line in self._lines.read():
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            if isinstance(event, dict):
                events.append(event)
            else:
                self._lines.skip()
        return events


def read_events(path: str | Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Complete events from byte `offset` on, and the offset to continue from next time.

    Incremental and cheap (reads only the new bytes); a trailing partial line is left for the
    next call; a corrupt complete line is skipped (:class:`EventTail` counts them). A missing
    file gives ([], offset)."""
    tail = EventTail(path, offset)
    events = tail.read()
    return events, tail.offset


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


def last_progress(path: str | Path, epoch: float | None = None, step: int | None = None) -> tuple[float | None, int | None]:
    """(epoch, step) of the last event in the log that reports progress (metric, epoch,
    checkpoint, status), or the given defaults when none does; reads only the file's tail."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - (1 << 18)))
            lines = fh.read().split(b"\n")
    except OSError:
        return epoch, step
    for line in reversed(lines):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and isinstance(event.get("step"), int) and event.get("type") in (
                "metric", "epoch", "checkpoint", "status"):
            return event.get("epoch", epoch), event["step"]
    return epoch, step
