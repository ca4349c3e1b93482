"""The training plan the Train page shows before launch, computed off the GUI thread.

`compute_plan(spec)` loads the data (cached by engine.data) to count training samples, then
asks the engine for the layout summary (engine.parallel.summary.plan_summary: global batch,
memory estimate, stages, bubble, per-node commands, every validation problem), the step plan
(engine.trainer.plan_steps, exactly what the trainer will do) and the learning-rate curve
(engine.schedulers.lr_curve).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.problems import Problem, SpecError

#: the LR preview is computed for plans up to this many steps
LR_PREVIEW_STEPS = 2_000_000


@dataclass(frozen=True)
class DeviceInfo:
    """A device found on this machine, as a line for the Train page."""

    kind: str  # "cpu" or "cuda"
    name: str
    memory_bytes: int = 0


@dataclass(frozen=True)
class TrainPlan:
    spec: Any
    summary: Any = None  # engine.parallel.summary.PlanSummary
    train_samples: int | None = None
    steps_per_epoch: int | None = None
    total_steps: int | None = None
    lr: tuple[float, ...] = ()
    devices: tuple[DeviceInfo, ...] = ()
    problems: tuple[Problem, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.problems


def list_devices(gpus: int) -> tuple[DeviceInfo, ...]:
    """CPU (cores, memory) and every CUDA GPU with its name and memory."""
    import os

    import psutil

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    out = [DeviceInfo("cpu", f"{cores} CPU core(s)", int(psutil.virtual_memory().total))]
    if gpus:
        import torch

        for i in range(gpus):
            props = torch.cuda.get_device_properties(i)
            out.append(DeviceInfo("cuda", f"cuda:{i} {props.name}", int(props.total_memory)))
    return tuple(out)


def compute_plan(spec: Any) -> TrainPlan:
    """Everything the plan panel shows for `spec` (slow: run it on a worker thread)."""
    from engine.data import load_data
    from engine.parallel.summary import plan_summary
    from engine.schedulers import lr_curve
    from engine.trainer import plan_steps

    summary = plan_summary(spec, "SPEC.toml")
    problems = tuple(summary.problems)
    devices = list_devices(summary.devices.gpus)
    try:
        train = load_data(spec.data, spec.seed).train_size
    except SpecError as err:
        known = {(p.path, p.message) for p in problems}
        extra = tuple(p for p in err.problems if (p.path, p.message) not in known)
        return TrainPlan(spec, summary, devices=devices, problems=problems + extra)
    data_parallel = summary.global_batch != summary.batch_per_rank
    per_rank = -(-train // summary.world_size) if data_parallel else train
    t = spec.training
    per_epoch, total = plan_steps(per_rank, spec.data.batch_size, t.grad_accumulation, t.epochs, t.max_steps)
    lr: tuple[float, ...] = ()
    if total <= LR_PREVIEW_STEPS and not any(p.path.startswith(("optimizer", "scheduler")) for p in problems):
        lr = tuple(lr_curve(spec, per_epoch, total))
    return TrainPlan(spec, summary, train, per_epoch, total, lr, devices, problems)
