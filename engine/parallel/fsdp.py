"""Fully sharded data parallel (FSDP2, `fully_shard`): each top-level layer is its own unit."""
from __future__ import annotations

import torch
from torch import nn
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard


def apply_fsdp(model: nn.Sequential, *, mesh: DeviceMesh, param_dtype: torch.dtype | None = None) -> nn.Module:
    """Shard every top-level layer that has parameters, then the root (which keeps the rest).
    Parameters stay fp32; `param_dtype` (e.g. bf16) only sets the compute/communication dtype."""
    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32) if param_dtype else MixedPrecisionPolicy()
    for child in model.children():
        if any(p.requires_grad for p in child.parameters()):
            fully_shard(child, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy)
    return model
