"""Starting ranks with torch's elastic launcher (the engine behind `torchrun`).

- :func:`start_worker` starts the worker (``python -m engine worker RUN_DIR``) as a separate
  OS process in its own session, its output appended to the run's log.txt. The GUI and
  scripts use it; the process group (= its pid) is the kill-everything fallback.
- :func:`launch_config` turns a spec's [parallel] section into a `LaunchConfig`: spawn start
  method; one node: c10d rendezvous on 127.0.0.1 port 0 (the store picks a free port, so a
  taken port is never an error); several nodes: static rendezvous at `rdzv_endpoint` with
  this node's `node_rank` (rank order follows node order, so global rank 0 is on node 0);
  `max_restarts`; each rank's stdout/stderr in RUN_DIR/ranks/ and teed to the worker's log.
- :func:`run_ranks` calls `elastic_launch` and turns a failure into a :class:`JobFailure`
  naming the rank, its exit code or signal, and its traceback.
"""
from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (for a rendezvous endpoint chosen by a test/user)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def worker_command(run_dir: str | Path, *, resume: bool = False, extra: Sequence[str] = ()) -> list[str]:
    """The command line of the worker for `run_dir`."""
    cmd = [sys.executable, "-m", "engine", "worker", str(run_dir), *extra]
    return cmd + ["--resume"] if resume else cmd


def start_worker(run_dir: str | Path, *, resume: bool = False, extra: Sequence[str] = (),
                 env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start the worker for `run_dir` in its own process session (never a child of the GUI's
    session: closing a terminal or the GUI does not take it down); stdout and stderr are
    appended to RUN_DIR/log.txt. Stop it with `request_control`, SIGTERM (= stop) or, as the
    last resort, ``os.killpg(proc.pid, SIGKILL)``."""
    run_dir = Path(run_dir)
    full_env = dict(os.environ if env is None else env)
    full_env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [full_env.get("PYTHONPATH")])])
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    log = open(run_dir / "log.txt", "ab")
    try:
        return subprocess.Popen(worker_command(run_dir, resume=resume, extra=extra), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=str(REPO_ROOT), env=full_env, start_new_session=True)
    finally:
        log.close()


def launch_config(spec, run_dir: str | Path, *, run_id: str | None = None, monitor_interval: float = 0.1):
    """The elastic LaunchConfig for `spec` (see the module docstring)."""
    from torch.distributed.elastic.multiprocessing.api import DefaultLogsSpecs, Std
    from torch.distributed.launcher.api import LaunchConfig

    par = spec.parallel
    if par.nnodes > 1:
        rdzv = dict(rdzv_backend="static", rdzv_endpoint=par.rdzv_endpoint, rdzv_configs={"rank": par.node_rank, "timeout": 300})
    else:
        rdzv = dict(rdzv_backend="c10d", rdzv_endpoint="127.0.0.1:0", rdzv_configs={})
    if run_id is None:  # every node of a job must name the same run
        run_id = "nw-" + hashlib.sha1(f"{spec.name}@{par.rdzv_endpoint}".encode()).hexdigest()[:10] if par.nnodes > 1 else uuid.uuid4().hex[:12]
    logs = DefaultLogsSpecs(log_dir=str(Path(run_dir) / "ranks"), redirects=Std.ALL, tee=Std.ALL)
    return LaunchConfig(
        min_nodes=par.nnodes, max_nodes=par.nnodes, nproc_per_node=par.processes, run_id=run_id,
        max_restarts=par.max_restarts, monitor_interval=monitor_interval, start_method="spawn", logs_specs=logs,
        # SIGTERM/SIGINT are the worker's own (graceful stop); the agent keeps the rest
        signals_to_handle="SIGHUP,SIGQUIT", log_line_prefix_template="[rank ${rank}] ", **rdzv)


@dataclass(frozen=True)
class RankFailure:
    """One failed rank: its global rank, exit code (negative = killed by that signal), the
    message and traceback it recorded (empty when it was killed before it could)."""

    rank: int
    pid: int
    exitcode: int
    message: str
    traceback: str

    @property
    def killed(self) -> bool:
        return self.exitcode < 0 and not self.traceback

    def describe(self) -> str:
        if self.exitcode < 0:
            try:
                how = f"was killed by {signal.Signals(-self.exitcode).name}"
            except ValueError:
                how = f"was killed by signal {-self.exitcode}"
        else:
            how = f"exited with code {self.exitcode}"
        text = f"rank {self.rank} (pid {self.pid}) {how}"
        return f"{text}: {self.message}" if self.message and not self.killed else text


class JobFailure(RuntimeError):
    """The job ended because ranks failed; `failures` lists them, the first failure first."""

    def __init__(self, failures: Sequence[RankFailure]):
        self.failures = list(failures)
        super().__init__("; ".join(f.describe() for f in self.failures))


def _failures(err) -> list[RankFailure]:
    first_rank, _ = err.get_first_failure()
    out = []
    for rank, f in sorted(err.failures.items(), key=lambda kv: (kv[0] != first_rank, kv[0])):
        data = f.error_file_data if isinstance(getattr(f, "error_file_data", None), dict) else {}
        msg = data.get("message", {})
        trace = ""
        if isinstance(msg, dict):
            trace = str(msg.get("extraInfo", {}).get("py_callstack", ""))
            msg = msg.get("message", "")
        message = str(msg or f.message or "")
        if message.startswith("To enable traceback"):
            message = ""
        out.append(RankFailure(rank=int(rank), pid=int(f.pid), exitcode=int(f.exitcode), message=message.strip(),
                               traceback=trace))
    return out


def run_ranks(spec, run_dir: str | Path, entrypoint: Callable[..., Any], args: Sequence[Any] = ()) -> dict[int, Any]:
    """Start this node's ranks running ``entrypoint(*args)`` and wait for them. Returns the
    ranks' return values; raises JobFailure when ranks fail (after any restarts)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch

    config = launch_config(spec, run_dir)
    try:
        return elastic_launch(config, entrypoint)(*args)
    except ChildFailedError as err:
        raise JobFailure(_failures(err)) from None


def train_parallel(run_dir, *, resume: bool = False, quiet: bool = False) -> int:
    """`train` for a spec with processes > 1 or nnodes > 1: this process becomes the worker
    (elastic agent) for `run_dir`; progress from the events log on stderr; the JSON summary
    as the last stdout line. Returns the exit code (0 completed/stopped, 1 failed, 2 bad spec)."""
    import json
    import threading

    from engine.commands._common import print_json
    from engine.events import read_events
    from engine.runs import read_status
    from engine.worker import run_worker

    path = Path(getattr(run_dir, "path", run_dir))
    done = threading.Event()
    progress = None
    if not quiet:
        from engine.commands._progress import Progress

        progress = Progress(sys.stderr)
        print(f"run directory: {path}", file=sys.stderr)

    def tail() -> None:
        offset = 0
        while True:
            finished = done.wait(0.2)
            found, offset = read_events(path / "events.jsonl", offset)
            for event in found:
                fields = {k: v for k, v in event.items() if k not in ("v", "seq", "time", "type")}
                progress.event(event["type"], **fields)
            if finished:
                return

    thread = threading.Thread(target=tail, name="progress", daemon=True) if progress else None
    if thread:
        thread.start()
    try:
        code = run_worker(path, resume=resume)
    finally:
        done.set()
        if thread:
            thread.join(5)
    status = read_status(path)
    summary = {"run_id": path.name, "run_dir": str(path), "status": status.get("status"),
               "epochs": status.get("epoch", 0), "steps": status.get("step", 0), "metrics": status.get("metrics") or {},
               "wall_seconds": round((status.get("ended") or 0) - (status.get("started") or 0), 3) if status.get("started") else 0.0,
               "samples_per_second": status.get("samples_per_second", 0.0), "world_size": status.get("processes", 1)}
    if status.get("wall_seconds") is not None:
        summary["wall_seconds"] = status["wall_seconds"]
    if status.get("message"):
        summary["message"] = status["message"]
    if status.get("checkpoint"):
        summary["checkpoint"] = status["checkpoint"]
    print_json(json.loads(json.dumps(summary, default=str)))
    return code
