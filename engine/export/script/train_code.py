"""Write a run's training as a short plain script (`train.py`) with the spec's values as constants.

The script does what Netwright's trainer does, in the same order of random-number use, so on the
same machine it gives the same per-step losses for the same seed: the seeded split and the
normalization (engine/data/splits.py, copied as source), `torch.manual_seed(SEED)` before building
the model and again before training, each epoch's sample order from its own generator
(seed * 1_000_003 + epoch, as engine/rank.py), and the step: forward, loss (+ L1), backward
(divided over accumulated micro-batches), clipping, decoupled weight decay, optimizer, schedule.
"""
from __future__ import annotations

import inspect
import textwrap
from typing import Any

from engine.export.base import ExportError
from engine.steps import micro_batch, micro_batch_count

#: regression losses by name -> torch.nn.functional's function (see engine/losses.py)
REGRESSION_LOSSES = {"mse": "mse_loss", "l1": "l1_loss", "huber": "huber_loss", "smooth_l1": "smooth_l1_loss"}
#: the built-in scikit-learn data sets' loader functions (see engine/data/builtin.py)
_SKLEARN_IMAGE = '''    bunch = sklearn.datasets.{loader}()
    x = np.asarray(bunch.images, dtype=np.float32)[:, None, :, :] / 16.0  # pixel values are 0..16
    return x, np.asarray(bunch.target, dtype=np.int64)'''
_SKLEARN_TABLE = '''    bunch = sklearn.datasets.{loader}()
    return np.asarray(bunch.data, dtype=np.float32), np.asarray(bunch.target, dtype=np.int64)'''
_NPZ = '''    # the samples Netwright's "{source}" source produced for this run, saved by the export
    arrays = np.load(Path(__file__).with_name("data.npz"))
    return arrays["x"], arrays["y"]'''


def _source(obj: Any) -> str:
    return textwrap.dedent(inspect.getsource(obj)).rstrip() + "\n"


def _helpers(function: Any, module: Any) -> list[Any]:
    """The module-level functions `function` calls (transitively), dependencies first."""
    out: list[Any] = []

    def visit(fn: Any) -> None:
        for name in fn.__code__.co_names:
            dep = getattr(module, name, None)
            if inspect.isfunction(dep) and dep.__module__ == module.__name__ and dep not in out and dep is not function:
                visit(dep)
                out.append(dep)

    visit(function)
    return out


def data_code(spec: Any, raw: Any) -> tuple[str, bool]:
    """(the `load_samples` function, whether it reads data.npz)."""
    from engine.data import builtin

    table = getattr(builtin, "_BUILTINS", {})
    if spec.data.source in table:
        entry = table[spec.data.source]
        body = (_SKLEARN_IMAGE if entry.info.kind == "image" else _SKLEARN_TABLE).format(loader=entry.loader)
        doc = f'"""Every sample of scikit-learn\'s {spec.data.source} data set, before the split."""'
        return f"def load_samples():\n    {doc}\n    import sklearn.datasets\n\n{body}\n", False
    doc = '"""Every sample, before the split."""'
    return f"def load_samples():\n    {doc}\n{_NPZ.format(source=spec.data.source)}\n", True


def schedule_code(spec: Any) -> str:
    """The learning-rate schedule: a factor function of the step (engine/schedulers.py's, copied)."""
    from engine import schedulers
    from engine.schedulers import SCHEDULERS

    name = spec.scheduler.name
    factor = SCHEDULERS.get(name).obj
    if name == "constant" or factor is None:
        return ""
    own = _source(factor)
    own = own[own.index("def "):]  # without the registering decorator
    text = "\n\n".join([_source(dep) for dep in _helpers(factor, schedulers)] + [own])
    return text.replace("plan: SchedulePlan", "plan").replace(f"def {factor.__name__}(", "def lr_factor(") + "\n"


def train_source(spec: Any, raw: Any, model_class: str, run_id: str) -> tuple[str, bool]:
    """(train.py's text, whether it needs data.npz)."""
    from engine.data import splits
    from engine.losses import loss_name
    from engine.optim import OPTIMIZERS, _torch_kwargs, optimizer_options
    from engine.schedulers import schedule_plan

    if spec.parallel.strategy != "none" and spec.parallel.processes * spec.parallel.nnodes > 1:
        note = f"# Netwright trained this run with {spec.parallel.strategy} on {spec.parallel.processes * spec.parallel.nnodes} processes; this script trains in one.\n"
    else:
        note = ""
    if spec.distill.teacher and spec.distill.alpha > 0:  # (with alpha 0 the run trained on the labels alone)
        raise ExportError("distill.teacher", f"is {spec.distill.teacher!r}: this run learned from a teacher's soft "
                                             "labels, which the script format does not write out (its train.py would "
                                             "retrace a different run) — export onnx, torch_export or bundle instead")
    if spec.training.precision != "fp32":
        raise ExportError("training.precision", f"is {spec.training.precision}; the script format writes fp32 training "
                                                "only — set training.precision = \"fp32\" or export onnx/bundle")
    task = raw.info.task
    loss = loss_name(spec, task)
    opts = optimizer_options(spec)
    kwargs = _torch_kwargs(spec.optimizer.name, opts)
    wd = float(opts.get("weight_decay", 0.0))
    decoupled = spec.regularization.weight_decay_mode == "decoupled"
    if wd and not decoupled:
        kwargs["weight_decay"] = wd
    torch_class = OPTIMIZERS.get(spec.optimizer.name).obj
    reg, t = spec.regularization, spec.training
    load, uses_npz = data_code(spec, raw)
    stratify = raw.stratify and task == "classification"
    norm = raw.normalize
    split_src = f"_SPLIT_SALT = {splits._SPLIT_SALT:#x}  # keeps the split's random stream apart from the data's\n\n\n" + _source(splits.split_indices)
    split_src += "\n\n" + "\n\n".join(_source(f) for f in (micro_batch_count, micro_batch))  # Netwright's batches
    norm_src = ""
    if norm != "none":
        stats = splits.channel_stats if norm == "image" else splits.feature_stats
        norm_src = "\n\n".join(_source(f) for f in (stats, splits._finish, splits.apply_norm))
    sched = schedule_code(spec)
    plan_opts = dict(schedule_plan(spec, 1, 1).options)
    plateau = spec.scheduler.name == "plateau"
    if loss == "cross_entropy":
        loss_fn = ("def loss_fn(out, y):\n"
                   "    if out.dim() > 2:  # language modelling: (B, T, V) against (B, T)\n"
                   "        out, y = out.reshape(-1, out.shape[-1]), y.reshape(-1)\n"
                   "    return F.cross_entropy(out, y, label_smoothing=LABEL_SMOOTHING)\n")
    else:
        loss_fn = f"loss_fn = F.{REGRESSION_LOSSES[loss]}\n"
    metric = "val_error" if task == "regression" else "val_accuracy"
    watched = {"val_loss": "val_loss", metric: "quality"}.get(plan_opts.get("metric", ""), "") if plateau else ""
    plateau_step = (f"        scheduler.step({watched})  # the plateau schedule watches {plan_opts['metric']}" if watched
                    else f"        # (the plateau schedule watches {plan_opts.get('metric')}, which this task does not report)"
                    if plateau else "")
    device = ('"cuda" if torch.cuda.is_available() else "cpu"' if spec.training.device == "auto"
              else repr(spec.training.device))
    lines = [f'''"""Train "{spec.name}" as Netwright run {run_id} did, in plain PyTorch.

    python train.py            # trains from scratch and prints the loss of every step

Same data split, initial weights, sample order and updates as Netwright: on the same machine
the per-step losses equal the run's for the same seed. Written by `netwright export --format script`.
"""
from __future__ import annotations

import math
{"from pathlib import Path" + chr(10) if uses_npz else ""}{"from types import SimpleNamespace" + chr(10) if sched and not plateau else ""}
import numpy as np
import torch
import torch.nn.functional as F

from model import {model_class}
{note}
# ---------------------------------------------------------------- the spec's values
SEED = {spec.seed}
BATCH_SIZE = {spec.data.batch_size}
VAL_FRACTION = {float(spec.data.val_fraction)!r}
EPOCHS = {t.epochs}
MAX_STEPS = {t.max_steps}  # 0 = no cap
GRAD_ACCUMULATION = {t.grad_accumulation}
OPTIMIZER = torch.optim.{torch_class}
OPTIMIZER_OPTIONS = {kwargs!r}
WEIGHT_DECAY = {wd if decoupled else 0.0!r}  # decoupled (AdamW-style): p -= lr * wd * p before each step
L1 = {float(reg.l1)!r}
GRAD_CLIP_NORM = {float(reg.grad_clip_norm)!r}  # 0 = off
LABEL_SMOOTHING = {float(reg.label_smoothing)!r}
SCHEDULE = {spec.scheduler.name!r}
SCHEDULE_OPTIONS = {plan_opts!r}
STRATIFY = {stratify}
DEVICE = {device}


# ---------------------------------------------------------------- data
{load}

{split_src}''']
    if norm_src:
        lines.append(f"\n{norm_src}")
    normalize = {"image": "channel_stats", "standardize": "feature_stats"}.get(norm)
    norm_lines = (f"    stats = {normalize}(x_train)\n    x_train, x_val = apply_norm(x_train, stats), apply_norm(x_val, stats)\n"
                  if normalize else "")
    lines.append(f'''

def load_data():
    """(x_train, y_train, x_val, y_val): the seeded split, normalized with training-split statistics."""
    x, y = load_samples()
    train, val = split_indices(len(x), VAL_FRACTION, SEED, y if STRATIFY else None)
    x_train, x_val = x[train], x[val]
{norm_lines}    return x_train, y[train], x_val, y[val]


# ---------------------------------------------------------------- loss and schedule
{loss_fn}''')
    if sched:
        lines.append(f"\n{sched}")
    lines.append(f'''

def evaluate(model, x, y):
    """Validation loss and {metric.replace('val_', '')} (no gradients, eval mode)."""
    model.eval()
    total = quality = 0.0
    with torch.no_grad():
        for start in range(0, len(x), 1024):
            out, target = model(x[start:start + 1024]), y[start:start + 1024]
            total += float(loss_fn(out, target)) * len(target)
            {"quality += float((out - target).abs().sum())" if task == "regression" else "quality += float((out.argmax(-1) == target).sum())"}
    model.train()
    return total / max(len(x), 1), quality / max(y.numel(), 1)


def decay_weights(optimizer):
    """Decoupled weight decay, before each optimizer step."""
    with torch.no_grad():
        for group in optimizer.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                torch._foreach_mul_(params, 1.0 - group["lr"] * WEIGHT_DECAY)


# ---------------------------------------------------------------- training
def main():
    x_train, y_train, x_val, y_val = load_data()
    torch.manual_seed(SEED)
    model = {model_class}()
    torch.manual_seed(SEED)  # Netwright seeds again before training (dropout masks)
    device = torch.device(DEVICE)
    x_train, y_train = torch.as_tensor(x_train).to(device), torch.as_tensor(y_train).to(device)
    x_val, y_val = torch.as_tensor(x_val).to(device), torch.as_tensor(y_val).to(device)
    model.to(device).train()
    optimizer = OPTIMIZER(model.parameters(), **OPTIMIZER_OPTIONS)
    params = [p for p in model.parameters() if p.requires_grad]
    n = len(x_train)
    micro_batches = micro_batch_count(n, BATCH_SIZE)
    steps_per_epoch = max(1, math.ceil(micro_batches / GRAD_ACCUMULATION))
    total_steps = min(steps_per_epoch * EPOCHS, MAX_STEPS) if MAX_STEPS else steps_per_epoch * EPOCHS
''')
    if sched and not plateau:
        lines.append('''    plan = SimpleNamespace(base_lr=OPTIMIZER_OPTIONS["lr"], steps_per_epoch=steps_per_epoch,
                           total_steps=total_steps, options=SCHEDULE_OPTIONS)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: lr_factor(t, plan))
''')
    elif plateau:
        mode = "max" if plan_opts["metric"] == "val_accuracy" else "min"
        lines.append(f'''    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode={mode!r}, factor=SCHEDULE_OPTIONS["factor"], patience=SCHEDULE_OPTIONS["patience"],
        min_lr=SCHEDULE_OPTIONS["min_lr"])
''')
    lines.append(f'''    step = 0
    for epoch in range(EPOCHS):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(SEED * 1_000_003 + epoch))
        batches = [micro_batch(order, m, micro_batches, BATCH_SIZE) for m in range(micro_batches)]
        for first in range(0, len(batches), GRAD_ACCUMULATION):
            group = batches[first:first + GRAD_ACCUMULATION]
            losses = []
            for idx in group:
                loss = loss_fn(model(x_train[idx]), y_train[idx])
                losses.append(loss.detach())
                if L1:
                    loss = loss + L1 * torch.stack([p.abs().sum() for p in params]).sum()
                (loss / len(group) if len(group) > 1 else loss).backward()
            if GRAD_CLIP_NORM:
                torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP_NORM)
            if WEIGHT_DECAY:
                decay_weights(optimizer)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
{"            scheduler.step()" if sched and not plateau else ""}
            step += 1
            step_loss = losses[0] if len(losses) == 1 else torch.stack(losses).mean()
            print(f"step {{step}} loss {{step_loss.item()}}", flush=True)
            if MAX_STEPS and step >= MAX_STEPS:
                break
        val_loss, quality = evaluate(model, x_val, y_val)
{plateau_step}
        print(f"epoch {{epoch + 1}} val_loss {{val_loss:.4f}} {metric} {{quality:.4f}}", flush=True)
        if MAX_STEPS and step >= MAX_STEPS:
            break
    return model


if __name__ == "__main__":
    main()
''')
    text = "\n".join(line.rstrip() for line in "".join(lines).splitlines())
    while "\n\n\n\n" in text:
        text = text.replace("\n\n\n\n", "\n\n\n")
    return text.replace("\n\n            step += 1", "\n            step += 1").replace(
        "\n\n        print(f\"epoch", "\n        print(f\"epoch") + "\n", uses_npz
