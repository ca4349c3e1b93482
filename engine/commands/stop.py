"""`stop RUN_DIR`: Stop a run gracefully: it finishes the current step, saves a checkpoint and ends with status stopped."""
from __future__ import annotations

from engine.commands._control import configure, send

HELP = "Stop a run gracefully: it finishes the current step, saves a checkpoint and ends with status stopped"


def run(args) -> int:
    return send(args, "stop")


__all__ = ["HELP", "configure", "run"]
