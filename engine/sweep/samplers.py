"""Samplers: how the next trial's values are chosen — Optuna's own samplers, one registry entry
each (the Sweeps page lists them with their options from this schema).

An entry's object is ``factory(dimensions, options, seed) -> optuna sampler``; its ``check``
extra names what makes the sampler unusable for a search space (e.g. CMA-ES and categorical
options, a grid over an unstepped float range)."""
from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

from engine.problems import Problem
from engine.registry import Param, Registry
from engine.sweep.space import Dimension

SAMPLERS: Registry = Registry("sampler")


def _quiet_experimental(make: Callable[[], Any]) -> Any:
    """Build an Optuna object whose options are marked experimental (no warning for the user)."""
    from optuna.exceptions import ExperimentalWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        return make()


def _grid(dimensions: Sequence[Dimension], options: dict[str, Any], seed: int) -> Any:
    from optuna.samplers import GridSampler

    class AskTellGrid(GridSampler):
        """Optuna's grid sampler, minus its `study.stop()` once the grid is used up: that only
        works inside `study.optimize`; the driver asks and tells, and its budget is the grid."""

        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            pass

    return AskTellGrid({d.path: d.grid() for d in dimensions}, seed=seed)


def _check_grid(dimensions: Sequence[Dimension], where: str) -> list[Problem]:
    return [Problem(f"{where}.{d.path}", "the grid sampler needs a finite list of points — give a step "
                                         "(step = 0.01) or the values (values = [...]), or use tpe/random")
            for d in dimensions if not d.enumerable]


def _random(dimensions: Sequence[Dimension], options: dict[str, Any], seed: int) -> Any:
    from optuna.samplers import RandomSampler

    return RandomSampler(seed=seed)


def _tpe(dimensions: Sequence[Dimension], options: dict[str, Any], seed: int) -> Any:
    from optuna.samplers import TPESampler

    return _quiet_experimental(lambda: TPESampler(n_startup_trials=options["n_startup_trials"],
                                                  multivariate=options["multivariate"], seed=seed))


def _cmaes(dimensions: Sequence[Dimension], options: dict[str, Any], seed: int) -> Any:
    from optuna.samplers import CmaEsSampler

    return CmaEsSampler(n_startup_trials=options["n_startup_trials"], sigma0=options["sigma0"] or None, seed=seed)


def _check_cmaes(dimensions: Sequence[Dimension], where: str) -> list[Problem]:
    problems = [Problem(f"{where}.{d.path}", "CMA-ES samples number ranges only — make this a range or use tpe")
                for d in dimensions if d.kind == "categorical"]
    if len(dimensions) - len(problems) < 2:
        problems.append(Problem("sweep.sampler", "CMA-ES needs at least two number ranges to search — use tpe for fewer"))
    try:
        import cmaes  # noqa: F401  (Optuna's CMA-ES sampler needs it)
    except ImportError:
        problems.append(Problem("sweep.sampler", "CMA-ES needs the cmaes package — pip install 'netwright[sweep]'"))
    return problems


SAMPLERS.add("grid", _grid, description="Every combination of the listed points, once each", check=_check_grid)
SAMPLERS.add("random", _random, description="Independent uniform (or log-uniform) draws")
SAMPLERS.add("tpe", _tpe, description="Tree-structured Parzen estimator: random at first, then near the best trials",
             params=(Param("n_startup_trials", "int", 10, "Random trials before the model guides the search", min=0,
                           label="Random trials first"),
                     Param("multivariate", "bool", False, "Model the options jointly (better when they interact)",
                           label="Model options jointly")))
SAMPLERS.add("cmaes", _cmaes, description="CMA-ES evolution strategy over number ranges", check=_check_cmaes,
             params=(Param("n_startup_trials", "int", 1, "Random trials before CMA-ES starts", min=0,
                           label="Random trials first"),
                     Param("sigma0", "float", 0.0, "Initial step size (0 = a sixth of the ranges)", min=0.0,
                           label="Initial step size")))


def check_sampler(name: str, options: dict[str, Any], dimensions: Sequence[Dimension]) -> tuple[dict[str, Any], list[Problem]]:
    """The sampler's options with defaults, and every problem with it for this search space."""
    if name not in SAMPLERS:
        return dict(options), [Problem("sweep.sampler", SAMPLERS.unknown_message(name))]
    resolved, problems = SAMPLERS.check(name, options, "sweep.sampler_options")
    check = SAMPLERS.get(name).extra.get("check")
    return resolved, problems + (check(dimensions, "sweep.params") if check is not None else [])


def build_sampler(name: str, options: dict[str, Any], dimensions: Sequence[Dimension], seed: int) -> Any:
    """The Optuna sampler for a checked sweep spec."""
    return SAMPLERS.get(name).obj(dimensions, options, seed)
