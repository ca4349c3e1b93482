"""Tensor parallel over a 1-D device mesh: `parallelize_module` with column/row-wise plans.

Linear pairs (Linear, element-wise layers, Linear) are split Megatron-style: the first
column-wise (each rank computes a slice of the hidden features), the second row-wise (the
partial products are summed by one all-reduce), so the pair's output is whole on every rank.
A TransformerBlock's MLP is split the same way; its attention (a fused nn.MultiheadAttention)
stays replicated. Which layers are split comes from the pure `plan.tensor_plan`.
"""
from __future__ import annotations

from typing import Sequence

from torch import nn
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

from engine.parallel.plan import TensorPlanItem


def module_plan(items: Sequence[TensorPlanItem]) -> dict[str, object]:
    """The `parallelize_module` plan (module path -> style) for the pure plan items."""
    out: dict[str, object] = {}
    for item in items:
        if item.style == "colwise":
            out[item.label] = ColwiseParallel()
        elif item.style == "rowwise":
            out[item.label] = RowwiseParallel()
        else:  # TransformerBlock: its MLP is Linear, GELU, Linear, Dropout
            out[f"{item.label}.mlp.0"] = ColwiseParallel()
            out[f"{item.label}.mlp.2"] = RowwiseParallel()
    return out


class _Row:
    def __init__(self, label: str, kind: str):
        self.label, self.type = label, kind


def layer_kinds(model: nn.Sequential) -> list[_Row]:
    """(label, kind) rows for a built model's top level, in the shape report's vocabulary."""
    rows = []
    for name, child in model.named_children():
        kind = type(child).__name__
        rows.append(_Row(name, kind))
    return rows


def apply_tensor(model: nn.Sequential, *, mesh: DeviceMesh, items: Sequence[TensorPlanItem] | None = None) -> nn.Module:
    """Split `model` over `mesh`. `items` defaults to the plan computed from the module types."""
    from engine.parallel.plan import tensor_plan

    items = tensor_plan(layer_kinds(model)) if items is None else items
    if not items:
        raise ValueError("tensor parallel found nothing to split: it needs Linear pairs or TransformerBlocks")
    return parallelize_module(model, mesh, module_plan(items))
