"""The local launcher (`[launcher] kind = "local"`, the default): the run's worker on this machine.

:func:`start_worker` starts the worker (``python -m engine worker RUN_DIR``) as a separate OS
process in its own session, its output appended to the run's log.txt. The GUI and scripts use
it; the process group (= its pid) is the kill-everything fallback. The worker takes the run's
owner lock itself, so a second start of the same run is refused there (exit code 2).
:class:`LocalLauncher` is this module's entry in the LAUNCHERS registry (engine.launchers).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from engine.appendlog import open_append
from engine.launchers.base import Launcher, Submission, register
from engine.runs import RunDir

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


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
    log = open_append(RunDir(run_dir).log_path)  # a partial line left by a crash is cut off first
    try:
        return subprocess.Popen(worker_command(run_dir, resume=resume, extra=extra), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=str(REPO_ROOT), env=full_env, start_new_session=True)
    finally:
        os.close(log)


@register
class LocalLauncher(Launcher):
    """Today's behaviour: the worker process here, torch's elastic launcher starts the ranks."""

    name = "local"
    label = "This machine"
    description = "Train on this machine: one worker process starts the ranks with torch's elastic launcher."
    scheduled = False

    def script(self, run_dir: str | Path, spec) -> str:
        import shlex

        return shlex.join(worker_command(run_dir))

    def submit(self, run: RunDir, spec, *, resume: bool = False) -> Submission:
        """Start the worker (a status without `launcher` means local: nothing to record)."""
        return Submission(process=start_worker(run.path, resume=resume))
