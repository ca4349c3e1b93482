"""The layer-kind contract: a pure shape/parameter rule plus a builder that imports torch lazily.

Shapes never include the batch dimension. Every rule receives a :class:`Ctx` (the resolved
parameters and the input shape/dtype) and returns an :class:`Out` (output shape, parameter
count, output dtype) or raises :class:`ShapeError` with a sentence saying what to do.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from engine.registry import Param, Registry

Shape = tuple[int, ...]

#: dtypes a layer accepts: floating-point activations, integer token ids, or anything
ACCEPTS = ("float", "int", "any")
INT_DTYPES = ("int64", "int32")
#: what a layer may keep for backward (LayerKind.saves)
SAVED = ("input", "output", "mask", "indices")


class ShapeError(Exception):
    """The input does not fit the layer. `fix` is an optional (type, params) to insert before it."""

    def __init__(self, message: str, fix: tuple[str, Mapping[str, Any]] | None = None,
                 fix_text: str = ""):
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.fix_text = fix_text


@dataclass(frozen=True)
class Ctx:
    """What a rule sees: resolved parameters `p`, the input `shape` and `dtype`, and for
    composite kinds the output shape of the nested stack (`inner`)."""

    p: Mapping[str, Any]
    shape: Shape
    dtype: str = "float32"
    inner: Shape | None = None


@dataclass(frozen=True)
class Out:
    """A rule's answer: output shape, trainable parameter count, output dtype (None = float32)."""

    shape: Shape
    params: int = 0
    dtype: str | None = None


Rule = Callable[[Ctx], Out]
#: builder(ctx, children) -> torch.nn.Module; `children` are (label, module) of a composite's stack
Builder = Callable[[Ctx, Sequence[tuple[str, Any]]], Any]


@dataclass(frozen=True)
class LayerKind:
    """One layer kind: `rule` is pure (no torch), `builder` makes the real module.

    `accepts` is the input dtype family; `from_data` names parameters where 0 means "from the
    data" (the number of classes or the vocabulary size); `sees_future(params)` says whether the
    layer mixes information across sequence positions in both directions (bad for language
    modelling).

    Traits the planners read (engine/parallel): `elementwise` (acts on each element alone, so it
    may sit between a column- and a row-wise split Linear), `batch_statistics` (normalises over
    the samples of a batch, so splitting a batch changes its result), `saves` (what autograd keeps
    for backward, for the memory estimate: "input", "output", "mask" = a bool per output element,
    "indices" = an int64 per output element; None = a composite with internals, estimated by a
    rule of thumb) and `view` (the output aliases the input: nothing new is stored). A composite
    may give its rule of thumb as `saved_elements(in_shape, out_shape)`: the elements per sample
    autograd keeps inside it (default: its input plus its output)."""

    rule: Rule
    builder: Builder
    accepts: str = "float"
    from_data: tuple[str, ...] = ()
    sees_future: Callable[[Mapping[str, Any]], bool] | None = None
    elementwise: bool = False
    batch_statistics: bool = False
    saves: tuple[str, ...] | None = None
    view: bool = False
    saved_elements: Callable[[Shape, Shape], int] | None = None

    def infer(self, params: Mapping[str, Any], shape: Shape, dtype: str = "float32",
              inner: Shape | None = None) -> Out:
        """Output shape, parameter count and dtype for resolved `params` (raises ShapeError)."""
        return self.rule(Ctx(params, tuple(shape), dtype, inner))

    def out_shape(self, params: Mapping[str, Any], shape: Shape) -> Shape:
        """The pure shape rule."""
        return self.infer(params, shape).shape

    def param_count(self, params: Mapping[str, Any], shape: Shape) -> int:
        """The pure parameter count (what ``sum(p.numel() for p in module.parameters())`` gives)."""
        return self.infer(params, shape).params

    def build(self, params: Mapping[str, Any], shape: Shape, dtype: str = "float32",
              children: Sequence[tuple[str, Any]] = (), inner: Shape | None = None) -> Any:
        """The real torch module (imports torch)."""
        return self.builder(Ctx(params, tuple(shape), dtype, inner), children)


#: Every layer kind, by its TOML `type`. Groups are the palette sections of the Build page.
LAYERS: Registry[LayerKind] = Registry("layer type")

GROUPS = ("Linear", "Convolution", "Pooling", "Normalization", "Regularization", "Activation",
          "Recurrent", "Attention/Transformer", "Shape", "Blocks", "Pretrained")


def layer(name: str, group: str, description: str, params: Sequence[Param] = (), *,
          builder: Builder, accepts: str = "float", from_data: Sequence[str] = (),
          sees_future: Callable[[Mapping[str, Any]], bool] | None = None,
          composite: bool = False, elementwise: bool = False, batch_statistics: bool = False,
          saves: Sequence[str] | None = None, view: bool = False,
          saved_elements: Callable[[Shape, Shape], int] | None = None) -> Callable[[Rule], Rule]:
    """Decorator registering a rule as the layer kind `name` in LAYERS (traits: see LayerKind)."""
    if group not in GROUPS:
        raise ValueError(f"layer {name!r}: unknown group {group!r}")
    if accepts not in ACCEPTS:
        raise ValueError(f"layer {name!r}: unknown accepts {accepts!r}")
    if saves is not None and not set(saves) <= set(SAVED):
        raise ValueError(f"layer {name!r}: saves {tuple(saves)} (known: {', '.join(SAVED)})")

    def decorate(rule: Rule) -> Rule:
        kind = LayerKind(rule, builder, accepts, tuple(from_data), sees_future, elementwise, batch_statistics,
                         None if saves is None else tuple(saves), view, saved_elements)
        extra = {"composite": True} if composite else {}
        LAYERS.add(name, kind, params=params, description=description, group=group, **extra)
        return rule

    return decorate


# ----------------------------------------------------------------------------- helpers for rules

def fmt(shape: Sequence[int]) -> str:
    """A shape as users read it: (16, 4, 4) or (64,)."""
    shape = tuple(int(d) for d in shape)
    return f"({shape[0]},)" if len(shape) == 1 else str(shape)


def numel(shape: Sequence[int]) -> int:
    return math.prod(shape)


def need_rank(ctx: Ctx, ranks: Sequence[int], what: str) -> None:
    """Raise a ShapeError unless the input has one of `ranks` dimensions; `what` describes them."""
    if len(ctx.shape) in ranks:
        return
    fix = None
    fix_text = ""
    n = len(ctx.shape)
    if n > max(ranks) and 1 in ranks:
        fix, fix_text = ("Flatten", {}), "add Flatten before it"
    elif 1 <= n < min(ranks):
        target = _lift(tuple(ctx.shape), min(ranks))
        if target is not None:
            fix, fix_text = ("Reshape", {"shape": list(target)}), f"add Reshape(shape={list(target)}) before it"
        else:
            fix_text = "add Reshape or Unflatten before it"
    elif n > max(ranks):
        fix_text = f"add Reshape before it to get {max(ranks)} dimensions"
    raise ShapeError(f"expects {what}, got {fmt(ctx.shape)}", fix, fix_text)


def _lift(shape: Shape, rank: int) -> Shape | None:
    """A plausible reshape of `shape` to `rank` dims: a leading channel of 1, and a flat
    vector of square length becomes a square image."""
    if rank == len(shape) + 1:
        return (1,) + shape
    if rank == 3 and len(shape) == 1:
        side = math.isqrt(shape[0])
        if side * side == shape[0]:
            return (1, side, side)
    return None


def same(ctx: Ctx) -> Out:
    """Rule of shape-preserving layers without parameters."""
    return Out(ctx.shape)


def dim_index(dim: int, rank: int, name: str = "dim") -> int:
    """Normalise a dimension index over the per-sample dims (negative counts from the end)."""
    if not -rank <= dim < rank:
        raise ShapeError(f"{name} = {dim} is out of range for a {rank}-dimensional input "
                         f"(use {-rank}..{rank - 1}; the batch dimension is not counted)")
    return dim % rank
