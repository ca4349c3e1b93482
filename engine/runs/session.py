"""A training session's bookkeeping in the run directory: who owns it, when it began and ended,
and the one summary of a run that `train` prints (single process and parallel alike).

Durations: `training_seconds` is time inside the training loop, summed over all sessions of the
run (start-up, data loading and pauses excluded); `wall_seconds` is wall-clock time of the
run's sessions from the moment the owning command started (importing torch, loading data,
starting ranks included) to the end, also summed over sessions.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Mapping

from engine.events import last_progress
from engine.runs.lock import RunBusy, acquire, release
from engine.runs.rundir import RunDir
from engine.runs.status import ACTIVE, FINAL, effective_status, load_status, process_alive, write_status


def claim(run: RunDir, purpose: str = "train") -> None:
    """Own `run` for the life of this process (see engine.runs.lock) or raise RunBusy naming the
    owner. A run recorded as active by a live process that never locked it (an older version,
    another tool) is refused too."""
    acquire(run, purpose)
    record = load_status(run)
    if record.status in ACTIVE and record.pid not in (None, os.getpid()) and process_alive(record.pid, record.pid_created):
        release(run)
        raise RunBusy(run.path, {"pid": record.pid, "host": record.host, "purpose": f"already {record.status}"})


def begin_session(run: RunDir, *, since: float | None = None, **fields: Any) -> dict[str, Any]:
    """Status "running" for a new session of this (owning) process; remembers when the session
    began (`since`: when the command started, default now) and the wall time of earlier sessions
    (for `wall_seconds`)."""
    record = load_status(run)
    before = float(record.wall_seconds or 0.0)
    started = record.extra.get("session_started")
    if record.status not in FINAL and isinstance(started, (int, float)):  # the last session crashed
        before = float(record.extra.get("wall_before", 0.0)) + max(0.0, (record.updated or started) - started)
    return write_status(run, "running", session_started=round(since or time.time(), 3), wall_before=round(before, 3), **fields)


def end_session(run: RunDir, status: str, **fields: Any) -> dict[str, Any]:
    """The session's final status with its end-of-session fields and `wall_seconds`."""
    record = load_status(run)
    started = record.extra.get("session_started")
    if isinstance(started, (int, float)):
        fields["wall_seconds"] = round(float(record.extra.get("wall_before", 0.0)) + time.time() - started, 3)
    return write_status(run, status, **fields)


def run_summary(run: RunDir, result: Mapping[str, Any] | None = None, **override: Any) -> dict[str, Any]:
    """The JSON summary of a run as `train` prints it: status.json, completed by the events log
    for a run that did not finish (its last step and epoch), overlaid with `result` (a
    TrainResult as a dict: fractional epochs) and `override` (e.g. status="failed", message)."""
    record = load_status(run)
    result = dict(result or {})
    status = override.get("status") or result.get("status") or effective_status(run)
    epoch, step = record.epoch, record.step
    if status not in ("completed",) or step is None:
        epoch, step = last_progress(run.events_path, epoch, step)
    training = result.get("wall_seconds", record.training_seconds)
    out: dict[str, Any] = {
        "run_id": run.id, "run_dir": str(run.path), "status": status,
        "epochs": result.get("epochs", epoch or 0), "steps": result.get("steps", step or 0),
        "metrics": dict(result.get("metrics") or record.metrics or {}),
        "wall_seconds": record.wall_seconds if record.wall_seconds is not None else (training or 0.0),
        "training_seconds": training or 0.0,
        "samples_per_second": result.get("samples_per_second", record.samples_per_second) or 0.0,
        "world_size": int(record.processes or 1),
    }
    message = override.get("message") or result.get("message") or record.message
    checkpoint = result.get("checkpoint") or record.checkpoint
    if message:
        out["message"] = message
    if checkpoint:
        out["checkpoint"] = checkpoint
    return out


def result_fields(result: Mapping[str, Any]) -> dict[str, Any]:
    """What a session's TrainResult adds to status.json at its end."""
    return {"training_seconds": result.get("wall_seconds"), "samples_per_second": result.get("samples_per_second")}


def as_run(run: RunDir | str | Path) -> RunDir:
    return run if isinstance(run, RunDir) else RunDir.open(run)
