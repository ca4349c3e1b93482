"""The step arithmetic of one run, pure: optimizer steps per epoch and samples per optimizer step.

The trainer (one rank's loop) and the plan (engine.parallel.plan.epoch_steps, the Train page)
both call these, so the plan shows exactly what the run does.
"""
from __future__ import annotations


def plan_steps(n_samples: int, batch_size: int, accumulation: int, epochs: int, max_steps: int = 0) -> tuple[int, int]:
    """(optimizer steps per epoch, total planned steps) for one rank's share of the data: the last
    partial batch and the last partial accumulation group each still make a step."""
    micro = micro_batch_count(n_samples, batch_size)
    per_epoch = max(1, -(-micro // accumulation))
    total = per_epoch * epochs
    return per_epoch, (min(total, max_steps) if max_steps else total)


def micro_batch_count(n_samples: int, batch_size: int) -> int:
    """Micro-batches in one epoch of `n_samples`: the last one takes the rest, and a rest of a
    single sample joins the batch before it (batch norm cannot train on a batch of one)."""
    full, rest = divmod(n_samples, batch_size)
    return full + (rest > 1 or (rest == 1 and full == 0))


def micro_batch(order, m: int, n_micro: int, batch_size: int):
    """The indices of micro-batch `m` of `n_micro` in the epoch's `order` (the last takes the rest)."""
    return order[m * batch_size:(m + 1) * batch_size] if m < n_micro - 1 else order[m * batch_size:]


def global_batch_size(batch_size: int, accumulation: int, data_parallel_size: int) -> int:
    """Samples per optimizer step over all ranks: per-rank batch x accumulated micro-batches x
    the ranks that split each batch."""
    return batch_size * accumulation * data_parallel_size
