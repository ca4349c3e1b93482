"""Composite blocks: Residual (a nested stack plus a skip connection)."""
from __future__ import annotations

from dataclasses import dataclass

from engine.layers.base import Ctx, Out, ShapeError, Shape, fmt, layer
from engine.registry import Param


@dataclass(frozen=True)
class Projection:
    """How the skip path is matched to the stack's output: `kind` is "linear", "conv1d" or
    "conv2d" (bias-free, kernel 1), with `stride` for the convolutions."""

    kind: str
    in_size: int
    out_size: int
    stride: int = 1

    @property
    def params(self) -> int:
        return self.in_size * self.out_size


def _stride_for(sizes_in: Shape, sizes_out: Shape) -> int | None:
    """The stride s of a 1x1 convolution turning `sizes_in` into `sizes_out` (ceil(n / s))."""
    for s in range(1, max(sizes_in) + 1):
        if all(-(-n // s) == m for n, m in zip(sizes_in, sizes_out)):
            return s
    return None


def projection(shape_in: Shape, shape_out: Shape) -> Projection | None:
    """The projection a Residual needs to add `shape_in` to `shape_out` (None = identity).
    Raises ShapeError when no 1x1 convolution or Linear can match them."""
    if shape_in == shape_out:
        return None
    if len(shape_in) != len(shape_out):
        raise ShapeError(f"its nested stack turns {fmt(shape_in)} into {fmt(shape_out)}, a different number of "
                         "dimensions, so the skip connection cannot be added — keep Flatten/Reshape outside the Residual")
    rank = len(shape_in)
    if rank == 1 or (rank == 2 and shape_in[0] == shape_out[0]):
        return Projection("linear", shape_in[-1], shape_out[-1])
    if rank in (2, 3):
        stride = _stride_for(shape_in[1:], shape_out[1:])
        if stride is not None:
            return Projection(f"conv{rank - 1}d", shape_in[0], shape_out[0], stride)
    raise ShapeError(f"its nested stack turns {fmt(shape_in)} into {fmt(shape_out)}; no 1x1 convolution or Linear "
                     "on the skip path can match that — keep the sizes divisible (e.g. padding = kernel_size // 2)")


def _build_residual(c: Ctx, children):
    from engine.layers.torch_modules import Residual  # torch only when a model is built (the GUI plans without it)

    assert c.inner is not None
    proj = projection(c.shape, c.inner) if c.p["projection"] == "auto" else None
    return Residual(children, proj)


@layer("Residual", "Blocks", "Adds the input to the output of a nested stack (x + f(x)); projects the input "
       "with a 1x1 convolution or Linear when the stack changes its shape",
       [Param("projection", "choice", "auto", "auto = project the skip path when shapes differ; "
              "none = the stack must keep the shape", choices=("auto", "none"))],
       builder=_build_residual, composite=True)
def residual(c: Ctx) -> Out:
    assert c.inner is not None, "shapes.py infers the nested stack first"
    if c.p["projection"] == "none":
        if c.inner != c.shape:
            raise ShapeError(f"has projection = \"none\" but its nested stack turns {fmt(c.shape)} into "
                             f"{fmt(c.inner)} — set projection = \"auto\" or keep the shape")
        return Out(c.inner)
    proj = projection(c.shape, c.inner)
    return Out(c.inner, proj.params if proj else 0)
