"""The run history: one :class:`RunSummary` per run directory, newest first."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from engine.events import last_progress
from engine.runs.rundir import SPEC, RunDir
from engine.runs.status import ACTIVE, effective_status, load_status


@dataclass(frozen=True)
class RunSummary:
    """One row of the run history."""

    id: str
    path: Path
    name: str
    status: str
    started: float | None
    ended: float | None
    duration: float | None
    strategy: str
    processes: int
    epoch: float | None
    step: int | None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    message: str = ""
    exports: tuple[str, ...] = ()  # formats exported so far (export.json), in order
    #: time inside the training loop (start-up, data loading and pauses excluded); None until a
    #: session of the run has ended
    training_seconds: float | None = None

    @property
    def wall_seconds(self) -> float | None:
        """Wall time including start-up: `duration` (the one figure `runs` and the summary's
        `wall_seconds` report)."""
        return self.duration


def read_exports(run: Any) -> list[dict[str, Any]]:
    """The records of RUN_DIR/export.json (engine.export writes them; oldest first; [] when none)."""
    try:
        doc = json.loads(RunDir(Path(getattr(run, "path", run))).export_record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    records = doc.get("exports") if isinstance(doc, dict) else None
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


def summarize(run: Any) -> RunSummary:
    """A RunSummary from status.json (cheap: no TOML parsing; the events log's tail is read only
    for a crashed run, whose status.json lags behind the last steps it made)."""
    path = Path(getattr(run, "path", run))
    data = load_status(path)
    status = effective_status(path)
    started, ended = data.started, data.ended
    if status not in ACTIVE and data.wall_seconds is not None:  # summed over the run's sessions
        duration = float(data.wall_seconds)
    elif started is not None:
        end = ended if ended is not None else (data.updated if status not in ACTIVE else time.time())
        duration = max(0.0, (end or started) - started)
    else:
        duration = None
    epoch, step = data.epoch, data.step
    if status == "crashed":
        epoch, step = last_progress(RunDir(path).events_path, epoch, step)
    return RunSummary(
        id=path.name, path=path, name=str(data.name or path.name), status=status,
        started=started, ended=ended, duration=duration, strategy=str(data.strategy or "none"),
        processes=int(data.processes or 1), epoch=epoch, step=step,
        metrics=dict(data.metrics or {}), message=str(data.message or ""),
        exports=tuple(dict.fromkeys(str(r.get("format")) for r in read_exports(path))),
        training_seconds=data.training_seconds,
    )


def list_runs(runs_dir: str | Path | None = None) -> list[RunSummary]:
    """Every run under `runs_dir` (default: the user's runs folder), newest first."""
    from engine.paths import default_runs_dir

    root = Path(runs_dir).expanduser() if runs_dir is not None else default_runs_dir()
    if not root.is_dir():
        return []
    rows = [summarize(p) for p in root.iterdir() if p.is_dir() and (p / SPEC).is_file()]
    return sorted(rows, key=lambda r: (r.started or r.path.stat().st_mtime, r.id), reverse=True)
