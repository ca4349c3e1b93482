"""Training inside a compression (the finetune and qat steps): an ordinary run of the compressed
model into the new run directory, whose pruned weights stay zero, with progress and cancel."""
from __future__ import annotations

import dataclasses
import time
from typing import Any

from engine.compress.architecture import WIDTHS
from engine.compress.base import CompressCancelled, CompressError, CompressState

#: what the progress line calls each training step of a compression
TRAINING_NAMES = {"finetune": "fine-tuning", "qat": "quantization-aware training"}
#: how often (seconds) the training asks whether the compression was cancelled (it reads a file)
CANCEL_POLL_S = 0.1


def finetune(state: CompressState, epochs: int, lr: float, where: str, what: str = "finetune") -> None:
    """Train `state.model` for `epochs` (learning rate `lr`, 0 = the source run's) as the new run's
    training; CompressCancelled when the caller cancels, CompressError when it does not complete."""
    from engine.reporting import RunReporter, TeeReporter
    from engine.trainer import train

    spec = state.spec
    new_lr = {"lr": lr} if lr else {}
    optimizer = dataclasses.replace(spec.optimizer, options={**spec.optimizer.options, **new_lr})
    training = dataclasses.replace(spec.training, epochs=epochs)
    state.spec = spec = dataclasses.replace(spec, optimizer=optimizer, training=training)
    state.run.save_spec(spec)
    hooks = _keep_zeros(state.model)
    reporter = RunReporter(state.run)
    try:
        state.model.train()
        result = train(spec, state.data, state.model, TeeReporter(_Cancellable(reporter, state),
                                                                   _Progress(state, epochs, what)), run=state.run)
    finally:
        reporter.close()
        for hook in hooks:
            hook.remove()
        state.model.eval()
    if result.status == "stopped" and state.cancelled():
        raise CompressCancelled(f"compression cancelled while training ({what})")
    if result.status != "completed":
        raise CompressError(where, f"{what} training ended {result.status}: {result.message}")
    state.notes.append(f"{what}: {result.steps} steps, {result.epochs:g} epochs")


def _keep_zeros(model: Any) -> list[Any]:
    """Gradient hooks that keep pruned (zero) weights of Conv/Linear layers at zero while training."""
    hooks = []
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if type(module).__name__.removeprefix("FakeQuantized") in WIDTHS and weight is not None and bool((weight == 0).any()):
            mask = (weight.detach() != 0).to(weight.dtype)
            hooks.append(weight.register_hook(lambda grad, mask=mask: grad * mask))
    return hooks


class _Cancellable:
    """The fine-tune's run reporter, whose control also says "stop" once the compression is cancelled."""

    def __init__(self, reporter: Any, state: CompressState):
        self.reporter, self.state = reporter, state
        self._asked_at, self._cancelled = 0.0, False

    def event(self, type: str, **fields: Any) -> None:
        self.reporter.event(type, **fields)

    def control(self) -> str:
        now = time.monotonic()  # asked every step: the cancel check (a file read) at most every CANCEL_POLL_S
        if not self._cancelled and now - self._asked_at >= CANCEL_POLL_S:
            self._asked_at, self._cancelled = now, self.state.cancelled()
        return "stop" if self._cancelled else self.reporter.control()


class _Progress:
    """Reports the training's epochs to the caller's progress callback."""

    def __init__(self, state: CompressState, epochs: int, what: str = "finetune"):
        self.state, self.epochs, self.name = state, epochs, TRAINING_NAMES.get(what, what)

    def event(self, type: str, **fields: Any) -> None:
        if type == "epoch":
            epoch = int(fields.get("epoch", 0))
            self.state.progress(min(1.0, epoch / self.epochs), f"{self.name}: epoch {epoch}/{self.epochs} done")
