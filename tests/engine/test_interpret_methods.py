"""Each registered method equals Captum called directly, and bad requests are clear problems."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from captum import attr as ca

from engine.interpret.core import ExplainError, explain_sample, seed_everything
from engine.interpret.methods import METHODS, method_params, methods_for
from tests.engine.interpret_models import image_ctx, tabular_ctx, text_ctx

CTX = {"image": image_ctx, "tabular": tabular_ctx, "text": text_ctx}


def _direct(ctx, x: torch.Tensor, name: str, target: int, ref: np.ndarray) -> tuple[torch.Tensor, object]:
    """The same attribution computed by calling Captum by hand."""
    f, zeros = ctx.forward, torch.zeros_like(x)
    emb = ctx.embedding_layer()
    text = ctx.is_text
    seed_everything(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "Saliency":
            if text:
                return ca.LayerGradientXActivation(f, emb, multiply_by_inputs=False).attribute(x, target=target).abs().sum(-1), None
            return ca.Saliency(f).attribute(x, target=target, abs=True), None
        if name == "InputXGradient":
            if text:
                return ca.LayerGradientXActivation(f, emb).attribute(x, target=target).sum(-1), None
            return ca.InputXGradient(f).attribute(x, target=target), None
        if name == "IntegratedGradients":
            algo = ca.LayerIntegratedGradients(f, emb) if text else ca.IntegratedGradients(f)
            a, d = algo.attribute(x, baselines=zeros, target=target, n_steps=50, method="gausslegendre",
                                  return_convergence_delta=True)
            return (a.sum(-1) if text else a), float(d.abs().max())
        if name == "GradientShap":
            a, d = ca.GradientShap(f).attribute(x, baselines=torch.as_tensor(ref), n_samples=20, stdevs=0.0,
                                                target=target, return_convergence_delta=True)
            return a, float(d.abs().max())
        if name == "DeepLift":
            algo = ca.LayerDeepLift(f, emb) if text else ca.DeepLift(f)
            a, d = algo.attribute(x, baselines=zeros, target=target, return_convergence_delta=True)
            return (a.sum(-1) if text else a), float(d.abs().max())
        if name == "GuidedBackprop":
            return ca.GuidedBackprop(f).attribute(x, target=target), None
        if name == "Deconvolution":
            return ca.Deconvolution(f).attribute(x, target=target), None
        if name == "Occlusion":
            window = (1, 2, 2) if ctx.kind == "image" else (1,)
            stride = (1, 1, 1) if ctx.kind == "image" else (1,)
            return ca.Occlusion(f).attribute(x, sliding_window_shapes=window, strides=stride, baselines=zeros,
                                             target=target, perturbations_per_eval=16), None
        if name == "FeatureAblation":
            mask = None
            if ctx.kind == "image":
                rows = torch.arange(8).div(2, rounding_mode="floor")
                mask = (rows.view(-1, 1) * 4 + rows.view(1, -1)).expand(1, 1, 8, 8)
            return ca.FeatureAblation(f).attribute(x, baselines=zeros, target=target, feature_mask=mask,
                                                   perturbations_per_eval=16), None
        if name == "LayerGradCam":
            cam = ca.LayerGradCam(f, ctx.model[2]).attribute(x, target=target, relu_attributions=True)
            return ca.LayerAttribution.interpolate(cam, (8, 8), "bilinear"), None
    raise AssertionError(name)


CASES = [(kind, name) for kind in CTX for name in METHODS.names()
         if kind in METHODS.get(name).extra["kinds"]]


@pytest.mark.parametrize("kind,name", CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_method_equals_captum_called_directly(kind, name):
    ctx, xs = CTX[kind]()
    x = xs[3]
    ours = explain_sample(ctx, x, name, target="predicted")
    assert ours.values.shape == ctx.input_shape
    expected, delta = _direct(ctx, ctx.tensor(x), name, ours.target, ctx.reference)
    np.testing.assert_allclose(ours.values, expected[0].detach().numpy().reshape(ctx.input_shape), rtol=1e-4, atol=1e-6)
    if delta is None:
        assert ours.delta is None
    else:
        assert ours.delta == pytest.approx(delta, rel=1e-4, abs=1e-7)
    assert np.abs(ours.values).sum() > 0, "an all-zero map would make the comparison meaningless"


@pytest.mark.parametrize("nt_type", ["smoothgrad", "vargrad"])
def test_noise_tunnel_wraps_gradient_methods(nt_type):
    ctx, xs = image_ctx()
    params = {"noise_tunnel": nt_type, "nt_samples": 4, "nt_stdev": 0.2, "seed": 3}
    ours = explain_sample(ctx, xs[0], "Saliency", params, target=2)
    seed_everything(3)
    direct = ca.NoiseTunnel(ca.Saliency(ctx.forward)).attribute(
        ctx.tensor(xs[0]), nt_type=nt_type, nt_samples=4, stdevs=0.2, target=2, abs=True)
    np.testing.assert_allclose(ours.values, direct[0].numpy(), rtol=1e-5, atol=1e-7)
    plain = explain_sample(ctx, xs[0], "Saliency", target=2)
    assert not np.allclose(ours.values, plain.values), "the noise tunnel must change the map"


def test_integrated_gradients_completeness():
    ctx, xs = image_ctx()
    a = explain_sample(ctx, xs[5], "IntegratedGradients", {"steps": 64}, target=4)
    with torch.no_grad():
        gap = float(ctx.forward(ctx.tensor(xs[5]))[0, 4] - ctx.forward(torch.zeros(1, 1, 8, 8))[0, 4])
    assert abs(a.values.sum() - gap) <= a.delta + 1e-5
    assert a.delta < 0.05 * max(abs(gap), 1e-3) + 1e-4


@pytest.mark.parametrize("baseline", ["zeros", "mean", "blurred"])
def test_integrated_gradients_baselines_differ_and_are_complete(baseline):
    ctx, xs = image_ctx()
    a = explain_sample(ctx, xs[1], "IntegratedGradients", {"baseline": baseline, "steps": 32}, target=1)
    from engine.interpret.baselines import make_baseline
    base = make_baseline(ctx, baseline, ctx.tensor(xs[1]), a.params)
    with torch.no_grad():
        gap = float(ctx.forward(ctx.tensor(xs[1]))[0, 1] - ctx.forward(base)[0, 1])
    assert abs(a.values.sum() - gap) <= a.delta + 1e-5
    if baseline != "zeros":
        assert not np.allclose(a.values, explain_sample(ctx, xs[1], "IntegratedGradients", {"steps": 32}, target=1).values)


def test_targets_true_and_class():
    ctx, xs = tabular_ctx()
    assert explain_sample(ctx, xs[0], "Saliency", target="true", true_label=2).target == 2
    assert explain_sample(ctx, xs[0], "Saliency", target="b").target == 1
    assert explain_sample(ctx, xs[0], "Saliency", target=0).target == 0


@pytest.mark.parametrize("make,method,params,target,path,words", [
    (tabular_ctx, "LayerGradCam", {}, "predicted", "method", "does not work for tabular"),
    (image_ctx, "Occlusion", {"window": [10, 10]}, "predicted", "params.window", "larger than the input 1x8x8"),
    (image_ctx, "Saliency", {}, 10, "target", "outside the model's classes 0..9"),
    (tabular_ctx, "Saliency", {}, "dog", "target", "is not a target"),
    (image_ctx, "Saliency", {}, "true", "target", "true class is unknown"),
    (image_ctx, "IntegratedGradients", {"stepz": 3}, "predicted", "params.stepz", "did you mean 'steps'"),
    (image_ctx, "IntegratedGradients", {"steps": 0}, "predicted", "params.steps", "at least 1"),
    (tabular_ctx, "IntegratedGradients", {"baseline": "blurred"}, "predicted", "params.baseline", "needs image inputs"),
    (text_ctx, "IntegratedGradients", {"baseline": "mean"}, "predicted", "params.baseline", "text models have no mean"),
    (text_ctx, "Saliency", {"noise_tunnel": "smoothgrad"}, "predicted", "params.noise_tunnel", "token ids"),
    (text_ctx, "GuidedBackprop", {}, "predicted", "method", "does not work for text"),
    (image_ctx, "Salency", {}, "predicted", "method", "did you mean 'Saliency'"),
    (image_ctx, "LayerGradCam", {"layer": "3"}, "predicted", "params.layer", "not a convolutional layer"),
])
def test_bad_requests_are_clear_problems(make, method, params, target, path, words):
    ctx, xs = make()
    with pytest.raises(Exception) as info:
        explain_sample(ctx, xs[0], method, params, target=target)
    problems = getattr(info.value, "problems", None)
    assert problems, f"expected problems, got {info.value!r}"
    assert problems[0].path == path
    assert words in problems[0].message


def test_gradcam_without_conv_layers_says_so():
    from engine.interpret.context import Explainable
    ctx0, xs = image_ctx()
    flat = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    ctx = Explainable.from_model(flat, kind="image", input_shape=(1, 8, 8), num_classes=10)
    with pytest.raises(ExplainError, match="needs a convolutional layer"):
        explain_sample(ctx, xs[0], "LayerGradCam")


def test_gradcam_layer_param_becomes_a_choice_of_conv_layers():
    ctx, xs = image_ctx()
    params = {p.name: p for p in method_params("LayerGradCam", ctx)}
    assert params["layer"].kind == "choice" and params["layer"].choices == ("0", "2")
    first = explain_sample(ctx, xs[0], "LayerGradCam", {"layer": "0"}, target=1)
    last = explain_sample(ctx, xs[0], "LayerGradCam", {"layer": "2"}, target=1)
    assert not np.allclose(first.values, last.values)


def test_methods_for_each_kind():
    assert "LayerGradCam" in methods_for(image_ctx()[0])
    assert "LayerGradCam" not in methods_for(tabular_ctx()[0])
    assert set(methods_for(text_ctx()[0])) == {"Saliency", "InputXGradient", "IntegratedGradients", "DeepLift",
                                               "Occlusion", "FeatureAblation"}


def test_progress_reaches_one_for_occlusion():
    ctx, xs = image_ctx()
    seen: list[float] = []
    explain_sample(ctx, xs[0], "Occlusion", {"window": [2, 2], "stride": [1, 1], "perturbations_per_eval": 4},
                   progress=seen.append)
    assert len(seen) > 5 and seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
