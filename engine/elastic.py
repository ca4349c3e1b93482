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
import json
import logging
import re
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


#: what a rank's error says when it only lost a peer: a consequence of another rank's failure. A
#: broken pipe counts as gloo's or the TCP store's ("writev [host]:port: Broken pipe", "sendBytes
#: failed on SocketImpl(...): Broken pipe"), not as the rank's own BrokenPipeError ("[Errno 32]
#: Broken pipe"): its code broke a pipe of its own, a failure of its own.
PEER_LOST = re.compile(r"Connection closed by peer|Connection reset by peer|remote process exited|"
                       r"NCCL communicator was aborted|(?<!\[Errno 32\] )Broken pipe")


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

    @property
    def lost_peer(self) -> bool:
        """Its error only says a peer went away: a consequence of another rank's end."""
        return PEER_LOST.search(self.message) is not None

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

    @property
    def crashed(self) -> bool:
        """A rank was killed (not an error of its own): by a signal, or — when every recorded
        error only says a peer went away — by something that left no error behind."""
        return bool(self.failures) and (any(f.killed for f in self.failures) or all(f.lost_peer for f in self.failures))


def _rank_failure(rank: int, pid: int, exitcode: int, data: Any, message: str = "") -> RankFailure:
    """A RankFailure from what elastic's `record` wrote for the rank (error.json's contents)."""
    msg = data.get("message", {}) if isinstance(data, dict) else {}
    trace = ""
    if isinstance(msg, dict):
        trace = str(msg.get("extraInfo", {}).get("py_callstack", ""))
        msg = msg.get("message", "")
    message = str(msg or message or "")
    if message.startswith("To enable traceback"):
        message = ""
    return RankFailure(rank=rank, pid=pid, exitcode=exitcode, message=message.strip(), traceback=trace)


def _siblings(rank: int, f: Any, run_dir: Path | None) -> dict[int, RankFailure]:
    """Failures the agent did not report: ranks of the same attempt that also raised (their
    error.json is beside the reported one's). The agent reports only the first rank to exit,
    which may be the one that merely lost its peer."""
    out: dict[int, RankFailure] = {}
    error_file = getattr(f, "error_file", None)
    if not error_file:
        return out
    attempt = Path(error_file).parent.parent
    local = int(getattr(f, "local_rank", 0))
    for path in sorted(attempt.glob("*/error.json")):
        if not path.parent.name.isdigit() or int(path.parent.name) == local:
            continue
        other = rank - local + int(path.parent.name)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        pid = 0
        if run_dir is not None:
            try:
                pid = int(RunDir(Path(run_dir)).rank_pid_path(other).read_text())
            except (OSError, ValueError):
                pass
        out[other] = _rank_failure(other, pid, 1, data)  # it raised: `record` wrote its error, exit code 1
    return out


def _failures(err, run_dir: str | Path | None = None) -> list[RankFailure]:
    """The failed ranks, causes first: the first rank to fail, unless its error only says it lost
    a peer and another rank of the attempt raised an error of its own."""
    first_rank, _ = err.get_first_failure()
    found: dict[int, RankFailure] = {}
    for rank, f in err.failures.items():
        data = f.error_file_data if isinstance(getattr(f, "error_file_data", None), dict) else {}
        found[int(rank)] = _rank_failure(int(rank), int(f.pid), int(f.exitcode), data, str(f.message or ""))
    for rank, f in list(err.failures.items()):
        for other, failure in _siblings(int(rank), f, Path(run_dir) if run_dir is not None else None).items():
            found.setdefault(other, failure)

    return sorted(found.values(), key=lambda f: (f.lost_peer, f.rank != first_rank, f.rank))


class _TracebackAsText(logging.Filter):
    """Turns a record's exception into its text before torch's log formatter sees it: that
    formatter imports all of torch._dynamo (sympy, FSDP, DTensor: 2-5 s of CPU) to format a
    traceback, and the agent logs one exactly when a rank failed and the job must end fast.
    The printed line is the same."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self._formatter.formatException(record.exc_info)
            record.exc_info = None
        return True


def plain_traceback_logs() -> None:
    """Install :class:`_TracebackAsText` on torch's log handlers (idempotent)."""
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict) if name.startswith("torch")]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, _TracebackAsText) for f in handler.filters):
                handler.addFilter(_TracebackAsText())


def run_ranks(spec, run_dir: str | Path, entrypoint: Callable[..., Any], args: Sequence[Any] = ()) -> dict[int, Any]:
    """Start this node's ranks running ``entrypoint(*args)`` and wait for them. Returns the
    ranks' return values; raises JobFailure when ranks fail (after any restarts)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch

    plain_traceback_logs()
    config = launch_config(spec, run_dir)
    try:
        return elastic_launch(config, entrypoint)(*args)
    except ChildFailedError as err:
        raise JobFailure(_failures(err, run_dir)) from None
