"""The training plan the Train page shows before launch, computed off the GUI thread.

`compute_plan(spec)` loads the data (cached by engine.data) to count training samples, then
asks the engine for the layout summary (engine.parallel.summary.plan_summary: global batch,
memory estimate, stages, bubble, per-node commands, every validation problem), the step plan
(engine.parallel.plan.epoch_steps, the formula the worker uses too) and the learning-rate curve
(engine.schedulers.lr_curve).
"""
from __future__ import annotations

import functools
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
    #: a cluster launcher's script (sbatch) or command (ray job) for the new run; "" for this machine
    launch_script: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


#: what the short-lived probe process prints: one "name<TAB>total bytes" line per CUDA device
_GPU_PROBE = ("import torch\n"
              "for i in range(torch.cuda.device_count()):\n"
              "    p = torch.cuda.get_device_properties(i)\n"
              "    print(f'{p.name}\\t{p.total_memory}')\n")


@functools.lru_cache(maxsize=4)
def _gpu_properties(gpus: int) -> tuple[tuple[str, int], ...]:
    """(name, memory bytes) of the first `gpus` CUDA devices, asked of torch in a short-lived
    subprocess: importing torch here would hold the GUI process's GIL for about a second (and the
    GUI process must stay torch-free). Falls back to the driver's /proc names without memory."""
    import subprocess
    import sys

    try:
        done = subprocess.run([sys.executable, "-c", _GPU_PROBE], capture_output=True, text=True, timeout=60)
        rows = [line.split("\t") for line in done.stdout.splitlines() if "\t" in line]
        if done.returncode == 0 and len(rows) >= gpus:
            return tuple((name, int(mem)) for name, mem in rows[:gpus])
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    from engine.devices import gpu_name

    return tuple((gpu_name(i), 0) for i in range(gpus))


def list_devices(gpus: int) -> tuple[DeviceInfo, ...]:
    """CPU (cores, memory) and every CUDA GPU with its name and memory (without importing torch
    in this process)."""
    import psutil

    from engine.devices import cpu_count

    out = [DeviceInfo("cpu", f"{cpu_count()} CPU core(s)", int(psutil.virtual_memory().total))]
    for i, (name, memory) in enumerate(_gpu_properties(gpus) if gpus else ()):
        out.append(DeviceInfo("cuda", f"cuda:{i} {name}", memory))
    return tuple(out)


def launch_script(spec: Any, problems: tuple[Problem, ...], runs_dir: Any = None) -> str:
    """What a cluster launcher would submit for a new run of `spec` ("" for this machine, or while
    the [launcher] section has a problem)."""
    if not spec.launcher.remote or any(p.path.startswith("launcher") for p in problems):
        return ""
    from engine.launchers import planned_script
    from engine.paths import default_runs_dir

    return planned_script(spec, runs_dir or default_runs_dir())


def compute_plan(spec: Any, runs_dir: Any = None) -> TrainPlan:
    """Everything the plan panel shows for `spec` (slow: run it on a worker thread); `runs_dir`:
    where the run will be created (the launcher's script names its folder)."""
    from engine.data import load_data
    from engine.parallel.summary import plan_summary
    from engine.schedulers import lr_curve
    from engine.parallel.plan import epoch_steps
    from engine.validation import validate

    summary = plan_summary(spec, "SPEC.toml", problems=validate(spec))
    problems = tuple(summary.problems)
    devices = list_devices(summary.devices.gpus)
    try:
        train = load_data(spec.data, spec.seed).train_size
    except SpecError as err:
        known = {(p.path, p.message) for p in problems}
        extra = tuple(p for p in err.problems if (p.path, p.message) not in known)
        return TrainPlan(spec, summary, devices=devices, problems=problems + extra,
                         launch_script=launch_script(spec, problems, runs_dir))
    t = spec.training
    per_epoch, total = epoch_steps(train, summary.strategy, summary.world_size, summary.batch_per_rank,
                                   t.grad_accumulation, t.epochs, t.max_steps)
    lr: tuple[float, ...] = ()
    if total <= LR_PREVIEW_STEPS and not any(p.path.startswith(("optimizer", "scheduler")) for p in problems):
        lr = tuple(lr_curve(spec, per_epoch, total))
    return TrainPlan(spec, summary, train, per_epoch, total, lr, devices, problems, launch_script(spec, problems, runs_dir))
