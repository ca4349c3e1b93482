"""What a spec's parallel layout means, in one pure value: for `plan`, the Train page and docs.

`plan_summary(spec)` returns the layout (ranks, backend, batch per rank and global), the
per-device memory estimate, the pipeline's stages and predicted bubble, the layers tensor
parallelism splits, the exact command for every node, and the spec's problems.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Sequence

from engine.devices import Devices, local_devices, uses_gpu
from engine.parallel import plan
from engine.parallel.memory import MemoryEstimate, estimate_for_spec
from engine.parallel.strategy import LayoutDetails, StageInfo
from engine.problems import Problem
from engine.spec import STRATEGIES

DEFAULT_RDZV_PORT = 29500
__all__ = ["PlanSummary", "StageInfo", "node_commands", "plan_summary"]


@dataclass(frozen=True)
class PlanSummary:
    strategy: str
    description: str
    processes: int
    nnodes: int
    world_size: int
    backend: str
    device: str
    devices: Devices
    batch_per_rank: int
    global_batch: int
    memory: MemoryEstimate | None
    stages: tuple[StageInfo, ...] = ()
    bubble: float | None = None
    tensor_split: tuple[str, ...] = ()
    node_commands: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = field(default_factory=tuple)

    accumulation: int = 1  # training.grad_accumulation: micro-batches per optimizer step
    #: why there is no memory estimate: "data", "model" or "parallel.strategy" (what to fix first)
    memory_blocked_by: str = ""

    def steps_per_epoch(self, train_samples: int) -> int:
        """Optimizer steps per epoch for `train_samples` training samples: exactly what every rank
        of the worker takes (engine.parallel.plan.epoch_steps, the one formula both use)."""
        return plan.epoch_steps(train_samples, self.strategy, self.world_size, self.batch_per_rank,
                                self.accumulation)[0]

    def global_batch_terms(self) -> str:
        """How the global batch is made, e.g. " (16 per rank x 2 ranks x 4 accumulated)"; "" when it is the batch."""
        ranks = self.global_batch // max(1, self.batch_per_rank * self.accumulation)
        terms = [f"{ranks} ranks"] if ranks > 1 else []
        terms += [f"{self.accumulation} accumulated micro-batches"] if self.accumulation > 1 else []
        return f" ({self.batch_per_rank} x {' x '.join(terms)})" if terms else ""

    def lines(self) -> list[str]:
        """The summary as readable lines (what `plan` prints)."""
        out = [f"strategy: {self.strategy} — {self.description}",
               f"layout: {self.processes} process(es) x {self.nnodes} node(s) = {self.world_size} rank(s); backend {self.backend} on {self.device}"
               f" (this machine: {self.devices.gpus} GPU(s), {self.devices.cpus} CPU core(s))",
               f"batch: {self.batch_per_rank} per rank, global batch {self.global_batch}{self.global_batch_terms()}"]
        if self.memory is not None:
            out.append(f"memory estimate: {self.memory.describe()}")
        elif self.memory_blocked_by:
            out.append(f"memory estimate: — (fix the {self.memory_blocked_by} first)")
        for s in self.stages:
            out.append(f"  stage {s.rank}: layers {s.first}-{s.last} ({', '.join(s.labels)}), {s.params:,} parameters")
        if self.bubble is not None:
            out.append(f"predicted pipeline bubble (idle fraction): {self.bubble:.1%}")
        if self.tensor_split:
            out.append(f"tensor parallel splits: {', '.join(self.tensor_split)}")
        if self.node_commands:
            out.append("commands (run each on its node; node 0 first):" if self.nnodes > 1 else "command:")
            out += [f"  {c}" for c in self.node_commands]
        out.append(f"problems: {len(self.problems)}" if self.problems else "problems: none")
        out += [f"  problem: {p}" for p in self.problems]
        return out


def node_commands(spec, spec_path: str = "SPEC.toml", overrides: Sequence[str] = ()) -> list[str]:
    """The command to run on each node (one entry per node, node 0 first). `overrides` are the
    ``--set key=value`` assignments applied to the file, repeated so every node runs the same spec.
    The commands use the `netwright` console script: a wheel install has no main.py."""
    par = spec.parallel
    base = ["netwright", "worker", spec_path, *(arg for o in overrides for arg in ("--set", o))]
    if par.nnodes == 1:
        return [shlex.join(base + (["--processes", str(par.processes)] if par.processes > 1 else []))]
    endpoint = par.rdzv_endpoint or f"NODE0_HOST:{DEFAULT_RDZV_PORT}"
    return [shlex.join(base + ["--nnodes", str(par.nnodes), "--node-rank", str(rank), "--processes", str(par.processes),
                               "--rdzv-endpoint", endpoint]) for rank in range(par.nnodes)]


def plan_summary(spec, spec_path: str = "SPEC.toml", overrides: Sequence[str] = (), *,
                 problems: Sequence[Problem]) -> PlanSummary:
    """Everything `plan` prints, for `spec` and its `problems` (engine.validation.validate: the
    caller validates once and passes them on)."""
    par = spec.parallel
    known = par.strategy in STRATEGIES
    details = LayoutDetails()
    found = plan.model_rows(spec)
    if found is not None and known:
        details = STRATEGIES.get(par.strategy).obj.layout_details(spec, found[0], problems)
    memory = estimate_for_spec(spec)
    blocked = "" if memory is not None else ("parallel.strategy" if found is not None else plan.blocking_section(spec))
    return PlanSummary(
        strategy=par.strategy, description=STRATEGIES.get(par.strategy).description if known else "", processes=par.processes,
        nnodes=par.nnodes, world_size=plan.world_size(spec), backend=plan.resolve_backend(spec),
        device="cuda" if uses_gpu(spec) else "cpu", devices=local_devices(), batch_per_rank=spec.data.batch_size,
        global_batch=plan.global_batch(spec) if known else spec.data.batch_size * spec.training.grad_accumulation,
        memory=memory, memory_blocked_by=blocked, stages=details.stages, bubble=details.bubble, tensor_split=details.tensor_split,
        accumulation=spec.training.grad_accumulation, node_commands=tuple(node_commands(spec, spec_path, overrides)),
        problems=tuple(problems))
