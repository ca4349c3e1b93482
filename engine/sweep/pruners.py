"""Pruners: when a trial whose curve looks bad is stopped early — Optuna's own pruners, one
registry entry each. They see each epoch's value of the sweep's metric (reported by the trial).

An entry's object is ``factory(options, epochs) -> optuna pruner`` (`epochs`: the base spec's
training.epochs, the most epochs a trial reports)."""
from __future__ import annotations

from typing import Any

from engine.problems import Problem
from engine.registry import Param, Registry

PRUNERS: Registry = Registry("pruner")


def _none(options: dict[str, Any], epochs: int) -> Any:
    from optuna.pruners import NopPruner

    return NopPruner()


def _median(options: dict[str, Any], epochs: int) -> Any:
    from optuna.pruners import MedianPruner

    return MedianPruner(n_startup_trials=options["n_startup_trials"], n_warmup_steps=options["n_warmup_steps"],
                        interval_steps=options["interval_steps"])


def _successive_halving(options: dict[str, Any], epochs: int) -> Any:
    from optuna.pruners import SuccessiveHalvingPruner

    return SuccessiveHalvingPruner(min_resource=options["min_resource"] or "auto",
                                   reduction_factor=options["reduction_factor"],
                                   min_early_stopping_rate=options["min_early_stopping_rate"])


def _hyperband(options: dict[str, Any], epochs: int) -> Any:
    from optuna.pruners import HyperbandPruner

    return HyperbandPruner(min_resource=options["min_resource"], max_resource=options["max_resource"] or epochs,
                           reduction_factor=options["reduction_factor"])


_STARTUP = Param("n_startup_trials", "int", 5, "Trials that run to the end before any is pruned", min=0,
                 label="Unpruned trials first")
_FACTOR = Param("reduction_factor", "int", 3, "Keep the best 1/N of the trials at each rung", min=2, max=100,
                label="Keep 1 in N")

PRUNERS.add("none", _none, description="Every trial runs all its epochs")
PRUNERS.add("median", _median, description="Stop a trial whose epoch value is worse than the median of earlier trials at that epoch",
            params=(_STARTUP,
                    Param("n_warmup_steps", "int", 0, "Epochs a trial runs before it can be pruned", min=0,
                          label="Warm-up epochs"),
                    Param("interval_steps", "int", 1, "Check every N epochs", min=1, label="Check every (epochs)")))
PRUNERS.add("successive_halving", _successive_halving, description="Asynchronous successive halving: only the best "
            "trials at each rung go on",
            params=(Param("min_resource", "int", 0, "Epochs before the first rung (0 = chosen from the first trial)", min=0,
                          label="Epochs before the first rung"),
                    _FACTOR, Param("min_early_stopping_rate", "int", 0, "Skip this many lowest rungs", min=0,
                                   label="Skipped rungs")))
PRUNERS.add("hyperband", _hyperband, description="Hyperband: several successive-halving brackets with different budgets",
            params=(Param("min_resource", "int", 1, "Epochs before the first rung", min=1, label="Epochs before the first rung"),
                    Param("max_resource", "int", 0, "Most epochs a trial runs (0 = training.epochs)", min=0,
                          label="Most epochs per trial"), _FACTOR))


def check_pruner(name: str, options: dict[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """The pruner's options with defaults, and every problem with them."""
    if name not in PRUNERS:
        return dict(options), [Problem("sweep.pruner", PRUNERS.unknown_message(name))]
    return PRUNERS.check(name, options, "sweep.pruner_options")


def build_pruner(name: str, options: dict[str, Any], epochs: int) -> Any:
    """The Optuna pruner for a checked sweep spec."""
    return PRUNERS.get(name).obj(options, epochs)
