"""Pure helpers for parallel training: world-size checks (placeholder until the parallel issue)."""
from __future__ import annotations

from engine.problems import Problem


def check_parallel(spec) -> list[Problem]:
    """Problems with the [parallel] section for this spec."""
    if spec.parallel.strategy != "none" or spec.parallel.processes > 1 or spec.parallel.nnodes > 1:
        return [Problem("parallel.strategy", "parallel training is not available yet — use strategy = \"none\" with 1 process")]
    return []
