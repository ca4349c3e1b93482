"""Linear and Embedding."""
from __future__ import annotations

from engine.layers.base import Ctx, Out, ShapeError, fmt, layer, need_rank
from engine.registry import Param


def _build_linear(c: Ctx, children):
    import torch.nn as nn  # torch only when a model is built (the GUI plans without it)

    return nn.Linear(c.shape[-1], c.p["out_features"], bias=c.p["bias"])


@layer("Linear", "Linear", "Fully connected layer: y = xWᵀ + b on the last dimension",
       [Param("out_features", "int", help="Output size (0 = from the data: number of classes/targets)", min=0, max=1 << 24),
        Param("bias", "bool", True, "Learn an additive bias")],
       builder=_build_linear, from_data=("out_features",), saves=("input",))
def linear(c: Ctx) -> Out:
    need_rank(c, (1, 2), "a flat input (features,) or a sequence (positions, features)")
    f_in, f_out = c.shape[-1], c.p["out_features"]
    return Out(c.shape[:-1] + (f_out,), f_in * f_out + (f_out if c.p["bias"] else 0))


def _build_embedding(c: Ctx, children):
    import torch.nn as nn  # torch only when a model is built (the GUI plans without it)

    return nn.Embedding(c.p["num_embeddings"], c.p["embedding_dim"])


@layer("Embedding", "Linear", "Lookup table turning integer token ids (T,) into vectors (T, embedding_dim)",
       [Param("num_embeddings", "int", 0, "Number of distinct tokens (0 = from the data: its vocabulary size)", min=0, max=1 << 24),
        Param("embedding_dim", "int", help="Size of each token vector", min=1, max=1 << 16)],
       builder=_build_embedding, accepts="int", from_data=("num_embeddings",))
def embedding(c: Ctx) -> Out:
    if not c.shape:
        raise ShapeError(f"expects a sequence of token ids, got {fmt(c.shape)}")
    n, d = c.p["num_embeddings"], c.p["embedding_dim"]
    return Out(c.shape + (d,), n * d, "float32")
