"""`pause RUN_DIR`: Pause a run: all ranks hold between steps until resumed."""
from __future__ import annotations

from engine.commands._control import configure, send

HELP = "Pause a run: all ranks hold between steps until resumed"


def run(args) -> int:
    return send(args, "pause")


__all__ = ["HELP", "configure", "run"]
