"""status.json: the typed :class:`Status`, its one (de)serialiser, and the status a watcher sees.

The recorded status says what the last writer knew; :func:`effective_status` adds who owns the
run now (engine.runs.lock): a run recorded as running or paused whose owner is gone is
"crashed" at once, however it died. A final status (completed, stopped, failed) is never
replaced by a later writer's different ending (a worker reaped after its rank stopped cleanly,
an app closing down); only a new session ("running") starts over.
"""
from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text
from engine.runs.lock import lock_state
from engine.runs.rundir import RunDir

STATUSES = ("created", "running", "paused", "completed", "stopped", "failed", "crashed", "pruned")
ACTIVE = ("running", "paused")
#: statuses a session ends with; once written, only a new session ("running") replaces them
#: ("pruned": a sweep trial its driver ended early, checkpoint kept)
FINAL = ("completed", "stopped", "failed", "pruned")


@dataclass
class Status:
    """The content of status.json. Unknown keys (from newer versions) survive in `extra`."""

    status: str = "created"
    name: str | None = None
    created: float | None = None
    started: float | None = None
    ended: float | None = None
    updated: float | None = None
    pid: int | None = None
    pid_created: float | None = None
    host: str | None = None
    strategy: str | None = None
    processes: int | None = None
    node_rank: int | None = None
    epoch: float | None = None
    step: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    checkpoint: str | None = None
    training_seconds: float | None = None
    wall_seconds: float | None = None
    samples_per_second: float | None = None
    #: the launcher that submitted the run when not local ("slurm", "ray") and its scheduler's job id
    launcher: str | None = None
    job_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Status":
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        if not isinstance(known.get("metrics", {}), dict):
            known["metrics"] = {}
        return cls(**known, extra={k: v for k, v in data.items() if k not in names})

    def to_dict(self) -> dict[str, Any]:
        """The on-disk form: fields that are set (plus `extra`), `metrics` always."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        out = {k: v for k, v in out.items() if v is not None or k == "ended"}
        out.update(self.extra)
        return out

    def update(self, fields: dict[str, Any]) -> None:
        names = {f.name for f in dataclasses.fields(self)} - {"extra"}
        for key, value in fields.items():
            if key in names:
                setattr(self, key, value)
            else:
                self.extra[key] = value


def _path(run: Any) -> Path:
    return Path(getattr(run, "path", run))


def _status_path(run: Any) -> Path:
    return RunDir(_path(run)).status_path


def load_status(run: Any) -> Status:
    """status.json as a Status (a default one when missing or unreadable)."""
    try:
        data = json.loads(_status_path(run).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Status(status="")
    return Status.from_dict(data) if isinstance(data, dict) else Status(status="")


def read_status(run: Any) -> dict[str, Any]:
    """status.json as a dict ({} when missing or unreadable)."""
    status = load_status(run)
    return status.to_dict() if status.status else {}


def write_status(run: Any, status: str, *, force: bool = False, **fields: Any) -> dict[str, Any]:
    """Merge `fields` into status.json with the new status and write it atomically.

    "running" records this process (pid, its start time, host) and the start time; a final
    status records the end time. A final status already written is kept against a different
    ending (its other fields still merge) unless `force`. Returns what was written."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
    record = load_status(run)
    was = record.status
    if was in FINAL and status not in ("running", "created", was) and not force:
        status = was  # the session already ended: keep how
    record.update(fields)
    record.status = status
    now = time.time()
    if status == "running":
        if record.started is None:
            record.started = now
        record.pid = int(fields.get("pid", os.getpid()))
        record.pid_created = fields.get("pid_created", _process_created(record.pid))
        record.host = socket.gethostname()
        record.ended = None
    elif status not in ("created", "paused") and "ended" not in fields and not (was == status and record.ended):
        record.ended = now  # (a second writer of the same ending keeps the first end time)
    record.updated = now
    data = record.to_dict()
    atomic_write_text(_status_path(run), json.dumps(data, indent=1, default=str) + "\n",
                      in_place_if_full=status not in ACTIVE)  # a full disk must not hide how the run ended
    return data


def _process_created(pid: int) -> float | None:
    try:
        import psutil

        return round(psutil.Process(pid).create_time(), 2)
    except Exception:
        return None


def process_alive(pid: int | None, created: float | None = None) -> bool:
    """True if `pid` runs (and, when `created` is known, is the same process, not a reused pid)."""
    if not pid:
        return False
    try:
        import psutil

        proc = psutil.Process(int(pid))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return created is None or abs(proc.create_time() - created) < 1.0
    except Exception:
        return False


def effective_status(run: Any) -> str:
    """The status as a watcher should show it: the recorded one, except "crashed" when it says
    running or paused but nobody owns the run any more (the owner's lock is free). Runs from
    before run locks fall back to the recorded process (pid plus its start time)."""
    record = load_status(run)
    status = record.status or ("created" if RunDir(_path(run)).spec_path.exists() else "crashed")
    if status not in ACTIVE:
        return status
    lock = lock_state(run)
    if lock == "held":
        return status
    if lock == "free":
        return "crashed"
    if (record.host or socket.gethostname()) != socket.gethostname():
        return status  # recorded on another machine, without a lock: nothing to check here
    return status if process_alive(record.pid, record.pid_created) else "crashed"
