"""control.json: stop / pause / resume requests from a watcher to the run's rank 0."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_text
from engine.runs.rundir import RunDir

CONTROL_ACTIONS = ("stop", "pause", "resume", "prune")


def _control_path(run: Any) -> Path:
    return RunDir(Path(getattr(run, "path", run))).control_path


def request_control(run: Any, action: str) -> None:
    """Ask the run to stop (graceful: finish the step, checkpoint), pause, resume or (a sweep trial) prune."""
    if action not in CONTROL_ACTIONS:
        raise ValueError(f"unknown control action {action!r}; expected one of {', '.join(CONTROL_ACTIONS)}")
    atomic_write_text(_control_path(run), json.dumps({"action": action, "time": time.time(), "pid": os.getpid()}) + "\n")


def read_control(run: Any) -> str:
    """The pending request as the trainer sees it: "stop", "pause", "prune" or "run"."""
    try:
        action = json.loads(_control_path(run).read_text(encoding="utf-8")).get("action")
    except (OSError, ValueError, AttributeError):
        return "run"
    return action if action in ("stop", "pause", "prune") else "run"


def clear_control(run: Any) -> None:
    try:
        os.unlink(_control_path(run))
    except FileNotFoundError:
        pass
