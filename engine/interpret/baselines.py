"""Reference inputs ("baselines") for IntegratedGradients, DeepLift, GradientShap, Occlusion and
FeatureAblation: zeros, the training mean, a blurred copy of the input, or training samples."""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from engine.data.tokenize import is_special
from engine.interpret.context import Explainable
from engine.problems import Problem
from engine.registry import Registry

Baseline = Callable[[Explainable, torch.Tensor, dict], torch.Tensor]
BASELINES: Registry[Baseline] = Registry("baseline")


def _zeros(ctx: Explainable, x: torch.Tensor, params: dict) -> torch.Tensor:
    if ctx.is_text and ctx.pad_id is not None:
        return text_reference(ctx, x)
    return torch.zeros_like(x)


_UNKNOWN = ("[UNK]", "<unk>", "<|unk|>")


def text_reference(ctx: Explainable, x: torch.Tensor) -> torch.Tensor:
    """The reference text of a padded model: each word replaced by the unknown token (the padding
    token when there is none), padding and special tokens kept — so the attention mask, which
    the model makes from the padding, is the same along the whole path and the convergence delta
    stays small."""
    vocab = ctx.vocab
    unknown = next((vocab.index(t) for t in _UNKNOWN if t in vocab), ctx.pad_id)
    special = torch.tensor([is_special(t) for t in vocab] or [False], device=x.device)
    keep = (x == ctx.pad_id) | special[x.clamp(0, len(special) - 1)]
    return torch.where(keep, x, torch.full_like(x, unknown))


def _mean(ctx: Explainable, x: torch.Tensor, params: dict) -> torch.Tensor:
    assert ctx.train_mean is not None
    return torch.as_tensor(ctx.train_mean, dtype=x.dtype, device=x.device).unsqueeze(0).expand_as(x).clone()


def _blurred(ctx: Explainable, x: torch.Tensor, params: dict) -> torch.Tensor:
    return gaussian_blur(x, float(params.get("blur_sigma", 2.0)))


def _training(ctx: Explainable, x: torch.Tensor, params: dict) -> torch.Tensor:
    assert ctx.reference is not None
    return torch.as_tensor(ctx.reference, device=x.device).to(x.dtype)


BASELINES.add("zeros", _zeros, description="All zeros (text models with padding: every word the unknown token)")
BASELINES.add("mean", _mean, description="The mean of the training inputs", needs="mean")
BASELINES.add("blurred", _blurred, description="A Gaussian-blurred copy of the input (images)", needs="image")
BASELINES.add("training", _training, description="Training samples (a distribution, for GradientShap)",
              needs="reference")


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur a batch of images (n, C, H, W) per channel with a Gaussian of `sigma` pixels."""
    if sigma <= 0:
        return x.clone()
    radius = max(1, int(math.ceil(3 * sigma)))
    grid = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-(grid ** 2) / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    channels = x.shape[1]
    out = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def check_baseline(ctx: Explainable, name: str, path: str) -> list[Problem]:
    """Problems with using baseline `name` for this model (e.g. blurred on tabular data)."""
    if name not in BASELINES:
        return [Problem(path, BASELINES.unknown_message(name))]
    needs = BASELINES.get(name).extra.get("needs")
    if needs == "image" and ctx.kind != "image":
        return [Problem(path, f"a blurred baseline needs image inputs; this model reads {ctx.kind} data — "
                              "use zeros or mean")]
    if needs == "mean" and (ctx.train_mean is None or ctx.is_text):
        why = "text models have no mean input" if ctx.is_text else "no training data is available"
        return [Problem(path, f"the mean baseline is unavailable: {why} — use zeros")]
    if needs == "reference" and ctx.reference is None:
        return [Problem(path, "training samples are unavailable for this model — use zeros")]
    return []


def make_baseline(ctx: Explainable, name: str, x: torch.Tensor, params: dict) -> torch.Tensor:
    """The baseline tensor for input batch `x` (call check_baseline first)."""
    return BASELINES.get(name).obj(ctx, x, params)
