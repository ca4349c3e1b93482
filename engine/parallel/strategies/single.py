"""Strategy `none`: one plain process, no parallelism."""
from __future__ import annotations

from engine.parallel.strategy import Strategy, register


@register
class Single(Strategy):
    name = "none"
    description = "One process: no parallelism."
    fields = ("backend",)
    multi_rank = False
