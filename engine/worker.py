"""The worker process body: supervise one node's ranks for a run directory.

``python -m engine worker RUN_DIR`` (started by the GUI or a script through
`engine.launchers.local.start_worker`, in its own process session) runs :func:`run_worker`:

1. owns the run directory (engine.runs.lock; another owner -> exit 2 naming it) and validates
   the run's spec (problems -> status failed, exit 2);
2. records its session in status.json (a watcher sees "crashed" once its lock is gone);
3. turns SIGTERM/SIGINT into a graceful stop request (a second one terminates the ranks);
4. starts the ranks with torch's elastic launcher (engine.elastic) running :func:`rank_main`,
   which joins the process group and calls `engine.session.run_training` with a
   `DistributedContext`; after an elastic restart, ranks resume from the last checkpoint;
5. when ranks fail, writes an error event naming each failed rank with its traceback and the
   final status ("failed" when a rank raised, "crashed" when one was killed);
6. leaves no process behind: ranks die with the worker (PR_SET_PDEATHSIG) and any survivor
   is killed before it exits.
"""
from __future__ import annotations

import dataclasses
import gc
import importlib
import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from engine.stopsignals import obey_sigterm_from_parent_only

#: how long a collective may wait for a missing peer before the rank gives up
COLLECTIVE_TIMEOUT_S = 120
#: after rank 0 wrote the final status, how long the ranks may take to tear down and exit before
#: the worker kills them (a rank stuck in teardown must not keep the job alive)
TEARDOWN_GRACE_S = 8.0
#: how long a rank waits for the process group to be destroyed before it exits anyway
DESTROY_TIMEOUT_S = 5.0
DEFAULT_CONTEXT = "engine.parallel.context:DistributedContext"


# ----------------------------------------------------------------------------- per rank

def _die_with_parent() -> None:
    """Ask the kernel to SIGKILL this rank when its agent (the worker) dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:  # pragma: no cover
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def rank_pids(run_dir: str | Path, *, noted_before: float | None = None) -> dict[int, int]:
    """{global rank: pid} of the run's ranks on this machine (latest attempt), for watchers; with
    `noted_before` (Unix time), only ranks whose pid file is older."""
    from engine.runs import RunDir

    out = {}
    for path in RunDir(Path(run_dir)).ranks.glob("rank-*.pid"):
        try:
            if noted_before is not None and path.stat().st_mtime > noted_before:
                continue
            out[int(path.stem.split("-")[1])] = int(path.read_text())
        except (ValueError, OSError):
            continue
    return out


def _note_pid(run) -> None:
    from engine.atomic import atomic_write_text

    atomic_write_text(run.rank_pid_path(os.environ.get("RANK", "0")), str(os.getpid()))


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _rank_body(run_dir: str, resume: bool, context: str = DEFAULT_CONTEXT) -> dict[str, Any] | None:
    _die_with_parent()
    import faulthandler

    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 PID`: stacks into the rank's log
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole terminal group: the worker stops us gracefully
    if os.environ.get("NETWRIGHT_LAUNCHER") == "slurm":  # Slurm signals every process of the job (scancel,
        obey_sigterm_from_parent_only()  # preemption, time limit): the worker stops all ranks gracefully; the
        # agent's SIGTERM (its teardown after a failure or a second stop) still ends a rank at once
    try:
        return train_rank(run_dir, resume, context)
    finally:  # the process ends now (not so a Ray rank actor's: it trains through train_rank alone)
        gc.freeze()  # its exit skips walking the torch heap (~1.8 s -> ~0.4 s loaded)


def train_rank(run_dir: str, resume: bool = False, context: str = DEFAULT_CONTEXT) -> dict[str, Any] | None:
    """Train `run_dir` as one rank of a job: the process's RANK, WORLD_SIZE, MASTER_ADDR and
    MASTER_PORT (and LOCAL_RANK) name its place; rank 0 hosts the store. Returns rank 0's
    TrainResult as a dict (None on other ranks). The elastic ranks (above) and the Ray
    launcher's rank actors (engine.launchers._ray_job) both train through here."""
    import torch
    import torch.distributed as dist

    from engine.checkpoint import latest_checkpoint
    from engine.faults import fault_point
    from engine.parallel.plan import resolve_backend
    from engine.runs import RunDir
    from engine.session import run_training

    run = RunDir.open(run_dir)
    _note_pid(run)
    spec = run.load_spec()  # validated by the worker: read once here, not validated again
    backend = resolve_backend(spec)
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    _init_process_group(backend, timedelta(seconds=COLLECTIVE_TIMEOUT_S))
    try:
        ctx = _load(context)(spec)
        restarted = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) > 0
        resume = resume or (restarted and latest_checkpoint(run.checkpoints) is not None)
        result = run_training(run, ctx=ctx, resume=resume, spec=spec)
        return dataclasses.asdict(result) if ctx.is_main else None
    finally:
        fault_point("teardown")
        _destroy_bounded(DESTROY_TIMEOUT_S)


def _destroy_bounded(timeout: float) -> None:
    """destroy_process_group, but never wait more than `timeout` seconds for it (a lost peer must
    not hold this rank: gloo's own waits are measured in minutes)."""
    import threading

    import torch.distributed as dist

    done = threading.Event()

    def destroy() -> None:
        try:
            dist.destroy_process_group()
        except Exception:  # a peer already gone: nothing left to tear down
            pass
        finally:
            done.set()

    threading.Thread(target=destroy, name="destroy-process-group", daemon=True).start()
    if not done.wait(timeout):
        print(f"rank {os.environ.get('RANK', '?')}: process group teardown took over {timeout:.0f} s — exiting without it",
              file=sys.stderr, flush=True)


def _init_process_group(backend: str, timeout: timedelta) -> None:
    """Join the job's process group through a store namespaced by the elastic attempt: after a
    restart the agent's store still holds the previous attempt's keys (peer addresses), which
    would otherwise send the new ranks to dead peers."""
    import torch.distributed as dist

    env = os.environ
    rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
    agent_store = env.get("TORCHELASTIC_USE_AGENT_STORE", "False") == "True"
    store = dist.TCPStore(env["MASTER_ADDR"], int(env["MASTER_PORT"]), world, is_master=not agent_store and rank == 0,
                          timeout=timeout, multi_tenant=not agent_store)
    attempt = env.get("TORCHELASTIC_RESTART_COUNT", "0")
    dist.init_process_group(backend, store=dist.PrefixStore(f"netwright/attempt_{attempt}", store), rank=rank,
                            world_size=world, timeout=timeout)


def rank_main(run_dir: str, resume: bool = False, context: str = DEFAULT_CONTEXT) -> dict[str, Any] | None:
    """The entry point of every rank (a top-level function: the spawn start method pickles it).
    Errors are recorded by elastic's `record` so the worker gets this rank's traceback."""
    from torch.distributed.elastic.multiprocessing.errors import record

    return record(_rank_body)(run_dir, resume, context)


# ----------------------------------------------------------------------------- the worker

def _terminate_ranks(signum: int, frame: Any) -> None:
    """A second stop signal: the elastic agent's own handler ends the ranks now."""
    from torch.distributed.elastic.multiprocessing.api import _terminate_process_handler

    _terminate_process_handler(signum, frame)


def _children() -> set[int]:
    try:
        import psutil

        return {p.pid for p in psutil.Process().children(recursive=True)}
    except Exception:  # pragma: no cover
        return set()


def _kill_leftovers(before: set[int]) -> None:
    """SIGKILL child processes started during the job that are still alive (normally none: the
    agent reaps its ranks); children this process had before the job are left alone."""
    try:
        import psutil

        children = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    except Exception:  # pragma: no cover
        return
    for child in children:
        try:
            child.kill()
        except Exception:
            pass
    if children:
        psutil.wait_procs(children, timeout=5)


def _final_status(run, since: float) -> tuple[str, float] | None:
    """(status, ended) of the final status ("completed", "stopped", "failed") rank 0 wrote during
    this job, or None."""
    from engine.runs import read_status

    data = read_status(run)
    status = data.get("status")
    ended = data.get("ended")
    if status in ("completed", "stopped", "failed") and isinstance(ended, (int, float)) and ended >= since:
        return status, float(ended)
    return None


def _final_status_since(run, since: float) -> str | None:
    """The final status rank 0 wrote during this job, or None."""
    found = _final_status(run, since)
    return found[0] if found else None


class _TeardownWatchdog:
    """Once rank 0 has written a final status, the ranks alive at that moment get
    TEARDOWN_GRACE_S to exit; those still alive then (stuck in teardown: a peer was lost) are
    killed, so the job always ends. Ranks of a later elastic attempt (a restart after rank 0
    wrote "failed") have other pids and are never touched; the watchdog then waits for that
    attempt's own final status."""

    def __init__(self, run, since: float, before: set[int], say: Callable[[str], None], *, grace: float | None = None):
        import threading

        self.run, self.since, self.before, self.say = run, since, before, say
        self.grace = TEARDOWN_GRACE_S if grace is None else grace
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="teardown-watchdog", daemon=True)
        self._thread.start()

    def _ranks_alive(self, written: float) -> dict[int, int]:
        """This job's ranks alive now whose pid files are older than the final status, written at
        `written` (a later attempt's ranks, started after it, have newer ones)."""
        ours = _children() - self.before
        return {rank: pid for rank, pid in rank_pids(self.run.path, noted_before=written).items() if pid in ours}

    def _watch(self) -> None:
        handled: float | None = None  # the `ended` of the final status already dealt with
        while not self._stop.wait(0.25):
            found = _final_status(self.run, self.since)
            if found is None or found[1] == handled:
                continue
            handled = found[1]
            try:  # the status file's own time: the pid files' times come from the same filesystem clock
                written = self.run.status_path.stat().st_mtime  # (a shared one's may differ from ours)
            except OSError:
                written = found[1]
            at_end = self._ranks_alive(written)
            if self._stop.wait(self.grace):
                return
            alive = _children()
            stuck = {rank: pid for rank, pid in at_end.items() if pid in alive}
            if stuck:
                self._end(stuck)

    def _end(self, stuck: dict[int, int]) -> None:
        self.say(f"rank(s) {', '.join(map(str, sorted(stuck)))} did not exit within {self.grace:.0f} s of the final "
                 "status — ending them")
        for pid in stuck.values():  # the launcher reaps them and reports the loss (no waiting here)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(1)


def apply_layout(spec, *, processes: int | None = None, nnodes: int | None = None, node_rank: int | None = None,
                 rdzv_endpoint: str | None = None, max_restarts: int | None = None):
    """The spec with command-line layout overrides applied (None = keep the spec's)."""
    changes = {k: v for k, v in dict(processes=processes, nnodes=nnodes, node_rank=node_rank,
                                     rdzv_endpoint=rdzv_endpoint, max_restarts=max_restarts).items() if v is not None}
    return dataclasses.replace(spec, parallel=dataclasses.replace(spec.parallel, **changes)) if changes else spec


def run_worker(run_dir: str | Path, *, resume: bool = False, context: str = DEFAULT_CONTEXT,
               entrypoint: Callable[..., Any] = rank_main, log: Callable[[str], None] | None = None,
               spec: Any = None, since: float | None = None) -> int:
    """Run this node's ranks for `run_dir` to the end, owning the run directory meanwhile.
    Returns the exit code: 0 completed or stopped, 1 failed or crashed, 2 a bad spec or a run
    another process owns. `spec`: the run's spec already validated by the caller (`train`);
    `since`: when the calling command started (for the run's `wall_seconds`)."""
    from engine.elastic import JobFailure, run_ranks
    from engine.event_types import ErrorEvent, LogEvent, PhaseEvent
    from engine.events import EventWriter
    from engine.problems import SpecError
    from engine.runs import (RunDir, begin_session, claim, end_session, load_status, release, request_control,
                             write_status)
    from engine.runs.session import result_fields
    from engine.validation import validate
    from engine.stopsignals import GracefulStop

    def report(*found) -> None:
        with EventWriter(run.events_path) as events:
            for event in found:
                events.emit(event)

    from engine.faults import fault_point, set_role

    set_role("worker")
    run = RunDir.open(run_dir)
    say = log or (lambda text: print(text, file=sys.stderr, flush=True))
    try:
        claim(run, "worker")
    except SpecError as err:
        say(str(err))
        return 2
    try:
        problems = []
        if spec is None:
            try:
                spec = run.load_spec()
                problems = validate(spec)
            except SpecError as err:
                problems = err.problems
        if problems:
            text = "\n".join(str(p) for p in problems)
            report(ErrorEvent(message=text, traceback="", rank=-1))
            write_status(run, "failed", message=text, pid=os.getpid())
            say(f"the spec has problems:\n{text}")
            return 2
        par = spec.parallel
        begin_session(run, since=since, pid=os.getpid(), strategy=par.strategy, processes=par.processes * par.nnodes,
                      node_rank=par.node_rank)
        say(f"worker {os.getpid()}: {par.processes} process(es) x {par.nnodes} node(s), strategy {par.strategy}")
        if par.node_rank == 0:  # rank 0's node reports (the GUI shows the start-up phases)
            report(PhaseEvent(phase="starting worker", processes=par.processes * par.nnodes))
        final, message, code, fields = None, "", 0, {}
        crashed = False  # a rank was killed: that, not rank 0's "failed" from losing its peer, is how it ended
        before = _children()
        job_started = time.time()
        watchdog = _TeardownWatchdog(run, job_started, before, say)
        stop = GracefulStop(lambda signum: request_control(run, "stop"), on_repeat=_terminate_ranks)
        try:
            with stop:
                results = run_ranks(spec, run.path, entrypoint, (str(run.path), resume, context))
            main = results.get(0)
            if isinstance(main, dict) and main.get("status") in ("completed", "stopped", "failed", "pruned"):
                final, message, fields = main["status"], main.get("message", ""), result_fields(main)
            if 0 not in results:  # rank 0 (which reports) runs on another node
                final, message = "completed", f"node {par.node_rank} finished; rank 0 on node 0 holds the events and checkpoints"
        except JobFailure as failure:
            done = _final_status_since(run, job_started)
            if done in ("completed", "stopped"):  # rank 0 wrote the final checkpoint and status before the loss: keep them
                lost = "; ".join(f.describe() for f in failure.failures)
                say(f"{lost} — after the run was {done} (final checkpoint and status already written); the job ended")
                report(LogEvent(level="warning", message=f"{lost} during shutdown, after the run was {done}"))
            else:
                # a killed rank is the cause; the errors of the ranks that lost it are consequences
                crashed = failure.crashed
                final = "crashed" if crashed else "failed"
                message, code = str(failure), 1
                report(*(ErrorEvent(message=f.describe(), traceback=f.traceback, rank=f.rank, exitcode=f.exitcode)
                         for f in failure.failures))
                say(message)
        except Exception as err:  # the agent itself failed (rendezvous timeout, forced stop, ...)
            final, message, code = "failed", f"{type(err).__name__}: {err}", 1
            report(ErrorEvent(message=f"worker: {message}", traceback="", rank=-1))
            say(message)
        finally:
            watchdog.stop()
            _kill_leftovers(before)
        status = load_status(run).status
        if final is None and status in ("running", "paused", "created"):
            final, message, code = "failed", "the ranks ended without reporting a final status (see log.txt)", 1
        if final is not None:
            if message:
                fields["message"] = message
            written = end_session(run, final, force=crashed, **fields)
            code = 1 if written["status"] == "failed" or (code and written["status"] not in ("completed", "stopped")) else 0
        elif status == "failed":
            code = 1
        fault_point("worker_exit")
        return code
    finally:
        release(run)
