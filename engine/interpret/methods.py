"""The attribution-method registry: each entry wraps one Captum algorithm (never re-implements it).

`METHODS.get(name).obj(ctx, x, target, params) -> MethodOutput` runs the method on one batch `x`
(shape (1, *input_shape)) for output index `target`, with `params` already checked by
:func:`check_method`. Entry extras: `kinds` (data kinds it supports), `signed` (whether values
have a sign worth a diverging colormap), `delta` (reports a convergence delta), `noise` (accepts
the NoiseTunnel options), `calls` (expected forward passes, for progress bars).

Text models (int64 token ids) are explained at the output of their first nn.Embedding with
Captum's layer variants (LayerIntegratedGradients, ...); the per-dimension attributions are summed
to one value per token. Perturbation methods (Occlusion, FeatureAblation) replace token ids.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from captum.attr import (
    DeepLift, Deconvolution, FeatureAblation, GradientShap, GuidedBackprop, InputXGradient,
    IntegratedGradients, LayerAttribution, LayerDeepLift, LayerGradCam,
    LayerGradientXActivation, LayerIntegratedGradients, NoiseTunnel, Occlusion, Saliency,
)

from engine.interpret.baselines import check_baseline, make_baseline
from engine.interpret.context import Explainable
from engine.problems import Problem, did_you_mean
from engine.registry import Param, Registry, check_options

ALL_KINDS = ("image", "tabular", "points", "text")
DENSE_KINDS = ("image", "tabular", "points")


@dataclass(frozen=True)
class MethodOutput:
    """Attributions (same shape as the input batch; (1, T) per token for text) and the
    convergence delta when the method has one."""

    values: torch.Tensor
    delta: float | None = None


MethodFn = Callable[[Explainable, torch.Tensor, int, dict], MethodOutput]
METHODS: Registry[MethodFn] = Registry("attribution method")

# ------------------------------------------------------------------------------ shared params
NOISE_PARAMS = (
    Param("noise_tunnel", "choice", "none", "Average over noisy copies of the input: SmoothGrad (mean), "
          "SmoothGrad² (mean of squares) or VarGrad (variance)", choices=("none", "smoothgrad", "smoothgrad_sq", "vargrad")),
    Param("nt_samples", "int", 10, "Noisy copies for the noise tunnel", min=1, max=1000),
    Param("nt_stdev", "float", 0.15, "Standard deviation of the noise, in input units", min=0.0),
    Param("seed", "int", 0, "Seed of the random noise (results are reproducible)", min=0),
)


def _baseline_param(choices: tuple[str, ...], help_: str = "Reference input the attribution is measured against") -> Param:
    return Param("baseline", "choice", choices[0], help_, choices=choices)


def _algo(ctx: Explainable, input_cls: type, layer_cls: type | None = None, **layer_kw: Any) -> Any:
    """The Captum algorithm: on the inputs, or (text models) at the embedding layer."""
    if ctx.is_text and layer_cls is not None:
        return layer_cls(ctx.forward, ctx.embedding_layer(), **layer_kw)
    return input_cls(ctx.forward)


def _run(algo: Any, x: torch.Tensor, params: dict, *, delta: bool = False, **kwargs: Any) -> MethodOutput:
    """Call `algo.attribute`, through NoiseTunnel when params ask for it; unpack the delta."""
    nt = params.get("noise_tunnel", "none")
    if delta:
        kwargs["return_convergence_delta"] = True
    if nt != "none":
        out = NoiseTunnel(algo).attribute(x, nt_type=nt, nt_samples=params["nt_samples"],
                                          stdevs=params["nt_stdev"], **kwargs)
    else:
        out = algo.attribute(x, **kwargs)
    if delta:
        values, d = out
        return MethodOutput(values.detach(), float(d.detach().abs().max()))
    return MethodOutput(out.detach())


def _per_token(values: torch.Tensor, ctx: Explainable) -> torch.Tensor:
    """Sum embedding-dimension attributions to one value per token (text models)."""
    return values.sum(-1) if ctx.is_text and values.dim() == 3 else values


def _with_tokens(fn: Callable[..., MethodOutput]) -> MethodFn:
    def run(ctx: Explainable, x: torch.Tensor, target: int, params: dict) -> MethodOutput:
        out = fn(ctx, x, target, params)
        return MethodOutput(_per_token(out.values, ctx).float(), out.delta)

    run.__doc__ = fn.__doc__
    run.__name__ = fn.__name__
    return run


# ------------------------------------------------------------------------------ gradient methods
@_with_tokens
def saliency(ctx: Explainable, x: torch.Tensor, target: int, params: dict) -> MethodOutput:
    """Captum Saliency (gradient of the target output with respect to the input)."""
    if ctx.is_text:
        out = _run(_algo(ctx, Saliency, LayerGradientXActivation, multiply_by_inputs=False), x, params, target=target)
        return MethodOutput(out.values.abs() if params["abs"] else out.values)
    return _run(Saliency(ctx.forward), x, params, target=target, abs=params["abs"])


@_with_tokens
def input_x_gradient(ctx: Explainable, x: torch.Tensor, target: int, params: dict) -> MethodOutput:
    """Captum InputXGradient (input times gradient)."""
    return _run(_algo(ctx, InputXGradient, LayerGradientXActivation), x, params, target=target)


@_with_tokens
def integrated_gradients(ctx: Explainable, x: torch.Tensor, target: int, params: dict) -> MethodOutput:
    """Captum IntegratedGradients along the straight path from the baseline to the input."""
    algo = _algo(ctx, IntegratedGradients, LayerIntegratedGradients)
    return _run(algo, x, params, delta=True, target=target, baselines=make_baseline(ctx, params["baseline"], x, params),
                n_steps=params["steps"], method=params["integration"],
                internal_batch_size=params["internal_batch_size"] or None)


def gradient_shap(ctx: Explainable, x: torch.Tensor, target: int, params: dict) -> MethodOutput:
    """Captum GradientShap (expected gradients over baselines drawn from a distribution)."""
    return _run(GradientShap(ctx.forward), x, params, delta=True, target=target,
                baselines=make_baseline(ctx, params["baseline"], x, params),
                n_samples=params["samples"], stdevs=params["stdevs"])


@_with_tokens
def deep_lift(ctx: Explainable, x: torch.Tensor, target: int, params: dict) -> MethodOutput:
    """Captum DeepLift (rescale rule) against a baseline."""
    algo = _algo(ctx, DeepLift, LayerDeepLift)
    return _run(algo, x, params, delta=True, target=target, baselines=make_baseline(ctx, params["baseline"], x, params))


def guided_backprop(ctx: Explainable, x: torch.Tensor, target: int, params: dict) -> MethodOutput:
    """Captum GuidedBackprop (only positive gradients pass back through ReLUs)."""
    return _run(GuidedBackprop(ctx.forward), x, params, target=target)


def deconvolution(ctx: Explainable, x: torch.Tensor, target: int, params: dict) -> MethodOutput:
    """Captum Deconvolution (ReLU applied to the gradient going back)."""
    return _run(Deconvolution(ctx.forward), x, params, target=target)


# ------------------------------------------------------------------------------ perturbation
def occlusion_window(ctx: Explainable, params: dict) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(sliding_window_shapes, strides) for Captum Occlusion from the `window`/`stride` params.
    For images the window is given as [h, w] (all channels) or [c, h, w]; empty means automatic."""
    return _expand(ctx, params["window"], auto=True), _expand(ctx, params["stride"], auto=False, window=params["window"])


def _expand(ctx: Explainable, given: list[int], *, auto: bool, window: list[int] | None = None) -> tuple[int, ...]:
    shape = ctx.input_shape
    if ctx.kind == "image" and len(shape) == 3:
        channels, h, w = shape
        if not given:
            side = max(1, min(h, w) // 4)
            if not auto:  # default stride: half the window
                win = _expand(ctx, window or [], auto=True)
                return (channels, max(1, win[1] // 2), max(1, win[2] // 2))
            return (channels, side, side)
        if len(given) == 1:
            return (channels, given[0], given[0])
        if len(given) == 2:
            return (channels, given[0], given[1])
        return tuple(given)
    if not given:
        return tuple(1 for _ in shape)
    if len(given) == 1 and len(shape) > 1:
        return tuple(given * len(shape))
    return tuple(given)


def occlusion(ctx: Explainable, x: torch.Tensor, target: int, params: dict) -> MethodOutput:
    """Captum Occlusion: slide a window over the input, replace it by the baseline, measure the drop."""
    window, stride = occlusion_window(ctx, params)
    base = make_baseline(ctx, params["baseline"], x, params)
    out = _run(Occlusion(ctx.forward), x, params, target=target, sliding_window_shapes=window, strides=stride,
               baselines=base, perturbations_per_eval=params["perturbations_per_eval"])
    return MethodOutput(out.values.float())


def feature_mask(ctx: Explainable, x: torch.Tensor, patch: int) -> torch.Tensor | None:
    """Feature groups for FeatureAblation: patch x patch squares (all channels) for images,
    one group per feature / token otherwise (None)."""
    if ctx.kind != "image" or len(ctx.input_shape) != 3 or patch <= 1:
        return None
    _, h, w = ctx.input_shape
    cols = math.ceil(w / patch)
    rows = torch.arange(h).div(patch, rounding_mode="floor").view(-1, 1)
    ids = rows * cols + torch.arange(w).div(patch, rounding_mode="floor").view(1, -1)
    return ids.expand(1, ctx.input_shape[0], h, w).to(x.device)


def feature_ablation(ctx: Explainable, x: torch.Tensor, target: int, params: dict) -> MethodOutput:
    """Captum FeatureAblation: replace each feature (group) by the baseline and measure the change."""
    out = _run(FeatureAblation(ctx.forward), x, params, target=target,
               baselines=make_baseline(ctx, params["baseline"], x, params),
               feature_mask=feature_mask(ctx, x, params["patch"]),
               perturbations_per_eval=params["perturbations_per_eval"])
    return MethodOutput(out.values.float())


# ------------------------------------------------------------------------------ layer methods
def grad_cam(ctx: Explainable, x: torch.Tensor, target: int, params: dict) -> MethodOutput:
    """Captum LayerGradCam on a convolutional layer, upsampled to the input and repeated over channels."""
    layer = ctx.layer(params["layer"] or ctx.conv_layers()[-1])
    cam = LayerGradCam(ctx.forward, layer).attribute(x, target=target, relu_attributions=params["relu"]).detach()
    spatial = tuple(x.shape[2:])
    mode = params["upsample"]
    if len(spatial) == 1 and mode == "bilinear":
        mode = "linear"
    cam = LayerAttribution.interpolate(cam, spatial, mode)
    return MethodOutput(cam.expand_as(x).contiguous().float())


# ------------------------------------------------------------------------------ checks / costs
def _check_noise(ctx: Explainable, params: dict) -> list[Problem]:
    if params.get("noise_tunnel", "none") != "none" and ctx.is_text:
        return [Problem("params.noise_tunnel", "noise cannot be added to token ids; set noise_tunnel = none for text models")]
    return []


def _check_gradcam(ctx: Explainable, params: dict) -> list[Problem]:
    convs = ctx.conv_layers()
    if not convs:
        return [Problem("method", "LayerGradCam needs a convolutional layer and this model has none — "
                                  "use Saliency or IntegratedGradients, or add a Conv2d layer")]
    if params["layer"] and params["layer"] not in convs:
        return [Problem("params.layer", f"{params['layer']!r} is not a convolutional layer of this model"
                                        f"{did_you_mean(params['layer'], convs)} (choose from {', '.join(convs)})")]
    return []


def _check_occlusion(ctx: Explainable, params: dict) -> list[Problem]:
    shape = ctx.input_shape
    window, stride = occlusion_window(ctx, params)
    problems = []
    for what, values in (("window", window), ("stride", stride)):
        if len(values) != len(shape):
            problems.append(Problem(f"params.{what}", f"has {len(values)} numbers but the input has "
                                    f"{len(shape)} dimensions {_dims(shape)}"))
    if problems:
        return problems
    if any(w > s for w, s in zip(window, shape)):
        return [Problem("params.window", f"the window {_dims(window)} is larger than the input {_dims(shape)} — "
                                         f"use at most {_dims(shape[-2:] if ctx.kind == 'image' else shape)}")]
    if any(s < 1 for s in window + stride):
        return [Problem("params.window", "window and stride must be at least 1")]
    return []


def _dims(shape: tuple[int, ...] | list[int]) -> str:
    return "x".join(str(s) for s in shape)


def _occlusion_calls(ctx: Explainable, params: dict) -> int:
    window, stride = occlusion_window(ctx, params)
    n = int(np.prod([(s - w) // st + 1 for s, w, st in zip(ctx.input_shape, window, stride)]))
    return math.ceil(n / params["perturbations_per_eval"]) + 1


def _ablation_calls(ctx: Explainable, params: dict) -> int:
    x = torch.zeros((1, *ctx.input_shape))
    mask = feature_mask(ctx, x, params["patch"])
    n = int(mask.max()) + 1 if mask is not None else int(np.prod(ctx.input_shape))
    return math.ceil(n / params["perturbations_per_eval"]) + 1


def _ig_calls(ctx: Explainable, params: dict) -> int:
    ibs = params["internal_batch_size"]
    return (math.ceil(params["steps"] / ibs) if ibs else 1) + 2


def _noise_calls(ctx: Explainable, params: dict, base: int = 1) -> int:
    return base * (params["nt_samples"] if params.get("noise_tunnel", "none") != "none" else 1)


# ------------------------------------------------------------------------------ registry
_B_FULL = ("zeros", "mean", "blurred")
_B_PLAIN = ("zeros", "mean")
PERTURB = (Param("perturbations_per_eval", "int", 16, "Perturbed copies evaluated per forward pass (speed vs memory)",
                 min=1, max=4096),)

METHODS.add("Saliency", saliency, group="Gradient", params=(Param("abs", "bool", True, "Absolute value of the gradient"),
            *NOISE_PARAMS), description="Gradient of the target score with respect to the input (Simonyan et al.)",
            kinds=ALL_KINDS, signed=False, noise=True)
METHODS.add("InputXGradient", input_x_gradient, group="Gradient", params=NOISE_PARAMS,
            description="Input times gradient", kinds=ALL_KINDS, signed=True, noise=True)
METHODS.add("IntegratedGradients", integrated_gradients, group="Gradient", params=(
    Param("steps", "int", 50, "Integration steps from the baseline to the input", min=1, max=5000),
    Param("integration", "choice", "gausslegendre", "Integration rule",
          choices=("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")),
    _baseline_param(_B_FULL),
    Param("blur_sigma", "float", 2.0, "Blur of the 'blurred' baseline, in pixels", min=0.0, max=100.0),
    Param("internal_batch_size", "int", 0, "Steps evaluated per forward pass (0 = all at once)", min=0),
    *NOISE_PARAMS), description="Path integral of gradients from a baseline (Sundararajan et al.); reports the "
    "convergence delta (sum of attributions minus F(input) - F(baseline))", kinds=ALL_KINDS, signed=True,
    delta=True, noise=True, calls=lambda c, p: _noise_calls(c, p, _ig_calls(c, p)))
METHODS.add("GradientShap", gradient_shap, group="Gradient", params=(
    Param("samples", "int", 20, "Random baseline/path samples", min=1, max=5000),
    Param("stdevs", "float", 0.0, "Noise added to each sample", min=0.0),
    _baseline_param(("training", "zeros", "mean"), "Distribution of baselines"),
    Param("seed", "int", 0, "Seed of the random draws (results are reproducible)", min=0),
), description="Expected gradients over random baselines and path points (SHAP approximation)",
    kinds=DENSE_KINDS, signed=True, delta=True)
METHODS.add("DeepLift", deep_lift, group="Gradient", params=(_baseline_param(_B_FULL),
            Param("blur_sigma", "float", 2.0, "Blur of the 'blurred' baseline, in pixels", min=0.0, max=100.0)),
            description="Contributions relative to a baseline by the rescale rule (Shrikumar et al.)",
            kinds=ALL_KINDS, signed=True, delta=True)
METHODS.add("GuidedBackprop", guided_backprop, group="Gradient", params=NOISE_PARAMS,
            description="Gradient where only positive signals pass back through ReLUs (Springenberg et al.)",
            kinds=DENSE_KINDS, signed=True, noise=True)
METHODS.add("Deconvolution", deconvolution, group="Gradient", params=NOISE_PARAMS,
            description="Deconvnet: ReLU applied to the gradient on the way back (Zeiler & Fergus)",
            kinds=DENSE_KINDS, signed=True, noise=True)
METHODS.add("Occlusion", occlusion, group="Perturbation", params=(
    Param("window", "ints", [], "Occluding window: [h, w] for images, [k] otherwise (empty = a quarter of the image, 1 feature)", min=1),
    Param("stride", "ints", [], "Step between windows (empty = half the window)", min=1),
    _baseline_param(_B_PLAIN, "Value the window is replaced with"), *PERTURB),
    description="Slides a window over the input, replacing it by a baseline, and measures the change of the score",
    kinds=ALL_KINDS, signed=True, calls=_occlusion_calls, check=_check_occlusion)
METHODS.add("FeatureAblation", feature_ablation, group="Perturbation", params=(
    _baseline_param(_B_PLAIN, "Value a feature is replaced with"),
    Param("patch", "int", 2, "Images: ablate square patches of this many pixels (1 = each pixel)", min=1),
    *PERTURB), description="Replaces each feature (or image patch / token) by a baseline and measures the change",
    kinds=ALL_KINDS, signed=True, calls=_ablation_calls)
METHODS.add("LayerGradCam", grad_cam, group="Layer", params=(
    Param("layer", "str", "", "Convolutional layer (empty = the last one)"),
    Param("relu", "bool", True, "Keep only positive evidence (ReLU of the map)"),
    Param("upsample", "choice", "bilinear", "How the layer map is resized to the input", choices=("bilinear", "nearest")),
), description="Grad-CAM: gradient-weighted activations of a convolutional layer, upsampled to the input",
    kinds=("image",), signed=False, check=_check_gradcam)


def check_method(name: str, params: dict, ctx: Explainable) -> tuple[dict, list[Problem]]:
    """Check a method name and its parameters for this model; returns (resolved params, problems)."""
    if name not in METHODS:
        return dict(params), [Problem("method", METHODS.unknown_message(name))]
    entry = METHODS.get(name)
    resolved, problems = check_options(entry.params, params, "params", what=f"method {name}")
    if problems:
        return resolved, problems
    if ctx.kind not in entry.extra.get("kinds", ALL_KINDS):
        why = "text models are explained at their embedding layer" if ctx.is_text else f"{ctx.kind} inputs"
        ok = ", ".join(e.name for e in METHODS if ctx.kind in e.extra.get("kinds", ALL_KINDS))
        return resolved, [Problem("method", f"{name} does not work for {ctx.kind} models ({why}); use one of: {ok}")]
    if ctx.is_text and ctx.embedding_layer() is None and name not in ("Occlusion", "FeatureAblation"):
        return resolved, [Problem("method", f"{name} needs an Embedding layer to explain a model reading token ids; "
                                            "use Occlusion or FeatureAblation")]
    problems += _check_noise(ctx, resolved)
    if "baseline" in resolved:
        problems += check_baseline(ctx, resolved["baseline"], "params.baseline")
    check = entry.extra.get("check")
    if check is not None and not problems:
        problems += check(ctx, resolved)
    return resolved, problems


def method_params(name: str, ctx: Explainable | None = None) -> tuple[Param, ...]:
    """The parameter schema of a method, specialised to a model when given (LayerGradCam's
    `layer` becomes a choice among the model's convolutional layers)."""
    params = METHODS.get(name).params
    if ctx is None or name != "LayerGradCam" or not ctx.conv_layers():
        return params
    convs = tuple(ctx.conv_layers())
    return tuple(Param("layer", "choice", convs[-1], p.help.split(" (")[0], choices=convs) if p.name == "layer" else p
                 for p in params)


def expected_calls(name: str, params: dict, ctx: Explainable) -> int:
    """Roughly how many forward passes the method makes for one sample (progress bars)."""
    calls = METHODS.get(name).extra.get("calls")
    return int(calls(ctx, params)) if calls else _noise_calls(ctx, params, 2)


def methods_for(ctx: Explainable) -> list[str]:
    """Names of the methods that support this model's kind of data."""
    return [e.name for e in METHODS if ctx.kind in e.extra.get("kinds", ALL_KINDS)]
