"""Helpers for the multi-process tests: tiny specs, a worker in a subprocess, event readers."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

from engine.events import read_events
from engine.runs import RunDir, read_status
from engine.spec import ExperimentSpec

REPO = Path(__file__).resolve().parents[3]

TINY = """
name = "tiny"
seed = 3
[data]
source = "random"
batch_size = 16
val_fraction = 0.25
shape = [12]
classes = 4
samples = 640
[model]
layers = [
  {type = "Linear", out_features = 24},
  {type = "ReLU"},
  {type = "Linear", out_features = 16},
  {type = "Tanh"},
  {type = "Linear", out_features = 0},
]
[optimizer]
name = "adam"
lr = 0.01
[training]
epochs = 1
max_steps = 6
log_every = 1
device = "cpu"
"""


def tiny_spec(**sections: dict[str, Any]) -> ExperimentSpec:
    """The tiny spec with fields of its sections replaced, e.g. parallel={"strategy": "ddp"}."""
    spec = ExperimentSpec.from_toml(TINY)
    for name, changes in sections.items():
        section = getattr(spec, name)
        fields = {f.name for f in dataclasses.fields(section)}
        options = {k: v for k, v in changes.items() if k not in fields}
        changes = {k: v for k, v in changes.items() if k in fields}
        if options:  # a registry entry's option (e.g. data samples) lives in `options`
            changes["options"] = {**section.options, **options}
        spec = dataclasses.replace(spec, **{name: dataclasses.replace(section, **changes)})
    return spec


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join([str(REPO), out.get("PYTHONPATH", "")])
    out["OMP_NUM_THREADS"] = "1"
    return out


#: workers started by the tests (a fixture kills what a failing test leaves running)
STARTED: list[subprocess.Popen] = []


def start(run: RunDir, *args: str, **extra_env: str) -> subprocess.Popen:
    """The worker for `run` in its own session, output in the run's log.txt."""
    from engine.launchers.local import start_worker

    proc = start_worker(run.path, extra=args, env=env() | extra_env)
    STARTED.append(proc)
    return proc


def kill_started() -> None:
    """Kill what is still running; first ask its ranks for their stacks (into their logs)."""
    import psutil

    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            for child in psutil.Process(proc.pid).children(recursive=True):
                try:
                    child.send_signal(10)  # SIGUSR1: faulthandler dumps every thread's stack
                except psutil.Error:
                    pass
            time.sleep(0.5)
            os.killpg(proc.pid, 9)
        proc.wait()


def run_worker(spec: ExperimentSpec, runs_dir: Path, *args: str, timeout: float = 90) -> tuple[RunDir, int]:
    run = RunDir.create(runs_dir, spec)
    proc = start(run, *args)
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        kill_started()
        raise AssertionError(f"worker did not finish in {timeout} s; log:\n{log(run)}")
    return run, code


def log(run: RunDir) -> str:
    text = run.log_path.read_text(errors="replace") if run.log_path.exists() else ""
    return text[-6000:]


def events(run: RunDir, type: str | None = None) -> list[dict[str, Any]]:
    found, _ = read_events(run.events_path)
    return [e for e in found if type is None or e["type"] == type]


def step_losses(run: RunDir) -> dict[int, float]:
    return {e["step"]: e["train_loss"] for e in events(run, "metric")}


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, run: RunDir | None = None) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}" + (f"; status {read_status(run)}\n{log(run)}" if run else ""))


def run_processes(run: RunDir) -> list:
    """Processes (any) whose command line or environment names this run directory."""
    import psutil

    out = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(str(run.path) in part for part in proc.info["cmdline"] or ()):
                out.append(proc)
        except Exception:
            continue
    return out
