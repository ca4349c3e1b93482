"""The sweep spec: a base experiment spec plus a ``[sweep]`` section (in the spec file itself, or
in a separate sweep file whose top-level ``base`` names the spec file).

    [sweep]
    sampler = "tpe"              # grid | random | tpe | cmaes (SAMPLERS)
    trials = 12                  # budget: trials (0 = the whole grid / 20) and/or minutes
    minutes = 0
    concurrency = 2              # trials at once, each its own worker process
    pruner = "median"            # none | median | successive_halving | hyperband (PRUNERS)
    metric = "val_accuracy"      # default: the run's quality metric; direction follows it
    pruner_options = {n_startup_trials = 3}

    [sweep.params]
    "optimizer.lr" = {low = 1e-4, high = 0.3, log = true}
    "model.layers[1].out_features" = {low = 16, high = 128, step = 16}
    "optimizer.name" = {values = ["adam", "sgd"]}

:func:`validate_sweep` names every problem (paths that name no option, ranges outside an option's
limits, a grid bigger than the budget, a sampler that does not fit the space, the base spec's own
problems); :func:`trial_spec` applies one trial's values to the base spec.
"""
from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from engine import tomlio
from engine.metrics import METRICS as METRIC_INFO, QUALITY, TRAIN_LOSS, VAL_ACCURACY, VAL_ERROR, VAL_LOSS
from engine.problems import Problem, SpecError, did_you_mean
from engine.registry import Param, check_options
from engine.spec import ExperimentSpec, apply_overrides, param_at
from engine.sweep.pruners import check_pruner
from engine.sweep.samplers import check_sampler
from engine.sweep.space import Dimension, grid_size, sweepable

#: what a sweep can optimise: the validation metrics a run reports, and its training loss
METRICS = (VAL_ACCURACY, VAL_ERROR, VAL_LOSS, TRAIN_LOSS)
DIRECTIONS = ("maximize", "minimize")
#: the trial budget when neither trials nor minutes are given (and the sampler is not a grid)
DEFAULT_TRIALS = 20

#: the fixed keys of [sweep], with their schema (the Sweeps page builds its form from it)
SWEEP_PARAMS = (
    Param("sampler", "str", "tpe", "How the next trial's values are chosen (see SAMPLERS)"),
    Param("trials", "int", 0, "Trials to run (0 = the whole grid for grid, else 20 unless minutes is set)", min=0, max=100_000),
    Param("minutes", "float", 0.0, "Start no new trial after this many minutes (0 = no limit)", min=0.0),
    Param("concurrency", "int", 1, "Trials running at once, each its own worker process", min=1, max=256),
    Param("pruner", "str", "none", "When a bad trial is stopped early (see PRUNERS)"),
    Param("metric", "choice", "", "The metric to optimise (empty = the run's quality metric)", choices=("", *METRICS)),
    Param("direction", "choice", "", "maximize or minimize (empty = from the metric)", choices=("", *DIRECTIONS)),
    Param("seed", "int", -1, "The sampler's seed (-1 = the spec's seed)", min=-1),
)
TABLES = ("params", "sampler_options", "pruner_options")


@dataclass(frozen=True)
class SweepSpec:
    """A base spec and how to search over it (see the module docstring for the TOML form)."""

    base: ExperimentSpec
    dimensions: tuple[Dimension, ...] = ()
    sampler: str = "tpe"
    sampler_options: Mapping[str, Any] = field(default_factory=dict)
    pruner: str = "none"
    pruner_options: Mapping[str, Any] = field(default_factory=dict)
    trials: int = 0
    minutes: float = 0.0
    concurrency: int = 1
    metric: str = ""
    direction: str = ""
    seed: int = -1
    #: what could not be read from the [sweep] table (validate_sweep reports them with the rest)
    problems: tuple[Problem, ...] = field(default=(), compare=False)

    @property
    def sampler_seed(self) -> int:
        return self.base.seed if self.seed < 0 else self.seed

    def resolved_metric(self) -> str:
        """The metric to optimise: the given one, or the run's quality metric for its data."""
        if self.metric:
            return self.metric
        from engine.data import describe_data

        try:
            return QUALITY.get(describe_data(self.base.data).task, VAL_LOSS)
        except SpecError:
            return VAL_LOSS

    def resolved_direction(self) -> str:
        """maximize for accuracy, minimize for losses and errors (unless given)."""
        return self.direction or ("maximize" if METRIC_INFO[self.resolved_metric()].higher_is_better else "minimize")

    def budget(self) -> int:
        """Trials to run: `trials`, the grid's size for a grid (at most), or the default."""
        if self.sampler == "grid":
            size = grid_size(self.dimensions)
            return min(self.trials, size) if self.trials else size
        if self.trials:
            return self.trials
        return 0 if self.minutes else DEFAULT_TRIALS

    def with_options(self, **changes: Any) -> "SweepSpec":
        """A copy with some [sweep] keys changed (e.g. trials and concurrency from the command line)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    # -- TOML ---------------------------------------------------------------------------
    def to_toml(self) -> str:
        """The base spec followed by its [sweep] section (what the sweep directory keeps)."""
        lines = ["", "[sweep]"]
        for param in SWEEP_PARAMS:
            lines.append(f"{param.name} = {tomlio.format_value(getattr(self, param.name))}")
        for name in ("sampler_options", "pruner_options"):
            if getattr(self, name):
                lines.append(f"{name} = {tomlio.format_value(dict(getattr(self, name)))}")
        lines += ["", "[sweep.params]"]
        lines += [f"{tomlio.format_key(d.path)} = {tomlio.format_value(d.to_dict())}" for d in self.dimensions]
        return self.base.to_toml() + "\n".join(lines) + "\n"


def load_sweep(path: str | Path) -> SweepSpec:
    """Read a sweep spec: a spec file with a [sweep] section, or a sweep file naming its `base`.
    Raises SpecError naming the file or the key for anything that cannot be read."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError([Problem(str(path), "file not found — check the path")]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError([Problem(str(path), f"cannot be read: {err}")]) from None
    except tomllib.TOMLDecodeError as err:
        raise SpecError([Problem(str(path), f"is not valid TOML: {err} — fix the syntax at that line")]) from None
    return sweep_from_dict(doc, folder=path.parent, source=str(path))


def sweep_from_dict(doc: Mapping[str, Any], *, folder: Path | None = None, source: str = "<sweep>") -> SweepSpec:
    """A SweepSpec from a TOML-shaped document (see :func:`load_sweep`)."""
    doc = dict(doc)
    table = doc.pop("sweep", None)
    if table is None:
        raise SpecError([Problem(source, "has no [sweep] section — add one naming the options to search "
                                         "(see `netwright sweep --help`)")])
    if not isinstance(table, Mapping):
        raise SpecError([Problem("sweep", f"expects a [sweep] table, got {table!r}")])
    if "base" in doc:
        base = _load_base(doc.pop("base"), folder or Path.cwd())
        if doc:
            raise SpecError([Problem(k, "unknown key in a sweep file (it holds `base` and [sweep] only)") for k in doc])
    else:
        base = ExperimentSpec.from_dict(doc)
    return parse_sweep(table, base)


def _load_base(name: Any, folder: Path) -> ExperimentSpec:
    from engine.paths import spec_argument
    from engine.spec import load_spec

    if not isinstance(name, str):
        raise SpecError([Problem("base", f"expects the path of a spec file, got {name!r}")])
    path = folder / name if (folder / name).exists() else spec_argument(name)
    if not path.exists():
        raise SpecError([Problem("base", f"{name!r}: file not found (looked in {folder}) and no example of that name")])
    return load_spec(path)


def parse_sweep(table: Mapping[str, Any], base: ExperimentSpec) -> SweepSpec:
    """A SweepSpec from its [sweep] table. What cannot be read (a malformed range, an unknown
    key) is kept in its `problems`, which :func:`validate_sweep` reports with the rest."""
    problems: list[Problem] = []
    fixed = {k: v for k, v in table.items() if k not in TABLES}
    values, found = check_options(SWEEP_PARAMS, fixed, "sweep")
    problems += found
    tables: dict[str, dict[str, Any]] = {}
    for name in TABLES:
        raw = table.get(name, {})
        if not isinstance(raw, Mapping):
            problems.append(Problem(f"sweep.{name}", f"expects a table, got {raw!r}"))
            raw = {}
        tables[name] = dict(raw)
    dimensions = []
    for path, raw in tables["params"].items():
        dim, found = Dimension.parse(path, raw, param_at(base, path), f"sweep.params.{path}")
        problems += found
        if dim is not None:
            dimensions.append(dim)
    return SweepSpec(base=base, dimensions=tuple(dimensions), sampler_options=tables["sampler_options"],
                     pruner_options=tables["pruner_options"], problems=tuple(problems), **values)


def validate_sweep(sweep: SweepSpec) -> list[Problem]:
    """Every problem of the sweep at once: the base spec's, each parameter's path and range, the
    metric, the sampler and pruner and their options, and the budget."""
    from engine.validation import validate

    problems = [*validate(sweep.base), *sweep.problems]
    if not sweep.dimensions and not sweep.problems:
        problems.append(Problem("sweep.params", "names no option to search — add one, e.g. "
                                                "\"optimizer.lr\" = {low = 1e-4, high = 0.1, log = true}"))
    offer = [path for path, _ in sweepable(sweep.base)]
    for dim in sweep.dimensions:
        problems += _check_dimension(sweep.base, dim, offer)
    problems += _check_metric(sweep)
    problems += check_sampler(sweep.sampler, dict(sweep.sampler_options), sweep.dimensions)[1]
    problems += check_pruner(sweep.pruner, dict(sweep.pruner_options))[1]
    if sweep.sampler == "grid" and sweep.dimensions and all(d.enumerable for d in sweep.dimensions):
        size = grid_size(sweep.dimensions)
        if sweep.trials and size > sweep.trials:
            problems.append(Problem("sweep.trials", f"the grid has {size} points but the budget is {sweep.trials} trials — "
                                                    f"raise sweep.trials to {size} (or 0 = the whole grid) or take points out"))
    if sweep.budget() == 0 and not sweep.minutes:
        problems.append(Problem("sweep.trials", "the budget is empty — give trials or minutes"))
    return problems


def _check_dimension(base: ExperimentSpec, dim: Dimension, offer: list[str]) -> list[Problem]:
    where = f"sweep.params.{dim.path}"
    param = param_at(base, dim.path)
    if param is None:
        return [Problem(where, f"names no option of the spec{did_you_mean(dim.path, offer)} — a path looks like "
                               "optimizer.lr or model.layers[1].out_features")]
    problems = []
    if dim.kind in ("int", "float") and param.kind not in ("int", "float"):
        problems.append(Problem(where, f"is a {param.kind} option: list its values (values = [...]) instead of a range"))
    elif dim.kind == "float" and param.kind == "int":
        problems.append(Problem(where, "is an integer option: give integer low/high (and a step) instead of a float range"))
    elif dim.kind != "categorical":
        for name in ("low", "high"):
            _, problem = param.check(getattr(dim, name), f"{where}.{name}")
            if problem:
                problems.append(problem)
    else:
        for i, value in enumerate(dim.values):
            _, problem = param.check(value, f"{where}.values[{i}]")
            if problem and "must be one of" not in problem.message:  # registry names are checked per trial
                problems.append(problem)
    return problems


def _check_metric(sweep: SweepSpec) -> list[Problem]:
    from engine.data import describe_data
    from engine.evaluation import QUALITY

    metric = sweep.resolved_metric()
    try:
        task = describe_data(sweep.base.data).task
    except SpecError:
        return []  # the base spec's problems already name the data
    quality = QUALITY.get(task)
    if metric in QUALITY.values() and metric != quality:
        return [Problem("sweep.metric", f"{task} runs report {quality}, not {metric} — use {quality} or val_loss")]
    return []


# ----------------------------------------------------------------------------- one trial

def trial_spec(sweep: SweepSpec, params: Mapping[str, Any], number: int) -> ExperimentSpec:
    """The base spec with one trial's values applied, named ``<base name>-t<number>``.
    SpecError names a path that cannot be set."""
    assignments = [f"{path}={value if isinstance(value, str) else json.dumps(value)}" for path, value in params.items()]
    spec = apply_overrides(sweep.base, assignments) if assignments else sweep.base
    return dataclasses.replace(spec, name=f"{sweep.base.name}-t{number:03d}")


def trial_problems(spec: ExperimentSpec) -> list[Problem]:
    """Why a trial's spec cannot train (an invalid model for these values), or []."""
    from engine.validation import validate

    return validate(spec)
