"""Recurrent layers: LSTM and GRU over a sequence (T, features)."""
from __future__ import annotations

import math

from engine.layers.base import Ctx, Out, ShapeError, fmt, layer
from engine.registry import Param

_PARAMS = [
    Param("hidden_size", "int", help="Size of the hidden state (per direction)", min=1, max=1 << 16),
    Param("num_layers", "int", 1, "Stacked recurrent layers", min=1, max=64),
    Param("bidirectional", "bool", False, "Also read the sequence backwards (doubles the output size)"),
    Param("dropout", "float", 0.0, "Dropout between stacked layers (needs num_layers ≥ 2)", min=0.0, max=0.99),
    Param("output", "choice", "sequence", "sequence = the output at every step (T, H); last = the final hidden state (H,)",
          choices=("sequence", "last")),
    Param("bias", "bool", True, "Learn bias terms"),
]


def _rule(gates: int):
    def rule(c: Ctx) -> Out:
        if len(c.shape) == 1:
            raise ShapeError(f"expects a sequence (steps, features), got {fmt(c.shape)}",
                             ("Reshape", {"shape": [c.shape[0], 1]}),
                             f"add Reshape(shape=[{c.shape[0]}, 1]) before it for one feature per step")
        if len(c.shape) != 2:
            raise ShapeError(f"expects a sequence (steps, features), got {fmt(c.shape)} — reshape it to 2 dimensions")
        p = c.p
        if p["dropout"] > 0 and p["num_layers"] < 2:
            raise ShapeError(f"has dropout = {p['dropout']:g}, which only acts between stacked layers — "
                             "set num_layers to 2 or more, or use a Dropout layer after it")
        h, dirs = p["hidden_size"], 2 if p["bidirectional"] else 1
        total, size_in = 0, c.shape[1]
        for _ in range(p["num_layers"]):
            per_dir = gates * h * (size_in + h) + (2 * gates * h if p["bias"] else 0)
            total += dirs * per_dir
            size_in = h * dirs
        out = (h * dirs,) if p["output"] == "last" else (c.shape[0], h * dirs)
        return Out(out, total)

    return rule


def _builder(cls_name: str):
    def build(c: Ctx, children):
        from engine.layers.torch_modules import Recurrent  # torch only when a model is built (the GUI plans without it)

        p = c.p
        return Recurrent(cls_name, c.shape[1], p["hidden_size"], p["num_layers"], p["bidirectional"],
                         p["dropout"], p["bias"], p["output"] == "last")

    return build


def _bidirectional(p) -> bool:
    return bool(p.get("bidirectional"))


def _recurrent_saved(in_shape, out_shape) -> int:
    """Rule of thumb for the memory estimate: the input and the gates' states, per sample."""
    return math.prod(in_shape) + 6 * math.prod(out_shape)


layer("LSTM", "Recurrent", "Long short-term memory over a sequence (steps, features)", _PARAMS,
      builder=_builder("LSTM"), sees_future=_bidirectional, saved_elements=_recurrent_saved)(_rule(4))
layer("GRU", "Recurrent", "Gated recurrent unit over a sequence (steps, features)", _PARAMS,
      builder=_builder("GRU"), sees_future=_bidirectional, saved_elements=_recurrent_saved)(_rule(3))
