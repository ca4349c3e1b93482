"""Tensor parallel over a 1-D device mesh: `parallelize_module` with column/row-wise plans.

- Linear pairs (Linear, element-wise layers, Linear) are split Megatron-style: the first
  column-wise (each rank computes a slice of the hidden features), the second row-wise (the
  partial products are summed by one all-reduce), so the pair's output is whole on every rank.
- TransformerBlocks: the MLP is split the same way, and the attention by heads: its fused
  `nn.MultiheadAttention` is unpacked into q/k/v projections (column-wise: each rank computes
  its own heads) and the output projection (row-wise), as torchtitan does for Llama.
  `full_state_dict` packs the unpacked weights back under the original names, so checkpoints
  load into the single-process model.

Which layers are split comes from the pure `plan.tensor_plan`.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

from engine.parallel.plan import TensorPlanItem, tensor_plan


class SplitSelfAttention(nn.Module):
    """Self-attention with separate q/k/v/out Linears (the same maths as SelfAttention's fused
    nn.MultiheadAttention). Under tensor parallelism q/k/v return this rank's heads only."""

    def __init__(self, width: int, heads: int, dropout: float, causal: bool, bias: bool = True):
        super().__init__()
        self.head_dim = width // heads
        self.dropout, self.causal = dropout, causal
        self.q, self.k, self.v = (nn.Linear(width, width, bias=bias) for _ in range(3))
        self.out = nn.Linear(width, width, bias=bias)

    @classmethod
    def from_fused(cls, attn: nn.Module) -> "SplitSelfAttention":
        """Copy the weights of a SelfAttention (engine.layers.torch_modules) module."""
        mha = attn.attn
        bias = mha.in_proj_bias is not None
        new = cls(mha.embed_dim, mha.num_heads, mha.dropout, attn.causal, bias)
        with torch.no_grad():
            for lin, w in zip((new.q, new.k, new.v), mha.in_proj_weight.chunk(3)):
                lin.weight.copy_(w)
            if bias:
                for lin, b in zip((new.q, new.k, new.v), mha.in_proj_bias.chunk(3)):
                    lin.bias.copy_(b)
                new.out.bias.copy_(mha.out_proj.bias)
            new.out.weight.copy_(mha.out_proj.weight)
        return new.to(mha.in_proj_weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, _ = x.shape
        q, k, v = (p(x).view(n, t, -1, self.head_dim).transpose(1, 2) for p in (self.q, self.k, self.v))
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=self.causal)
        return self.out(y.transpose(1, 2).reshape(n, t, -1))


def pack_attention(state: Mapping[str, torch.Tensor], prefixes: Sequence[str]) -> dict[str, torch.Tensor]:
    """Full state dict with each split attention under `prefix` (e.g. "transformerblock_1.attn")
    packed back into nn.MultiheadAttention's names (`prefix.attn.in_proj_weight`, ...)."""
    out = dict(state)
    for pre in prefixes:
        if f"{pre}.q.weight" not in out:
            continue
        out[f"{pre}.attn.in_proj_weight"] = torch.cat([out.pop(f"{pre}.{p}.weight") for p in "qkv"])
        if f"{pre}.q.bias" in out:
            out[f"{pre}.attn.in_proj_bias"] = torch.cat([out.pop(f"{pre}.{p}.bias") for p in "qkv"])
            out[f"{pre}.attn.out_proj.bias"] = out.pop(f"{pre}.out.bias")
        out[f"{pre}.attn.out_proj.weight"] = out.pop(f"{pre}.out.weight")
    return out


def module_plan(items: Sequence[TensorPlanItem]) -> dict[str, object]:
    """The `parallelize_module` plan (module path -> style) for the pure plan items."""
    out: dict[str, object] = {}
    for item in items:
        if item.style == "colwise":
            out[item.label] = ColwiseParallel()
        elif item.style == "rowwise":
            out[item.label] = RowwiseParallel()
        else:  # TransformerBlock: heads, then its MLP (Linear, GELU, Linear, Dropout)
            for p in "qkv":
                out[f"{item.label}.attn.{p}"] = ColwiseParallel()
            out[f"{item.label}.attn.out"] = RowwiseParallel()
            out[f"{item.label}.mlp.0"] = ColwiseParallel()
            out[f"{item.label}.mlp.2"] = RowwiseParallel()
    return out


class _Row:
    def __init__(self, label: str, kind: str):
        self.label, self.type = label, kind


def layer_kinds(model: nn.Sequential) -> list[_Row]:
    """(label, kind) rows for a built model's top level, in the shape report's vocabulary."""
    return [_Row(name, type(child).__name__) for name, child in model.named_children()]


def apply_tensor(model: nn.Sequential, *, mesh: DeviceMesh, items: Sequence[TensorPlanItem] | None = None) -> nn.Module:
    """Split `model` over `mesh` (in place). `items` defaults to the plan from the module types.
    The returned model's `split_attention` lists the unpacked attention prefixes."""
    items = tensor_plan(layer_kinds(model)) if items is None else items
    if not items:
        raise ValueError("tensor parallel found nothing to split: it needs Linear pairs or TransformerBlocks")
    split = []
    for item in items:
        if item.style == "block":
            block = model.get_submodule(item.label)
            block.attn = SplitSelfAttention.from_fused(block.attn)
            split.append(f"{item.label}.attn")
    model = parallelize_module(model, mesh, module_plan(items))
    model.split_attention = tuple(split)
    return model
