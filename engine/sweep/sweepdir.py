"""The sweep directory: everything one sweep keeps, readable while it runs.

    SWEEP_DIR/
      sweep.toml      the sweep spec as it runs (base spec + [sweep]); --trials/--parallel applied
      study.db        Optuna's SQLite storage: the study, every trial's values and state
      sweep.json      status for watchers: status, pid, counts, best trial, importances (atomic)
      trials.jsonl    one JSON line per trial change (started / completed / pruned / failed /
                      invalid / interrupted) with its params, value and run directory
      control.json    a stop request (`stop SWEEP_DIR`, the Sweeps page)
      log.txt         the driver's log
      owner.lock      the running driver's OS lock (one driver per sweep)
      trials/         one ordinary run directory per trial (Monitor, Runs, Explain open them)
"""
from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.atomic import atomic_write_text
from engine.events import read_events
from engine.problems import Problem, SpecError

if TYPE_CHECKING:  # pragma: no cover
    from engine.sweep.config import SweepSpec

SWEEP_FILE = "sweep.toml"
#: states of a sweep as sweep.json records them
SWEEP_STATUSES = ("created", "running", "completed", "stopped", "failed")


@dataclass(frozen=True)
class SweepDir:
    """One sweep's folder; `id` is its name (``20261201-170000-digits_mlp-sweep-1a2b``)."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    spec_path = property(lambda self: self.path / SWEEP_FILE)
    study_path = property(lambda self: self.path / "study.db")
    status_path = property(lambda self: self.path / "sweep.json")
    trials_log = property(lambda self: self.path / "trials.jsonl")
    control_path = property(lambda self: self.path / "control.json")
    log_path = property(lambda self: self.path / "log.txt")
    lock_path = property(lambda self: self.path / "owner.lock")
    trials = property(lambda self: self.path / "trials")

    @property
    def storage_url(self) -> str:
        """Optuna's storage URL for the study (SQLite in the sweep directory)."""
        return f"sqlite:///{self.study_path}"

    @classmethod
    def create(cls, sweeps_dir: str | Path, sweep: "SweepSpec") -> "SweepDir":
        """A new, uniquely named sweep folder holding sweep.toml and status "created"."""
        from engine.folders import ensure_folder, folder_problem

        hint = "choose another folder with --sweeps-dir"
        root = ensure_folder(sweeps_dir, "sweeps folder", hint)
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", sweep.base.name).strip("._-")[:40] or "sweep"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        while True:
            path = root / f"{stamp}-{slug}-sweep-{secrets.token_hex(2)}"
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
            except OSError as err:
                raise SpecError([folder_problem(root, "sweeps folder", hint, err)]) from None
        sweep_dir = cls(path)
        sweep_dir.trials.mkdir()
        sweep_dir.save_spec(sweep)
        sweep_dir.write_status("created", name=sweep.base.name, created=time.time())
        return sweep_dir

    @classmethod
    def open(cls, path: str | Path) -> "SweepDir":
        """An existing sweep folder; SpecError naming it if it is not one."""
        path = Path(path).expanduser()
        if not path.is_dir():
            raise SpecError([Problem(str(path), "sweep directory not found — check the path")])
        if not (path / SWEEP_FILE).is_file():
            raise SpecError([Problem(str(path), f"is not a sweep directory (it has no {SWEEP_FILE})")])
        return cls(path.resolve())

    @staticmethod
    def is_sweep(path: str | Path) -> bool:
        return (Path(path) / SWEEP_FILE).is_file()

    def load_spec(self) -> "SweepSpec":
        from engine.sweep.config import load_sweep

        return load_sweep(self.spec_path)

    def save_spec(self, sweep: "SweepSpec") -> None:
        atomic_write_text(self.spec_path, sweep.to_toml())

    # -- status -----------------------------------------------------------------------
    def read_status(self) -> dict[str, Any]:
        """sweep.json as a dict ({} when missing or unreadable)."""
        try:
            data = json.loads(self.status_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_status(self, status: str, **fields: Any) -> dict[str, Any]:
        """Merge `fields` into sweep.json with the new status, atomically."""
        if status not in SWEEP_STATUSES:
            raise ValueError(f"unknown sweep status {status!r}")
        data = self.read_status()
        data.update(fields)
        data["status"] = status
        data["updated"] = time.time()
        atomic_write_text(self.status_path, json.dumps(data, indent=1, default=str) + "\n")
        return data

    def effective_status(self) -> str:
        """The recorded status, or "crashed" when it says running but no driver owns the sweep
        (its owner lock, engine.runs.lock, is free: the kernel freed it when the driver died)."""
        from engine.runs import lock_state

        status = self.read_status().get("status", "created")
        if status == "running" and lock_state(self) != "held":
            return "crashed"
        return status

    # -- control ------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the driver to stop: running trials stop gracefully (checkpoint kept), no new ones."""
        atomic_write_text(self.control_path, json.dumps({"action": "stop", "time": time.time(), "pid": os.getpid()}) + "\n")

    def stop_requested(self) -> bool:
        try:
            return json.loads(self.control_path.read_text(encoding="utf-8")).get("action") == "stop"
        except (OSError, ValueError, AttributeError):
            return False

    def clear_control(self) -> None:
        try:
            os.unlink(self.control_path)
        except FileNotFoundError:
            pass

    # -- the trials log -----------------------------------------------------------------
    def append_trial(self, record: dict[str, Any]) -> None:
        """Append one trial change to trials.jsonl (one whole line per write)."""
        line = (json.dumps({"time": round(time.time(), 3), **record}, default=str) + "\n").encode("utf-8")
        fd = os.open(self.trials_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def read_trials(self, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Trial changes from byte `offset` on (complete lines only) and the next offset."""
        return read_events(self.trials_log, offset)

    def log(self, text: str) -> None:
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(f"{time.strftime('%H:%M:%S')} {text.rstrip()}\n")


def latest_trials(records: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The newest record of each trial number, by number."""
    out: dict[int, dict[str, Any]] = {}
    for record in records:
        if isinstance(record.get("trial"), int):
            out[record["trial"]] = {**out.get(record["trial"], {}), **record}
    return dict(sorted(out.items()))
