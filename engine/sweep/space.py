"""The search space: one :class:`Dimension` per swept option, named by its dotted spec path.

A dimension is a float range (optionally log-scaled or stepped), an int range with a step, or a
categorical list. It turns into an Optuna distribution, suggests a value on an Optuna trial, and
lists its points for the grid sampler. :func:`sweepable` lists every option of a spec that a
sweep can vary (what the Sweeps page offers)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from engine.problems import Problem
from engine.registry import Param

if TYPE_CHECKING:  # pragma: no cover
    from engine.spec import ExperimentSpec

KINDS = ("float", "int", "categorical")
#: how many points a grid may have before it is certainly a mistake
MAX_GRID = 100_000


@dataclass(frozen=True)
class Dimension:
    """One swept option: `path` (``optimizer.lr``), `kind` (float / int / categorical), the
    range `low`..`high` (inclusive) with `log` scale or a `step`, or the categorical `values`."""

    path: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    values: tuple[Any, ...] = ()

    # -- TOML form --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        if self.kind == "categorical":
            return {"values": list(self.values)}
        out: dict[str, Any] = {"type": self.kind, "low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.step is not None:
            out["step"] = self.step
        return out

    @classmethod
    def parse(cls, path: str, raw: Any, schema: Param | None, where: str) -> tuple["Dimension | None", list[Problem]]:
        """A dimension from its TOML table (`where` is its own dotted path in the sweep spec);
        `schema` is the option's schema in the base spec (decides int vs float)."""
        if isinstance(raw, (list, tuple)):
            raw = {"values": list(raw)}
        if not isinstance(raw, Mapping):
            return None, [Problem(where, "expects a table such as {low = 1e-4, high = 0.1, log = true} or {values = [...]}")]
        unknown = sorted(set(raw) - {"type", "low", "high", "log", "step", "values"})
        problems = [Problem(f"{where}.{k}", "unknown key (known: type, low, high, log, step, values)") for k in unknown]
        kind = raw.get("type")
        if kind is None:
            if "values" in raw:
                kind = "categorical"
            elif schema is not None and schema.kind == "int":
                kind = "int"
            else:
                kind = "float"
        if kind not in KINDS:
            return None, problems + [Problem(f"{where}.type", f"must be one of {', '.join(KINDS)}; got {kind!r}")]
        if kind == "categorical":
            values = raw.get("values")
            if not isinstance(values, (list, tuple)) or not values:
                return None, problems + [Problem(f"{where}.values", "expects a non-empty list of choices")]
            if len(set(map(repr, values))) != len(values):
                problems.append(Problem(f"{where}.values", "lists a choice twice"))
            return cls(path, kind, values=tuple(values)), problems
        low, high, step, log = raw.get("low"), raw.get("high"), raw.get("step"), raw.get("log", False)
        number = int if kind == "int" else (int, float)
        for name, value in (("low", low), ("high", high)):
            if not isinstance(value, number) or isinstance(value, bool):
                problems.append(Problem(f"{where}.{name}", f"expects {'an integer' if kind == 'int' else 'a number'}, got {value!r}"))
        if step is not None and (not isinstance(step, number) or isinstance(step, bool) or step <= 0):
            problems.append(Problem(f"{where}.step", f"expects a positive {'integer' if kind == 'int' else 'number'}, got {step!r}"))
        if not isinstance(log, bool):
            problems.append(Problem(f"{where}.log", f"expects true or false, got {log!r}"))
        if problems:
            return None, problems
        if low > high:
            problems.append(Problem(where, f"low ({low}) is above high ({high})"))
        if log and low <= 0:
            problems.append(Problem(f"{where}.low", f"a log scale needs low > 0, got {low}"))
        if log and step is not None and not (kind == "int" and step == 1):
            problems.append(Problem(f"{where}.step", "a log-scaled range has no step — drop step or log"))
        if kind == "float":
            low, high = float(low), float(high)
            step = float(step) if step is not None else None
        elif step is None:
            step = 1
        return cls(path, kind, low, high, bool(log), step), problems

    # -- Optuna -----------------------------------------------------------------------
    def distribution(self) -> Any:
        """The Optuna distribution of this dimension."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "categorical":
            return CategoricalDistribution(list(self.values))
        if self.kind == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log, step=1 if self.log else int(self.step))
        return FloatDistribution(float(self.low), float(self.high), log=self.log, step=self.step)

    def suggest(self, trial: Any) -> Any:
        """Ask an Optuna trial for this dimension's value."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.path, list(self.values))
        if self.kind == "int":
            return trial.suggest_int(self.path, int(self.low), int(self.high), step=1 if self.log else int(self.step), log=self.log)
        return trial.suggest_float(self.path, float(self.low), float(self.high), step=self.step, log=self.log)

    @property
    def enumerable(self) -> bool:
        """Whether the grid sampler can list its points (categorical, int, or stepped float)."""
        return self.kind in ("categorical", "int") or self.step is not None

    def grid(self) -> list[Any]:
        """Every point of the dimension, in order (grid sampler); [] if not enumerable."""
        if self.kind == "categorical":
            return list(self.values)
        if not self.enumerable:
            return []
        if self.kind == "int" and self.log:
            return list(range(int(self.low), int(self.high) + 1))
        count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        if count > MAX_GRID:
            return [None] * (MAX_GRID + 1)
        points = [self.low + i * self.step for i in range(count)]
        return [int(p) for p in points] if self.kind == "int" else [round(p, 12) for p in points]

    def describe(self) -> str:
        """Short text: ``1e-04..0.1 (log)``, ``16..128 step 16``, ``adam | sgd``."""
        if self.kind == "categorical":
            return " | ".join(map(str, self.values))
        text = f"{self.low:g}..{self.high:g}"
        if self.log:
            return text + " (log)"
        if self.step is not None and not (self.kind == "int" and self.step == 1):
            return f"{text} step {self.step:g}"
        return text


def grid_size(dimensions: Sequence[Dimension]) -> int:
    """How many points the full grid has."""
    return math.prod(len(d.grid()) for d in dimensions) if dimensions else 0


# ----------------------------------------------------------------------------- the offer

#: options a sweep should not vary (they say where the run happens, not how it learns)
NOT_SWEPT = {"training.device", "training.log_every", "training.checkpoint_every", "parallel.node_rank",
             "parallel.nnodes", "parallel.rdzv_endpoint", "parallel.backend", "parallel.stages", "data.source",
             "regularization.early_stopping_metric", "training.loss", "data.path"}
SWEEPABLE_KINDS = ("int", "float", "choice", "bool")


def sweepable(spec: "ExperimentSpec") -> list[tuple[str, Param]]:
    """Every (dotted path, schema) of `spec` that a sweep can vary: numbers, choices and switches
    of the fixed sections, of the chosen optimizer/scheduler/data source, and of every layer;
    plus the optimizer and scheduler names themselves."""
    from engine.spec import SECTIONS, param_at, section_params

    out: list[tuple[str, Param]] = [("seed", param_at(spec, "seed"))]
    for section, cls in SECTIONS.items():
        if section in ("model", "launcher"):  # where a trial runs is not a hyper-parameter
            continue
        names = [p.name for p in section_params(cls)]
        extra = [p.name for p in getattr(_entry(spec, section), "params", ())]
        for name in [*names, *extra]:
            path = f"{section}.{name}"
            param = param_at(spec, path)
            if param is not None and path not in NOT_SWEPT and (param.kind in SWEEPABLE_KINDS or path in NAMED_KINDS):
                out.append((path, param))
    out.extend(_layer_paths(spec.model.layers, "model"))
    return out


#: fields that hold a registry name: swept as a categorical over the registry's names
NAMED_KINDS = ("optimizer.name", "scheduler.name", "parallel.strategy")


def named_choices(path: str) -> list[str]:
    """The registry names a `NAMED_KINDS` field can take (for a categorical's values)."""
    from engine.optim import OPTIMIZERS
    from engine.schedulers import SCHEDULERS
    from engine.spec import STRATEGIES

    registry = {"optimizer.name": OPTIMIZERS, "scheduler.name": SCHEDULERS, "parallel.strategy": STRATEGIES}.get(path)
    return registry.names() if registry is not None else []


def _entry(spec: "ExperimentSpec", section: str) -> Any:
    from engine.spec import registry_entry

    return registry_entry(spec, section)


def _layer_paths(layers: Sequence[Any], prefix: str) -> list[tuple[str, Param]]:
    from engine.layers import LAYERS

    out: list[tuple[str, Param]] = []
    for i, layer in enumerate(layers):
        here = f"{prefix}.layers[{i}]"
        if layer.type in LAYERS:
            for param in LAYERS.get(layer.type).params:
                if param.kind in SWEEPABLE_KINDS:
                    out.append((f"{here}.{param.name}", param))
        out.extend(_layer_paths(layer.layers, here))
    return out
