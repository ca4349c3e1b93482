"""torch modules behind the layer kinds that torch.nn lacks. Imported only by builders."""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn


class Reshape(nn.Module):
    """Reshapes each sample to `shape` (the batch dimension is kept)."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Recurrent(nn.Module):
    """LSTM or GRU (batch first) returning the output sequence, or the last hidden state
    (both directions concatenated) when `last` is set."""

    def __init__(self, kind: str, input_size: int, hidden_size: int, num_layers: int, bidirectional: bool,
                 dropout: float, bias: bool, last: bool):
        super().__init__()
        self.rnn = getattr(nn, kind)(input_size, hidden_size, num_layers=num_layers, bias=bias,
                                     batch_first=True, dropout=dropout, bidirectional=bidirectional)
        self.last = last
        self.directions = 2 if bidirectional else 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_cuda and not self.training and torch.is_grad_enabled():
            # cuDNN RNNs cannot run backward in eval mode, which attribution (Captum) needs
            with torch.backends.cudnn.flags(enabled=False):
                out, state = self.rnn(x)
        else:
            out, state = self.rnn(x)
        if not self.last:
            return out
        h = state[0] if isinstance(state, tuple) else state  # (layers * directions, N, H)
        return torch.cat(list(h[-self.directions:]), dim=-1)


def causal_mask(length: int, device: torch.device) -> torch.Tensor:
    """Boolean (T, T) mask: True where a position may NOT attend (the future)."""
    return torch.ones(length, length, dtype=torch.bool, device=device).triu(1)


class SelfAttention(nn.Module):
    """Multi-head self-attention over (N, T, D), optionally causal."""

    def __init__(self, width: int, heads: int, dropout: float = 0.0, causal: bool = False, bias: bool = True):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, dropout=dropout, bias=bias, batch_first=True)
        self.causal = causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = causal_mask(x.shape[1], x.device) if self.causal else None
        out, _ = self.attn(x, x, x, attn_mask=mask, need_weights=False, is_causal=self.causal)
        return out

    def extra_repr(self) -> str:
        return f"causal={self.causal}"


class PositionalEmbedding(nn.Module):
    """Adds a learned vector per position: x + P[:T]."""

    def __init__(self, max_len: int, width: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(max_len, width) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight[: x.shape[1]]


class TransformerBlock(nn.Module):
    """Pre-norm block: x + Attn(LN(x)); x + MLP(LN(x)), MLP = Linear, GELU, Linear, Dropout."""

    def __init__(self, width: int, heads: int, hidden: int, dropout: float, causal: bool):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = SelfAttention(width, heads, dropout, causal)
        self.drop = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x)))
        return x + self.mlp(self.norm2(x))


class LMHead(nn.Module):
    """GPT-style head: LayerNorm, then Linear to vocabulary scores."""

    def __init__(self, width: int, vocab: int, bias: bool = False):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.proj = nn.Linear(width, vocab, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.norm(x))


class Residual(nn.Module):
    """body(x) + skip(x); `skip` is a bias-free 1x1 convolution or Linear when shapes differ."""

    def __init__(self, children, proj=None):
        super().__init__()
        self.body = nn.Sequential(OrderedDict(children))
        self.skip: nn.Module = nn.Identity()
        if proj is not None:
            if proj.kind == "linear":
                self.skip = nn.Linear(proj.in_size, proj.out_size, bias=False)
            else:
                conv = nn.Conv1d if proj.kind == "conv1d" else nn.Conv2d
                self.skip = conv(proj.in_size, proj.out_size, 1, stride=proj.stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)
