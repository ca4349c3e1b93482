"""One training session of a run directory on this rank: load spec, data and model, then train.

`run_training(run_dir)` is the single-process path of `train`, and what the parallel worker
calls on every rank (with its own RankContext). Rank 0 reports into the run directory."""
from __future__ import annotations

import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.problems import SpecError
from engine.rank import LocalContext, RankContext
from engine.reporting import NullReporter, RunReporter, TeeReporter
from engine.runs import RunDir

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from engine.data import Dataset
    from engine.spec import ExperimentSpec
    from engine.trainer import TrainResult


def prepare(spec: "ExperimentSpec", reporter: Any = None) -> tuple["Dataset", "nn.Module"]:
    """Load the data (seeded split) and build the model with seeded initial weights; `reporter`
    (optional) gets a ``phase`` event as each begins."""
    import torch

    from engine.data import load_data
    from engine.model import build_model

    if reporter is not None:
        reporter.event("phase", phase="loading data")
    dataset = load_data(spec.data, spec.seed)
    info = dataset.info
    if reporter is not None:
        reporter.event("phase", phase="building model")
    torch.manual_seed(spec.seed)
    model = build_model(spec, info.input_shape, info.input_dtype, num_classes=info.num_classes)
    if reporter is not None:  # what a Pretrained block loaded from a file or another run
        for name, module in model.named_modules():
            report = getattr(module, "load_report", None)
            if report is not None:
                reporter.event("log", level="info", message=f"{name}: {report.summary()}", pretrained=report.to_dict())
    return dataset, model


def check_spec(spec: "ExperimentSpec") -> None:
    """Raise SpecError with every problem of the spec."""
    from engine.validation import validate

    problems = validate(spec)
    if problems:
        raise SpecError(problems)


def run_training(run_dir: str | Path | RunDir, *, ctx: RankContext | None = None, resume: bool = False,
                 observers: tuple[Any, ...] = (), on_reporter: Any = None,
                 spec: "ExperimentSpec | None" = None) -> "TrainResult":
    """Train the run in `run_dir` (its spec.toml) on this rank and return the result.

    Rank 0 writes events, status and checkpoints; `observers` also receive every event (e.g. the
    CLI's progress bar); `on_reporter(reporter)` is called with the run reporter before training
    (the CLI hooks SIGTERM/SIGINT to its `request_stop`). A bad spec or unusable data is reported
    (error event, status failed) and raised as SpecError; other errors are reported and re-raised.
    `spec`: the run's spec already loaded and validated by the caller (`train`, the worker's rank),
    so it is neither read nor validated again."""
    from engine.trainer import train

    run = run_dir if isinstance(run_dir, RunDir) else RunDir.open(run_dir)
    ctx = ctx or LocalContext()
    base = RunReporter(run) if ctx.is_main else NullReporter()
    reporter = TeeReporter(base, *observers) if observers else base
    if on_reporter is not None:
        on_reporter(base)
    tracker = None
    try:
        try:
            if spec is None:
                spec = run.load_spec()
                check_spec(spec)
            dataset, model = prepare(spec, reporter)
        except SpecError as err:
            reporter.event("error", message=str(err), traceback="", rank=ctx.rank)
            reporter.event("status", status="failed", message=str(err))
            raise
        except Exception as err:
            reporter.event("error", message=f"{type(err).__name__}: {err}", traceback=traceback.format_exc(), rank=ctx.rank)
            reporter.event("status", status="failed", message=f"{type(err).__name__}: {err}")
            raise
        if ctx.is_main:  # TensorBoard / MLflow writers, fed from the event stream on their own thread
            tracker = _start_tracking(spec, run, model, dataset)
            reporter = TeeReporter(reporter, tracker) if tracker is not None else reporter
        reporter.event("phase", phase="first step")
        return train(spec, dataset, model, reporter, run=run, ctx=ctx, resume=resume)
    finally:
        if tracker is not None:
            tracker.close()
        if isinstance(base, RunReporter):
            base.close()


def _start_tracking(spec: "ExperimentSpec", run: RunDir, model: "nn.Module", dataset: "Dataset") -> Any:
    """The run's tracker (engine.tracking) with the model's graph queued, or None when [tracking] is off."""
    import torch

    from engine.tracking import start_tracking

    from engine.threaderrors import route_to_run_log

    route_to_run_log(run)  # a writer thread of a tracking library that fails must not print a raw traceback
    tracker = start_tracking(spec, run)
    if tracker is not None:
        samples = dataset.x_val if len(dataset.x_val) else dataset.x_train
        tracker.add_graph(model, torch.as_tensor(samples[:2]))
    return tracker
