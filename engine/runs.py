"""The run directory: where a training run keeps everything, readable while it runs.

    RUN_DIR/
      spec.toml        exactly what ran (with --set overrides applied)
      status.json      {status, pid, started, ended, message, metrics, ...} (atomic rewrites)
      events.jsonl     the events log (see engine.events), rank 0 only
      log.txt          log lines, warnings and tracebacks
      control.json     stop/pause/resume requests (written by request_control)
      checkpoints/     see engine.checkpoint

The file is the source of truth: a finished run, a crashed run and a run started from the CLI
all open through the same functions, and a GUI restarted mid-run re-attaches by reading them.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from engine.atomic import atomic_write_text
from engine.events import read_events  # noqa: F401  (re-exported: the GUI tails with it)

__all__ = ["RunDir", "RunSummary", "read_events", "read_status", "write_status", "effective_status", "request_control",
           "read_control", "clear_control", "list_runs", "summarize", "process_alive", "STATUSES", "ACTIVE", "CONTROL_ACTIONS"]
from engine.problems import Problem, SpecError

if TYPE_CHECKING:  # pragma: no cover
    from engine.spec import ExperimentSpec

STATUSES = ("created", "running", "paused", "completed", "stopped", "failed", "crashed", "pruned")
ACTIVE = ("running", "paused")
CONTROL_ACTIONS = ("stop", "pause", "resume", "prune")


@dataclass(frozen=True)
class RunDir:
    """One run's folder; `id` is its name, e.g. ``20261128-113000-digits_mlp-3f2a``."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    spec_path = property(lambda self: self.path / "spec.toml")
    events_path = property(lambda self: self.path / "events.jsonl")
    status_path = property(lambda self: self.path / "status.json")
    log_path = property(lambda self: self.path / "log.txt")
    control_path = property(lambda self: self.path / "control.json")
    checkpoints = property(lambda self: self.path / "checkpoints")

    @classmethod
    def create(cls, runs_dir: str | Path, spec: "ExperimentSpec") -> "RunDir":
        """A new, uniquely named run folder holding `spec.toml` and status "created"."""
        from engine.spec import save_spec

        from engine.folders import RUNS_HINT, ensure_folder, folder_problem

        runs_dir = ensure_folder(runs_dir, "runs folder", RUNS_HINT)
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.name).strip("._-")[:40] or "run"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        while True:
            path = runs_dir / f"{stamp}-{slug}-{secrets.token_hex(2)}"
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
            except OSError as err:  # read-only file system, no space, permissions
                raise SpecError([folder_problem(runs_dir, "runs folder", RUNS_HINT, err)]) from None
        run = cls(path)
        try:
            run.checkpoints.mkdir()
            save_spec(spec, run.spec_path)
            write_status(run, "created", name=spec.name, created=time.time(),
                         strategy=spec.parallel.strategy, processes=spec.parallel.processes * spec.parallel.nnodes)
        except OSError as err:
            raise SpecError([folder_problem(runs_dir, "runs folder", RUNS_HINT, err)]) from None
        return run

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        """An existing run folder; SpecError naming the folder if it is not one."""
        path = Path(path).expanduser()
        if not path.is_dir():
            raise SpecError([Problem(str(path), "run directory not found — check the path (see `runs` for the list)")])
        if not (path / "spec.toml").is_file():
            raise SpecError([Problem(str(path), "is not a run directory (it has no spec.toml)")])
        return cls(path.resolve())

    def load_spec(self) -> "ExperimentSpec":
        from engine.spec import load_spec

        return load_spec(self.spec_path)

    def log(self, text: str) -> None:
        """Append text to log.txt (a line ending is added)."""
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")


def _as_path(run: "RunDir | str | Path") -> Path:
    return run.path if isinstance(run, RunDir) else Path(run)


# ----------------------------------------------------------------------------- status

def read_status(run: "RunDir | str | Path") -> dict[str, Any]:
    """status.json as a dict ({} when missing or unreadable)."""
    try:
        data = json.loads((_as_path(run) / "status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_status(run: "RunDir | str | Path", status: str, **fields: Any) -> dict[str, Any]:
    """Merge `fields` into status.json with the new status and write it atomically.

    "running" records this process (pid, its start time, host) and the start time;
    a final status records the end time."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
    data = read_status(run)
    data.update(fields)
    data["status"] = status
    now = time.time()
    if status == "running":
        data.setdefault("started", now)
        data["pid"] = int(fields.get("pid", os.getpid()))
        data["pid_created"] = fields.get("pid_created", _process_created(data["pid"]))
        data["host"] = socket.gethostname()
        data.pop("ended", None)
    elif status not in ("created", "paused"):
        data["ended"] = now
    data["updated"] = now
    atomic_write_text(_as_path(run) / "status.json", json.dumps(data, indent=1, default=str) + "\n",
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


def effective_status(run: "RunDir | str | Path") -> str:
    """The status as a watcher should show it: "crashed" when status.json says running or paused
    but the recorded process is gone (killed, power loss); otherwise the recorded status."""
    data = read_status(run)
    status = data.get("status", "created" if (_as_path(run) / "spec.toml").exists() else "crashed")
    if status in ACTIVE and data.get("host", socket.gethostname()) == socket.gethostname():
        if not process_alive(data.get("pid"), data.get("pid_created")):
            return "crashed"
    return status


# ----------------------------------------------------------------------------- control

def request_control(run: "RunDir | str | Path", action: str) -> None:
    """Ask the run to stop (graceful: finish the step, checkpoint), pause or resume."""
    if action not in CONTROL_ACTIONS:
        raise ValueError(f"unknown control action {action!r}; expected one of {', '.join(CONTROL_ACTIONS)}")
    atomic_write_text(_as_path(run) / "control.json",
                      json.dumps({"action": action, "time": time.time(), "pid": os.getpid()}) + "\n")


def read_control(run: "RunDir | str | Path") -> str:
    """The pending request as the trainer sees it: "stop", "pause" or "run"."""
    try:
        action = json.loads((_as_path(run) / "control.json").read_text(encoding="utf-8")).get("action")
    except (OSError, ValueError, AttributeError):
        return "run"
    return action if action in ("stop", "pause", "prune") else "run"


def clear_control(run: "RunDir | str | Path") -> None:
    try:
        os.unlink(_as_path(run) / "control.json")
    except FileNotFoundError:
        pass


# ----------------------------------------------------------------------------- listing

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


def summarize(run: "RunDir | str | Path") -> RunSummary:
    """A RunSummary from status.json (cheap: no TOML or events parsing)."""
    path = _as_path(run)
    data = read_status(path)
    status = effective_status(path)
    started = data.get("started")
    ended = data.get("ended")
    if started is not None:
        end = ended if ended is not None else (data.get("updated") if status not in ACTIVE else time.time())
        duration = max(0.0, (end or started) - started)
    else:
        duration = None
    return RunSummary(
        id=path.name, path=path, name=str(data.get("name", path.name)), status=status,
        started=started, ended=ended, duration=duration, strategy=str(data.get("strategy", "none")),
        processes=int(data.get("processes", 1) or 1), epoch=data.get("epoch"), step=data.get("step"),
        metrics=dict(data.get("metrics") or {}), message=str(data.get("message", "")),
    )


def list_runs(runs_dir: str | Path | None = None) -> list[RunSummary]:
    """Every run under `runs_dir` (default: the user's runs folder), newest first."""
    from engine.paths import default_runs_dir

    root = Path(runs_dir).expanduser() if runs_dir is not None else default_runs_dir()
    if not root.is_dir():
        return []
    rows = [summarize(p) for p in root.iterdir() if p.is_dir() and (p / "spec.toml").is_file()]
    return sorted(rows, key=lambda r: (r.started or r.path.stat().st_mtime, r.id), reverse=True)
