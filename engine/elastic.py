"""Starting one node's ranks with torch's elastic launcher (the engine behind `torchrun`).

- :func:`launch_config` turns a spec's [parallel] section into a `LaunchConfig`: spawn start
  method; one node: c10d rendezvous on 127.0.0.1 port 0 (the store picks a free port, so a
  taken port is never an error); several nodes: static rendezvous at `rdzv_endpoint` with
  this node's `node_rank` (rank order follows node order, so global rank 0 is on node 0);
  `max_restarts`; each rank's stdout/stderr in RUN_DIR/ranks/ and teed to the worker's log.
- :func:`run_ranks` calls `elastic_launch` and turns a failure into a :class:`JobFailure`
  naming the rank, its exit code or signal, and its traceback.

The worker (engine.worker) is the only user; nothing here prints or knows about commands.
"""
from __future__ import annotations

import hashlib
import signal
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from engine.runs import RunDir


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
    logs = DefaultLogsSpecs(log_dir=str(RunDir(Path(run_dir)).ranks), redirects=Std.ALL, tee=Std.ALL)
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
