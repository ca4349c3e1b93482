"""Learning-rate schedules.

Every per-step schedule is a pure function ``factor(t, plan) -> float`` giving the learning
rate of optimizer step ``t`` (0-based) as a multiple of the optimizer's `lr`. The same function
drives training (through `torch.optim.lr_scheduler.LambdaLR`) and the Train page's preview
(:func:`lr_curve`), so the preview is exactly what will run. `plateau` reacts to a validation
metric at the end of each epoch, so it cannot be known in advance; its preview is flat.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional

from engine.metrics import METRICS, VAL_LOSS, WATCHABLE
from engine.optim import optimizer_options, rename_option_path
from engine.problems import Problem
from engine.registry import Param, Registry

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from engine.spec import ExperimentSpec


@dataclass(frozen=True)
class SchedulePlan:
    """What a schedule needs to know: the base learning rate, the run's length and its options."""

    base_lr: float
    steps_per_epoch: int
    total_steps: int
    options: Mapping[str, Any]


Factor = Callable[[int, SchedulePlan], float]

#: name -> factor function (None for `plateau`, which is stepped per epoch with a metric)
SCHEDULERS: Registry[Optional[Factor]] = Registry("scheduler")
_MIN_LR = Param("min_lr", "float", 0.0, "Learning rate at the end of the schedule", min=0.0)


def _cos(a: float, b: float, x: float) -> float:
    """Cosine interpolation from `a` (x=0) to `b` (x=1)."""
    x = min(max(x, 0.0), 1.0)
    return b + (a - b) * (1.0 + math.cos(math.pi * x)) / 2.0


def _min_ratio(plan: SchedulePlan) -> float:
    return plan.options.get("min_lr", 0.0) / plan.base_lr if plan.base_lr else 0.0


@SCHEDULERS.register("constant", description="The optimizer's learning rate throughout", group="Fixed")
def _constant(t: int, plan: SchedulePlan) -> float:
    return 1.0


@SCHEDULERS.register("step", params=(
    Param("step_epochs", "int", 10, "Multiply the rate by gamma every this many epochs", min=1),
    Param("gamma", "float", 0.1, "Factor applied at each step", min=0.0, max=1.0),
), description="Multiply the learning rate by gamma every step_epochs epochs", group="Decay")
def _step(t: int, plan: SchedulePlan) -> float:
    period = plan.options["step_epochs"] * max(plan.steps_per_epoch, 1)
    return plan.options["gamma"] ** (t // period)


@SCHEDULERS.register("cosine", params=(_MIN_LR,),
                     description="Cosine decay from lr to min_lr over the planned steps", group="Decay")
def _cosine(t: int, plan: SchedulePlan) -> float:
    return _cos(1.0, _min_ratio(plan), t / max(plan.total_steps, 1))


def warmup_steps(plan: SchedulePlan) -> int:
    """Warm-up length: `warmup_steps` if set, else `warmup_fraction` of the planned steps."""
    if plan.options.get("warmup_steps", 0):
        return int(plan.options["warmup_steps"])
    fraction = plan.options.get("warmup_fraction", 0.0)
    return max(1, round(fraction * plan.total_steps)) if fraction > 0 else 0


@SCHEDULERS.register("warmup_cosine", params=(
    Param("warmup_fraction", "float", 0.05, "Fraction of the planned steps spent warming up linearly", min=0.0, max=1.0),
    Param("warmup_steps", "int", 0, "Warm-up length in steps (0 = use warmup_fraction)", min=0),
    _MIN_LR,
), description="Linear warm-up from 0, then cosine decay to min_lr", group="Decay")
def _warmup_cosine(t: int, plan: SchedulePlan) -> float:
    warm = warmup_steps(plan)
    if t < warm:
        return (t + 1) / warm
    return _cos(1.0, _min_ratio(plan), (t - warm) / max(plan.total_steps - warm, 1))


@SCHEDULERS.register("one_cycle", params=(
    Param("max_lr", "float", 0.0, "Peak learning rate (0 = the optimizer's lr)", min=0.0, max=10.0),
    Param("pct_start", "float", 0.3, "Fraction of the steps spent increasing the rate", min=0.0, max=1.0),
    Param("div_factor", "float", 25.0, "Initial rate = max_lr / div_factor", min=1.0),
    Param("final_div_factor", "float", 1e4, "Final rate = initial rate / final_div_factor", min=1.0),
), description="One-cycle policy (Smith): cosine rise to max_lr, then cosine fall far below it", group="Cyclic")
def _one_cycle(t: int, plan: SchedulePlan) -> float:
    o = plan.options
    peak = o["max_lr"] or plan.base_lr
    start = peak / o["div_factor"]
    end = start / o["final_div_factor"]
    up = o["pct_start"] * plan.total_steps - 1
    if t <= up:
        lr = _cos(start, peak, t / up) if up > 0 else peak
    else:
        lr = _cos(peak, end, (t - up) / max(plan.total_steps - 1 - up, 1e-12))
    return lr / plan.base_lr if plan.base_lr else 0.0


SCHEDULERS.add("plateau", None, params=(
    Param("factor", "float", 0.1, "Multiply the rate by this when the metric stops improving", min=0.0, max=1.0),
    Param("patience", "int", 5, "Epochs without improvement before reducing", min=0),
    Param("metric", "choice", VAL_LOSS, "Validation metric watched", choices=WATCHABLE),
    _MIN_LR,
), description="Reduce the rate when a validation metric stops improving (checked each epoch)", group="Adaptive")


def check_scheduler(spec: "ExperimentSpec") -> list[Problem]:
    """Problems in [scheduler]: the name and its options."""
    _, found = SCHEDULERS.check(spec.scheduler.name, spec.scheduler.options, "scheduler.name")
    return [rename_option_path(p, "scheduler") for p in found]


# ----------------------------------------------------------------------------- building

def schedule_plan(spec: "ExperimentSpec", steps_per_epoch: int, total_steps: int) -> SchedulePlan:
    """The plan for this spec (options with defaults filled in)."""
    options, _ = SCHEDULERS.check(spec.scheduler.name, spec.scheduler.options, "scheduler")
    return SchedulePlan(float(optimizer_options(spec)["lr"]), int(steps_per_epoch), int(total_steps), options)


def lr_curve(spec: "ExperimentSpec", steps_per_epoch: int, total_steps: int) -> list[float]:
    """The learning rate of every planned optimizer step (pure; no torch). Plateau is drawn flat."""
    plan = schedule_plan(spec, steps_per_epoch, total_steps)
    factor = SCHEDULERS.get(spec.scheduler.name).obj or _constant
    return [plan.base_lr * factor(t, plan) for t in range(plan.total_steps)]


@dataclass
class Scheduler:
    """A built schedule: `step()` after every optimizer step; `epoch_end(metrics)` after validation."""

    torch_scheduler: Any
    per_step: bool
    metric: str = ""

    def step(self) -> None:
        if self.per_step:
            self.torch_scheduler.step()

    def epoch_end(self, metrics: Mapping[str, float]) -> None:
        if not self.per_step and self.metric in metrics:
            self.torch_scheduler.step(metrics[self.metric])

    def state_dict(self) -> dict[str, Any]:
        return self.torch_scheduler.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.torch_scheduler.load_state_dict(dict(state))


def build_scheduler(spec: "ExperimentSpec", optimizer: "torch.optim.Optimizer", steps_per_epoch: int,
                    total_steps: int) -> Scheduler | None:
    """The schedule for the spec, or None for `constant` (nothing to do per step)."""
    import torch  # torch only when training (the LR preview stays torch-free)

    name = spec.scheduler.name
    if name == "constant":
        return None
    plan = schedule_plan(spec, steps_per_epoch, total_steps)
    factor = SCHEDULERS.get(name).obj
    if factor is None:  # plateau
        o = plan.options
        mode = "max" if METRICS[o["metric"]].higher_is_better else "min"
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode, factor=o["factor"], patience=o["patience"], min_lr=o["min_lr"])
        return Scheduler(sched, per_step=False, metric=o["metric"])
    # a plain closure: LambdaLR's state_dict stores None for functions (callable objects would
    # have their __dict__ saved, which `torch.load(weights_only=True)` cannot read back)
    def lam(t: int) -> float:
        return factor(t, plan)

    return Scheduler(torch.optim.lr_scheduler.LambdaLR(optimizer, lam), per_step=True)
