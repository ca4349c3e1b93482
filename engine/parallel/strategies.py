"""The registry of parallel strategies: name -> Strategy (how it is applied, what it checks).

The `apply_*` functions live in their own modules (ddp.py, fsdp.py, tensor.py, pipeline.py)
and import torch; this registry names them by import path so that planning and validation
stay torch-free. `extra` flags: `data_parallel` (ranks split each batch), `fields` (the
[parallel] keys that matter for the GUI) and `unsupported` (layer kind -> reason).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from engine.problems import Problem
from engine.registry import Registry


@dataclass(frozen=True)
class Strategy:
    """How a strategy is applied (`apply` = "module:function") plus its spec-level check."""

    apply: str = ""
    check: Callable[[object], list[Problem]] = lambda spec: []

    def load(self) -> Callable:
        """The apply function (imports torch)."""
        module, _, name = self.apply.partition(":")
        return getattr(importlib.import_module(module), name)


def _no_l1(spec) -> list[Problem]:
    if spec.regularization.l1:
        return [Problem("regularization.l1", f"is not supported with strategy {spec.parallel.strategy} (the penalty would need "
                                             "the sharded weights) — use weight decay, or strategy ddp")]
    return []


def _check_pipeline(spec) -> list[Problem]:
    from engine.parallel.plan import world_size

    par, problems = spec.parallel, _no_l1(spec)
    if spec.training.precision == "fp16":
        problems.append(Problem("training.precision", "fp16 needs a gradient scaler, which the pipeline schedules do not run — use bf16 or fp32"))
    k, m, b = world_size(spec), par.microbatches, spec.data.batch_size
    if b % m:
        lower, upper = b - b % m, b - b % m + m
        problems.append(Problem("parallel.microbatches", f"{m} micro-batches do not divide data.batch_size = {b}; every micro-batch "
                                                         f"must have the same size — use batch_size {lower or upper} or {upper}, "
                                                         f"or a number of micro-batches that divides {b}"))
    if par.schedule == "1f1b" and m < k:
        problems.append(Problem("parallel.microbatches", f"the 1f1b schedule needs at least as many micro-batches as stages: "
                                                         f"{m} < {k} stages — raise microbatches to {k} or use schedule gpipe"))
    if spec.training.compile:
        problems.append(Problem("training.compile", "torch.compile is not applied to pipeline stages — set it to false"))
    if spec.training.grad_accumulation > 1:
        problems.append(Problem("training.grad_accumulation", f"is {spec.training.grad_accumulation}, but a pipeline already "
                                                              "accumulates over its micro-batches — set it to 1 and raise "
                                                              "parallel.microbatches instead"))
    return problems


def _check_fsdp(spec) -> list[Problem]:
    problems = _no_l1(spec)
    if spec.training.precision == "fp16":
        problems.append(Problem("training.precision", "fp16 with a gradient scaler is not supported with fsdp — use bf16 (or fp32)"))
    return problems


_BN = "it normalises each rank's (or micro-batch's) samples separately, so the result differs from one process — use LayerNorm or GroupNorm"

STRATEGIES: Registry[Strategy] = Registry("parallel strategy")
STRATEGIES.add("none", Strategy(), description="One process: no parallelism.", fields=("backend",), data_parallel=False)
STRATEGIES.add(
    "ddp", Strategy("engine.parallel.ddp:apply_ddp"),
    description="Distributed data parallel: every rank holds the whole model and a slice of each batch; gradients are averaged.",
    fields=("processes", "nnodes", "node_rank", "rdzv_endpoint", "backend", "max_restarts"), data_parallel=True)
STRATEGIES.add(
    "fsdp", Strategy("engine.parallel.fsdp:apply_fsdp", _check_fsdp),
    description="Fully sharded data parallel: parameters, gradients and optimizer state are split over the ranks, layer by layer.",
    fields=("processes", "nnodes", "node_rank", "rdzv_endpoint", "backend", "max_restarts"), data_parallel=True)
STRATEGIES.add(
    "tensor", Strategy("engine.parallel.tensor:apply_tensor", _no_l1),
    description="Tensor parallel: Linear pairs and transformer blocks (attention heads and MLP) are split column/row-wise over the ranks; every rank sees the whole batch.",
    fields=("processes", "nnodes", "node_rank", "rdzv_endpoint", "backend", "max_restarts"), data_parallel=False)
STRATEGIES.add(
    "pipeline", Strategy("engine.parallel.pipeline:apply_pipeline", _check_pipeline),
    description="Pipeline parallel: each rank holds a contiguous stage of layers; batches flow through in micro-batches.",
    fields=("processes", "nnodes", "node_rank", "rdzv_endpoint", "backend", "microbatches", "schedule", "stages", "max_restarts"),
    data_parallel=False, unsupported={"BatchNorm1d": _BN, "BatchNorm2d": _BN})
