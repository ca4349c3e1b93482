"""Optimizers and weight-decay handling, and the spec check for [optimizer].

`OPTIMIZERS` maps the `[optimizer] name` to a torch optimizer class and the options it takes.
Weight decay (`optimizer.weight_decay`) is applied as `regularization.weight_decay_mode` says:

- ``decoupled`` (AdamW-style, for any optimizer): before each step ``p -= lr * wd * p``;
- ``l2`` (the classic coupled form): ``wd * p`` is added to the gradient.

Importing this module does not import torch; builders import it lazily.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.problems import Problem
from engine.registry import Param, Registry

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from engine.spec import ExperimentSpec

#: name -> torch.optim class name; `extra["state_slots"](options)`: float tensors of optimizer state
#: per parameter (for the memory estimate: Adam 2, SGD with momentum 1, ...).
OPTIMIZERS: Registry[str] = Registry("optimizer")

_LR = lambda default: Param("lr", "float", default, "Learning rate (> 0)", min=0.0, max=10.0, exclusive_min=True)  # noqa: E731
_WD = lambda default=0.0: Param(  # noqa: E731
    "weight_decay", "float", default, "Weight decay (applied as regularization.weight_decay_mode says)",
    min=0.0, max=1.0)
_EPS = lambda default: Param("eps", "float", default, "Term added to the denominator for stability", min=0.0, max=1.0)  # noqa: E731
_BETA1 = Param("beta1", "float", 0.9, "Decay rate of the first-moment (mean) estimate", min=0.0, max=0.999999)
_BETA2 = Param("beta2", "float", 0.999, "Decay rate of the second-moment estimate", min=0.0, max=0.99999999)
_adam_slots = lambda o: 2 + (1 if o.get("amsgrad") else 0)  # noqa: E731  (exp_avg, exp_avg_sq[, max_exp_avg_sq])
_MOMENTUM = Param("momentum", "float", 0.0, "Momentum factor (0 = off)", min=0.0, max=0.999999)

OPTIMIZERS.add("sgd", "SGD", params=(
    _LR(0.01), _MOMENTUM,
    Param("nesterov", "bool", False, "Nesterov momentum (needs momentum > 0)"),
    _WD(),
), description="Stochastic gradient descent, optionally with (Nesterov) momentum", group="Classic",
   state_slots=lambda o: 1 if o.get("momentum") else 0)
OPTIMIZERS.add("adam", "Adam", params=(_LR(0.001), _BETA1, _BETA2, _EPS(1e-8), _WD()),
               description="Adam: adaptive moments (Kingma & Ba)", group="Adaptive", state_slots=_adam_slots)
OPTIMIZERS.add("adamw", "Adam", params=(_LR(0.001), _BETA1, _BETA2, _EPS(1e-8), _WD(0.01)),
               description="AdamW: Adam with decoupled weight decay (default weight_decay 0.01)",
               group="Adaptive", state_slots=_adam_slots)
OPTIMIZERS.add("rmsprop", "RMSprop", params=(
    _LR(0.01), Param("alpha", "float", 0.99, "Smoothing constant of the squared-gradient average", min=0.0, max=0.999999),
    _EPS(1e-8), _MOMENTUM, _WD(),
), description="RMSprop: divides by a running RMS of the gradient", group="Adaptive",
   state_slots=lambda o: 1 + (1 if o.get("momentum") else 0) + (1 if o.get("centered") else 0))
OPTIMIZERS.add("adagrad", "Adagrad", params=(_LR(0.01), _EPS(1e-10), _WD()),
               description="Adagrad: per-parameter rates from the sum of squared gradients", group="Adaptive",
               state_slots=lambda o: 1)


def optimizer_options(spec: "ExperimentSpec") -> dict[str, Any]:
    """The optimizer's options with defaults filled in (assumes the spec validated)."""
    resolved, _ = OPTIMIZERS.check(spec.optimizer.name, spec.optimizer.options, "optimizer")
    return resolved


def _torch_kwargs(name: str, opts: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"lr": opts["lr"]}
    if "beta1" in opts:
        kwargs["betas"] = (opts["beta1"], opts["beta2"])
    for key in ("momentum", "nesterov", "eps", "alpha"):
        if key in opts:
            kwargs[key] = opts[key]
    return kwargs


def build_optimizer(spec: "ExperimentSpec", model_or_params: Any) -> "torch.optim.Optimizer":
    """A torch optimizer for the spec over the model's parameters (or an iterable of them).

    Weight decay follows `regularization.weight_decay_mode`; the decoupled form is a step
    pre-hook, so it works for every optimizer and uses each group's current learning rate."""
    import torch  # torch only when training (validation and the GUI stay torch-free)

    entry = OPTIMIZERS.get(spec.optimizer.name)
    opts = optimizer_options(spec)
    kwargs = _torch_kwargs(entry.name, opts)
    if isinstance(model_or_params, torch.nn.Module):
        params = param_groups(model_or_params, kwargs["lr"])
    else:
        params = model_or_params
    wd = float(opts.get("weight_decay", 0.0))
    decoupled = spec.regularization.weight_decay_mode == "decoupled"
    if wd and not decoupled:
        kwargs["weight_decay"] = wd
    optimizer = getattr(torch.optim, entry.obj)(params, **kwargs)
    if wd and decoupled:
        for group in optimizer.param_groups:
            group["decoupled_weight_decay"] = wd
        optimizer.register_step_pre_hook(_decoupled_decay)
    return optimizer


def param_groups(model: "torch.nn.Module", lr: float) -> Any:
    """The model's parameters, in groups when a block asks for its own learning rate: a module with
    `lr_multiplier` and `backbone_parameters()` (a Pretrained block) puts those parameters in a
    group at ``lr * lr_multiplier``; every other parameter (the new head) trains at `lr`. Frozen
    parameters are included (they get no gradient, so no update) so that unfreezing them later needs
    no new optimizer."""
    scale: dict[int, float] = {}
    for module in model.modules():
        mult = getattr(module, "lr_multiplier", None)
        if mult is not None and hasattr(module, "backbone_parameters"):
            for p in module.backbone_parameters():
                scale[id(p)] = float(mult)
    if all(m == 1.0 for m in scale.values()):
        return model.parameters()
    groups: dict[float, list] = {}
    for p in model.parameters():
        groups.setdefault(scale.get(id(p), 1.0), []).append(p)
    return [{"params": ps, "lr": lr * mult, "lr_multiplier": mult} for mult, ps in groups.items()]


def _decoupled_decay(optimizer: "torch.optim.Optimizer", args: Any, kwargs: Any) -> None:
    import torch  # torch only when training (validation and the GUI stay torch-free)

    with torch.no_grad():
        for group in optimizer.param_groups:
            wd = group.get("decoupled_weight_decay", 0.0)
            params = [p for p in group["params"] if p.grad is not None]
            if wd and params:
                kinds: dict[type, list] = {}  # DTensor (sharded) and plain parameters cannot share one foreach call
                for p in params:
                    kinds.setdefault(type(p.data), []).append(p)
                for same in kinds.values():
                    torch._foreach_mul_(same, 1.0 - group["lr"] * wd)


# ----------------------------------------------------------------------------- checks

def check_optim(spec: "ExperimentSpec") -> list[Problem]:
    """Problems in [optimizer]: the name, its options and their combination."""
    problems: list[Problem] = []
    opts, found = OPTIMIZERS.check(spec.optimizer.name, spec.optimizer.options, "optimizer.name")
    problems += [_betas_hint(rename_option_path(p, "optimizer"), opts) for p in found]
    if not found and opts.get("nesterov") and not opts.get("momentum"):
        problems.append(Problem("optimizer.nesterov", "Nesterov momentum needs momentum > 0 — set optimizer.momentum (e.g. 0.9) or turn nesterov off"))
    return problems


def rename_option_path(problem: Problem, section: str) -> Problem:
    """Registry.check names options `<path>.<key>`; report them as `<section>.<key>`."""
    path = problem.path
    if path.startswith(f"{section}.name."):
        path = f"{section}." + path[len(f"{section}.name."):]
    return Problem(path, problem.message)


def _betas_hint(problem: Problem, opts: dict[str, Any]) -> Problem:
    """`betas = [0.9, 0.999]` (torch's name) is the one unknown key worth a precise answer."""
    if problem.path == "optimizer.betas":
        known = [key for key in ("beta1", "beta2") if key in opts]
        if known:
            return Problem(problem.path, "this spec sets the betas one by one: use beta1 and beta2 "
                           "(e.g. beta1 = 0.9, beta2 = 0.999) instead of betas = [..]")
        return Problem(problem.path, problem.message + " — this optimizer has no betas")
    return problem
