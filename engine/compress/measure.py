"""Measures of a model, taken the same way for the source and the compressed model (in the same
process): parameters (total, non-zero), size of the weights file, CPU latency per batch (median of
repeats, on one thread) and validation loss/quality."""
from __future__ import annotations

import contextlib
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from engine.compress.weights import count_parameters, weights_bytes

#: timed forward passes per measure (after WARMUP untimed ones); the median is kept
REPEATS = 15
WARMUP = 3
#: torch threads while timing: one, as the benchmarks do. With a thread pool, another busy process
#: on the machine (the GUI, a training run) turns its spin-waits into delays of hundreds of times
#: the work, and the same model measured 24 ms once and 0.04 ms another time
LATENCY_THREADS = 1


@dataclass(frozen=True)
class Measures:
    params: int
    nonzero: int
    weights_bytes: int
    latency_ms: float  # median wall time of one forward pass over one batch (batch_size samples), one thread
    batch_size: int
    val_loss: float | None
    val_quality: float | None  # val_accuracy (classification) or val_error (regression)
    quality_name: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def validation(model: Any, spec: Any, data: Any) -> tuple[float | None, float | None, str]:
    """(val_loss, val_accuracy or val_error, its name) over the run's validation split."""
    from engine.evaluation import QUALITY, evaluate
    from engine.losses import build_loss
    from engine.rank import LocalContext

    task = data.info.task
    import torch

    x, y = torch.as_tensor(data.x_val), torch.as_tensor(data.y_val)
    if len(x) == 0:
        return None, None, QUALITY[task]
    result = evaluate(model, x, y, task=task, loss_fn=build_loss(spec, task), ctx=LocalContext(),
                      batch_size=max(spec.data.batch_size, 256), autocast=contextlib.nullcontext)
    return result.get("val_loss"), result.get(QUALITY[task]), QUALITY[task]


def latency_ms(model: Any, batch: Any, repeats: int = REPEATS) -> float:
    """Median milliseconds of `model(batch)` over `repeats` timed runs (no grad, eval mode, on
    LATENCY_THREADS torch threads; the caller's setting is restored)."""
    import torch

    model.eval()
    times = []
    threads = torch.get_num_threads()
    torch.set_num_threads(LATENCY_THREADS)
    try:
        with torch.inference_mode():
            for i in range(WARMUP + repeats):
                start = time.perf_counter()
                model(batch)
                if i >= WARMUP:
                    times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    return statistics.median(times) * 1000.0


def measure(model: Any, spec: Any, data: Any, *, timed: bool = True) -> Measures:
    """Every measure of `model` (latency 0.0 when `timed` is False)."""
    import torch

    total, nonzero = count_parameters(model)
    size = len(weights_bytes(model.state_dict()))
    source = data.x_val if len(data.x_val) else data.x_train
    batch = torch.as_tensor(source[: spec.data.batch_size])
    latency = latency_ms(model, batch) if timed else 0.0
    loss, quality, name = validation(model, spec, data)
    return Measures(total, nonzero, size, round(latency, 4), len(batch), loss, quality, name)


def deltas(before: Measures, after: Measures) -> dict[str, float | None]:
    """after relative to before: ratios for sizes and latency, differences for loss/quality."""
    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 4) if b else None

    def diff(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(a - b, 6)

    return {"params_ratio": ratio(after.params, before.params), "nonzero_ratio": ratio(after.nonzero, before.nonzero),
            "size_ratio": ratio(after.weights_bytes, before.weights_bytes),
            "latency_ratio": ratio(after.latency_ms, before.latency_ms),
            "val_loss_delta": diff(after.val_loss, before.val_loss),
            "val_quality_delta": diff(after.val_quality, before.val_quality)}


def comparison_rows(before: Measures, after: Measures, change: Mapping[str, float | None]) -> list[tuple[str, str, str, str]]:
    """(measure, source, compressed, change) as text, one row per measure: the before/after table
    the CLI prints and the Compress page shows."""
    def num(v: Any, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    return [("parameters", num(before.params, ","), num(after.params, ","), num(change.get("params_ratio"), ".3f") + "x"),
            ("non-zero parameters", num(before.nonzero, ","), num(after.nonzero, ","),
             num(change.get("nonzero_ratio"), ".3f") + "x"),
            ("weights file (bytes)", num(before.weights_bytes, ","), num(after.weights_bytes, ","),
             num(change.get("size_ratio"), ".3f") + "x"),
            (f"CPU latency / batch of {after.batch_size} (ms)", num(before.latency_ms, ".2f"), num(after.latency_ms, ".2f"),
             num(change.get("latency_ratio"), ".3f") + "x"),
            ("val_loss", num(before.val_loss, ".4f"), num(after.val_loss, ".4f"), num(change.get("val_loss_delta"), "+.4f")),
            (after.quality_name, num(before.val_quality, ".4f"), num(after.val_quality, ".4f"),
             num(change.get("val_quality_delta"), "+.4f"))]
