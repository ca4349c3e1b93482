"""`resume RUN_DIR`: Resume a paused run."""
from __future__ import annotations

from engine.commands._control import configure, send

HELP = "Resume a paused run"


def run(args) -> int:
    return send(args, "resume")


__all__ = ["HELP", "configure", "run"]
