"""The window's runs: start, attach, stop and list them (one `RunService` per window; pages get
it in their constructor and never reach into each other).

`RunService.start(spec)` creates a run directory under `runs_dir` (spec.toml, status "created")
and starts the worker (`engine.launchers.local.start_worker`: `python -m engine worker RUN_DIR`, a
separate OS process in its own session, its output appended to the run's log.txt). The GUI
never imports the training loop. Stop / pause / resume are
requests written into the run directory (`engine.runs.request_control`); SIGTERM to the
worker's process group is the fallback. The child is reaped on a timer, so a killed worker
never lingers as a zombie that would look alive. `attach(run_dir)` asks whoever shows runs (the
Monitor) to show one; `release(paths)` tells it to let go of runs about to be deleted.

A run whose spec names a cluster launcher ([launcher] slurm, ray) is submitted instead, off the
GUI thread (sbatch, or ssh to a login node, may take seconds): there is no local process to reap;
its job id is in status.json, the Monitor asks the scheduler for the job's state, and a stop of a
queued job, or of one that does not answer, goes to the scheduler (scancel).
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from engine.spec import ExperimentSpec

#: workers left running in the background (kept referenced so Popen never warns at exit)
_DETACHED: list[subprocess.Popen] = []
Launcher = Callable[[Path, bool], subprocess.Popen]


def start_worker(run_dir: Path, resume: bool = False) -> subprocess.Popen:
    """The engine's worker for `run_dir` (torch's elastic launcher starts the ranks)."""
    from engine.launchers.local import start_worker as launch

    return launch(run_dir, resume=resume)


def submit_job(run_dir: Path, resume: bool = False):
    """Submit a run whose spec names a cluster launcher (runs on a pool thread); the
    engine.launchers.Submission (job id, and a local process to reap when the launcher has one)."""
    from engine.launchers import launcher_of
    from engine.runs import RunDir

    run = RunDir(Path(run_dir))
    spec = run.load_spec()
    return launcher_of(spec).submit(run, spec, resume=resume)


def cancel_job(run_dir: Path) -> bool:
    """Ask the run's scheduler to end its job (runs on a pool thread)."""
    from engine.launchers import launcher_for_run
    from engine.runs import RunDir

    run = RunDir(Path(run_dir))
    return launcher_for_run(run).cancel(run)


def job_id(run_dir: Path) -> str | None:
    """The scheduler's job id of a run submitted to a cluster (None: a local run)."""
    from engine.runs import load_status

    return load_status(Path(run_dir)).job_id


def submits(run_dir: Path) -> bool:
    """True when the run's spec names a cluster launcher (it is submitted, not started here)."""
    from engine.runs import RunDir

    try:
        return RunDir(Path(run_dir)).load_spec().launcher.remote
    except Exception:  # an unreadable spec: the local worker names the problem in the run
        return False


def has_checkpoint(run_dir: Path) -> bool:
    """True when the run saved at least one checkpoint (so it can be resumed); the best
    checkpoint (`best`, `best-*`: weights only) does not count."""
    from engine.runs import RunDir

    folder = RunDir(Path(run_dir)).checkpoints
    return folder.is_dir() and any(p.name != "best" and not p.name.startswith("best-") for p in folder.iterdir())


class RunService(QObject):
    """Starts worker processes, sends them control requests, lists the runs of `runs_dir`.

    Signals: `runStarted(str)` with the run directory, `processExited(str, int)` with the run
    directory and exit code when a worker this service started ends, `attachRequested(str)`
    when a page asks to show a run, `runsReleased(list)` before runs are deleted."""

    runStarted = Signal(str)
    processExited = Signal(str, int)
    launchFailed = Signal(str)
    attachRequested = Signal(str)
    runsReleased = Signal(list)

    def __init__(self, runs_dir: str | Path, parent: QObject | None = None, launcher: Launcher = start_worker):
        super().__init__(parent)
        self.runs_dir = Path(runs_dir)
        self.launcher = launcher
        self._procs: dict[Path, subprocess.Popen] = {}
        self._terminated: set[Path] = set()
        self._launched_at: dict[Path, float] = {}
        self._stopping: set[Path] = set()
        self.shown: Path | None = None  # the run last asked to be shown
        self._reaper = QTimer(self, interval=200, timeout=self._reap)
        self._calls: list = []  # submissions and cancels on their way (BackgroundCall each)

    # ------------------------------------------------------------------ launching
    def start(self, spec: ExperimentSpec) -> Path:
        """Create a run directory for `spec` under `runs_dir`, start training it and ask for it
        to be shown (`attachRequested`)."""
        from engine.runs import RunDir

        run = RunDir.create(self.runs_dir, spec)
        self._launch(run.path, resume=False)
        self.attach(run.path)
        return run.path

    def attach(self, run_dir: str | Path) -> None:
        """Ask the page that shows runs (the Monitor) to show `run_dir`; a Monitor built later
        starts on it (`shown`)."""
        self.shown = Path(run_dir)
        self.attachRequested.emit(str(run_dir))

    def list(self) -> list:
        """Every run under `runs_dir`, newest first (engine.runs.RunSummary; reads the disk)."""
        from engine.runs import list_runs

        return list_runs(self.runs_dir)

    def release(self, paths: list[Path]) -> None:
        """Tell the pages to let go of `paths` (about to be deleted)."""
        if self.shown is not None and self.shown in {Path(p) for p in paths}:
            self.shown = None
        self.runsReleased.emit([str(p) for p in paths])

    def launched_at(self, run_dir: str | Path) -> float | None:
        """When this service last started (or resumed) the run's worker: Unix seconds, else None."""
        return self._launched_at.get(Path(run_dir))

    def resume_from_checkpoint(self, run_dir: str | Path) -> None:
        """Continue a stopped, failed or crashed run from its last checkpoint (same directory); a run
        killed before its first checkpoint starts again from step 0 (the engine says so in its log)."""
        run_dir = Path(run_dir)
        if self.is_running(run_dir):
            raise RuntimeError(f"{run_dir.name} is still running")
        self._launch(run_dir, resume=True)

    def _launch(self, run_dir: Path, resume: bool) -> None:
        self._launched_at[run_dir] = time.time()
        self._stopping.discard(run_dir)
        if submits(run_dir):
            self._in_background(submit_job, run_dir, resume, failed=lambda message: self._submit_failed(run_dir, message),
                                done=lambda submission: self._submitted(run_dir, submission))
            self.runStarted.emit(str(run_dir))
            return
        try:
            proc = self.launcher(run_dir, resume)
        except OSError as err:
            self.launchFailed.emit(f"could not start the worker for {run_dir.name}: {err}")
            raise
        self._procs[run_dir] = proc
        self._reaper.start()
        self.runStarted.emit(str(run_dir))

    def _in_background(self, fn: Callable, *args, failed: Callable[[str], None] | None = None,
                       done: Callable[[object], None] | None = None) -> None:
        from app.services.tasks import BackgroundCall

        call = BackgroundCall(self)
        self._calls.append(call)
        forget = lambda *_: self._calls.remove(call) if call in self._calls else None  # noqa: E731
        call.finished.connect(forget)
        call.failed.connect(forget)
        if failed is not None:
            call.failed.connect(lambda message: failed(message.splitlines()[0]))
        if done is not None:
            call.finished.connect(done)
        call.call(fn, *args)

    def _submitted(self, run_dir: Path, submission) -> None:
        """A launcher that keeps a local process for its job (Ray's follower): reap it like a worker."""
        if submission.process is not None:
            self._procs[run_dir] = submission.process
            self._reaper.start()

    def _submit_failed(self, run_dir: Path, message: str) -> None:
        """The cluster refused the run (no sbatch, login node unreachable, directory not shared)."""
        from engine.runs import read_status, write_status

        if read_status(run_dir).get("status") == "created":
            write_status(run_dir, "failed", message=f"could not submit: {message}")
        self.launchFailed.emit(f"could not submit {run_dir.name}: {message}")

    # ------------------------------------------------------------------ control
    def request(self, run_dir: str | Path, action: str) -> None:
        """Ask the run to "stop" (graceful, with a checkpoint), "pause" or "resume"."""
        from engine.runs import request_control

        request_control(Path(run_dir), action)

    def stop(self, run_dir: str | Path) -> str:
        """Stop a run gracefully: a stop request when it is training ("requested"), SIGTERM when
        its worker is still starting and would not see the request yet ("terminated"), nothing
        when it is already stopping or has reached a final status while its worker exits
        ("exiting": an exiting worker is never killed), or "none" when no process of it is alive."""
        from engine.runs import ACTIVE, effective_status

        run_dir = Path(run_dir)
        if self.is_exiting(run_dir):
            return "exiting"
        status = effective_status(run_dir)
        if status == "created" and job_id(run_dir):  # still queued: nothing runs that could read a request
            self._in_background(cancel_job, run_dir)
            return "cancelled"
        if status in ACTIVE:
            self.request(run_dir, "stop")
            self._stopping.add(run_dir)
            return "requested"
        if status != "created":
            return "none"
        return "terminated" if self.terminate(run_dir) else "none"

    def is_exiting(self, run_dir: str | Path) -> bool:
        """True when the run was asked to stop here, or has reached a final status, while its
        worker process is still alive (saving, tearing down its ranks)."""
        from engine.runs import ACTIVE, effective_status

        run_dir = Path(run_dir)
        if not self.is_running(run_dir):
            return False
        return run_dir in self._stopping or effective_status(run_dir) not in (*ACTIVE, "created")

    def training_runs(self) -> list[Path]:
        """Runs started here whose worker is alive and neither stopping nor finished."""
        return [path for path in self.active_runs() if not self.is_exiting(path)]

    def terminate(self, run_dir: str | Path) -> bool:
        """SIGTERM to the run's worker session (the fallback for a stop request; the worker
        still ends with a checkpoint); for a run submitted to a cluster, the scheduler's cancel
        (scancel: its SIGTERM does the same). Returns False when no process of the run is known."""
        if job_id(run_dir) and Path(run_dir) not in self._procs:  # a cluster's job: its scheduler ends it
            self._in_background(cancel_job, Path(run_dir))
            self._stopping.add(Path(run_dir))
            return True
        pid = self.worker_pid(run_dir)
        if not pid:
            return False
        try:
            os.killpg(os.getpgid(pid), signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            return False
        self._terminated.add(Path(run_dir))
        self._stopping.add(Path(run_dir))
        return True

    def worker_pid(self, run_dir: str | Path) -> int | None:
        """The worker's pid: the process this service started, else the one in status.json."""
        proc = self._procs.get(Path(run_dir))
        if proc is not None and proc.poll() is None:
            return proc.pid
        from engine.runs import read_status

        pid = read_status(Path(run_dir)).get("worker_pid") or read_status(Path(run_dir)).get("pid")
        return int(pid) if pid else None

    def is_running(self, run_dir: str | Path) -> bool:
        """True while the run's worker is alive (started here, or found live in status.json)."""
        proc = self._procs.get(Path(run_dir))
        if proc is not None:
            return proc.poll() is None
        from engine.runs import ACTIVE, effective_status

        return effective_status(Path(run_dir)) in ACTIVE

    def active_runs(self) -> list[Path]:
        """Runs started by this service whose worker is still alive."""
        return [path for path, proc in self._procs.items() if proc.poll() is None]

    # ------------------------------------------------------------------ reaping
    @Slot()
    def _reap(self) -> None:
        for run_dir, proc in list(self._procs.items()):
            code = proc.poll()
            if code is None:
                continue
            del self._procs[run_dir]
            self._mark_if_never_started(run_dir, code, stopped=run_dir in self._terminated)
            self._terminated.discard(run_dir)
            self.processExited.emit(str(run_dir), code)
        if not self._procs:
            self._reaper.stop()

    @staticmethod
    def _mark_if_never_started(run_dir: Path, code: int, stopped: bool = False) -> None:
        """A worker that died before recording "running" would leave the run "created" forever."""
        from engine.runs import read_status, write_status

        if read_status(run_dir).get("status") != "created":
            return
        if stopped:
            write_status(run_dir, "stopped", message="stopped before training started")
        else:
            write_status(run_dir, "failed", message=f"the worker exited with code {code} before training "
                                                    f"started — see log.txt in {run_dir}")

    def forget(self) -> None:
        """Stop watching every worker (they keep running in their own sessions)."""
        _DETACHED.extend(self._procs.values())
        self._procs.clear()
        self._reaper.stop()
