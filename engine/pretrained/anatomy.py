"""What a pretrained model looks like inside, for shape inference and the builder's card.

:func:`describe` builds the model on torch's ``meta`` device (no memory, no weights, no download:
the architecture only) and runs one forward pass there to record its output shape and each
part's output shape and parameter count. Results are cached per (source, model, output,
classes, input shape, dtype), so the builder's checks after every edit stay fast.
"""
from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Any, Sequence

from engine.pretrained.errors import PretrainedError
from engine.pretrained.sources import SOURCES

FREEZE = ("none", "all", "up_to")
Shape = tuple[int, ...]


@dataclass(frozen=True)
class Part:
    """One top-level part: dotted name, class name, output shape (None when it returns no single
    tensor, e.g. a pooler that is not used) and parameter count."""

    name: str
    type: str
    out_shape: Shape | None
    params: int


@dataclass(frozen=True)
class Anatomy:
    """A model's output shape and dtype, parameter total, its parts and data-sized head prefixes."""

    out_shape: Shape
    params: int
    parts: tuple[Part, ...]
    heads: tuple[str, ...] = ()
    kind: str = "image"
    other_params: int = 0  # parameters held directly by expanded modules (not in any part)

    def part_names(self) -> list[str]:
        return [p.name for p in self.parts]

    def frozen_params(self, mode: str, until: str = "") -> int:
        """Parameters a freeze setting leaves untrained."""
        frozen = set(frozen_names(self.part_names(), mode, until, self.heads))
        count = sum(p.params for p in self.parts if p.name in frozen)
        return count + (self.other_params if mode == "all" else 0)


def head_of(name: str, heads: Sequence[str]) -> bool:
    """True when the parameter/part `name` lies inside one of the `heads` prefixes."""
    return any(name == h or name.startswith(h + ".") for h in heads)


def frozen_names(names: Sequence[str], mode: str, until: str, heads: Sequence[str] = ()) -> tuple[str, ...]:
    """Which of the ordered part `names` a freeze setting covers: "all" = every part but a head
    created for the data, "up_to" = the parts up to and including `until`, "none" = none."""
    if mode == "all":
        return tuple(n for n in names if not head_of(n, heads))
    if mode == "up_to" and until in names:
        return tuple(names[: names.index(until) + 1])
    return ()


_LOCK = threading.Lock()


def describe(source: str, model: str, output: str, classes: int, in_shape: Shape, dtype: str) -> Anatomy:
    """The anatomy of a model for a per-sample input (see the module docstring). PretrainedError
    when the model cannot be created or does not accept the input (the message says why)."""
    with _LOCK:  # one meta build at a time (the GUI's checker thread and a build may overlap)
        found = _cached(source, model, output, int(classes), tuple(int(d) for d in in_shape), dtype)
    if isinstance(found, PretrainedError):
        raise found
    return found


@functools.lru_cache(maxsize=64)
def _cached(source: str, model: str, output: str, classes: int, in_shape: Shape, dtype: str) -> Anatomy | PretrainedError:
    try:  # a failure is cached too: a broken layer is checked after every edit
        return _describe(source, model, output, classes, in_shape, dtype)
    except PretrainedError as err:
        return err


def _describe(source: str, model: str, output: str, classes: int, in_shape: Shape, dtype: str) -> Anatomy:
    import torch  # torch only when a pretrained model is checked (plain stacks infer shapes without it)

    from engine.pretrained.block import model_parts  # imports torch

    src = SOURCES.get(source).obj
    with torch.device("meta"):
        created = src.create(model, output=output, classes=classes, weights="random")
    net = created.net.eval()  # batch-norm in training mode refuses a batch of one
    parts = model_parts(net)
    shapes: dict[str, Shape | None] = {}
    hooks = [module.register_forward_hook(_recorder(shapes, name)) for name, module in parts]
    x = torch.zeros((1, *in_shape), dtype=torch.int64 if dtype.startswith("int") else torch.float32, device="meta")
    try:
        with torch.no_grad():
            out = forward_net(net, src.kind, output, x, None)  # no mask: transformers reads a mask's values (.all()), which meta tensors lack
    except Exception as err:  # noqa: BLE001  (a library's own shape assert or error is the message)
        raise PretrainedError(f"{model} does not accept this input: {_first_line(err)}") from None
    finally:
        for hook in hooks:
            hook.remove()
    counted = {id(p) for _, m in parts for p in m.parameters()}
    other = sum(p.numel() for p in net.parameters() if id(p) not in counted)
    return Anatomy(tuple(out.shape[1:]), sum(p.numel() for p in net.parameters()),
                   tuple(Part(name, type(m).__name__, shapes.get(name), sum(p.numel() for p in m.parameters()))
                         for name, m in parts), created.heads, src.kind, other)


def forward_net(net: Any, kind: str, output: str, x: Any, pad_id: int | None) -> Any:
    """One tensor out of a library model: its output (images), or the class scores / the first
    token's hidden state (token ids, the attention mask from the padding token)."""
    if kind == "image":
        out = net(x)
        return out if hasattr(out, "shape") else out[0]
    mask = (x != pad_id).long() if pad_id is not None else None
    out = net(input_ids=x, attention_mask=mask)
    return out.logits if output == "classify" else out.last_hidden_state[:, 0]


def _recorder(shapes: dict[str, Shape | None], name: str) -> Any:
    def hook(module: Any, args: Any, out: Any) -> None:
        tensor = out if hasattr(out, "shape") else getattr(out, "last_hidden_state", None)
        if tensor is None and isinstance(out, (tuple, list)) and out and hasattr(out[0], "shape"):
            tensor = out[0]
        shapes[name] = tuple(tensor.shape[1:]) if tensor is not None else None
    return hook


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__
