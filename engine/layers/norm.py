"""Normalization (BatchNorm, LayerNorm, GroupNorm) and regularization (Dropout) layers."""
from __future__ import annotations

from engine.layers.base import Ctx, Out, ShapeError, fmt, layer, need_rank, same
from engine.registry import Param

_EPS = Param("eps", "float", 1e-5, "Added to the variance for numerical stability", min=0.0, max=1.0)
_AFFINE = Param("affine", "bool", True, "Learn a per-channel scale and shift")
_MOMENTUM = Param("momentum", "float", 0.1, "Weight of the current batch in the running statistics", min=0.0, max=1.0)


def _build_batchnorm(dims: int):
    def build(c: Ctx, children):
        import torch.nn as nn  # torch only when a model is built (the GUI plans without it)

        cls = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        return cls(c.shape[0], eps=c.p["eps"], momentum=c.p["momentum"], affine=c.p["affine"])

    return build


def _batchnorm_rule(ranks: tuple[int, ...], what: str):
    def rule(c: Ctx) -> Out:
        need_rank(c, ranks, what)
        return Out(c.shape, 2 * c.shape[0] if c.p["affine"] else 0)

    return rule


layer("BatchNorm1d", "Normalization", "Normalizes each feature/channel over the batch; input (C,) or (C, L)",
      [_EPS, _MOMENTUM, _AFFINE], builder=_build_batchnorm(1), batch_statistics=True, saves=("input",))(
    _batchnorm_rule((1, 2), "(features,) or (channels, length)"))
layer("BatchNorm2d", "Normalization", "Normalizes each channel of an image over the batch; input (C, H, W)",
      [_EPS, _MOMENTUM, _AFFINE], builder=_build_batchnorm(2), batch_statistics=True, saves=("input",))(
    _batchnorm_rule((3,), "an image (channels, height, width)"))


def _build_layernorm(c: Ctx, children):
    import torch.nn as nn  # torch only when a model is built (the GUI plans without it)

    return nn.LayerNorm(list(c.shape[-c.p["dims"]:]), eps=c.p["eps"], elementwise_affine=c.p["affine"])


@layer("LayerNorm", "Normalization", "Normalizes each sample over its last dimension(s)",
       [Param("dims", "int", 1, "How many trailing dimensions to normalize over (1 = features of each position)",
              min=1, max=8), _EPS, _AFFINE],
       builder=_build_layernorm, saves=("input",))
def layernorm(c: Ctx) -> Out:
    dims = c.p["dims"]
    if dims > len(c.shape):
        raise ShapeError(f"normalizes over the last {dims} dimensions but the input {fmt(c.shape)} has only {len(c.shape)}")
    size = 1
    for d in c.shape[-dims:]:
        size *= d
    return Out(c.shape, 2 * size if c.p["affine"] else 0)


def _build_groupnorm(c: Ctx, children):
    import torch.nn as nn  # torch only when a model is built (the GUI plans without it)

    return nn.GroupNorm(c.p["num_groups"], c.shape[0], eps=c.p["eps"], affine=c.p["affine"])


@layer("GroupNorm", "Normalization", "Normalizes groups of channels per sample (batch-size independent)",
       [Param("num_groups", "int", 8, "Number of channel groups; must divide the channel count", min=1, max=1 << 16),
        _EPS, _AFFINE],
       builder=_build_groupnorm, saves=("input",))
def groupnorm(c: Ctx) -> Out:
    need_rank(c, (1, 2, 3, 4), "(channels, ...)")
    channels, groups = c.shape[0], c.p["num_groups"]
    if channels % groups:
        divisors = [g for g in range(1, channels + 1) if channels % g == 0]
        raise ShapeError(f"has {groups} groups but the input has {channels} channels — num_groups must divide "
                         f"{channels} (e.g. {', '.join(map(str, divisors[-4:]))})")
    return Out(c.shape, 2 * channels if c.p["affine"] else 0)


_P = Param("p", "float", 0.5, "Probability of zeroing an element during training", min=0.0, max=0.99)


def _build_dropout(cls_name: str):
    def build(c: Ctx, children):
        import torch.nn as nn  # torch only when a model is built (the GUI plans without it)

        return getattr(nn, cls_name)(p=c.p["p"])

    return build


layer("Dropout", "Regularization", "Randomly zeroes elements during training (identity at evaluation)",
      [_P], builder=_build_dropout("Dropout"), elementwise=True, saves=("mask",))(same)


@layer("Dropout2d", "Regularization", "Randomly zeroes whole channels of an image during training",
       [_P], builder=_build_dropout("Dropout2d"), saves=("mask",))
def dropout2d(c: Ctx) -> Out:
    need_rank(c, (3,), "an image (channels, height, width)")
    return Out(c.shape)
