"""`stop RUN_DIR [--cancel]`: Stop a run gracefully: it finishes the current step, saves a checkpoint and ends with
status stopped. A run submitted to a cluster whose job is still queued, or with --cancel, is ended through its
scheduler (scancel)."""
from __future__ import annotations

from engine.commands._control import configure_stop as configure, send

HELP = "Stop a run gracefully: it finishes the current step, saves a checkpoint and ends with status stopped"


def run(args) -> int:
    return send(args, "stop")


__all__ = ["HELP", "configure", "run"]
