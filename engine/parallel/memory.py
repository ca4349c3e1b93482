"""Memory estimate per device and strategy: a pure function over the model's shape report.

Four parts, in bytes: parameters, gradients, optimizer state, and the activations kept for
the backward pass of one batch. How the strategy splits them (sharding, tensor splits, stages)
is its Strategy.memory_split. Activations follow what autograd actually saves, as each layer
kind declares it (LayerKind.saves / view in engine.layers): parametric layers save their input,
ReLU-like layers their output, views (Flatten, Reshape) nothing new, and a tensor saved by two
layers counts once. Composite layers (attention, recurrent, blocks) use a documented rule of
thumb. Tested against a real measurement on CPU (see tests).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from engine.layers import LAYERS
from engine.optim import OPTIMIZERS
from engine.parallel import plan
from engine.spec import STRATEGIES


@dataclass(frozen=True)
class LayerCost:
    """What the estimate needs from one top-level layer (a ModelReport row fits)."""

    label: str
    type: str
    params: int
    in_shape: tuple
    out_shape: tuple


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per device; `stages` holds the per-stage totals for a pipeline."""

    strategy: str
    ranks: int
    params: int
    grads: int
    optimizer: int
    activations: int
    stages: tuple[int, ...] = field(default_factory=tuple)

    @property
    def total(self) -> int:
        return self.params + self.grads + self.optimizer + self.activations

    def describe(self) -> str:
        """One line: total and parts, in MiB."""
        parts = ", ".join(f"{n} {_mib(v)}" for n, v in (("parameters", self.params), ("gradients", self.grads),
                                                        ("optimizer", self.optimizer), ("activations", self.activations)))
        extra = f"; per stage: {', '.join(_mib(s) for s in self.stages)}" if self.stages else ""
        return f"{_mib(self.total)} per device ({parts}){extra}"


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def optimizer_slots(name: str, options: dict) -> int:
    """Float tensors of optimizer state per parameter, as the optimizer's registry entry declares
    it (Adam: 2; SGD with momentum: 1; ...); 2 for an unknown optimizer."""
    return OPTIMIZERS.get(name).extra["state_slots"](options) if name in OPTIMIZERS else 2


def _numel(shape) -> int:
    return math.prod(shape) if shape else 0


def activation_bytes(layers: Sequence[LayerCost], batch: int, *, elem: int = 4, num_outputs: int = 0,
                     input_elem: int = 4) -> list[int]:
    """Bytes each layer adds to what autograd keeps for backward, for `batch` samples.
    The last entry also holds the loss's saved log-probabilities (`num_outputs` per sample)."""
    owner: list[int] = []  # owner[i+1]: which tensor the output of layer i is (views alias)
    owner.append(-1)  # the input batch
    kept: set[int] = set()
    out = []
    for i, layer in enumerate(layers):
        kind = LAYERS.get(layer.type).obj if layer.type in LAYERS else None
        view = kind is not None and kind.view
        saves = kind.saves if kind is not None else None
        owner.append(owner[i] if view else i)
        extra = 0
        key = None
        if view:
            pass
        elif saves is None:
            extra = _composite_bytes(layer, kind, batch, elem)
        else:
            if "input" in saves:
                key = owner[i]
            if "output" in saves:
                key = owner[i + 1]
            if "mask" in saves:
                extra += _numel(layer.out_shape) * batch  # a bool per element
            if "indices" in saves:
                extra += _numel(layer.out_shape) * batch * 8  # an int64 per element
        if key is not None and key not in kept:
            kept.add(key)
            shape = layers[key].out_shape if key >= 0 else layers[0].in_shape
            size = input_elem if key < 0 else elem
            extra += _numel(shape) * batch * size
        out.append(extra)
    if out and num_outputs:  # cross-entropy keeps the log-probabilities of the logits
        out[-1] += _numel(layers[-1].out_shape) * batch * elem
    return out


def _composite_bytes(layer: LayerCost, kind, batch: int, elem: int) -> int:
    """Rule of thumb for layers with internals: the kind's `saved_elements` per sample (documented
    with it), else its input plus its output."""
    if kind is not None and kind.saved_elements is not None and layer.in_shape and layer.out_shape:
        return batch * elem * kind.saved_elements(tuple(layer.in_shape), tuple(layer.out_shape))
    return batch * elem * (_numel(layer.in_shape) + _numel(layer.out_shape))


def estimate_memory(layers: Sequence[LayerCost], *, batch: int, strategy: str = "none", ranks: int = 1,
                    optimizer_slots: int = 2, precision: str = "fp32", num_outputs: int = 0,
                    input_elem: int = 4, **layout: Any) -> MemoryEstimate:
    """Per-device bytes for training `layers` with `batch` samples per rank under `strategy`.
    `layout` holds the strategy's own inputs (Strategy.memory_layout), e.g. `tensor_split` (the
    indices of layers tensor parallel splits over `ranks`) or `stage_starts`, `microbatches` and
    `schedule` of a pipeline."""
    elem = 2 if precision in ("bf16", "fp16") else 4
    acts = activation_bytes(layers, batch, elem=elem, num_outputs=num_outputs, input_elem=input_elem)
    params = [layer.params * 4 for layer in layers]
    split = STRATEGIES.get(strategy).obj.memory_split(params, acts, ranks=ranks, slots=optimizer_slots, **layout)
    return MemoryEstimate(strategy, ranks, split.params, split.grads, split.optimizer, split.activations, split.stages)


def estimate_for_spec(spec) -> MemoryEstimate | None:
    """The estimate for a whole spec (None when its model or data has problems, or its strategy is unknown)."""
    found = plan.model_rows(spec)
    if found is None or spec.parallel.strategy not in STRATEGIES:
        return None
    rows, info = found
    layers = [LayerCost(r.label, r.type, r.params, tuple(r.in_shape or ()), tuple(r.out_shape or ())) for r in rows]
    strategy = STRATEGIES.get(spec.parallel.strategy).obj
    classification = info.task in ("classification", "language_modeling")
    return estimate_memory(
        layers, batch=spec.data.batch_size, strategy=spec.parallel.strategy, ranks=plan.world_size(spec),
        optimizer_slots=optimizer_slots(spec.optimizer.name, dict(spec.optimizer.options)),
        precision=spec.training.precision, num_outputs=(info.num_classes or 0) if classification else 0,
        input_elem=8 if str(info.input_dtype).startswith("int") else 4, **strategy.memory_layout(spec, rows))
