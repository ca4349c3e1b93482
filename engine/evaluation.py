"""Validation metrics for one rank, summed over ranks through the RankContext.

Classification and language modelling report `val_loss` and `val_accuracy` (for LM: accuracy
of next-token prediction over all positions); regression reports `val_loss` and `val_error`
(mean absolute error over all targets, in the units of the (normalized) targets)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, ContextManager

from engine.metrics import QUALITY, VAL_LOSS, improved  # noqa: F401  (improved re-exported: the trainer uses it)

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from engine.rank import RankContext


def evaluate(model: "nn.Module", x: "torch.Tensor", y: "torch.Tensor", *, task: str, loss_fn: Callable,
             ctx: "RankContext", batch_size: int, autocast: Callable[[], ContextManager[Any]]) -> dict[str, float]:
    """{"val_loss": ..., "val_accuracy" | "val_error": ...} over this rank's share of (x, y),
    summed over all ranks; {} when there is no validation data."""
    import torch

    indices = ctx.eval_indices(len(x))
    if indices is not None:
        x, y = x[indices], y[indices]
    device = x.device
    # sums: loss * samples, samples, correct (or |error|), counted elements
    sums = torch.zeros(4, dtype=torch.float64, device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(x), batch_size):
                xb, yb = x[start:start + batch_size], y[start:start + batch_size]
                with autocast():
                    out = ctx.forward_eval(model, xb)
                    if out is None:
                        continue
                    loss = loss_fn(out, yb)
                out = out.float()
                sums[0] += loss.double() * len(xb)
                sums[1] += len(xb)
                if task == "regression":
                    sums[2] += (out - yb).abs().sum().double()
                else:
                    sums[2] += (out.argmax(-1) == yb).sum().double()
                sums[3] += yb.numel()
    finally:
        model.train(was_training)
    loss_sum, n, quality, elements = ctx.reduce_sum(sums).tolist()
    if n == 0:
        return {}
    return {VAL_LOSS: loss_sum / n, QUALITY[task]: quality / max(elements, 1)}


def window_values(losses: list, norm: "torch.Tensor | None") -> list[float]:
    """The numbers of a metric window: [sum of finite step losses, steps with a loss, grad norm
    (0 if none), one non-finite flag per step] — one host transfer for losses and norm together.
    `losses` holds a 0-d loss tensor per step (None on ranks without the loss)."""
    import torch

    tensors = losses if norm is None else [*losses, norm.detach()]
    try:  # the usual case (every step has a 0-d loss on one device): one op, one transfer, little Python
        numbers = torch.stack(tensors).tolist() if tensors else []
    except (TypeError, RuntimeError):  # None losses (ranks without the loss) or tensors on several devices
        numbers = None
    if numbers is None or (numbers and isinstance(numbers[0], list)):
        return _window_values_general(losses, norm)
    norm_value = numbers.pop() if norm is not None else 0.0
    total = sum(numbers)
    if math.isfinite(total):
        return [total, float(len(numbers)), norm_value, *([0.0] * len(numbers))]
    flags = [0.0 if math.isfinite(v) else 1.0 for v in numbers]
    return [sum(v for v, f in zip(numbers, flags) if not f), float(len(numbers)), norm_value, *flags]


def _window_values_general(losses: list, norm: "torch.Tensor | None") -> list[float]:
    """window_values for windows with missing losses or mixed devices/shapes."""
    import torch

    have = [l for l in losses if l is not None]
    tensors = [t.detach().double().reshape(1).cpu() for t in have]
    if norm is not None:
        tensors.append(norm.detach().double().reshape(1).cpu())
    numbers = torch.cat(tensors).tolist() if tensors else []
    norm_value = numbers.pop() if norm is not None else 0.0
    it = iter(numbers)
    per_step = [next(it) if l is not None else 0.0 for l in losses]
    flags = [0.0 if math.isfinite(v) else 1.0 for v in per_step]
    total = sum(v for v, f in zip(per_step, flags) if not f)
    return [total, float(len(have)), norm_value, *flags]
