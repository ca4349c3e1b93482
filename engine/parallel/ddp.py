"""Distributed data parallel: every rank holds the whole model; gradients are averaged."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def apply_ddp(model: nn.Module, *, device: torch.device) -> nn.Module:
    """Wrap `model` (already on `device`) in DDP. Gradients live in the communication buckets
    (no second copy), so the memory estimate counts them once."""
    device_ids = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids, gradient_as_bucket_view=True)
