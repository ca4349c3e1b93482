"""The events schema, typed: one dataclass per event type and one (de)serialiser.

A record on disk is ``{"v", "seq", "time", "type", **fields}`` (see engine.events). The
dataclasses name every field README documents; :func:`decode` turns a record into its event
(fields a newer writer added land in `extra`), :meth:`Event.fields` gives the fields to write.
The training loop itself writes plain keyword fields for speed; these types are the contract
readers and the other writers (worker, session, summary) use.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

EVENTS_VERSION = 1
#: start-up phases, in order, each a ``phase`` event (``phase`` = the name) emitted as it begins:
#: the worker process is up and starts the ranks; rank 0 loads the data, builds the model, and
#: runs the first step (the phase ends with the first ``metric`` event)
PHASES = ("starting worker", "loading data", "building model", "first step")
#: fields every record carries besides its own
ENVELOPE = ("v", "seq", "time", "type")


@dataclass(frozen=True)
class Event:
    """Base of the event types: `seq` and `time` come from the writer (-1 / 0 before writing)."""

    TYPE: ClassVar[str] = ""
    #: fields written even when None (a documented null)
    NULLABLE: ClassVar[tuple[str, ...]] = ()
    seq: int = -1
    time: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        """The event's own fields as written (None left out unless documented as null)."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name in ("seq", "time", "extra"):
                continue
            value = getattr(self, f.name)
            if value is not None or f.name in self.NULLABLE:
                out[f.name] = value
        out.update(self.extra)
        return out

    def record(self) -> dict[str, Any]:
        """The whole on-disk record."""
        return {"v": EVENTS_VERSION, "seq": self.seq, "time": self.time, "type": self.TYPE, **self.fields()}


@dataclass(frozen=True)
class StartEvent(Event):
    TYPE: ClassVar[str] = "start"
    NULLABLE: ClassVar[tuple[str, ...]] = ("resumed_from",)
    epochs: int | None = None
    steps_per_epoch: int | None = None
    total_steps: int | None = None
    batch_size: int | None = None
    grad_accumulation: int | None = None
    global_batch: int | None = None
    world_size: int | None = None
    device: str | None = None
    precision: str | None = None
    params: int | None = None
    train_samples: int | None = None
    val_samples: int | None = None
    task: str | None = None
    loss: str | None = None
    optimizer: str | None = None
    scheduler: str | None = None
    quality_metric: str | None = None
    strategy: str | None = None
    resumed_from: str | None = None
    step: int | None = None
    torch: str | None = None


@dataclass(frozen=True)
class MetricEvent(Event):
    TYPE: ClassVar[str] = "metric"
    step: int | None = None
    epoch: float | None = None
    train_loss: float | None = None
    lr: float | None = None
    grad_norm: float | None = None
    samples_per_s: float | None = None
    step_time: float | None = None
    gpu_memory: int | None = None


@dataclass(frozen=True)
class EpochEvent(Event):
    TYPE: ClassVar[str] = "epoch"
    epoch: int | None = None
    step: int | None = None
    train_loss: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    val_error: float | None = None
    lr: float | None = None
    epoch_seconds: float | None = None


@dataclass(frozen=True)
class CheckpointEvent(Event):
    TYPE: ClassVar[str] = "checkpoint"
    step: int | None = None
    epoch: float | None = None
    path: str | None = None
    best: bool | None = None
    metric: str | None = None
    value: float | None = None


@dataclass(frozen=True)
class StatusEvent(Event):
    TYPE: ClassVar[str] = "status"
    status: str | None = None
    step: int | None = None
    epoch: float | None = None
    message: str | None = None
    metrics: dict[str, Any] | None = None
    checkpoint: str | None = None


@dataclass(frozen=True)
class ErrorEvent(Event):
    TYPE: ClassVar[str] = "error"
    message: str = ""
    traceback: str = ""
    rank: int | None = None
    step: int | None = None
    exitcode: int | None = None


@dataclass(frozen=True)
class LogEvent(Event):
    TYPE: ClassVar[str] = "log"
    level: str = "info"
    message: str = ""


@dataclass(frozen=True)
class SystemEvent(Event):
    TYPE: ClassVar[str] = "system"
    gpus: list[Any] | None = None


@dataclass(frozen=True)
class PhaseEvent(Event):
    """A start-up phase begins (one of PHASES; the last ends with the first metric event)."""

    TYPE: ClassVar[str] = "phase"
    phase: str = ""
    processes: int | None = None


EVENT_CLASSES: dict[str, type[Event]] = {cls.TYPE: cls for cls in (StartEvent, MetricEvent, EpochEvent, CheckpointEvent,
                                                                    StatusEvent, ErrorEvent, LogEvent, SystemEvent,
                                                                    PhaseEvent)}
EVENT_TYPES = tuple(EVENT_CLASSES)


class UnknownEvent(Event):
    """A record whose type this version does not know (kept whole in `extra`)."""


def decode(record: dict[str, Any]) -> Event:
    """The typed event of an on-disk record; unknown fields go to `extra`."""
    cls = EVENT_CLASSES.get(str(record.get("type")))
    if cls is None:
        return UnknownEvent(seq=int(record.get("seq", -1)), time=float(record.get("time", 0.0)),
                            extra={k: v for k, v in record.items() if k not in ("seq", "time")})
    names = {f.name for f in dataclasses.fields(cls)} - {"seq", "time", "extra"}
    own = {k: v for k, v in record.items() if k in names}
    extra = {k: v for k, v in record.items() if k not in names and k not in ENVELOPE}
    return cls(seq=int(record.get("seq", -1)), time=float(record.get("time", 0.0)), extra=extra, **own)
