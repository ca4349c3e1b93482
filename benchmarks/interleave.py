"""Step-by-step interleaving of two training loops, for overhead benchmarks on a busy machine.

After each optimizer step of the loop under test (a global optimizer step hook), the partner loop
(a generator that yields after each of its optimizer steps) takes one step. Every step of ours
thus has a step of the reference right beside it, and the load of other processes hits both
alike. Times are kept in wall clock and in this process's CPU time (all its threads): on a
machine with more runnable processes than cores, wall-clock steps mostly measure waiting for a
core, CPU time does not.
"""
from __future__ import annotations

import statistics
import time
from typing import Any, Iterator

from torch.optim.optimizer import register_optimizer_step_post_hook


class Interleaver:
    """Use as a context manager around the loop under test; `partner` yields after each step
    (its own optimizer steps pass through the hook untouched: re-entrancy guard)."""

    def __init__(self, partner: Iterator[Any]):
        self.partner = partner
        self.partner_value: Any = None  # what the partner yielded last (e.g. its model)
        self.wall: tuple[list[float], list[float]] = ([], [])  # just before / just after each partner step
        self.cpu: tuple[list[float], list[float]] = ([], [])
        self.busy = False
        self.handle = None

    def __enter__(self) -> "Interleaver":
        self.handle = register_optimizer_step_post_hook(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.handle.remove()

    def __call__(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self.busy:
            return
        self.busy = True
        self.wall[0].append(time.perf_counter())
        self.cpu[0].append(time.process_time())
        self.partner_value = next(self.partner)
        self.cpu[1].append(time.process_time())
        self.wall[1].append(time.perf_counter())
        self.busy = False

    @property
    def steps(self) -> int:
        """Partner steps taken (= optimizer steps of the loop under test)."""
        return len(self.wall[1])

    def times(self, cpu: bool = False) -> tuple[list[float], list[float]]:
        """(our step times, the partner's step times), paired: our step k+1 runs right after the
        partner's step k and spans everything between the two partner steps."""
        before, after = self.cpu if cpu else self.wall
        ours = [b - a for a, b in zip(after, before[1:])]
        plain = [a - b for b, a in zip(before[1:], after[1:])]
        return ours, plain


def median_ratio(ours: list[float], plain: list[float]) -> float:
    """Ratio of the median step times. (Not the median of per-step ratios: with the skewed step
    times of a loaded machine that statistic is biased upward, ~1.1 for a loop against itself.)"""
    return statistics.median(ours) / statistics.median(plain)
