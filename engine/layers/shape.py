"""Shape layers: Flatten, Reshape, Unflatten (dimensions never include the batch)."""
from __future__ import annotations

from engine.layers.base import Ctx, Out, ShapeError, dim_index, fmt, layer, numel
from engine.registry import Param


def _build_flatten(c: Ctx, children):
    import torch.nn as nn  # torch only when a model is built (the GUI plans without it)

    return nn.Flatten()


@layer("Flatten", "Shape", "Flattens each sample to one dimension, e.g. (16, 4, 4) -> (256,)",
       builder=_build_flatten, accepts="any", view=True)
def flatten(c: Ctx) -> Out:
    return Out((numel(c.shape),))


def resolve_sizes(sizes: list[int], total: int, what: str) -> tuple[int, ...]:
    """Fill in at most one -1 so that the product of `sizes` is `total`, or raise ShapeError."""
    if not sizes:
        raise ShapeError(f"needs at least one size in {what}")
    if sizes.count(-1) > 1 or any(s == 0 or s < -1 for s in sizes):
        raise ShapeError(f"{what} = {sizes}: use positive sizes and at most one -1 (inferred)")
    known = numel(s for s in sizes if s != -1)
    if -1 in sizes:
        if total % known:
            raise ShapeError(f"cannot split {total} values into {what} = {sizes} ({total} is not divisible by {known})")
        return tuple(total // known if s == -1 else s for s in sizes)
    if known != total:
        raise ShapeError(f"{what} = {sizes} holds {known} values but the input has {total}")
    return tuple(sizes)


def _build_reshape(c: Ctx, children):
    from engine.layers.torch_modules import Reshape  # torch only when a model is built (the GUI plans without it)

    return Reshape(reshape(c).shape)


@layer("Reshape", "Shape", "Reshapes each sample, e.g. (64,) -> (1, 8, 8); one size may be -1",
       [Param("shape", "ints", help="New per-sample shape (no batch dimension); one entry may be -1", min=-1)],
       builder=_build_reshape, accepts="any", view=True)
def reshape(c: Ctx) -> Out:
    return Out(resolve_sizes(list(c.p["shape"]), numel(c.shape), "shape"))


def _build_unflatten(c: Ctx, children):
    import torch.nn as nn  # torch only when a model is built (the GUI plans without it)

    dim = dim_index(c.p["dim"], len(c.shape))
    return nn.Unflatten(dim + 1, unflatten(c).shape[dim:dim + len(c.p["sizes"])])


@layer("Unflatten", "Shape", "Splits one dimension into several, e.g. dim 0 of (64,) into [1, 8, 8]",
       [Param("dim", "int", 0, "Dimension to split (0 = first per-sample dimension; negative counts from the end)"),
        Param("sizes", "ints", help="Sizes it is split into; one may be -1", min=-1)],
       builder=_build_unflatten, accepts="any", view=True)
def unflatten(c: Ctx) -> Out:
    if not c.shape:
        raise ShapeError(f"needs at least one dimension, got {fmt(c.shape)}")
    dim = dim_index(c.p["dim"], len(c.shape))
    sizes = resolve_sizes(list(c.p["sizes"]), c.shape[dim], "sizes")
    return Out(c.shape[:dim] + sizes + c.shape[dim + 1:])
