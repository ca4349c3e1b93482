"""Pipeline parallel with `torch.distributed.pipelining`: one contiguous stage of top-level
layers per rank, GPipe or 1F1B schedules over micro-batches.

The stage keeps the full model's layer names, so its state dict keys are the full model's
keys (stages merge back into one checkpoint). Validation batches of any size go through
:meth:`PipelineRunner.forward`, a plain forward chain (send/recv between neighbours).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.pipelining import PipelineStage, Schedule1F1B, ScheduleGPipe

SCHEDULES = {"gpipe": ScheduleGPipe, "1f1b": Schedule1F1B}
_DTYPES = [torch.float32, torch.bfloat16, torch.float16, torch.float64, torch.int64, torch.int32]


def stage_module(model: nn.Sequential, starts: Sequence[int], stage: int) -> nn.Sequential:
    """Layers `starts[stage]` up to the next start, keeping their names."""
    children = list(model.named_children())
    end = starts[stage + 1] if stage + 1 < len(starts) else len(children)
    return nn.Sequential(OrderedDict(children[starts[stage]:end]))


class PipelineRunner:
    """This rank's stage plus the schedule. `step` trains one batch; `forward` evaluates."""

    def __init__(self, module: nn.Sequential, *, stage: int, stages: int, device: torch.device, microbatches: int,
                 schedule: str, group=None):
        self.module = module
        self.stage, self.stages = stage, stages
        self.device = device
        self.microbatches = microbatches
        self.schedule_name = schedule
        self.group = group
        self._schedule = None
        self._loss_fn: Callable | None = None
        self.busy_seconds = 0.0  # time spent inside schedule steps (for the idle measurement)

    @property
    def is_first(self) -> bool:
        return self.stage == 0

    @property
    def is_last(self) -> bool:
        return self.stage == self.stages - 1

    def _get_schedule(self, loss_fn: Callable):
        if self._schedule is None or loss_fn is not self._loss_fn:
            pipe_stage = PipelineStage(self.module, self.stage, self.stages, self.device, group=self.group)
            self._schedule = SCHEDULES[self.schedule_name](pipe_stage, n_microbatches=self.microbatches, loss_fn=loss_fn,
                                                           scale_grads=True)
            self._loss_fn = loss_fn
        return self._schedule

    def step(self, x: torch.Tensor, y: torch.Tensor, loss_fn: Callable) -> torch.Tensor | None:
        """Forward and backward of one batch in micro-batches; the mean loss on the last stage."""
        schedule = self._get_schedule(loss_fn)
        losses: list[torch.Tensor] = []
        args = (x,) if self.is_first else ()
        kwargs = {"target": y, "losses": losses} if self.is_last else {}
        schedule.step(*args, **kwargs)
        return torch.stack([l.detach() for l in losses]).mean() if self.is_last else None

    def forward(self, x: torch.Tensor) -> torch.Tensor | None:
        """A plain forward chain for any batch size: the output on the last stage, else None."""
        rank = dist.get_rank()
        if not self.is_first:
            x = self._recv(rank - 1)
        out = self.module(x)
        if not self.is_last:
            self._send(out, rank + 1)
            return None
        return out

    def _send(self, t: torch.Tensor, dst: int) -> None:
        header = torch.zeros(8, dtype=torch.int64, device=self.device)
        header[0], header[1] = t.dim(), _DTYPES.index(t.dtype)
        header[2:2 + t.dim()] = torch.tensor(t.shape)
        dist.send(header, dst, group=self.group)
        dist.send(t.contiguous(), dst, group=self.group)

    def _recv(self, src: int) -> torch.Tensor:
        header = torch.zeros(8, dtype=torch.int64, device=self.device)
        dist.recv(header, src, group=self.group)
        ndim, code = int(header[0]), int(header[1])
        t = torch.empty(tuple(int(v) for v in header[2:2 + ndim]), dtype=_DTYPES[code], device=self.device)
        dist.recv(t, src, group=self.group)
        return t


def apply_pipeline(model: nn.Sequential, *, stage: int, starts: Sequence[int], device: torch.device, microbatches: int,
                   schedule: str = "gpipe", group=None) -> PipelineRunner:
    """Keep only this rank's stage of `model` (moved to `device`) and set up its schedule."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown pipeline schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")
    module = stage_module(model, starts, stage).to(device)
    return PipelineRunner(module, stage=stage, stages=len(starts), device=device, microbatches=microbatches,
                          schedule=schedule, group=group)
