"""The model builder: named top-level children, nested blocks, errors, and the examples."""
from __future__ import annotations

import pytest
import torch

from engine.data import describe_data
from engine.model import build_model, layer_labels
from engine.paths import EXAMPLES
from engine.pretrained.loading import architecture_only
from engine.problems import SpecError
from engine.shapes import infer_model
from engine.spec import LayerSpec, load_spec

L = LayerSpec


def test_children_are_named_by_labels():
    layers = [L("Conv2d", {"out_channels": 4, "padding": 1}), L("ReLU"), L("Dropout", enabled=False),
              L("Conv2d", {"out_channels": 4, "padding": 1}), L("ReLU", name="last_act"), L("Flatten"),
              L("Linear", {"out_features": 3})]
    model = build_model(layers, (1, 6, 6))
    assert isinstance(model, torch.nn.Sequential)
    assert [name for name, _ in model.named_children()] == [
        "conv2d_1", "relu_1", "conv2d_2", "last_act", "flatten_1", "linear_1"]
    assert layer_labels(layers) == ["conv2d_1", "relu_1", "dropout_1", "conv2d_2", "last_act", "flatten_1", "linear_1"]
    assert all("." not in name for name, _ in model.named_children())
    assert model(torch.randn(2, 1, 6, 6)).shape == (2, 3)


def test_nested_blocks_are_named_inside():
    layers = [L("Residual", {}, (L("Linear", {"out_features": 5}), L("ReLU"))), L("Linear", {"out_features": 2})]
    model = build_model(layers, (3,))
    names = [name for name, _ in model.named_modules()]
    assert "residual_1.body.linear_1" in names and "residual_1.skip" in names
    assert isinstance(model.residual_1.skip, torch.nn.Linear)
    same = build_model([L("Residual", {}, (L("Linear", {"out_features": 3}),))], (3,))
    assert isinstance(same.residual_1.skip, torch.nn.Identity)


def test_residual_adds_the_skip_path():
    torch.manual_seed(0)
    model = build_model([L("Residual", {}, (L("Linear", {"out_features": 4}),))], (4,)).eval()
    x = torch.randn(2, 4)
    assert torch.allclose(model(x), model.residual_1.body(x) + x)


def test_problems_raise_spec_error():
    with pytest.raises(SpecError) as info:
        build_model([L("Conv2d", {"out_channels": 4}), L("Linear", {"out_features": 2})], (1, 8, 8))
    assert info.value.problems[0].path == "model.layers[1]"
    assert "add Flatten before it" in str(info.value)
    with pytest.raises(SpecError, match="model.layers: the model has no layers"):
        build_model([], (4,))
    with pytest.raises(SpecError, match="out_features"):
        build_model([L("Linear", {"out_features": 0})], (4,))  # 0 = from the data, and no data given


def test_num_classes_resolves_from_data_options():
    model = build_model([L("Embedding", {"embedding_dim": 4}), L("LMHead")], (7,), "int64", num_classes=21)
    assert model.embedding_1.num_embeddings == 21
    assert model(torch.randint(0, 21, (2, 7))).shape == (2, 7, 21)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.stem)
def test_examples_build_and_run(path):
    spec = load_spec(path)
    info = describe_data(spec.data)
    report = infer_model(spec.model.layers, info.input_shape, info.input_dtype, info.num_classes)
    with architecture_only():  # a Pretrained block's library weights would be a download (tests stay offline)
        model = build_model(spec, info.input_shape, info.input_dtype, num_classes=info.num_classes).eval()
    assert sum(p.numel() for p in model.parameters()) == report.total_params
    if info.input_dtype == "int64":
        x = torch.randint(0, info.num_classes, (2, *info.input_shape))
    else:
        x = torch.randn(2, *info.input_shape)
    with torch.no_grad():
        assert tuple(model(x).shape[1:]) == report.output_shape
