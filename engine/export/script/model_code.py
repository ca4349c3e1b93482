"""Write a built Netwright model out as readable PyTorch code (`model.py`).

The model becomes one `nn.Module` class with one named attribute per layer (the same names as in
the run's checkpoint, so its weights load unchanged) and a `forward` that calls them in order.
torch.nn layers are written as their constructor calls; Netwright's own modules (TransformerBlock,
PositionalEmbedding, ...) are copied from engine/layers/torch_modules.py as source; a Residual
becomes a small class around its nested stack. Modules are created in the order Netwright creates
them, so the same seed gives the same initial weights (checked by the script format).
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from engine.export.base import ExportError

#: Netwright module class name -> its constructor arguments read back from a built module
ARGUMENTS: dict[str, Callable[[Any], tuple]] = {
    "Reshape": lambda m: (tuple(m.shape),),
    "PositionalEmbedding": lambda m: tuple(m.weight.shape),
    "SelfAttention": lambda m: (m.attn.embed_dim, m.attn.num_heads, m.attn.dropout, m.causal, m.attn.in_proj_bias is not None),
    "TransformerBlock": lambda m: (m.norm1.normalized_shape[0], m.attn.attn.num_heads, m.mlp[0].out_features,
                                   m.drop.p, m.attn.causal),
    "LMHead": lambda m: (m.proj.in_features, m.proj.out_features, m.proj.bias is not None),
    "Recurrent": lambda m: (m.rnn.mode, m.rnn.input_size, m.rnn.hidden_size, m.rnn.num_layers, m.rnn.bidirectional,
                            m.rnn.dropout, m.rnn.bias, m.last),
}
#: helpers a copied class needs (their source is copied too)
HELPERS = {"SelfAttention": ("causal_mask",), "TransformerBlock": ("causal_mask", "SelfAttention")}

RESIDUAL = '''class Residual(nn.Module):
    """body(x) + skip(x): a nested stack with a skip connection (a 1x1 projection when shapes differ)."""

    def __init__(self, body: nn.Module, skip: nn.Module | None = None):
        super().__init__()
        self.body = body
        self.skip = skip if skip is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)
'''


@dataclass
class _Writer:
    """Collects the classes and helpers the generated file needs."""

    needed: list[str] = field(default_factory=list)  # Netwright classes/functions to copy, in order

    def need(self, name: str) -> None:
        for helper in HELPERS.get(name, ()):
            self.need(helper)
        if name not in self.needed:
            self.needed.append(name)

    def expr(self, module: Any, path: str, indent: str) -> str:
        """A Python expression that builds `module` (a fresh one: same shapes, same options)."""
        import torch.nn as nn

        cls = type(module)
        name = cls.__name__
        if cls.__module__ == "engine.layers.torch_modules" and name == "Residual":
            self.need("Residual")
            inner = indent + "    "
            body = self.sequential(module.body, f"{path}.body", inner)
            skip = "" if isinstance(module.skip, nn.Identity) else f",\n{inner}skip={self.expr(module.skip, path, inner)}"
            return f"Residual(\n{inner}body={body}{skip},\n{indent})"
        if cls.__module__ == "engine.layers.torch_modules" and name in ARGUMENTS:
            self.need(name)
            return f"{name}({', '.join(repr(a) for a in ARGUMENTS[name](module))})"
        if isinstance(module, nn.Sequential):
            return self.sequential(module, path, indent)
        if cls.__module__.startswith("torch.nn.modules") and not list(module.children()):
            return _torch_call(module, path)
        raise ExportError(path, f"is a {cls.__module__}.{name}, which the script format cannot write out as code — "
                                "export onnx, torch_export or bundle instead")

    def sequential(self, seq: Any, path: str, indent: str) -> str:
        inner = indent + "    "
        rows = "".join(f"{inner}({label!r}, {self.expr(child, f'{path}.{label}', inner)}),\n"
                       for label, child in seq.named_children())
        return f"nn.Sequential(OrderedDict([\n{rows}{indent}]))"


def _torch_call(module: Any, path: str) -> str:
    """`nn.<repr>` for a torch.nn leaf module, checked to rebuild the same module."""
    import torch
    import torch.nn as nn

    text = "nn." + repr(module)
    try:
        rebuilt = eval(text, {"nn": nn, "torch": torch})  # noqa: S307 - our own repr of a torch.nn module
    except Exception:
        rebuilt = None
    same = (rebuilt is not None and repr(rebuilt) == repr(module)
            and {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()}
            == {k: tuple(v.shape) for k, v in module.state_dict().items()})
    if not same:
        raise ExportError(path, f"torch.nn.{type(module).__name__} cannot be written as a constructor call "
                                f"({repr(module)[:80]}) — export onnx, torch_export or bundle instead")
    return text


def class_name(spec_name: str) -> str:
    """A CamelCase class name from the spec's name: digits_cnn -> DigitsCnn."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", spec_name) if w]
    name = "".join(w[:1].upper() + w[1:] for w in words) or "Model"
    return name if name[0].isalpha() else f"Model{name}"


def model_source(model: Any, spec: Any, input_shape: tuple[int, ...], input_dtype: str) -> tuple[str, str]:
    """(model.py's text, the model class's name) for a built Netwright model (an nn.Sequential)."""
    from engine.layers import torch_modules

    writer = _Writer()
    attrs = []
    for index, (label, child) in enumerate(model.named_children()):
        attrs.append(f"        self.{label} = {writer.expr(child, label, '        ')}")
    name = class_name(spec.name)
    copied = []
    for helper in writer.needed:
        copied.append(RESIDUAL if helper == "Residual" else inspect.getsource(getattr(torch_modules, helper)))
    calls = "\n".join(f"        x = self.{label}(x)" for label, _ in model.named_children())
    shape = ", ".join(str(d) for d in input_shape)
    header = f'''"""The model of Netwright run "{spec.name}", written out as plain PyTorch.

Input: a batch of shape (N, {shape}) ({input_dtype}). Load the trained weights with
    model = {name}()
    model.load_state_dict(safetensors.torch.load_file("weights.safetensors"))
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
'''
    body = (f"\n\nclass {name}(nn.Module):\n"
            f"    \"\"\"{len(attrs)} layers, applied in order.\"\"\"\n\n"
            "    def __init__(self):\n        super().__init__()\n" + "\n".join(attrs) + "\n\n"
            "    def forward(self, x: torch.Tensor) -> torch.Tensor:\n" + calls + "\n        return x\n")
    parts = [header] + [f"\n\n{src.rstrip()}\n" for src in copied] + [body]
    return "".join(parts), name
