"""The model-randomization sanity check (Adebayo et al., 2018, "Sanity Checks for Saliency Maps").

A method whose maps barely change when the trained weights are replaced by random ones does not
explain what the model learned. We explain the same samples (same target classes) with the
trained model and with copies whose weights are re-initialized, and report the Spearman rank
correlation between the maps: near 1 means "independent of the weights" (a warning sign).
The cascading variant re-initializes layers one at a time from the output towards the input.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from engine.interpret.context import Explainable, with_model
from engine.interpret.core import explain_many, prepare
from engine.interpret.targets import TargetChoice, parse_target


@dataclass(frozen=True)
class SanityResult:
    """`correlations[i]`: Spearman correlation of sample i's map, trained vs fully re-initialized.
    `cascade`: (layer name re-initialized down to, mean correlation) from the output layer down."""

    method: str
    correlations: tuple[float, ...]
    cascade: tuple[tuple[str, float], ...] = ()
    absolute: bool = True

    @property
    def mean(self) -> float:
        return float(np.mean(self.correlations)) if self.correlations else float("nan")

    def verdict(self) -> str:
        """One line a user can act on."""
        m = self.mean
        if m >= 0.8:
            return f"{self.method}: maps barely change with random weights (rank correlation {m:.2f}) — they do not reflect what the model learned"
        if m >= 0.5:
            return f"{self.method}: maps partly survive random weights (rank correlation {m:.2f}) — read them with care"
        return f"{self.method}: maps depend on the trained weights (rank correlation {m:.2f}) — passes the check"


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two arrays (flattened; ties get their average rank)."""
    ra, rb = _ranks(np.ravel(a)), _ranks(np.ravel(b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = float(np.sqrt((ra ** 2).sum() * (rb ** 2).sum()))
    return float((ra * rb).sum() / denom) if denom > 0 else 0.0


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    ranks = np.empty(len(x), dtype=np.float64)
    # average ranks over runs of equal values
    boundaries = np.flatnonzero(np.diff(sorted_x) != 0) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(x)]))
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e - 1) / 2.0
    return ranks


def reinitialize(model: nn.Module, layers: Sequence[str] | None = None, seed: int = 0) -> nn.Module:
    """A copy of `model` whose named layers (all when None) get fresh random weights."""
    clone = copy.deepcopy(model)
    torch.manual_seed(seed)
    wanted = None if layers is None else set(layers)
    for name, module in clone.named_modules():
        if (wanted is None or name in wanted) and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return clone


def parametrized_layers(model: nn.Module) -> list[str]:
    """Names of the layers that own weights, input to output (deepest modules with a reset)."""
    return [n for n, m in model.named_modules()
            if n and hasattr(m, "reset_parameters") and any(True for _ in m.parameters(recurse=False))]


def randomization_check(
    ctx: Explainable, xs: np.ndarray, method: str, params: dict | None = None,
    target: TargetChoice | str | int = "predicted", *, labels: np.ndarray | None = None,
    absolute: bool = True, cascade: bool = False, seed: int = 0,
) -> SanityResult:
    """Compare `method`'s maps on `xs` for the trained model and re-initialized copies.

    The targets are resolved once with the trained model and reused, so both maps explain the
    same class. `absolute` compares |attribution| (as in the paper's figures)."""
    resolved = prepare(ctx, method, params)
    choice = target if isinstance(target, TargetChoice) else parse_target(target, ctx.class_names)
    trained = explain_many(ctx, xs, method, resolved, choice, labels=labels)
    fixed = [a.target for a in trained]

    def correlations(model: nn.Module) -> list[float]:
        other = with_model(ctx, model)
        out = []
        for x, a, t in zip(xs, trained, fixed):
            b = explain_many(other, x[None], method, resolved, t)[0]
            u, v = (np.abs(a.values), np.abs(b.values)) if absolute else (a.values, b.values)
            out.append(spearman(u, v))
        return out

    full = correlations(reinitialize(ctx.model, None, seed))
    steps: list[tuple[str, float]] = []
    if cascade:
        layers = parametrized_layers(ctx.model)
        for k in range(len(layers) - 1, -1, -1):
            steps.append((layers[k], float(np.mean(correlations(reinitialize(ctx.model, layers[k:], seed))))))
    return SanityResult(method, tuple(full), tuple(steps), absolute)
