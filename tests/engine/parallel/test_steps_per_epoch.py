"""Steps per epoch has one source of truth (engine.parallel.plan.epoch_steps): the plan the Train
page and `plan` show must equal the optimizer steps every rank of the worker actually takes."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from engine.parallel import context as context_module
from engine.parallel import plan
from engine.parallel.context import DistributedContext
from engine.parallel.summary import plan_summary
from engine.rank import LocalContext
from engine.steps import micro_batch_count
from engine.trainer import train
from tests.engine.parallel.runner import tiny_spec
from tests.engine.test_trainer import FakeReporter, make_dataset

STRATEGIES = ("none", "ddp", "fsdp", "pipeline", "tensor")
SIZES = (1, 7, 63, 64, 65, 97, 100, 127, 640, 1001)


def spec_for(strategy: str, world: int, batch: int, accumulation: int):
    parallel = {"strategy": strategy, "processes": 1 if strategy == "none" else world}
    if strategy == "pipeline":
        parallel["microbatches"] = 1
    return tiny_spec(parallel=parallel, data={"batch_size": batch},
                     training={"grad_accumulation": accumulation, "max_steps": 0, "epochs": 2})


def rank_context(spec, rank: int, world: int, monkeypatch) -> DistributedContext:
    """A DistributedContext for `rank` of `world` without a process group: only the data split
    (epoch_indices) is used, which needs no collective."""
    monkeypatch.setattr(context_module.dist, "get_rank", lambda: rank)
    monkeypatch.setattr(context_module.dist, "get_world_size", lambda: world)
    return DistributedContext(spec, device="cpu")


def steps_taken(n_local: int, batch: int, accumulation: int) -> int:
    """Optimizer steps the trainer's loop takes over `n_local` samples (micro-batches in groups)."""
    micro, steps = 0, 0
    n_micro = micro_batch_count(n_local, batch)  # the loop's count (a lone last sample joins the batch before)
    while micro < n_micro:
        micro = min(micro + accumulation, n_micro)
        steps += 1
    return steps


LAYOUTS = [(1, 16, 1), (2, 16, 1), (3, 8, 1), (4, 16, 3), (2, 5, 2)]


@pytest.mark.parametrize("strategy,world,batch,accumulation",
                         [(s, *layout) for s in STRATEGIES for layout in LAYOUTS if s != "none" or layout[0] == 1])
def test_plan_matches_the_split_every_rank_trains_on(strategy, world, batch, accumulation, monkeypatch):
    spec = spec_for(strategy, world, batch, accumulation)
    summary = plan_summary(spec, problems=())
    assert summary.world_size == world
    for n in SIZES:
        planned = summary.steps_per_epoch(n)
        assert planned == plan.epoch_steps(n, strategy, world, batch, accumulation)[0]
        seen: set[int] = set()
        for rank in range(world):
            if strategy == "none":
                order = LocalContext().epoch_indices(n, 0, spec.seed)
            else:
                order = rank_context(spec, rank, world, monkeypatch).epoch_indices(n, 0, spec.seed)
            if strategy in ("ddp", "fsdp"):  # disjoint, equal shares that leave fewer than `world` samples out
                assert not seen & set(order.tolist()), (strategy, n, rank)
                seen |= set(order.tolist())
            assert len(order) == plan.rank_samples(n, strategy, world, batch), (strategy, n, rank)
            taken = max(1, steps_taken(len(order), batch, accumulation))
            assert taken == planned, f"{strategy} n={n} world={world} rank={rank}: plan {planned}, worker {taken}"
        if strategy in ("ddp", "fsdp"):
            assert n - len(seen) < world


def test_data_parallel_split_is_floor_and_pipeline_drops_the_partial_batch():
    # 101 samples on 4 data-parallel ranks: 25 each (one sample unused)
    assert plan.rank_samples(101, "ddp", 4, 8) == 25
    assert plan.rank_samples(103, "fsdp", 4, 8) == 25
    assert plan.epoch_steps(103, "ddp", 4, 8)[0] == 3   # 25 per rank -> 8, 8, 9 (a lone last sample joins)
    assert plan.epoch_steps(108, "ddp", 4, 5)[0] == 6   # 27 per rank -> 6 batches of 5 (last 2)
    assert plan.epoch_steps(103, "ddp", 4, 5)[0] == 5   # 25 per rank -> 5 batches (ceil would say 26 -> 6)
    assert plan.epoch_steps(104, "ddp", 4, 5)[0] == 5   # 26 per rank -> 5, 5, 5, 5, 6
    assert plan.rank_samples(70, "pipeline", 2, 16) == 64
    assert plan.epoch_steps(70, "pipeline", 2, 16)[0] == 4
    assert plan.epoch_steps(70, "tensor", 2, 16)[0] == 5
    assert plan.epoch_steps(70, "none", 1, 16, accumulation=2, epochs=3) == (3, 9)
    assert plan.epoch_steps(70, "none", 1, 16, accumulation=2, epochs=3, max_steps=4) == (3, 4)
    with pytest.raises(ValueError, match="world_size"):
        plan.rank_samples(10, "ddp", 0, 4)


class _ShareContext(LocalContext):
    """A one-process context that trains on one rank's share, exactly as DistributedContext splits it."""

    def __init__(self, share: DistributedContext):
        super().__init__()
        self.share = share

    def epoch_indices(self, n, epoch, seed):
        return self.share.epoch_indices(n, epoch, seed)


@pytest.mark.parametrize("strategy,world,n,batch,accumulation", [
    ("ddp", 4, 103, 5, 1),      # floor split: 25 per rank -> 5 steps (a ceil split would plan 6)
    ("ddp", 3, 100, 8, 3),      # 33 per rank -> 5 micro-batches -> 2 steps
    ("fsdp", 2, 97, 16, 1),     # 48 per rank -> 3 steps
    ("pipeline", 2, 70, 16, 1),  # partial batch dropped: 64 -> 4 steps
    ("none", 1, 70, 16, 2),     # 5 micro-batches -> 3 steps (last group partial)
])
def test_real_training_loop_takes_the_planned_steps(strategy, world, n, batch, accumulation, monkeypatch):
    spec = spec_for(strategy, world, batch, accumulation)
    spec = dataclasses.replace(spec, training=dataclasses.replace(spec.training, log_every=1))
    ctx = _ShareContext(rank_context(spec, world - 1, world, monkeypatch)) if strategy != "none" else LocalContext()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    reporter = FakeReporter()
    train(spec, make_dataset(n=n, val=8), model, reporter, ctx=ctx)
    planned = plan_summary(spec, problems=()).steps_per_epoch(n)
    start = reporter.of("start")[0]
    assert start["steps_per_epoch"] == planned
    assert [e["step"] for e in reporter.of("epoch")] == [planned, 2 * planned]
