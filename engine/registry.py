"""A small generic registry: name -> object, parameter schema and description.

Layers, data sources, optimizers, schedulers, losses, strategies and attribution
methods are all registries. The GUI builds its forms and palettes from the
schemas, so a new kind appears in the GUI without GUI code.
"""
from __future__ import annotations

import importlib
import math
import threading
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterator, Mapping, Sequence, TypeVar

from engine.problems import Problem, did_you_mean

T = TypeVar("T")


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()

#: Parameter kinds understood by validation and by the GUI's schema-driven forms.
PARAM_KINDS = ("int", "float", "bool", "str", "choice", "path", "ints")


@dataclass(frozen=True)
class Param:
    """Schema of one option: its kind, default (``REQUIRED`` if none), range, choices, help and
    the human `label` forms show (derived from the name by :func:`human_label` unless given)."""

    name: str
    kind: str
    default: Any = REQUIRED
    help: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    #: True: the value must be strictly greater than `min` (a learning rate of 0 trains nothing)
    exclusive_min: bool = False
    label: str = ""

    def __post_init__(self) -> None:
        if self.kind not in PARAM_KINDS:
            raise ValueError(f"Param {self.name!r}: unknown kind {self.kind!r}")
        if not self.label:
            object.__setattr__(self, "label", human_label(self.name))

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def check(self, value: Any, path: str) -> tuple[Any, Problem | None]:
        """Coerce `value` to this parameter's kind; return (value, problem or None)."""
        kind = self.kind
        if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        expected = {
            "int": int, "float": float, "bool": bool, "str": str, "choice": str, "path": str,
            "ints": (list, tuple),
        }[kind]
        if isinstance(value, bool) and kind in ("int", "float"):
            return value, Problem(path, f"expects a number, got {value!r}")
        if not isinstance(value, expected):
            return value, Problem(path, f"expects {_kind_words(kind)}, got {value!r}")
        if kind == "ints":
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                return value, Problem(path, f"expects a list of integers, got {value!r}")
            value = list(value)
            numbers: Sequence[float] = value
        elif kind in ("int", "float"):
            if kind == "float" and not math.isfinite(value):
                return value, Problem(path, f"expects a finite number, got {value!r}")
            numbers = [value]
        else:
            numbers = []
        for number in numbers:
            if self.exclusive_min and self.min is not None and number <= self.min:
                return value, Problem(path, f"must be > {_num(self.min)}, got {_num(number)}")
            if self.min is not None and number < self.min:
                return value, Problem(path, f"must be at least {_num(self.min)}, got {_num(number)}")
            if self.max is not None and number > self.max:
                return value, Problem(path, f"must be at most {_num(self.max)}, got {_num(number)}")
        if kind == "choice" and value not in self.choices:
            return value, Problem(
                path, f"must be one of {', '.join(self.choices)}; got {value!r}{did_you_mean(value, self.choices)}"
            )
        return value, None


#: whole option names whose word-by-word reading says little
NAME_LABELS = {
    "lr": "Learning rate", "max_lr": "Peak learning rate", "min_lr": "Final learning rate", "nnodes": "Nodes",
    "p": "Drop probability", "eps": "Epsilon", "l1": "L1 penalty", "pct_start": "Rising fraction",
    "div_factor": "Start divisor", "final_div_factor": "Final divisor", "abs": "Absolute value",
    "stdevs": "Noise std. deviations", "step_epochs": "Epochs per step", "ceil_mode": "Round sizes up",
    "relu": "ReLU", "nesterov": "Nesterov momentum", "processes": "Processes per node",
}
#: words of option names -> words people read ("nt_stdev" -> "Noise std. deviation")
WORD_LABELS = {
    "lr": "learning rate", "nt": "noise", "num": "number of", "dim": "dimension", "dims": "dimensions",
    "len": "length", "max": "maximum", "min": "minimum", "out": "output", "seq": "sequence", "mlp": "MLP",
    "rdzv": "rendezvous", "val": "validation", "eval": "evaluation", "grad": "gradient", "stdev": "std. deviation",
    "vocab": "vocabulary", "warmup": "warm-up", "microbatches": "micro-batches", "nnodes": "nodes",
    "beta1": "beta 1", "beta2": "beta 2", "l2": "L2", "fp16": "FP16", "bf16": "BF16", "id": "ID", "csv": "CSV",
}


def human_label(name: str) -> str:
    """The label a form shows for an option name: "nt_stdev" -> "Noise std. deviation",
    "out_channels" -> "Output channels", "lr" -> "Learning rate"."""
    if name in NAME_LABELS:
        return NAME_LABELS[name]
    text = " ".join(WORD_LABELS.get(word, word) for word in name.split("_") if word)
    return text[:1].upper() + text[1:]


def _kind_words(kind: str) -> str:
    return {
        "int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
        "choice": "a string", "path": "a file path (string)", "ints": "a list of integers",
    }[kind]


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def check_options(
    params: Sequence[Param], options: Mapping[str, Any], path: str, *, what: str = "",
    siblings: Sequence[str] = (),
) -> tuple[dict[str, Any], list[Problem]]:
    """Check `options` against `params`: unknown keys (with a suggestion), missing required
    keys, wrong kinds and ranges. Returns the options with defaults filled in, and the problems.
    `siblings` are the other keys of the same table (e.g. [data]'s `batch_size`): a misspelt one
    is suggested by its dotted path."""
    by_name = {p.name: p for p in params}
    problems: list[Problem] = []
    resolved: dict[str, Any] = {}
    prefix = f"{path}." if path else ""
    for key, value in options.items():
        param = by_name.get(key)
        if param is None:
            known = ", ".join(by_name) or "none"
            dotted = {s: f"{prefix}{s}" for s in siblings if s not in by_name}
            hint = did_you_mean(key, [*by_name, *dotted], shown=dotted)
            problems.append(Problem(
                f"{prefix}{key}",
                f"unknown option{(' for ' + what) if what else ''}{hint} (known: {known})",
            ))
            continue
        value, problem = param.check(value, f"{prefix}{key}")
        if problem:
            problems.append(problem)
        resolved[key] = value
    for param in params:
        if param.name not in resolved:
            if param.required:
                if param.name not in options:
                    problems.append(Problem(
                        f"{prefix}{param.name}",
                        f"is required{(' for ' + what) if what else ''} — {param.help or 'set a value'}",
                    ))
            else:
                resolved[param.name] = param.default
    return resolved, problems


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered kind."""

    name: str
    obj: T
    params: tuple[Param, ...] = ()
    description: str = ""
    group: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"{self.name} has no parameter {name!r}")

    def defaults(self) -> dict[str, Any]:
        """Defaults of the non-required parameters."""
        return {p.name: p.default for p in self.params if not p.required}


class UnknownName(LookupError):
    """A name that is not registered; its message suggests the closest one."""


class Registry(Generic[T]):
    """name -> Entry. `what` is used in messages ("layer type", "data source").

    `load` names the module that registers the built-in entries when it sits in a higher layer
    than the registry (a plugin's registry): it is imported on the first lookup."""

    def __init__(self, what: str, *, load: str = ""):
        self.what = what
        self._entries: dict[str, Entry[T]] = {}
        self._load = load
        self._loading = False
        self._lock = threading.RLock()

    def _all(self) -> dict[str, Entry[T]]:
        if self._load:
            with self._lock:  # another thread waits until every entry is registered
                if self._load and not self._loading:  # (the registering module's own add() calls pass)
                    self._loading = True
                    try:
                        importlib.import_module(self._load)
                    finally:
                        self._loading, self._load = False, ""
        return self._entries

    def choices(self) -> "Choices":
        """The registered names as a live sequence, for a Param's `choices`."""
        return Choices(self)

    def add(
        self, name: str, obj: T, *, params: Sequence[Param] = (), description: str = "",
        group: str = "", **extra: Any,
    ) -> Entry[T]:
        if name in self._all():
            raise ValueError(f"{self.what} {name!r} is registered twice")
        entry = Entry(name, obj, tuple(params), description, group, dict(extra))
        self._entries[name] = entry
        return entry

    def register(
        self, name: str, *, params: Sequence[Param] = (), description: str = "", group: str = "",
        **extra: Any,
    ) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def decorate(obj: T) -> T:
            self.add(name, obj, params=params, description=description, group=group, **extra)
            return obj

        return decorate

    def get(self, name: str) -> Entry[T]:
        try:
            return self._all()[name]
        except KeyError:
            raise UnknownName(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        return f"unknown {self.what} {name!r}{did_you_mean(str(name), self._all())}"

    def remove(self, name: str) -> None:
        """Unregister `name` (tests that register a kind of their own clean up with this)."""
        del self._all()[name]

    def __contains__(self, name: object) -> bool:
        return name in self._all()

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(list(self._all().values()))

    def __len__(self) -> int:
        return len(self._all())

    def names(self) -> list[str]:
        return list(self._all())

    def groups(self) -> dict[str, list[Entry[T]]]:
        """Entries grouped by their `group`, in registration order."""
        out: dict[str, list[Entry[T]]] = {}
        for entry in self._all().values():
            out.setdefault(entry.group, []).append(entry)
        return out

    def check(self, name: str, options: Mapping[str, Any], path: str, *,
              siblings: Sequence[str] = ()) -> tuple[dict[str, Any], list[Problem]]:
        """Check options for the named kind; an unknown name is one problem at `path`.
        `siblings`: the other keys of the same table, suggested for a misspelt option."""
        if name not in self._all():
            return dict(options), [Problem(path, self.unknown_message(name))]
        entry = self._entries[name]
        return check_options(entry.params, options, path, what=f"{self.what} {name}", siblings=siblings)


class Choices(SequenceABC):
    """The names of a registry, read when asked (so a kind registered later is a choice too)."""

    def __init__(self, registry: Registry):
        self.registry = registry

    def __getitem__(self, index):  # type: ignore[override]
        return self.registry.names()[index]

    def __len__(self) -> int:
        return len(self.registry)

    def __contains__(self, name: object) -> bool:
        return name in self.registry

    def __repr__(self) -> str:
        return repr(tuple(self))
