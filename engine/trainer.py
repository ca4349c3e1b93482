"""The training loop for one rank.

`train()` runs optimizer steps over a loaded Dataset and reports through a reporter
(``reporter.event(type, **fields)`` with plain Python values, ``reporter.control()`` ->
"run" | "pause" | "stop"); it never writes files inside the loop body (checkpoints are written
between epochs and on stop, through engine.checkpoint, when a run directory is given).
Parallelism plugs in through the RankContext (engine/rank.py).

Per step the loop does no host-device synchronisation and no avoidable allocation: losses are
kept as tensors, the gradient norm is computed only when logging or clipping, and the control
request is polled cheaply. Every `log_every` steps a metric window closes; closed windows are
turned into numbers (one sync each) and reported in batches, at most `WINDOW_BATCH_SECONDS`
apart, where one rank trains alone on the CPU (see `_Window`).
"""
from __future__ import annotations

import contextlib
import math
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from engine.diskspace import disk_full_message, is_disk_full, space_needed
from engine.evaluation import evaluate, improved, window_values
from engine.faults import enabled as fault_enabled, fault_point
from engine.losses import build_loss
from engine.metrics import GPU_MEMORY, GRAD_NORM, LR, SAMPLES_PER_S, STEP_TIME, TRAIN_LOSS
from engine.steps import micro_batch, micro_batch_count, plan_steps  # noqa: F401  (plan_steps re-exported: the step plan lives in one place)
from engine.problems import Problem, SpecError
from engine.rank import LocalContext, RankContext, norm_of

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from engine.data import Dataset
    from engine.reporting import Reporter
    from engine.runs import RunDir
    from engine.spec import ExperimentSpec



#: closed metric windows wait at most this long to be reported (they keep their own step and
#: time); run once per window, that work finds cold caches and costs several times more
WINDOW_BATCH_SECONDS = 0.1
#: at most this many windows wait, and their kept gradients take at most this many bytes
MAX_PENDING_WINDOWS = 64
KEPT_GRADIENT_BYTES = 16 << 20


@dataclass(slots=True)
class _Window:
    """A closed metric window, not yet turned into numbers: what its metric event needs."""

    losses: list  # a 0-d loss tensor per step (None on ranks without the loss)
    norm: Any  # the gradient norm tensor (clipping computes it), or None
    gradients: list | None  # the log step's gradients, kept to take their norm when reported
    step: int  # the window's last step
    epoch: int
    progress: float  # epochs done at the window's end (fractional)
    lr: float
    samples: int  # samples this rank trained on in the window
    seconds: float
    time: float  # Unix time at the window's end: the event's time


@dataclass(frozen=True)
class TrainResult:
    """How a run ended: status completed / stopped / failed, progress and final metrics."""

    status: str
    epochs: float  # epochs done; fractional when the run ended mid-epoch
    steps: int
    metrics: Mapping[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0
    samples_per_second: float = 0.0
    message: str = ""
    checkpoint: str | None = None


class NonFiniteLoss(RuntimeError):
    """The loss became NaN or infinite at `step`."""

    def __init__(self, step: int, epoch: int):
        self.step, self.epoch = step, epoch
        super().__init__(f"the loss became NaN or infinite at step {step} (epoch {epoch + 1}) — lower the "
                         "learning rate (optimizer.lr), turn on gradient clipping (regularization.grad_clip_norm) "
                         "or check the data for NaN values")


def train(spec: "ExperimentSpec", dataset: "Dataset", model: "nn.Module", reporter: "Reporter", *,
          run: "RunDir | None" = None, ctx: RankContext | None = None, resume: bool = False) -> TrainResult:
    """Train `model` (built for the spec's data) on `dataset`. With `run`, checkpoints go to its
    checkpoints/ and `resume=True` continues from its latest one (mid-epoch too). NaN/inf loss
    ends with status "failed"; a stop request finishes the step, checkpoints and ends "stopped".
    Unexpected errors are reported (error event with traceback, status failed) and re-raised."""
    loop = _Loop(spec, dataset, model, reporter, run, ctx or LocalContext())
    try:
        loop.setup(resume)
        return loop.run()
    except NonFiniteLoss as err:
        return loop.finish("failed", str(err), save=False)
    except SpecError as err:
        loop.report_error(str(err), "")
        loop.finish("failed", str(err), save=False, emit_error=False)
        raise
    except Exception as err:
        if is_disk_full(err) and run is not None:  # a named failure, not a traceback
            message = disk_full_message(run.path, space_needed(run.path))
            loop.report_error(message, traceback.format_exc())
            result = loop.finish("failed", message, save=False, emit_error=False)
            if loop.ctx.world_size > 1:  # the other ranks wait in a collective: end the job
                raise RuntimeError(message) from None
            return result
        loop.report_error(f"{type(err).__name__}: {err}", traceback.format_exc())
        loop.finish("failed", f"{type(err).__name__}: {err}", save=False, emit_error=False)
        raise
    except KeyboardInterrupt:
        loop.finish("stopped", "interrupted mid-step (no new checkpoint) — resume continues from the last one", save=False)
        raise


def _first_line(err: BaseException) -> str:
    """The first informative line of an error (torch's load_state_dict message starts with a header)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 and lines[0].endswith(":") else (lines[0] if lines else type(err).__name__)


def torch_mean(tensors: list) -> Any:
    """Mean of a list of scalar tensors (one op)."""
    import torch

    return torch.stack(tensors).mean()


class _Loop:
    """State of one training run on one rank (a class so checkpoints can capture it)."""

    def __init__(self, spec, dataset, model, reporter, run, ctx: RankContext):
        self.spec, self.dataset, self.raw_model, self.reporter, self.rundir, self.ctx = spec, dataset, model, reporter, run, ctx
        self.t = spec.training
        self.task = dataset.info.task
        self.epoch = 0        # current epoch index (0-based)
        self.micro = 0        # next micro-batch index within the epoch
        self.step = 0         # optimizer steps done
        self.samples = 0      # samples processed by this rank
        self.epoch_loss = [0.0, 0.0]  # sum of step losses, steps (this epoch)
        self.metrics: dict[str, float] = {}
        self.best: float | None = None
        self.best_epoch = 0
        self.bad_epochs = 0
        self.wall_before = 0.0  # training seconds from earlier sessions (resume)
        self.t0 = time.perf_counter()
        self.optimizer = self.scheduler = self.scaler = None
        self.started = False
        self.early_message = ""
        self.divisor = 1
        self._weights: tuple[int, Mapping[str, Any]] | None = None  # (step, full weights) gathered this step

    # ------------------------------------------------------------------ setup
    def setup(self, resume: bool) -> None:
        import torch

        from engine.devices import fp16_problem, resolve_device
        from engine.optim import build_optimizer
        from engine.schedulers import build_scheduler

        ctx, t, spec = self.ctx, self.t, self.spec
        if ctx.device is None:
            ctx.device = resolve_device(t.device)
        device = torch.device(ctx.device)
        if t.precision == "fp16" and device.type != "cuda":
            raise SpecError([fp16_problem(f"this rank trains on {device.type}")])
        loaded = None
        self.resume_note = ""
        if resume:
            if self.rundir is None:
                raise ValueError("resume=True needs a run directory")
            from engine.checkpoint import load_checkpoint, resume_point

            folder = resume_point(self.rundir.checkpoints)
            if folder is None:  # stopped or killed before its first checkpoint: nothing to lose
                self.resume_note = "no checkpoint to resume from (the run ended before its first one): started from step 0"
                resume = False
            else:
                weights, state = load_checkpoint(folder)
                try:
                    self.raw_model.load_state_dict(weights)
                except RuntimeError as err:
                    from engine.checkpoint import WEIGHTS, CheckpointError

                    raise CheckpointError([Problem(str(folder / WEIGHTS), "does not fit this model (was the model changed?) — "
                                                   f"start a new run instead of resuming: {_first_line(err)}")]) from None
                loaded = (folder, state)
        if not resume:
            torch.manual_seed(spec.seed)
        ds = self.dataset
        self.x = torch.as_tensor(ds.x_train).to(device)
        self.y = torch.as_tensor(ds.y_train).to(device)
        self.xv = torch.as_tensor(ds.x_val).to(device)
        self.yv = torch.as_tensor(ds.y_val).to(device)
        #: random transform of each training batch (image augmentation), or None
        self.augment = ds.augment.batch_fn(tuple(ds.x_train.shape[2:])) if ds.augment is not None else None
        self.model = ctx.setup_model(self.raw_model)
        self.forward_model = self._compile(self.model) if t.compile else self.model
        self.model.train()
        self.optimizer = build_optimizer(spec, self.model)
        self.bs = spec.data.batch_size
        self.n_local = len(ctx.epoch_indices(len(self.x), 0, spec.seed))
        self.steps_per_epoch, self.total_steps = plan_steps(self.n_local, self.bs, t.grad_accumulation, t.epochs, t.max_steps)
        self.scheduler = build_scheduler(spec, self.optimizer, self.steps_per_epoch, self.total_steps)
        if t.precision == "fp16":
            self.scaler = torch.amp.GradScaler(device.type)
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(t.precision)
        self.autocast = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype else contextlib.nullcontext
        self.loss_fn = self.train_loss_fn = build_loss(spec, self.task)
        if spec.distill.teacher:  # knowledge distillation: targets carry the teacher's soft labels
            from engine.distill import attach_teacher

            self.y, self.train_loss_fn = attach_teacher(spec, self.x, self.y, self.loss_fn, classes=ds.info.num_classes)
        self.clip = spec.regularization.grad_clip_norm
        self.l1 = spec.regularization.l1
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self._plan_windows()
        self.unfreezing = [m for m in self.model.modules() if getattr(m, "unfreeze_after", 0) and getattr(m, "frozen", ())]
        if loaded is not None:
            self._load_state(*loaded)
        self._emit_start(loaded[0].name if loaded else None)

    def _plan_windows(self) -> None:
        """Closed windows may wait to be reported where one rank trains alone. A small model's
        windows keep their log step's gradients and take the norm when reported; others take it
        at once."""
        self.pending: list[_Window] = []
        self.reported_at = time.perf_counter()
        # (on a GPU each window is reported at once: its numbers wait for the GPU, and so its time is the GPU's)
        self.batches = batches = self.ctx.batches_windows and self.x.device.type == "cpu"
        grad_bytes = max(1, sum(p.numel() * p.element_size() for p in self.model.parameters()))
        self.keep_gradients = batches and 2 * grad_bytes <= KEPT_GRADIENT_BYTES
        held = KEPT_GRADIENT_BYTES // grad_bytes if self.keep_gradients else MAX_PENDING_WINDOWS
        self.max_pending = min(MAX_PENDING_WINDOWS, held) if batches else 1

    @staticmethod
    def _compile(model: "nn.Module") -> "nn.Module":
        import torch

        return torch.compile(model)

    # ------------------------------------------------------------------ the loop
    def run(self) -> TrainResult:
        ctx, t = self.ctx, self.t
        epochs, accum, bs, log_every = t.epochs, t.grad_accumulation, self.bs, t.log_every
        ckpt_every, max_steps = t.checkpoint_every, t.max_steps
        model, fmodel, optimizer, scheduler, scaler = self.model, self.forward_model, self.optimizer, self.scheduler, self.scaler
        loss_fn, autocast, x, y, clip, augment = self.train_loss_fn, self.autocast, self.x, self.y, self.clip, self.augment
        backward = self._backward_fn()
        # the common case (one micro-batch per step, fp32, a context that keeps the default step)
        # runs inline: no per-step hooks, context managers or closures beyond what PyTorch needs
        simple = (accum == 1 and autocast is contextlib.nullcontext and type(ctx).forward_backward is RankContext.forward_backward
                  and type(ctx).accumulate is RankContext.accumulate)
        control_every, poll = max(1, ctx.control_every), self._control_poll()
        self.t0 = time.perf_counter()
        self._window_reset()
        losses = self.window_losses
        step_fault = fault_enabled("mid_step")  # test hook (engine.faults): off = one local check per step
        # ... and without gradient scaling, clipping or the fault hook: the tight loop of _plain_epoch
        plain = simple and scaler is None and not clip and not step_fault
        fault_point("before_first_step")
        while self.epoch < epochs and not (max_steps and self.step >= max_steps):
            if self.unfreezing:  # gradual unfreezing of Pretrained blocks (engine.pretrained.block)
                self._unfreeze_due()
            order = ctx.epoch_indices(len(x), self.epoch, self.spec.seed)
            n_order = len(order)
            n_micro = micro_batch_count(n_order, bs)
            epoch_t0 = time.perf_counter()
            if plain:
                ended = self._plain_epoch(order, n_micro, poll, control_every)
                if ended is not None:
                    return ended
            while not plain and self.micro < n_micro:
                if simple:
                    m = self.micro
                    idx = micro_batch(order, m, n_micro, bs)
                    loss = loss_fn(fmodel(x[idx] if augment is None else augment(x[idx])), y[idx])
                    backward(loss)
                    losses.append(loss.detach())
                    self.micro = m + 1
                    self.samples += idx.shape[0]
                else:
                    losses.append(self._micro_batches(order, n_micro, fmodel, loss_fn, backward))
                if step_fault:
                    fault_point("mid_step")
                log_now = (self.step + 1) % log_every == 0
                if scaler is not None:
                    scaler.unscale_(optimizer)
                if clip:
                    self.window_norm = ctx.clip_grad_norm(model, clip)
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                if log_now and not clip:  # (the step leaves the gradients as they were: all the log work in one place)
                    self._note_gradients()
                optimizer.zero_grad(set_to_none=True)
                if scheduler is not None:
                    scheduler.step()
                self.step += 1
                if log_now:
                    self._end_window()
                if max_steps and self.step >= max_steps:
                    break
                if self.step % control_every == 0:
                    action = poll()
                    if action != "run":
                        ended = self._act(action)
                        if ended is not None:
                            return ended
            if self.micro < n_micro:  # max_steps reached mid-epoch
                break
            self.epoch += 1
            self.micro = 0
            if self._end_epoch(time.perf_counter() - epoch_t0, ckpt_every):
                break
        done = "reached max_steps" if max_steps and self.step >= max_steps and self.epoch < epochs else ""
        if self.micro:  # stopped by max_steps mid-epoch: validate what we have
            self._flush_windows()
            if self.epoch_loss[1]:
                self.metrics[TRAIN_LOSS] = self.epoch_loss[0] / self.epoch_loss[1]
            fault_point("final_eval")
            self.metrics.update(self._validate())
        return self.finish("completed", self.early_message or done, save=True)

    def _plain_epoch(self, order, n_micro: int, poll: Callable[[], str], control_every: int) -> TrainResult | None:
        """The rest of this epoch's steps, in the plain case (one micro-batch a step, fp32, no
        scaling or clipping): the loop of `run` with its counters in local variables, written back
        to the loop's state before anything reads them (a log step, a control request, the end, an
        error). The same steps, in the same order, as the general loop; the epoch's micro-batches
        (views of `order`) are sliced once. Returns the run's result when a request ends it."""
        x, y, fmodel, loss_fn, augment = self.x, self.y, self.forward_model, self.train_loss_fn, self.augment
        optimizer, scheduler, backward, losses = self.optimizer, self.scheduler, self._backward_fn(), self.window_losses
        log_every, max_steps = self.t.log_every, self.t.max_steps
        batches = [micro_batch(order, i, n_micro, self.bs) for i in range(n_micro)]
        m, step, samples = self.micro, self.step, self.samples
        try:
            while m < n_micro:
                idx = batches[m]
                loss = loss_fn(fmodel(x[idx] if augment is None else augment(x[idx])), y[idx])
                backward(loss)
                losses.append(loss.detach())
                m += 1
                samples += idx.shape[0]
                optimizer.step()
                step += 1
                if step % log_every == 0:  # a log step: the gradients are kept (or their norm taken) first
                    self._note_gradients()
                    optimizer.zero_grad(set_to_none=True)
                    if scheduler is not None:
                        scheduler.step()
                    self.micro, self.step, self.samples = m, step, samples
                    self._end_window()
                else:
                    optimizer.zero_grad(set_to_none=True)
                    if scheduler is not None:
                        scheduler.step()
                if max_steps and step >= max_steps:
                    break
                if step % control_every == 0:
                    action = poll()
                    if action != "run":
                        self.micro, self.step, self.samples = m, step, samples
                        ended = self._act(action)
                        if ended is not None:
                            return ended
        finally:
            self.micro, self.step, self.samples = m, step, samples
        return None

    def _act(self, action: str) -> TrainResult | None:
        """A control request other than "run", between steps: hold while paused; end the run with
        a checkpoint on stop or prune (its result). None: train on."""
        if action == "pause":
            action = self._pause()
        if action not in ("stop", "prune"):  # prune: a sweep's pruner judged the trial bad
            return None
        self._flush_windows()
        if action == "prune":
            return self.finish("pruned", f"pruned by the sweep after epoch {self.epoch}", save=True)
        return self.finish("stopped", f"stopped by request at step {self.step}", save=True)

    def _control_poll(self) -> Callable[[], str]:
        """The control poll: rank 0's request ("run", "pause", "stop", "prune"), agreed by all ranks
        (one rank alone: the reporter's answer, with no call in between)."""
        if self.ctx.world_size == 1:
            return self.reporter.control
        ctx, reporter = self.ctx, self.reporter
        return lambda: ctx.agree_control(reporter.control() if ctx.is_main else "run")

    def _unfreeze_due(self) -> None:
        """Unfreeze the blocks whose `unfreeze_after` epochs have passed (at an epoch's start, also
        after a resume); their parameters join the L1 penalty's list (the optimizer already holds them)."""
        for block in [m for m in self.unfreezing if self.epoch >= m.unfreeze_after]:
            parts = block.unfreeze()
            self.unfreezing.remove(block)
            known = {id(p) for p in self.params}
            self.params.extend(p for p in block.parameters() if id(p) not in known)
            self.reporter.event("log", level="info", message=f"epoch {self.epoch + 1}: unfroze {', '.join(parts)} "
                                                             f"(unfreeze_after = {block.unfreeze_after})")

    def _micro_batches(self, order, n_micro: int, model, loss_fn, backward):
        """One optimizer step's micro-batches through the RankContext (accumulation, DDP no_sync,
        pipeline schedules, autocast). Returns the step's mean loss (None if this rank has none)."""
        ctx, bs = self.ctx, self.bs
        group = range(self.micro, min(self.micro + self.t.grad_accumulation, n_micro))
        self.divisor = len(group)
        step_losses = []
        for m in group:
            idx = micro_batch(order, m, n_micro, bs)
            with ctx.accumulate(self.model, m == group[-1]):
                xb = self.x[idx] if self.augment is None else self.augment(self.x[idx])
                loss = ctx.forward_backward(model, xb, self.y[idx], loss_fn, self.autocast, backward)
            if loss is not None:
                step_losses.append(loss)
            self.samples += len(idx)
        self.micro = group[-1] + 1
        if not step_losses:
            return None
        return step_losses[0] if len(step_losses) == 1 else torch_mean(step_losses)

    def _backward_fn(self):
        """The backward closure: adds the L1 penalty, divides for accumulation, scales for fp16."""
        import torch

        l1, scaler, params, accum = self.l1, self.scaler, self.params, self.t.grad_accumulation
        if not l1 and scaler is None and accum == 1:
            return torch.Tensor.backward

        def backward(loss):
            if l1:
                loss = loss + l1 * torch.stack([p.abs().sum() for p in params]).sum()
            if self.divisor != 1:
                loss = loss / self.divisor
            if scaler is not None:
                loss = scaler.scale(loss)
            loss.backward()

        return backward

    # ------------------------------------------------------------------ windows, epochs
    def _window_reset(self, now: float | None = None) -> None:
        self.window_losses: list = getattr(self, "window_losses", [])
        self.window_losses.clear()
        self.window_norm = None
        self.window_gradients: list | None = None
        self.window_t0 = time.perf_counter() if now is None else now
        self.window_samples = self.samples

    def _note_gradients(self) -> None:
        """At a log step: keep the gradients for the window's norm (taken when it is reported), or
        take the norm now where keeping them would cost memory or the context needs more."""
        gradients = self.ctx.gradients(self.model) if self.keep_gradients else None
        if gradients is None:
            self.window_norm = self.ctx.grad_norm(self.model)
        else:
            self.window_gradients = gradients

    def _end_window(self) -> None:
        """A log step: close the window, and report the closed ones when a batch is due."""
        now = self._close_window()
        if len(self.pending) >= self.max_pending or now - self.reported_at >= WINDOW_BATCH_SECONDS:
            self._report_windows()

    def _flush_windows(self) -> None:
        """Close the window and report every closed one (epoch end, stop, max_steps)."""
        self._close_window()
        self._report_windows()

    def _close_window(self) -> float:
        """Keep what the current window's metric event needs in `pending`; start the next window.
        Returns the time (perf_counter)."""
        losses = self.window_losses
        if losses and not self.batches and self.x.device.type == "cuda":
            import torch.cuda  # (torch is loaded: the loop runs)

            torch.cuda.synchronize(self.x.device)  # the window's time includes the GPU's work (as its numbers will)
        now = time.perf_counter()
        if losses:
            self.pending.append(_Window(
                losses[:], self.window_norm, self.window_gradients, self.step, self.epoch,
                self.epoch + self.micro / max(1, self._micro_per_epoch()), self.optimizer.param_groups[0]["lr"],
                self.samples - self.window_samples, now - self.window_t0, round(time.time(), 6)))
            self._window_reset(now)
        return now

    def _report_windows(self) -> None:
        """Report the closed windows, oldest first (NonFiniteLoss at the first bad step)."""
        pending, self.pending = self.pending, []
        self.reported_at = time.perf_counter()
        for window in pending:
            self._report(window)

    def _report(self, window: _Window) -> None:
        """Turn a window's step losses into numbers (one sync), check them, fold them into the
        epoch's train loss and report its metric event."""
        k = len(window.losses)
        norm = window.norm if window.gradients is None else norm_of(window.gradients)
        values = window_values(window.losses, norm)
        if self.ctx.world_size > 1:
            import torch

            values = self.ctx.reduce_sum(torch.tensor(values, dtype=torch.float64, device=self.x.device)).tolist()
        total, count, norm_value = values[0], values[1], values[2]
        bad = [i for i, flag in enumerate(values[3:]) if flag > 0]
        if bad:
            raise NonFiniteLoss(window.step - k + 1 + bad[0], window.epoch)
        self.epoch_loss[0] += total
        self.epoch_loss[1] += count
        if not count:
            return
        seconds = max(window.seconds, 1e-9)
        fields: dict[str, Any] = {
            "time": window.time, "step": window.step, "epoch": window.progress, TRAIN_LOSS: total / count, LR: window.lr,
            SAMPLES_PER_S: window.samples * self.ctx.data_parallel_size / seconds, STEP_TIME: seconds / k,
        }
        if norm is not None:
            fields[GRAD_NORM] = norm_value / self.ctx.world_size
        if self.x.device.type == "cuda":
            import torch.cuda

            fields[GPU_MEMORY] = torch.cuda.max_memory_allocated(self.x.device)
        self.reporter.event("metric", **fields)

    def _micro_per_epoch(self) -> int:
        return micro_batch_count(self.n_local, self.bs)

    def _validate(self) -> dict[str, float]:
        return evaluate(self.ctx.eval_model(self.model), self.xv, self.yv, task=self.task,
                        loss_fn=self.loss_fn, ctx=self.ctx, batch_size=self._eval_batch(), autocast=self.autocast)

    def _eval_batch(self) -> int:
        """Validation needs no gradients: use big batches (up to ~16M input values at a time)."""
        sample = max(1, self.xv[0].numel()) if len(self.xv) else 1
        return max(self.bs, min(1024, (1 << 24) // sample))

    def _end_epoch(self, seconds: float, ckpt_every: int) -> bool:
        """Validate, report the epoch, step plateau schedules, early stopping, checkpoint.
        Returns True when training should end (early stopping)."""
        self._flush_windows()
        if self.epoch >= self.t.epochs or (self.t.max_steps and self.step >= self.t.max_steps):
            fault_point("final_eval")
        train_loss = self.epoch_loss[0] / self.epoch_loss[1] if self.epoch_loss[1] else float("nan")
        self.epoch_loss = [0.0, 0.0]
        self.metrics = {TRAIN_LOSS: train_loss, **self._validate()}
        self.reporter.event("epoch", epoch=self.epoch, step=self.step, lr=self.optimizer.param_groups[0]["lr"],
                            epoch_seconds=seconds, **self.metrics)
        if self.scheduler is not None:
            self.scheduler.epoch_end(self.metrics)
        better = self._track_best()
        stop = self._early_stop(better)
        last = stop or self.epoch >= self.t.epochs or (self.t.max_steps and self.step >= self.t.max_steps)
        if self.rundir is not None and ckpt_every and self.epoch % ckpt_every == 0 and not last:
            self._checkpoint()
        if better and self.rundir is not None:
            self._save_best()
        if not last:
            self._weights = None  # the final checkpoint (in finish) may reuse this epoch's gathered weights
        self._window_reset()
        return stop

    def _track_best(self) -> bool:
        """Whether this epoch's watched metric (regularization.early_stopping_metric) beats the
        best so far; if so it becomes the best. Every rank sees the same (reduced) metrics, so
        every rank decides alike."""
        metric = self.spec.regularization.early_stopping_metric
        value = self.metrics.get(metric)
        if value is None or not math.isfinite(value):
            return False
        if improved(metric, value, self.best):
            self.best, self.best_epoch, self.bad_epochs = value, self.epoch, 0
            return True
        self.bad_epochs += 1
        return False

    def _early_stop(self, better: bool) -> bool:
        reg = self.spec.regularization
        metric = reg.early_stopping_metric
        if not reg.early_stopping_patience or metric not in self.metrics or better:
            return False
        if self.bad_epochs >= reg.early_stopping_patience:
            self.early_message = (f"early stopping after epoch {self.epoch}: {metric} did not improve for "
                                  f"{self.bad_epochs} epochs (best {self.best:.4g} at epoch {self.best_epoch})")
            return True
        return False

    def _pause(self) -> str:
        """Hold between steps until resumed or stopped; all ranks poll together."""
        self._report_windows()
        self.reporter.event("status", status="paused", step=self.step, epoch=self.epoch)
        paused_at = time.perf_counter()
        action = "pause"
        while action == "pause":
            time.sleep(0.1)
            action = self._control_poll()()
        self.t0 += time.perf_counter() - paused_at
        self.window_t0 += time.perf_counter() - paused_at
        if action not in ("stop", "prune"):
            self.reporter.event("status", status="running", step=self.step, epoch=self.epoch)
        return action

    # ------------------------------------------------------------------ state
    def _state(self) -> dict[str, Any]:
        from engine.train_state import capture

        return capture(self)

    def _load_state(self, folder, state: Mapping[str, Any]) -> None:
        from engine.train_state import restore

        restore(self, folder, state)

    def _full_weights(self) -> Mapping[str, Any]:
        """The full (unsharded) weights of this step — every rank must call (FSDP / tensor /
        pipeline gather them onto rank 0). Gathered once per step: the epoch's checkpoint and
        best checkpoint share them."""
        if self._weights is None or self._weights[0] != self.step:
            self._weights = (self.step, self.ctx.model_state_dict(self.model))
        return self._weights[1]

    def _checkpoint(self) -> str | None:
        """Save a checkpoint (every rank takes part in gathering state; rank 0 writes)."""
        from engine.checkpoint import save_checkpoint

        weights = self._full_weights()
        state = self._state()
        if self.rundir is None or not self.ctx.is_main:
            return None
        folder = save_checkpoint(self.rundir.checkpoints, weights, state, step=self.step)
        self.reporter.event("checkpoint", step=self.step, epoch=self.epoch, path=str(folder.relative_to(self.rundir.path)),
                            best=False)
        return str(folder)

    def _save_best(self) -> None:
        """Save this epoch's weights as the run's best checkpoint (all ranks gather, rank 0 writes)."""
        from engine.checkpoint import save_best

        weights = self._full_weights()
        if self.rundir is None or not self.ctx.is_main:
            return
        metric = self.spec.regularization.early_stopping_metric
        folder = save_best(self.rundir.checkpoints, weights, step=self.step, epoch=self.epoch, metric=metric, value=self.best)
        self.reporter.event("checkpoint", step=self.step, epoch=self.epoch, path=str(folder.relative_to(self.rundir.path)),
                            best=True, metric=metric, value=self.best)

    # ------------------------------------------------------------------ reporting
    def _emit_start(self, resumed_from: str | None) -> None:
        from engine.train_state import emit_start

        emit_start(self, resumed_from, self.resume_note)
        self.started = True

    def report_error(self, message: str, trace: str) -> None:
        self.reporter.event("error", message=message, traceback=trace, rank=self.ctx.rank, step=self.step)

    def finish(self, status: str, message: str, *, save: bool, emit_error: bool = True) -> TrainResult:
        if getattr(self, "pending", None):  # windows closed before an interrupt or error are still reported
            with contextlib.suppress(Exception):  # best effort: the run's own ending is what counts here
                self._report_windows()
        checkpoint = None
        if save and self.optimizer is not None:
            fault_point("final_checkpoint")
            checkpoint = self._checkpoint()
        self._weights = None
        if status == "failed" and emit_error:
            self.report_error(message, "")
        wall = self.wall_before + time.perf_counter() - self.t0
        metrics = {k: v for k, v in self.metrics.items() if isinstance(v, float) and math.isfinite(v)}
        self.reporter.event("status", status=status, message=message, step=self.step, epoch=self.epoch,
                            metrics=metrics, checkpoint=checkpoint)
        fault_point("after_final_status")
        sps = self.samples * self.ctx.data_parallel_size / wall if wall > 0 else 0.0
        epochs = self.epoch + (round(self.micro / self._micro_per_epoch(), 3) if self.micro and self.optimizer else 0)
        return TrainResult(status, epochs, self.step, metrics, round(wall, 3), round(sps, 1), message, checkpoint)
