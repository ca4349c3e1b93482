"""Strategy `ddp`: every rank holds the whole model and a slice of each batch (engine.parallel.ddp)."""
from __future__ import annotations

from typing import Any, ContextManager

from engine.parallel.strategy import Strategy, register


@register
class DDP(Strategy):
    name = "ddp"
    description = ("Distributed data parallel: every rank holds the whole model and a slice of each batch; "
                   "gradients are averaged.")
    data_parallel = True

    def setup_model(self, ctx, model):
        from engine.parallel.ddp import apply_ddp  # torch: only a rank wraps a model

        return apply_ddp(model.to(ctx.torch_device), device=ctx.torch_device)

    def eval_model(self, model):
        return getattr(model, "module", model)

    def accumulate(self, model, sync: bool) -> ContextManager[Any]:
        return super().accumulate(model, sync) if sync else model.no_sync()
