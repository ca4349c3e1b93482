"""The compression-step contract and registry, and parsing of `name:key=value,...` requests.

A step is a class with a schema (`params`, Params) registered in STEPS, like layers and export
formats: a new technique is one file, and the CLI and the Compress page list it with no code of
their own. `CompressStep.apply(state, options)` changes `state.model` (and `state.spec` when the
architecture changes) in place."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping, Sequence

from engine.problems import Problem, SpecError
from engine.registry import Param, Registry

#: step name -> CompressStep subclass; registered by engine.compress.steps
STEPS: Registry[type["CompressStep"]] = Registry("compression step", load="engine.compress.steps")


class CompressCancelled(Exception):
    """The caller cancelled the compression (Ctrl-C, `stop NEW_RUN`, the page's Cancel); no run is kept."""


class CompressError(SpecError):
    """A compression that cannot be done; its problem names the step, option or layer and why."""

    def __init__(self, where: str, message: str):
        super().__init__([Problem(where, message)])


@dataclass
class CompressState:
    """What the steps work on: the model (eval mode between steps), its spec (rewritten when a
    step shrinks layers), the loaded data, the new run directory, `quantized` (the scheme, once
    quantized) and `progress(fraction, text)` / `cancelled()` from the caller."""

    model: Any
    spec: Any
    data: Any
    run: Any  # engine.runs.RunDir of the new run
    quantized: str = ""
    notes: list[str] = field(default_factory=list)
    progress: Callable[[float, str], None] = lambda fraction, text: None
    cancelled: Callable[[], bool] = lambda: False

    def check_cancelled(self) -> None:
        """Raise CompressCancelled when the caller asked to cancel."""
        if self.cancelled():
            raise CompressCancelled("compression cancelled")


class CompressStep:
    """One technique. Subclasses set `name`, `description`, `params` and implement :meth:`apply`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    params: ClassVar[Sequence[Param]] = ()
    #: options that only act with some values of another option: {option: (other, its values)}
    only_with: ClassVar[Mapping[str, tuple[str, tuple[Any, ...]]]] = {}

    def apply(self, state: CompressState, options: Mapping[str, Any], where: str) -> None:  # pragma: no cover
        raise NotImplementedError


def register(cls: type[CompressStep]) -> type[CompressStep]:
    """Class decorator adding a step to STEPS under its `name`."""
    STEPS.add(cls.name, cls, params=tuple(cls.params), description=cls.description)
    return cls


@dataclass(frozen=True)
class StepRequest:
    """One requested step with its options checked and defaults filled in."""

    name: str
    options: Mapping[str, Any]

    def label(self) -> str:
        """`prune:sparsity=0.5,structured=true,scope=global` (every option, as the CLI takes it)."""
        return self.name + "".join((":" if i == 0 else ",") + f"{k}={_text(v)}" for i, (k, v) in enumerate(self.options.items()))


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def parse_step(text: str, where: str = "--step") -> StepRequest:
    """`prune:sparsity=0.5,structured=true` -> StepRequest; CompressError naming the unknown step
    (with a suggestion), the unknown option or the bad value."""
    name, _, rest = text.strip().partition(":")
    name = name.strip()
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise CompressError(where, f"{item!r} in {text!r}: expected KEY=VALUE, e.g. prune:sparsity=0.5")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        options[key.strip()] = value
    return check_step(name, options, where)


def check_step(name: str, options: Mapping[str, Any], where: str) -> StepRequest:
    """The step `name` with `options` checked against its schema (SpecError naming each problem)."""
    if name not in STEPS:
        raise CompressError(where, f"{STEPS.unknown_message(name)} (known: {', '.join(STEPS.names())})")
    resolved, problems = STEPS.check(name, options, f"{where} {name}")
    if problems:
        raise SpecError(problems)
    step = STEPS.get(name)
    for option, (other, values) in step.obj.only_with.items():
        default = step.param(option).default
        if resolved[option] != default and resolved[other] not in values:
            raise CompressError(f"{where} {name}.{option}", f"is only used with {other} = "
                                f"{' or '.join(map(_text, values))}; with {other} = {_text(resolved[other])}, {option} = "
                                f"{_text(resolved[option])} would do nothing — leave it at {_text(default)} or change {other}")
    return StepRequest(name, resolved)
