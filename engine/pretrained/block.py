"""`PretrainedNet`: an imported model as one block of a Netwright layer stack (imports torch).

It wraps the library's module as ``net`` (so checkpoints hold its full weights under
``<label>.net.``) and gives it one tensor in, one tensor out: images (N, C, H, W) -> features or
class scores; token ids (N, T) -> the first token's hidden state or class scores, with the
attention mask taken from the padding token. It also owns freezing:

- `parts`: the model's top-level children, expanding a child that holds most of the parameters
  (``bert`` -> ``bert.embeddings``, ``bert.encoder``, ...), in forward order;
- `freeze` = ``none`` | ``all`` (every part but a classifier head created for the data) |
  ``up_to`` (the parts up to and including `freeze_until`): frozen parameters get
  ``requires_grad = False`` and frozen parts stay in eval mode (batch-norm statistics are frozen
  too); :meth:`unfreeze` lifts it (gradual unfreezing after `unfreeze_after` epochs);
- `lr_multiplier`: the optimizer gives :meth:`backbone_parameters` this multiple of the learning rate.
"""
from __future__ import annotations

from typing import Any, Iterator, Sequence

import torch
from torch import nn

from engine.pretrained.anatomy import forward_net, frozen_names, head_of

#: a child holding at least this share of the parameters is listed by its own children
_EXPAND_SHARE = 0.9


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def model_parts(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """The parts of `net` (see the module docstring): (dotted name, module) in registration order."""
    parts = list(net.named_children())
    total = max(1, _count(net))
    while True:
        big = [(i, name, m) for i, (name, m) in enumerate(parts)
               if _count(m) >= _EXPAND_SHARE * total and any(True for _ in m.children())]
        if not big:
            return parts
        i, name, module = big[0]
        parts[i:i + 1] = [(f"{name}.{child}", m) for child, m in module.named_children()]


class PretrainedNet(nn.Module):
    """See the module docstring. `kind` is "image" or "tokens"; `output` "features" or "classify";
    `heads`: prefixes (inside net) of a classifier created for the data (never frozen by "all")."""

    def __init__(self, net: nn.Module, *, kind: str, output: str, heads: Sequence[str] = (),
                 pad_id: int | None = None, freeze: str = "none", freeze_until: str = "",
                 lr_multiplier: float = 1.0, unfreeze_after: int = 0, label: str = ""):
        super().__init__()
        self.net = net
        self.kind, self.output, self.heads = kind, output, tuple(heads)
        self.pad_id = pad_id
        self.freeze_mode, self.freeze_until = freeze, freeze_until
        self.lr_multiplier, self.unfreeze_after = float(lr_multiplier), int(unfreeze_after)
        self.label = label
        self.load_report: Any = None  # engine.pretrained.weights.LoadReport when weights came from a file or run
        self._frozen: tuple[str, ...] = ()
        self.apply_freeze()

    # ------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return forward_net(self.net, self.kind, self.output, x, self.pad_id)

    # ------------------------------------------------------------------ freezing
    def parts(self) -> list[tuple[str, nn.Module]]:
        return model_parts(self.net)

    def frozen_parts(self) -> tuple[str, ...]:
        """Names of the parts the freeze setting covers (see the module docstring)."""
        names = [name for name, _ in self.parts()]
        return frozen_names(names, self.freeze_mode, self.freeze_until, self.heads)

    def apply_freeze(self) -> None:
        self._frozen = self.frozen_parts()
        frozen = set(self._frozen)
        parts = dict(self.parts())
        for name in frozen:
            for p in parts[name].parameters():
                p.requires_grad_(False)
        if frozen and self.freeze_mode == "all":  # parameters held directly by expanded modules
            for name, p in self.net.named_parameters():
                if not head_of(name, self.heads):
                    p.requires_grad_(False)
        self.train(self.training)

    def unfreeze(self) -> list[str]:
        """Make every parameter trainable (gradual unfreezing); returns the parts that were frozen."""
        was = list(self._frozen)
        for p in self.net.parameters():
            p.requires_grad_(True)
        self._frozen = ()
        self.train(self.training)
        return was

    @property
    def frozen(self) -> tuple[str, ...]:
        return self._frozen

    def train(self, mode: bool = True) -> "PretrainedNet":
        super().train(mode)
        if mode and self._frozen:
            parts = dict(self.parts())
            for name in self._frozen:
                parts[name].eval()
        return self

    def backbone_parameters(self) -> Iterator[nn.Parameter]:
        """Every parameter but those of a classifier head created for the data."""
        for name, p in self.net.named_parameters():
            if not head_of(name, self.heads):
                yield p

    def extra_repr(self) -> str:
        return f"kind={self.kind}, output={self.output}, frozen={len(self._frozen)} parts"

