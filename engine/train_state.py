"""What a checkpoint's `state.pt` holds for the trainer, putting it back, and the `start`
event that describes a (resumed) training session.

Everything is tensors, numbers, strings, lists, dicts or None, so the file loads with
``torch.load(..., weights_only=True)``. Resuming restores progress (epoch, micro-batch within
the epoch, step), the running epoch loss, early-stopping memory, optimizer / scheduler /
gradient-scaler state and every RNG, so a resumed run continues exactly where it stopped."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping

from engine.problems import Problem
from engine.steps import global_batch_size

STATE_VERSION = 1


def capture(loop: Any) -> dict[str, Any]:
    """The training state of a running loop (engine.trainer._Loop)."""
    from engine.checkpoint import rng_state

    return {
        "version": STATE_VERSION, "epoch": loop.epoch, "micro": loop.micro, "step": loop.step,
        "samples": loop.samples, "epoch_loss": list(loop.epoch_loss), "metrics": dict(loop.metrics),
        "early": {"best": loop.best, "best_epoch": loop.best_epoch, "bad_epochs": loop.bad_epochs},
        "wall": loop.wall_before + time.perf_counter() - loop.t0,
        "optimizer": loop.ctx.optimizer_state_dict(loop.model, loop.optimizer),
        "scheduler": loop.scheduler.state_dict() if loop.scheduler is not None else None,
        "scaler": loop.scaler.state_dict() if loop.scaler is not None else None,
        "rng": rng_state(),
    }


def restore(loop: Any, folder: Path, state: Mapping[str, Any]) -> None:
    """Put `state` back into `loop`; CheckpointError naming the file if it does not fit."""
    from engine.checkpoint import CheckpointError, check_optimizer_state, set_rng_state

    try:
        loop.epoch, loop.micro, loop.step = int(state["epoch"]), int(state["micro"]), int(state["step"])
        loop.samples, loop.epoch_loss = int(state["samples"]), list(state["epoch_loss"])
        loop.metrics = dict(state["metrics"])
        early = state["early"]
        loop.best, loop.best_epoch, loop.bad_epochs = early["best"], early["best_epoch"], early["bad_epochs"]
        loop.wall_before = float(state["wall"])
        loop.ctx.load_optimizer_state(loop.model, loop.optimizer, state["optimizer"])
        check_optimizer_state(loop.optimizer)
        if loop.scheduler is not None and state.get("scheduler") is not None:
            loop.scheduler.load_state_dict(state["scheduler"])
        if loop.scaler is not None and state.get("scaler") is not None:
            loop.scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError([Problem(str(Path(folder) / "state.pt"), f"does not match this run ({type(err).__name__}: {err}) — "
                                       "was the model or optimizer changed? Start a new run instead of resuming")]) from None


def emit_start(loop: Any, resumed_from: str | None, note: str = "") -> None:
    """Report the session's plan: the `start` event, status running and a readable log line
    (`note` says why a resume started from step 0)."""
    import torch

    from engine.evaluation import QUALITY
    from engine.losses import loss_name

    t, spec, ds, ctx = loop.t, loop.spec, loop.dataset, loop.ctx
    n_params = sum(p.numel() for p in loop.raw_model.parameters())
    loop.reporter.event(
        "start", epochs=t.epochs, steps_per_epoch=loop.steps_per_epoch, total_steps=loop.total_steps,
        batch_size=loop.bs, grad_accumulation=t.grad_accumulation,
        global_batch=global_batch_size(loop.bs, t.grad_accumulation, ctx.data_parallel_size), world_size=ctx.world_size,
        device=str(ctx.device), precision=t.precision, params=n_params, train_samples=ds.train_size,
        val_samples=ds.val_size, task=loop.task, loss=loss_name(spec, loop.task), optimizer=spec.optimizer.name,
        scheduler=spec.scheduler.name, quality_metric=QUALITY[loop.task], strategy=spec.parallel.strategy,
        resumed_from=resumed_from, step=loop.step, torch=torch.__version__, **({"note": note} if note else {}))
    loop.reporter.event("status", status="running", step=loop.step, epoch=loop.epoch)
    what = f"resumed from {resumed_from} at step {loop.step}" if resumed_from else (note or "started")
    loop.reporter.event("log", level="info", message=(
        f"{what}: {n_params:,} parameters on {ctx.device} ({t.precision}), {ds.train_size} training / "
        f"{ds.val_size} validation samples, {loop.steps_per_epoch} steps per epoch, {loop.total_steps} steps planned"))
    for note in getattr(ds, "notes", ()):
        loop.reporter.event("log", level="info", message=f"data: {note}")
