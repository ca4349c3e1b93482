"""Metric series built from a run's events: growing numpy buffers, EMA smoothing, CSV export.

Qt-free so it is testable on its own. A run's `metric` and `epoch` events carry numbers
(train_loss, val_loss, lr, ...); every numeric field that is not bookkeeping becomes a
series with three x axes (step, epoch, seconds since the run started).
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from engine.metrics import SAMPLES_PER_S

#: event fields that are bookkeeping, not metrics
META_FIELDS = frozenset({
    "v", "seq", "time", "type", "step", "epoch", "rank", "world_size", "total_steps", "total_epochs",
    "steps_per_epoch", "pid", "node_rank", "local_rank", "batch", "samples", "epochs", "max_steps",
    "epoch_seconds", "exitcode",
    "gpu_memory",  # bytes: shown by the system panel, not a curve (it would flatten step_time)
})
#: names under which the worker reports throughput
THROUGHPUT_FIELDS = ("samples_per_second", SAMPLES_PER_S)
#: event types whose numbers are plotted
METRIC_EVENT_TYPES = ("metric", "epoch")
X_AXES = ("step", "epoch", "time")


class _Buffer:
    """A float64 array that grows by doubling (amortised O(1) append of chunks). A chunk that
    outgrows it leaves half its size again as headroom, so the first live append after a bulk
    load (a finished run's million points) does not copy every column at once."""

    __slots__ = ("data", "size")

    def __init__(self, capacity: int = 256):
        self.data = np.empty(capacity, dtype=np.float64)
        self.size = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.size + len(values)
        if need > len(self.data):
            grown = np.empty(max(need + need // 2, 2 * len(self.data)), dtype=np.float64)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size:need] = values
        self.size = need

    def view(self) -> np.ndarray:
        return self.data[: self.size]


class Series:
    """One metric over time: value with step, epoch and wall-time coordinates."""

    def __init__(self, name: str):
        self.name = name
        self._cols = {key: _Buffer() for key in (*X_AXES, "value")}
        self._smooth: _Buffer | None = None
        self._smooth_weight = -1.0
        self._smooth_state = (0.0, 0)  # (biased EMA, count)
        self.all_finite = True  # no NaN/inf so far (and every x is finite too)
        self.vmin = self.vmax = self.pos_min = math.nan  # finite value range; smallest positive value

    def __len__(self) -> int:
        return self._cols["value"].size

    def extend(self, step: Iterable[float], epoch: Iterable[float], time: Iterable[float],
               value: Iterable[float]) -> None:
        for key, column in (("step", step), ("epoch", epoch), ("time", time), ("value", value)):
            chunk = np.asarray(list(column), dtype=np.float64)
            self.all_finite = self.all_finite and bool(np.isfinite(chunk).all())
            self._cols[key].extend(chunk)
        self._track_range(self._cols["value"].view()[-len(chunk):] if len(chunk) else chunk)

    def _track_range(self, chunk: np.ndarray) -> None:
        finite = chunk[np.isfinite(chunk)]
        if len(finite):
            self.vmin = float(np.fmin(self.vmin, finite.min()))
            self.vmax = float(np.fmax(self.vmax, finite.max()))
            positive = finite[finite > 0]
            if len(positive):
                self.pos_min = float(np.fmin(self.pos_min, positive.min()))

    def x(self, axis: str) -> np.ndarray:
        return self._cols[axis].view()

    @property
    def y(self) -> np.ndarray:
        return self._cols["value"].view()

    def smoothed(self, weight: float) -> np.ndarray:
        """Debiased exponential moving average (TensorBoard style), updated incrementally:
        only points added since the last call are filtered."""
        y = self.y
        if weight <= 0.0:
            return y
        if weight != self._smooth_weight or self._smooth is None:
            # a new weight (a slider move) filters everything once; the result becomes the buffer
            # itself (no copy into fresh memory: that alone cost ~10-25 ms per million points)
            chunk, self._smooth_state = ema_chunk(y, weight, (0.0, 0))
            self._smooth, self._smooth_weight = _Buffer(0), weight
            self._smooth.data, self._smooth.size = chunk, len(chunk)
        done = self._smooth.size
        if done < len(y):
            chunk, self._smooth_state = ema_chunk(y[done:], weight, self._smooth_state)
            self._smooth.extend(chunk)
        return self._smooth.view()


EMA_BLOCK = 64


def _recurrence(c: np.ndarray, a: float, start: float) -> np.ndarray:
    """y_t = a * y_{t-1} + c_t from y_{-1} = start, fully vectorised (numpy only): within blocks of
    EMA_BLOCK points it is one matrix product with the decay matrix a^(t-i) (all powers <= 1, so
    it is stable for any 0 <= a <= 1); the blocks' end values obey the same recurrence with
    a^EMA_BLOCK, solved recursively, and are then carried into every block at once. About 10 ms
    per million points, versus ~0.5 s for a Python loop."""
    n, b = len(c), EMA_BLOCK
    t = np.arange(min(n, b))
    powers = a ** np.arange(len(t) + 1, dtype=np.float64)
    powers[powers < 1e-250] = 0.0  # no subnormals: they are ~100x slower to multiply
    decay = np.tril(powers[np.clip(t[:, None] - t[None, :], 0, None)])
    if n <= b:
        return decay @ c + powers[1:] * start
    blocks = -(-n // b)
    padded = np.zeros(blocks * b)
    padded[:n] = c
    local = padded.reshape(blocks, b) @ decay.T  # each block started from 0
    ends = _recurrence(np.ascontiguousarray(local[:, -1]), float(powers[b]), start)
    prev = np.empty(blocks)
    prev[0] = start
    prev[1:] = ends[:-1]
    local += prev[:, None] * powers[None, 1:]
    return local.reshape(-1)[:n]


def _ema_biased(x: np.ndarray, weight: float, start: float) -> np.ndarray:
    """biased_t = w * biased_{t-1} + (1 - w) * x_t from biased_{-1} = start."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) == 0:
        return x.copy()
    return _recurrence((1.0 - weight) * x, weight, start)


def ema_chunk(values: np.ndarray, weight: float, state: tuple[float, int]) -> tuple[np.ndarray, tuple[float, int]]:
    """Continue a debiased EMA over `values` from `state` = (biased EMA, points seen so far).
    Non-finite values are shown as they are and do not disturb the average."""
    biased, count = state
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    all_finite = bool(finite.all())
    good = values if all_finite else values[finite]
    if not len(good):
        return values.copy(), (biased, count)
    ema = _ema_biased(good, weight, biased)
    biased = float(ema[-1])
    n = np.arange(count + 1, count + len(good) + 1, dtype=np.float64)
    ema /= -np.expm1(n * math.log(weight))  # debias by 1 - w^n (np.power is ~10x slower)
    count += len(good)
    if all_finite:
        return ema, (biased, count)
    result = values.copy()
    result[finite] = ema
    return result, (biased, count)


_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _number(value: Any) -> float | None:
    """A plottable number, or None. The events log writes non-finite floats as "nan"/"inf"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return _NON_FINITE.get(value) if isinstance(value, str) else None


@dataclass(frozen=True)
class Progress:
    """Where a run stands, from its events."""

    step: int = 0
    epoch: float = 0.0
    total_steps: int = 0
    total_epochs: int = 0
    elapsed: float = 0.0
    samples_per_second: float = 0.0

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left, extrapolated from the pace so far (None until it can be estimated)."""
        if not self.total_steps or self.step <= 0 or self.elapsed <= 0:
            return None
        return max(0.0, self.elapsed * (self.total_steps - self.step) / self.step)


class MetricStore:
    """All metric series of one run, fed incrementally with events."""

    def __init__(self) -> None:
        self.series: dict[str, Series] = {}
        self.t0: float | None = None
        self._step = 0
        self._epoch = 0.0
        self._totals: dict[str, int] = {}
        self._last_time = 0.0
        self._throughput = 0.0
        self._step_fields: set[str] = set()  # names reported per step (epoch events do not repeat them)
        self.event_count = 0

    def clear(self) -> None:
        self.__init__()

    def add_events(self, events: Iterable[Mapping[str, Any]]) -> set[str]:
        """Fold events in; returns the names of the series that grew."""
        pending: dict[str, tuple[list, list, list, list]] = {}
        for event in events:
            self.event_count += 1
            t = _number(event.get("time"))
            if t is not None:
                if self.t0 is None and event.get("type") != "phase":  # time 0 is training's start, not start-up's
                    self.t0 = t
                self._last_time = t
            for key in ("total_steps", "total_epochs", "epochs", "max_steps", "steps_per_epoch"):
                n = _number(event.get(key))
                if n is not None and event.get("type") in ("start", "status"):
                    self._totals[key] = int(n)
            if event.get("type") not in METRIC_EVENT_TYPES:
                continue
            step = _number(event.get("step"))
            epoch = _number(event.get("epoch"))
            if step is not None:
                self._step = max(self._step, int(step))
            if epoch is not None:
                self._epoch = max(self._epoch, epoch)
            values = event.get("metrics") if isinstance(event.get("metrics"), Mapping) else event
            rel = (t - self.t0) if (t is not None and self.t0 is not None) else math.nan
            per_step = event.get("type") == "metric"
            for name, raw in values.items():
                if name in META_FIELDS or (not per_step and name in self._step_fields):
                    continue
                value = _number(raw)
                if value is None:
                    continue
                if per_step:
                    self._step_fields.add(name)
                if name in THROUGHPUT_FIELDS:
                    self._throughput = value
                cols = pending.setdefault(name, ([], [], [], []))
                cols[0].append(self._step if step is None else step)
                cols[1].append(self._epoch if epoch is None else epoch)
                cols[2].append(rel)
                cols[3].append(value)
        for name, cols in pending.items():
            self.series.setdefault(name, Series(name)).extend(*cols)
        return set(pending)

    def progress(self) -> Progress:
        total_steps = self._totals.get("total_steps") or self._totals.get("max_steps") or 0
        total_epochs = self._totals.get("total_epochs") or self._totals.get("epochs") or 0
        if not total_steps and total_epochs and self._totals.get("steps_per_epoch"):
            total_steps = total_epochs * self._totals["steps_per_epoch"]
        elapsed = (self._last_time - self.t0) if self.t0 is not None else 0.0
        return Progress(self._step, self._epoch, total_steps, total_epochs, elapsed, self._throughput)

    def to_csv(self, path: str | Path, run: str = "") -> int:
        """Write every point as one row (run, metric, step, epoch, seconds, value); returns the row count."""
        rows = 0
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["run", "metric", "step", "epoch", "seconds", "value"])
            for name, series in sorted(self.series.items()):
                for s, e, t, v in zip(series.x("step"), series.x("epoch"), series.x("time"), series.y):
                    writer.writerow([run, name, _fmt(s), _fmt(e), _fmt(t), repr(float(v))])
                    rows += 1
        return rows


def _fmt(x: float) -> str:
    if math.isnan(x):
        return ""
    return str(int(x)) if float(x).is_integer() else f"{x:.6g}"
