"""The run directory's layout: every path in it is a :class:`RunDir` property.

    RUN_DIR/
      spec.toml        exactly what ran (with --set overrides applied)
      status.json      {status, pid, started, ended, message, metrics, ...} (atomic rewrites)
      events.jsonl     the events log (see engine.events), rank 0 only
      log.txt          log lines, warnings and tracebacks
      control.json     stop/pause/resume requests (written by request_control)
      owner.lock       the owner's OS lock (engine.runs.lock)
      checkpoints/     see engine.checkpoint (latest and best pointers)
      ranks/           each rank's output and pid (parallel runs)
      explain/         attribution maps written by `explain`

The file is the source of truth: a finished run, a crashed run and a run started from the CLI
all open through the same functions, and a GUI restarted mid-run re-attaches by reading them.
"""
from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.appendlog import append_text
from engine.problems import Problem, SpecError
from engine.runs.lock import LOCK_NAME

if TYPE_CHECKING:  # pragma: no cover
    from engine.spec import ExperimentSpec

SPEC = "spec.toml"
CHECKPOINTS = "checkpoints"
#: pointer files inside checkpoints/: the newest complete checkpoint, the best one
LATEST = "latest"
BEST = "best"

#: path -> ((mtime_ns, size), spec): spec.toml is parsed once per process while it is unchanged
_specs: dict[str, tuple[tuple[int, int], Any]] = {}


@dataclass(frozen=True)
class RunDir:
    """One run's folder; `id` is its name, e.g. ``20261128-113000-digits_mlp-3f2a``."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    spec_path = property(lambda self: self.path / SPEC)
    events_path = property(lambda self: self.path / "events.jsonl")
    status_path = property(lambda self: self.path / "status.json")
    log_path = property(lambda self: self.path / "log.txt")
    control_path = property(lambda self: self.path / "control.json")
    lock_path = property(lambda self: self.path / LOCK_NAME)
    checkpoints = property(lambda self: self.path / CHECKPOINTS)
    latest_pointer = property(lambda self: self.path / CHECKPOINTS / LATEST)
    best_pointer = property(lambda self: self.path / CHECKPOINTS / BEST)
    ranks = property(lambda self: self.path / "ranks")
    explain = property(lambda self: self.path / "explain")
    exports = property(lambda self: self.path / "exports")  # default output folder of `export`
    export_record = property(lambda self: self.path / "export.json")  # every export and its check
    tensorboard = property(lambda self: self.path / "tensorboard")  # TensorBoard event files
    tracking_record = property(lambda self: self.path / "tracking.json")  # the MLflow run this run logs to
    compress_record = property(lambda self: self.path / "compress.json")  # a compressed run: source, steps, measures

    def rank_pid_path(self, rank: int | str) -> Path:
        """ranks/rank-<rank>.pid: the pid of that rank's latest attempt on this machine."""
        return self.ranks / f"rank-{rank}.pid"

    @classmethod
    def create(cls, runs_dir: str | Path, spec: "ExperimentSpec") -> "RunDir":
        """A new, uniquely named run folder holding `spec.toml` and status "created"."""
        from engine.folders import RUNS_HINT, ensure_folder, folder_problem
        from engine.runs.status import write_status

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
            run.save_spec(spec)
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
        if not (path / SPEC).is_file():
            raise SpecError([Problem(str(path), f"is not a run directory (it has no {SPEC})")])
        return cls(path.resolve())

    def load_spec(self) -> "ExperimentSpec":
        """The run's spec (parsed once per process while spec.toml is unchanged)."""
        from engine.spec import load_spec

        key = str(self.spec_path)
        try:
            st = os.stat(key)
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = (0, -1)
        cached = _specs.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        spec = load_spec(self.spec_path)
        _specs[key] = (stamp, spec)
        return spec

    def save_spec(self, spec: "ExperimentSpec") -> None:
        """Write spec.toml (atomically) unless it already holds exactly `spec`."""
        from engine.spec import save_spec

        cached = _specs.get(str(self.spec_path))
        if cached is not None and cached[1] == spec and self.spec_path.is_file():
            return
        save_spec(spec, self.spec_path)
        st = os.stat(self.spec_path)
        _specs[str(self.spec_path)] = ((st.st_mtime_ns, st.st_size), spec)

    def log(self, text: str) -> None:
        """Append text to log.txt (a line ending is added; a partial line a crash left is cut first)."""
        append_text(self.log_path, text)
