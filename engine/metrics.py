"""The metric names, in one place: what the trainer reports, the CLI prints and the plots draw.

Each :class:`Metric` says its event field name, a human label, and which way is better (for
the validation metrics early stopping, plateau schedules and the best checkpoint watch). Use the
constants (``metrics.VAL_LOSS``) instead of spelling the names.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    #: True: higher is better; False: lower is better; None: neither (a rate, a setting)
    higher_is_better: bool | None = None
    help: str = ""


TRAIN_LOSS = "train_loss"
VAL_LOSS = "val_loss"
VAL_ACCURACY = "val_accuracy"
VAL_ERROR = "val_error"
LR = "lr"
GRAD_NORM = "grad_norm"
SAMPLES_PER_S = "samples_per_s"
STEP_TIME = "step_time"
GPU_MEMORY = "gpu_memory"
EPOCH_SECONDS = "epoch_seconds"

METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric(TRAIN_LOSS, "Train loss", False, "mean training loss since the last report"),
    Metric(VAL_LOSS, "Val loss", False, "loss on the validation split"),
    Metric(VAL_ACCURACY, "Val accuracy", True, "share of correct predictions (next-token accuracy for language models)"),
    Metric(VAL_ERROR, "Val error", False, "mean absolute error (regression)"),
    Metric(LR, "Learning rate", None, "the optimizer's learning rate"),
    Metric(GRAD_NORM, "Gradient norm", None, "global gradient norm before clipping"),
    Metric(SAMPLES_PER_S, "Samples/s", None, "training throughput over all ranks"),
    Metric(STEP_TIME, "Step time", None, "seconds per optimizer step"),
    Metric(GPU_MEMORY, "GPU memory", None, "peak CUDA memory in bytes"),
    Metric(EPOCH_SECONDS, "Epoch time", None, "seconds per epoch"),
)}

#: the validation metric reported besides val_loss, per task
QUALITY = {"classification": VAL_ACCURACY, "language_modeling": VAL_ACCURACY, "regression": VAL_ERROR}
#: the metrics early stopping, plateau schedules and the best checkpoint can watch
WATCHABLE = (VAL_LOSS, VAL_ACCURACY, VAL_ERROR)
#: the final metrics a run summary shows, in order
SUMMARY = (TRAIN_LOSS, VAL_LOSS, VAL_ACCURACY, VAL_ERROR)


def improved(metric: str, value: float, best: float | None) -> bool:
    """Whether `value` of `metric` beats `best` (None: nothing to beat yet)."""
    if best is None:
        return True
    return value > best if METRICS[metric].higher_is_better else value < best


def format_metrics(values: dict, sep: str = "  ", fmt: str = "{name} {value:.4f}") -> str:
    """The summary metrics present in `values` as text, e.g. ``train_loss 0.1234  val_loss 0.2``."""
    return sep.join(fmt.format(name=k, value=values[k]) for k in SUMMARY if isinstance(values.get(k), (int, float)))
