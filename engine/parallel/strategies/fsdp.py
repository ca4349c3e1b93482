"""Strategy `fsdp`: parameters, gradients and optimizer state sharded over the ranks (engine.parallel.fsdp)."""
from __future__ import annotations

from typing import Any, ContextManager

from engine.parallel.strategy import DTensorStrategy, MemorySplit, register
from engine.problems import Problem


@register
class FSDP(DTensorStrategy):
    name = "fsdp"
    description = ("Fully sharded data parallel: parameters, gradients and optimizer state are split over the "
                   "ranks, layer by layer.")
    data_parallel = True
    allows_l1 = False

    def check(self, spec, rows):
        if spec.training.precision == "fp16":
            return [Problem("training.precision", "fp16 with a gradient scaler is not supported with fsdp — use bf16 (or fp32)")]
        return []

    def memory_split(self, params, acts, *, ranks, slots, **layout):
        if ranks <= 1:
            return super().memory_split(params, acts, ranks=ranks, slots=slots)
        shard, biggest = -(-sum(params) // ranks), max(params, default=0)
        # a unit's full parameters are gathered for its forward/backward (and the next one prefetched)
        return MemorySplit(shard + 2 * biggest, shard + biggest, shard * slots, sum(acts))

    def setup_model(self, ctx, model):
        import torch  # torch: only a rank wraps a model

        from engine.parallel.fsdp import apply_fsdp  # torch only in a rank (planning stays torch-free)

        dtype = {"bf16": torch.bfloat16}.get(ctx.spec.training.precision)
        return apply_fsdp(model.to(ctx.torch_device), mesh=ctx.mesh, param_dtype=dtype)

    def accumulate(self, model, sync: bool) -> ContextManager[Any]:
        model.set_requires_gradient_sync(sync)
        return super().accumulate(model, sync)
