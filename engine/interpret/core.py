"""Explain samples: check the method, resolve the target, run Captum, package the result.

Every sample is explained on its own, with the torch RNG seeded from the method's `seed`
parameter right before, so the command line, the Explain page and a notebook produce the same
arrays for the same run, sample, method and parameters.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

from engine.interpret.context import Explainable, counting_forward
from engine.interpret.methods import METHODS, check_method, expected_calls
from engine.interpret.targets import TargetChoice, parse_target, resolve_target
from engine.problems import Problem, SpecError

#: Captum warnings that only narrate what it does (hooks set and removed, requires_grad set).
QUIET_WARNINGS = ("hooks", "required_grads has been set automatically", "Internal batch size cannot be less",
                  "internal batch size must be at least")

Progress = Callable[[float], None]


class ExplainError(SpecError):
    """A method, parameter, target or sample that cannot be used; carries Problems."""


@dataclass(frozen=True)
class Attribution:
    """One explained sample. `values` has the shape of the input sample (one value per token
    for text models); `probabilities` are the model's class probabilities for the sample (the
    raw outputs for a regression model)."""

    method: str
    params: dict[str, Any]
    target: int
    predicted: int
    probabilities: np.ndarray
    values: np.ndarray
    delta: float | None = None
    true_label: int | None = None
    index: int = -1
    seconds: float = 0.0
    signed: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    def summary(self, class_names: Sequence[str] = (), regression: bool = False) -> dict[str, Any]:
        """JSON-ready description (what `summary.json` lists per sample). For regression models
        `probabilities` holds the raw outputs, reported as `output`."""
        def name(i: int | None) -> str | None:
            return None if i is None else (class_names[i] if i < len(class_names) else str(i))
        if regression:
            return {"index": self.index, "target": self.target, "target_name": name(self.target),
                    "output": float(self.probabilities[self.target]), "delta": self.delta,
                    "seconds": round(self.seconds, 6), "sum": float(self.values.sum()), "notes": list(self.notes)}
        return {
            "index": self.index, "target": self.target, "target_name": name(self.target),
            "predicted": self.predicted, "predicted_name": name(self.predicted),
            "probability": float(self.probabilities[self.predicted]) if self.probabilities.size else None,
            "target_probability": float(self.probabilities[self.target]) if self.target < self.probabilities.size else None,
            "true": self.true_label, "true_name": name(self.true_label), "delta": self.delta,
            "seconds": round(self.seconds, 6), "sum": float(self.values.sum()), "notes": list(self.notes),
        }


def prepare(ctx: Explainable, method: str, params: dict | None) -> dict[str, Any]:
    """Checked, default-filled parameters for `method` on this model; raises ExplainError."""
    resolved, problems = check_method(method, dict(params or {}), ctx)
    if problems:
        raise ExplainError(problems)
    return resolved


def explain_sample(
    ctx: Explainable, x: np.ndarray, method: str, params: dict | None = None,
    target: TargetChoice | str | int = "predicted", *, true_label: int | None = None, index: int = -1,
    progress: Progress | None = None, resolved: dict | None = None,
) -> Attribution:
    """Attribute one sample `x` (shape = the model's input shape) with `method`.

    `target` is "predicted", "true" (needs `true_label`), a class index or a TargetChoice.
    `progress(fraction)` is called as the method's forward passes complete."""
    params = resolved if resolved is not None else prepare(ctx, method, params)
    choice = target if isinstance(target, TargetChoice) else parse_target(target, ctx.class_names)
    batch = ctx.tensor(x)
    probs = ctx.predict(np.asarray(x)[None])[0]
    target_index = resolve_target(choice, probs, true_label, ctx.num_classes)
    entry = METHODS.get(method)
    remove = _progress_hook(ctx, method, params, progress)
    start = time.perf_counter()
    try:
        seed_everything(int(params.get("seed", 0)))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = entry.obj(ctx, batch, target_index, params)
    finally:
        remove()
    seconds = time.perf_counter() - start
    notes = tuple(dict.fromkeys(str(w.message).strip() for w in caught
                                if not any(q in str(w.message) for q in QUIET_WARNINGS)))
    values = out.values[0].detach().cpu().numpy().astype(np.float32)
    return Attribution(method, dict(params), target_index, int(np.argmax(probs)), probs.astype(np.float32), values,
                       out.delta, true_label, index, seconds, bool(entry.extra.get("signed", True)), notes)


def seed_everything(seed: int) -> None:
    """Seed torch and numpy's global generators (Captum draws from both, e.g. GradientShap)."""
    torch.manual_seed(seed)
    np.random.seed(seed)


def _progress_hook(ctx: Explainable, method: str, params: dict, progress: Progress | None) -> Callable[[], None]:
    if progress is None:
        return lambda: None
    total = max(1, expected_calls(method, params, ctx))
    return counting_forward(ctx.forward, lambda n: progress(min(1.0, n / total)))


def explain_many(
    ctx: Explainable, xs: np.ndarray, method: str, params: dict | None = None,
    target: TargetChoice | str | int = "predicted", *, labels: np.ndarray | None = None,
    indices: Sequence[int] | None = None, progress: Progress | None = None,
) -> list[Attribution]:
    """Explain each row of `xs` in turn (same result as explain_sample on each)."""
    resolved = prepare(ctx, method, params)
    choice = target if isinstance(target, TargetChoice) else parse_target(target, ctx.class_names)
    out = []
    for i, x in enumerate(xs):
        label = None if labels is None else true_label(labels[i])
        sub = None if progress is None else (lambda f, i=i: progress((i + f) / len(xs)))
        out.append(explain_sample(ctx, x, method, target=choice, true_label=label,
                                  index=i if indices is None else int(indices[i]), progress=sub, resolved=resolved))
    return out


def true_label(y: Any) -> int | None:
    """The class a label array names (last position for language-model targets), or None."""
    y = np.asarray(y)
    if y.ndim == 0:
        return int(y) if np.issubdtype(y.dtype, np.integer) else None
    return int(y.reshape(-1)[-1]) if np.issubdtype(y.dtype, np.integer) else None  # LM: the next character


def select_indices(total: int, *, samples: int | None = None, index: Sequence[int] | None = None,
                   path_samples: str = "samples", path_index: str = "index") -> list[int]:
    """Which samples to explain: explicit `index` values, else the first `samples` (default 8)."""
    if index:
        bad = [i for i in index if not 0 <= i < total]
        if bad:
            raise ExplainError([Problem(path_index, f"sample {bad[0]} is outside the split (0..{total - 1}, "
                                                    f"{total} samples)")])
        return list(index)
    n = 8 if samples is None else samples
    if n < 1:
        raise ExplainError([Problem(path_samples, f"must be at least 1, got {n}")])
    return list(range(min(n, total)))


