"""Convolution and pooling layers (1-D inputs are (C, L), 2-D inputs are (C, H, W))."""
from __future__ import annotations

from engine.layers.base import Ctx, Out, ShapeError, fmt, layer, need_rank
from engine.registry import Param

_RANK_WORDS = {1: "a signal (channels, length)", 2: "an image (channels, height, width)"}
_OUT = Param("out_channels", "int", help="Number of output channels (filters)", min=1, max=1 << 16)
_KERNEL = Param("kernel_size", "int", 3, "Size of the sliding window", min=1, max=1024)
_STRIDE = Param("stride", "int", 1, "Step between windows", min=1, max=1024)
_PADDING = Param("padding", "int", 0, "Zeros added on every side (kernel_size // 2 keeps the size at stride 1)", min=0, max=1024)
_DILATION = Param("dilation", "int", 1, "Spacing between kernel elements", min=1, max=1024)
_GROUPS = Param("groups", "int", 1, "Split channels into groups convolved separately (must divide both channel counts)", min=1, max=1 << 16)
_BIAS = Param("bias", "bool", True, "Learn an additive bias per output channel")


def _spatial(c: Ctx, n: int) -> tuple[int, tuple[int, ...]]:
    need_rank(c, (n + 1,), _RANK_WORDS[n])
    return c.shape[0], c.shape[1:]


def _groups(channels_in: int, channels_out: int, groups: int) -> None:
    for count, which in ((channels_in, "input"), (channels_out, "output")):
        if count % groups:
            raise ShapeError(f"has groups = {groups}, which does not divide the {count} {which} channels")


def _empty(c: Ctx, sizes: tuple[int, ...], advice: str) -> None:
    if min(sizes) < 1:
        size = "×".join(map(str, sizes))
        raise ShapeError(f"on a {fmt(c.shape)} input gives no output (its size would be {size}) — {advice}")


def _conv_rule(n: int):
    def rule(c: Ctx) -> Out:
        channels, spatial = _spatial(c, n)
        p = c.p
        k, s, pad, d, g = p["kernel_size"], p["stride"], p["padding"], p["dilation"], p["groups"]
        _groups(channels, p["out_channels"], g)
        out = tuple((size + 2 * pad - d * (k - 1) - 1) // s + 1 for size in spatial)
        _empty(c, out, "use a smaller kernel_size or dilation, add padding, or downsample less before it")
        weights = p["out_channels"] * (channels // g) * k ** n
        return Out((p["out_channels"],) + out, weights + (p["out_channels"] if p["bias"] else 0))

    return rule


def _conv_builder(cls_name: str):
    def build(c: Ctx, children):
        import torch.nn as nn  # torch only when a model is built (the GUI plans without it)

        p = c.p
        return getattr(nn, cls_name)(
            c.shape[0], p["out_channels"], p["kernel_size"], stride=p["stride"], padding=p["padding"],
            dilation=p["dilation"], groups=p["groups"], bias=p["bias"])

    return build


_CONV_PARAMS = [_OUT, _KERNEL, _STRIDE, _PADDING, _DILATION, _GROUPS, _BIAS]
layer("Conv1d", "Convolution", "1-D convolution over (channels, length)", _CONV_PARAMS,
      builder=_conv_builder("Conv1d"), saves=("input",))(_conv_rule(1))
layer("Conv2d", "Convolution", "2-D convolution over an image (channels, height, width)", _CONV_PARAMS,
      builder=_conv_builder("Conv2d"), saves=("input",))(_conv_rule(2))


def _build_convtranspose(c: Ctx, children):
    import torch.nn as nn  # torch only when a model is built (the GUI plans without it)

    p = c.p
    return nn.ConvTranspose2d(
        c.shape[0], p["out_channels"], p["kernel_size"], stride=p["stride"], padding=p["padding"],
        output_padding=p["output_padding"], groups=p["groups"], bias=p["bias"], dilation=p["dilation"])


@layer("ConvTranspose2d", "Convolution", "Transposed 2-D convolution (learned upsampling)",
       [_OUT, _KERNEL, _STRIDE, _PADDING,
        Param("output_padding", "int", 0, "Extra rows/columns added on one side of the output (less than stride or dilation)", min=0, max=1024),
        _DILATION, _GROUPS, _BIAS],
       builder=_build_convtranspose, saves=("input",))
def conv_transpose2d(c: Ctx) -> Out:
    channels, spatial = _spatial(c, 2)
    p = c.p
    k, s, pad, d, g, op = p["kernel_size"], p["stride"], p["padding"], p["dilation"], p["groups"], p["output_padding"]
    _groups(channels, p["out_channels"], g)
    if op >= max(s, d):
        raise ShapeError(f"has output_padding = {op}, which must be smaller than stride ({s}) or dilation ({d})")
    out = tuple((size - 1) * s - 2 * pad + d * (k - 1) + op + 1 for size in spatial)
    _empty(c, out, "use less padding")
    weights = channels * (p["out_channels"] // g) * k * k
    return Out((p["out_channels"],) + out, weights + (p["out_channels"] if p["bias"] else 0))


# ----------------------------------------------------------------------------- pooling

_POOL_PARAMS = [
    Param("kernel_size", "int", 2, "Size of the pooling window", min=1, max=1024),
    Param("stride", "int", 0, "Step between windows (0 = kernel_size)", min=0, max=1024),
    Param("padding", "int", 0, "Padding on every side (at most half the kernel size)", min=0, max=512),
    Param("ceil_mode", "bool", False, "Round the output size up instead of down"),
]


def _pool_rule(n: int):
    def rule(c: Ctx) -> Out:
        _, spatial = _spatial(c, n)
        k, pad, ceil = c.p["kernel_size"], c.p["padding"], c.p["ceil_mode"]
        s = c.p["stride"] or k
        if 2 * pad > k:
            raise ShapeError(f"has padding = {pad}, more than half of kernel_size = {k} — lower the padding")
        out = []
        for size in spatial:
            o = (size + 2 * pad - k + (s - 1 if ceil else 0)) // s + 1
            if ceil and (o - 1) * s >= size + pad:
                o -= 1
            out.append(o)
        _empty(c, tuple(out), "use a smaller kernel_size, or remove a downsampling layer before it")
        return Out((c.shape[0],) + tuple(out))

    return rule


def _pool_builder(cls_name: str):
    def build(c: Ctx, children):
        import torch.nn as nn  # torch only when a model is built (the GUI plans without it)

        p = c.p
        return getattr(nn, cls_name)(p["kernel_size"], stride=p["stride"] or p["kernel_size"],
                                     padding=p["padding"], ceil_mode=p["ceil_mode"])

    return build


for _n, _what in ((1, "a signal"), (2, "an image")):
    layer(f"MaxPool{_n}d", "Pooling", f"Maximum over sliding windows of {_what}", _POOL_PARAMS,
          builder=_pool_builder(f"MaxPool{_n}d"), saves=("input", "indices"))(_pool_rule(_n))
    layer(f"AvgPool{_n}d", "Pooling", f"Average over sliding windows of {_what}", _POOL_PARAMS,
          builder=_pool_builder(f"AvgPool{_n}d"), saves=("input",))(_pool_rule(_n))


def _adaptive_rule(n: int):
    def rule(c: Ctx) -> Out:
        channels, _ = _spatial(c, n)
        return Out((channels,) + (c.p["output_size"],) * n)

    return rule


def _adaptive_builder(cls_name: str):
    def build(c: Ctx, children):
        import torch.nn as nn  # torch only when a model is built (the GUI plans without it)

        return getattr(nn, cls_name)(c.p["output_size"])

    return build


for _n, _what in ((1, "a signal"), (2, "an image")):
    layer(f"AdaptiveAvgPool{_n}d", "Pooling", f"Averages {_what} down to a fixed size, whatever its input size "
          "(output_size = 1 is global average pooling)",
          [Param("output_size", "int", 1, "Output size per spatial dimension", min=1, max=4096)],
          builder=_adaptive_builder(f"AdaptiveAvgPool{_n}d"), saves=("input",))(_adaptive_rule(_n))
