"""Rank contexts that misbehave on purpose (loaded by the worker through its --context hook)."""
from __future__ import annotations

import os
import time
from pathlib import Path

from engine.parallel.context import DistributedContext

FAIL_AT_STEP = 3


class RaisingContext(DistributedContext):
    """Rank 1 raises at its FAIL_AT_STEP-th control check, after noting the time in the run dir."""

    calls = 0

    def agree_control(self, request: str) -> str:
        self.calls += 1
        if self.rank == 1 and self.calls == FAIL_AT_STEP:
            run_dir = Path(os.environ["NETWRIGHT_TEST_RUN_DIR"])
            (run_dir / "injected.txt").write_text(str(time.time()))
            raise ValueError("injected failure on rank 1")
        return super().agree_control(request)


class SlowContext(DistributedContext):
    """Every step takes at least 50 ms more, so a test can act between checkpoints."""

    def agree_control(self, request: str) -> str:
        time.sleep(0.05)
        return super().agree_control(request)
