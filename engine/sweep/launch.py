"""Start a sweep's driver as a background process (what the Sweeps page does): its own process
session, output appended to SWEEP_DIR/log.txt; `stop SWEEP_DIR` (or :meth:`SweepDir.request_stop`)
ends it gracefully."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from engine.sweep.sweepdir import SweepDir

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def sweep_command(sweep_dir: SweepDir) -> list[str]:
    """The command line that runs (or continues) the sweep in `sweep_dir`."""
    return [sys.executable, "-m", "engine", "sweep", "--resume", str(sweep_dir.path), "--quiet"]


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a sweep or trial process: this checkout first on the import path."""
    full_env = dict(os.environ if env is None else env)
    full_env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [full_env.get("PYTHONPATH")])])
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    return full_env


def start_sweep(sweep_dir: SweepDir, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Run the sweep in a separate process (never in the caller's thread)."""
    full_env = child_env(env)
    with open(sweep_dir.log_path, "ab") as log:
        return subprocess.Popen(sweep_command(sweep_dir), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=str(REPO_ROOT), env=full_env, start_new_session=True)
