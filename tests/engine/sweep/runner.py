"""Run `sweep` as a user does (a separate process) and read what it left behind."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


def sweep_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine", "sweep", *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def run_sweep(*args: str, timeout: float = 600) -> tuple[int, dict[str, Any], str]:
    """Run `sweep ARGS`; (exit code, the JSON line, stderr)."""
    done = subprocess.run(sweep_cmd(*args), capture_output=True, text=True, env=env(), cwd=ROOT, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return done.returncode, json.loads(lines[-1]) if lines else {}, done.stderr


def sweep_dirs(root: Path) -> list[Path]:
    if not root.is_dir():  # the sweep has not created its folder yet
        return []
    return sorted(p for p in root.iterdir() if (p / "sweep.toml").is_file())


def trial_runs(sweep_dir: Path) -> list[tuple[int, dict[str, Any]]]:
    """(trial number, status.json) of every run directory under the sweep's trials/."""
    out = []
    for path in sorted((sweep_dir / "trials").iterdir()):
        try:
            status = json.loads((path / "status.json").read_text())
        except (OSError, ValueError):  # being created this very moment
            continue
        if "trial" in status:
            out.append((status["trial"], status))
    return out


def study(sweep_dir: Path):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name="sweep", storage=f"sqlite:///{sweep_dir / 'study.db'}")
