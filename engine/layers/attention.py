"""Attention and transformer layers over sequences (T, D): self-attention, learned positions,
a pre-norm transformer block and a GPT-style language-model head."""
from __future__ import annotations

from engine.layers.base import Ctx, Out, ShapeError, fmt, layer
from engine.registry import Param

_HEADS = Param("heads", "int", 4, "Attention heads; must divide the model width D", min=1, max=1024)
_CAUSAL = Param("causal", "bool", False, "Each position attends only to itself and earlier ones (needed for language models)")
_DROPOUT = Param("dropout", "float", 0.0, "Dropout on attention weights and outputs during training", min=0.0, max=0.99)


def _sequence(c: Ctx) -> tuple[int, int]:
    if len(c.shape) != 2:
        raise ShapeError(f"expects a sequence (positions, width), got {fmt(c.shape)} — "
                         "use Embedding (token ids) or Reshape to get one", )
    return c.shape[0], c.shape[1]


def _heads(width: int, heads: int) -> None:
    if width % heads:
        options = [h for h in range(1, min(width, 64) + 1) if width % h == 0]
        raise ShapeError(f"has {heads} heads, which does not divide the width {width} — "
                         f"use one of {', '.join(map(str, options[-5:]))}")


def _attention_params(width: int, bias: bool) -> int:
    return 4 * width * width + (4 * width if bias else 0)


def _not_causal(p) -> bool:
    return not p.get("causal", False)


def _build_mha(c: Ctx, children):
    from engine.layers.torch_modules import SelfAttention  # torch only when a model is built (the GUI plans without it)

    p = c.p
    return SelfAttention(c.shape[1], p["heads"], p["dropout"], p["causal"], p["bias"])


def _attention_saved(in_shape, out_shape) -> int:
    """Rule of thumb for the memory estimate: q/k/v, output and the (T, T) scores, per sample."""
    t, d = out_shape
    return 5 * t * d + 2 * t * t


def _block_saved(in_shape, out_shape) -> int:
    """Rule of thumb: norms, q/k/v, the MLP at ratio 4 and the scores, per sample."""
    t, d = out_shape
    return 16 * t * d + 2 * t * t


@layer("MultiheadAttention", "Attention/Transformer", "Self-attention over a sequence (T, D): every position "
       "mixes information from the others", [_HEADS, _CAUSAL, _DROPOUT, Param("bias", "bool", True, "Learn bias terms")],
       builder=_build_mha, sees_future=_not_causal, saved_elements=_attention_saved)
def multihead_attention(c: Ctx) -> Out:
    _, width = _sequence(c)
    _heads(width, c.p["heads"])
    return Out(c.shape, _attention_params(width, c.p["bias"]))


def _build_positional(c: Ctx, children):
    from engine.layers.torch_modules import PositionalEmbedding  # torch only when a model is built (the GUI plans without it)

    return PositionalEmbedding(c.p["max_len"], c.shape[1])


@layer("PositionalEmbedding", "Attention/Transformer", "Adds a learned vector per position to a sequence (T, D)",
       [Param("max_len", "int", 512, "Longest sequence it can handle", min=1, max=1 << 20)],
       builder=_build_positional)
def positional_embedding(c: Ctx) -> Out:
    length, width = _sequence(c)
    if length > c.p["max_len"]:
        raise ShapeError(f"has max_len = {c.p['max_len']} but the sequence has {length} positions — "
                         f"set max_len to at least {length}")
    return Out(c.shape, c.p["max_len"] * width)


def mlp_width(width: int, ratio: float) -> int:
    """Hidden width of a transformer block's MLP."""
    return max(1, int(round(width * ratio)))


def _build_block(c: Ctx, children):
    from engine.layers.torch_modules import TransformerBlock  # torch only when a model is built (the GUI plans without it)

    p = c.p
    return TransformerBlock(c.shape[1], p["heads"], mlp_width(c.shape[1], p["mlp_ratio"]), p["dropout"], p["causal"])


@layer("TransformerBlock", "Attention/Transformer", "Pre-norm transformer block: x + Attention(LayerNorm(x)), "
       "then x + MLP(LayerNorm(x))",
       [_HEADS, Param("mlp_ratio", "float", 4.0, "MLP hidden width as a multiple of D", min=0.25, max=64.0),
        _DROPOUT, _CAUSAL],
       builder=_build_block, sees_future=_not_causal, saved_elements=_block_saved)
def transformer_block(c: Ctx) -> Out:
    _, d = _sequence(c)
    _heads(d, c.p["heads"])
    hidden = mlp_width(d, c.p["mlp_ratio"])
    norms = 4 * d
    mlp = d * hidden + hidden + hidden * d + d
    return Out(c.shape, norms + _attention_params(d, True) + mlp)


def _build_lmhead(c: Ctx, children):
    from engine.layers.torch_modules import LMHead  # torch only when a model is built (the GUI plans without it)

    return LMHead(c.shape[-1], c.p["vocab_size"], c.p["bias"])


@layer("LMHead", "Attention/Transformer", "GPT-style output: final LayerNorm, then Linear to one score per "
       "vocabulary token at each position",
       [Param("vocab_size", "int", 0, "Vocabulary size (0 = from the data)", min=0, max=1 << 24),
        Param("bias", "bool", False, "Learn a bias per token")],
       builder=_build_lmhead, from_data=("vocab_size",))
def lm_head(c: Ctx) -> Out:
    _, d = _sequence(c)
    v = c.p["vocab_size"]
    return Out(c.shape[:-1] + (v,), 2 * d + d * v + (v if c.p["bias"] else 0))
