"""Loss functions. `training.loss = "auto"` picks one from the data's task.

Each entry's object builds ``fn(output, target) -> scalar tensor`` for a given label smoothing;
`extra["tasks"]` lists the tasks the loss fits. Language-model outputs (B, T, V) and targets
(B, T) are flattened to (B*T, V) and (B*T,) before the loss.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from engine.data import describe_data
from engine.problems import Problem, SpecError, did_you_mean
from engine.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from engine.spec import ExperimentSpec

LossFn = Callable[[Any, Any], Any]
LOSSES: Registry[Callable[[float], LossFn]] = Registry("loss")
#: the loss "auto" stands for, per task
AUTO = {"classification": "cross_entropy", "language_modeling": "cross_entropy", "regression": "mse"}
_CLASSES = ("classification", "language_modeling")


@LOSSES.register("cross_entropy", description="Cross-entropy over class logits (supports label smoothing)",
                 group="Classification", tasks=_CLASSES)
def _cross_entropy(label_smoothing: float) -> LossFn:
    import torch.nn.functional as F  # torch only when training (validation stays torch-free)

    def loss(out, y):
        if out.dim() > 2:  # language modelling: (B, T, V) against (B, T)
            out, y = out.reshape(-1, out.shape[-1]), y.reshape(-1)
        return F.cross_entropy(out, y, label_smoothing=label_smoothing)

    return loss


def _register_regression(name: str, function: str, description: str) -> None:
    def build(label_smoothing: float) -> LossFn:
        import torch.nn.functional as F  # torch only when training (validation stays torch-free)

        return getattr(F, function)

    LOSSES.add(name, build, description=description, group="Regression", tasks=("regression",))


_register_regression("mse", "mse_loss", "Mean squared error")
_register_regression("l1", "l1_loss", "Mean absolute error (robust to outliers)")
_register_regression("huber", "huber_loss", "Huber: squared near zero, absolute beyond 1")
_register_regression("smooth_l1", "smooth_l1_loss", "Smooth L1 (Huber divided by its delta)")


def loss_name(spec: "ExperimentSpec", task: str) -> str:
    """The loss that will run: `training.loss`, or the task's default for "auto"."""
    return AUTO[task] if spec.training.loss == "auto" else spec.training.loss


def build_loss(spec: "ExperimentSpec", task: str) -> LossFn:
    """``fn(output, target)`` for the spec and task (label smoothing applied where it fits)."""
    name = loss_name(spec, task)
    if name not in LOSSES:
        raise SpecError([Problem("training.loss", LOSSES.unknown_message(name))])
    smoothing = spec.regularization.label_smoothing if name == "cross_entropy" else 0.0
    return LOSSES.get(name).obj(smoothing)


def check_loss(spec: "ExperimentSpec") -> list[Problem]:
    """`training.loss` is known and fits the data's task; label smoothing only with cross-entropy."""
    name = spec.training.loss
    if name != "auto" and name not in LOSSES:
        return [Problem("training.loss", f"unknown loss {name!r}{did_you_mean(name, LOSSES.names())} "
                        f"(known: auto, {', '.join(LOSSES.names())})")]
    task = _task(spec)
    if task is None:
        return []
    resolved = loss_name(spec, task)
    problems = []
    tasks = LOSSES.get(resolved).extra["tasks"]
    if task not in tasks:
        fits = [e.name for e in LOSSES if task in e.extra["tasks"]]
        problems.append(Problem("training.loss", f"{resolved} does not fit a {task.replace('_', ' ')} task — "
                                f"use auto or one of: {', '.join(fits)}"))
    if spec.regularization.label_smoothing > 0 and resolved != "cross_entropy":
        problems.append(Problem("regularization.label_smoothing",
                                f"applies to cross-entropy only, but the loss is {resolved} — set it to 0"))
    return problems


def _task(spec: "ExperimentSpec") -> str | None:
    try:
        return describe_data(spec.data).task
    except Exception:  # data problems are reported by check_data
        return None
