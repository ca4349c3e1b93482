"""Pure shape inference: rows, labels, and every problem it reports (with the field path)."""
from __future__ import annotations

import dataclasses
import pytest

import engine.data
from engine.data.base import DataInfo
from engine.paths import EXAMPLES
from engine.problems import SpecError
from engine.shapes import check_layers, check_model, infer_model, layer_labels
from engine.spec import ExperimentSpec, LayerSpec, load_spec

L = LayerSpec
CNN = [L("Conv2d", {"out_channels": 16, "kernel_size": 3}), L("MaxPool2d")]


def messages(report_or_problems):
    problems = getattr(report_or_problems, "problems", report_or_problems)
    return {p.path: p.message for p in problems}


def test_rows_shapes_params_and_labels():
    report = infer_model(CNN + [L("Flatten"), L("Linear", {"out_features": 10}), L("ReLU"), L("Linear", {"out_features": 0})],
                         (1, 10, 10), num_classes=4)
    assert report.ok
    assert [r.out_shape for r in report.rows] == [(16, 8, 8), (16, 4, 4), (256,), (10,), (10,), (4,)]
    assert [r.label for r in report.rows] == ["conv2d_1", "maxpool2d_1", "flatten_1", "linear_1", "relu_1", "linear_2"]
    assert report.rows[0].params == 16 * 9 + 16
    assert report.rows[5].options["out_features"] == 4  # 0 = from the data
    assert report.total_params == sum(r.params for r in report.rows) == 160 + 2570 + 44
    assert report.output_shape == (4,)
    assert report.rows[3].in_shape == (256,) and report.rows[3].path == "model.layers[3]"
    assert "linear_2" in report.table() and "total parameters: 2,774" in report.table()


def test_shape_mismatch_offers_flatten_fix_and_stops_propagating():
    layers = CNN + [L("Linear", {"out_features": 10}), L("ReLU"), L("Linear", {"out_featurs": 3})]
    report = infer_model(layers, (1, 10, 10))
    found = messages(report)
    assert found["model.layers[2]"] == ("Linear expects a flat input (features,) or a sequence (positions, features), "
                                         "got (16, 4, 4) — add Flatten before it")
    # later rows are not propagated, but their option problems are still reported
    assert report.rows[3].in_shape is None and report.rows[3].out_shape is None
    assert report.output_shape is None
    assert "did you mean 'out_features'" in found["model.layers[4].out_featurs"]
    assert "is required" in found["model.layers[4].out_features"]
    fix = report.rows[2].fix
    assert fix is not None and fix.insert == L("Flatten") and "Flatten" in fix.description
    fixed = infer_model(layers[:2] + [fix.insert] + layers[2:4], (1, 10, 10))
    assert fixed.ok and fixed.output_shape == (10,)


@pytest.mark.parametrize("layer,path,words", [
    (L("Conv2D", {"out_channels": 4}), "model.layers[0].type", "unknown layer type 'Conv2D' — did you mean 'Conv2d'?"),
    (L("Linear"), "model.layers[0].out_features", "is required"),
    (L("Conv2d", {"out_channels": 4, "kernel_size": 0}), "model.layers[0].kernel_size", "must be at least 1, got 0"),
    (L("Dropout", {"p": 1.5}), "model.layers[0].p", "must be at most 0.99"),
    (L("Linear", {"out_features": "ten"}), "model.layers[0].out_features", "expects an integer"),
    (L("GELU", {"approximate": "fast"}), "model.layers[0].approximate", "must be one of none, tanh"),
    (L("Conv2d", {"out_channels": 4, "kernal_size": 3}), "model.layers[0].kernal_size", "did you mean 'kernel_size'"),
    (L("Linear", {"out_features": 0}), "model.layers[0].out_features", "0 means \"from the data\""),
    (L("Linear", {"out_features": 3}, (L("ReLU"),)), "model.layers[0].layers", "does not hold nested layers"),
    (L("Residual"), "model.layers[0].layers", "needs a nested stack"),
])
def test_option_problems_name_the_field(layer, path, words):
    report = infer_model([layer], (3, 8, 8) if "Conv" in layer.type else (8,))
    assert words in messages(report)[path]
    assert report.rows[0].problem is not None and report.output_shape is None


@pytest.mark.parametrize("layers,shape,words", [
    ([L("Conv2d", {"out_channels": 4, "kernel_size": 5})], (1, 3, 3), "gives no output (its size would be -1×-1)"),
    ([L("GroupNorm", {"num_groups": 4})], (6, 3, 3), "num_groups must divide 6"),
    ([L("MultiheadAttention", {"heads": 3})], (5, 8), "does not divide the width 8"),
    ([L("PositionalEmbedding", {"max_len": 4})], (6, 8), "set max_len to at least 6"),
    ([L("LSTM", {"hidden_size": 4, "dropout": 0.2})], (5, 3), "set num_layers to 2 or more"),
    ([L("Reshape", {"shape": [3, 5]})], (16,), "holds 15 values but the input has 16"),
    ([L("Reshape", {"shape": [-1, -1]})], (16,), "at most one -1"),
    ([L("Unflatten", {"sizes": [-1, 5]})], (16,), "not divisible by 5"),
    ([L("Softmax", {"dim": 2})], (4, 5), "dim = 2 is out of range"),
    ([L("MaxPool2d", {"kernel_size": 2, "padding": 2})], (1, 8, 8), "more than half of kernel_size"),
    ([L("ConvTranspose2d", {"out_channels": 2, "output_padding": 1})], (1, 4, 4), "must be smaller than stride"),
    ([L("Conv2d", {"out_channels": 6, "groups": 4})], (4, 5, 5), "does not divide the 6 output channels"),
    ([L("LayerNorm", {"dims": 3})], (4, 5), "has only 2"),
    ([L("Dropout2d")], (10,), "expects an image"),
    ([L("Conv1d", {"out_channels": 2})], (3, 8, 8), "add Reshape before it to get 2 dimensions"),
    ([L("TransformerBlock")], (12,), "expects a sequence (positions, width)"),
    ([L("Residual", {}, (L("Flatten"),))], (2, 3, 3), "different number of dimensions"),
    ([L("Residual", {"projection": "none"}, (L("Linear", {"out_features": 2}),))], (5,), "set projection = \"auto\""),
    ([L("Residual", {}, (L("Conv2d", {"out_channels": 4, "kernel_size": 3}),))], (2, 6, 6), "no 1x1 convolution or Linear"),
])
def test_shape_problems(layers, shape, words):
    report = infer_model(layers, shape)
    assert len(report.problems) == 1, report.problems
    problem = report.problems[0]
    assert problem.path == "model.layers[0]" and words in problem.message, problem.message
    assert problem.message.startswith(layers[0].type + " ")


def test_reshape_fixes_for_images_and_signals():
    flat = infer_model([L("Conv2d", {"out_channels": 4})], (64,))
    assert flat.rows[0].fix.insert == L("Reshape", {"shape": [1, 8, 8]})
    plain = infer_model([L("Conv2d", {"out_channels": 4})], (8, 8))
    assert plain.rows[0].fix.insert == L("Reshape", {"shape": [1, 8, 8]})
    signal = infer_model([L("Conv1d", {"out_channels": 4})], (30,))
    assert signal.rows[0].fix.insert == L("Reshape", {"shape": [1, 30]})
    assert infer_model([signal.rows[0].fix.insert, L("Conv1d", {"out_channels": 4})], (30,)).ok
    odd = infer_model([L("Conv2d", {"out_channels": 4})], (10,))
    assert odd.rows[0].fix is None and "Reshape or Unflatten" in odd.problems[0].message


def test_dtype_problems():
    ids_into_linear = infer_model([L("Linear", {"out_features": 4})], (12,), "int64")
    assert "expects floating-point values, got int64 token ids" in ids_into_linear.problems[0].message
    assert ids_into_linear.rows[0].fix.insert.type == "Embedding"
    floats_into_embedding = infer_model([L("Embedding", {"num_embeddings": 5, "embedding_dim": 4})], (12,))
    assert "expects integer token ids" in floats_into_embedding.problems[0].message
    ok = infer_model([L("Embedding", {"embedding_dim": 4}), L("Flatten"), L("Linear", {"out_features": 2})],
                     (12,), "int64", num_classes=30)
    assert ok.ok and ok.rows[0].params == 30 * 4 and ok.output_dtype == "float32"


def test_empty_and_all_disabled_stacks():
    assert messages(infer_model([], (4,))) == {"model.layers": "the model has no layers — add at least one (e.g. Linear)"}
    off = infer_model([L("ReLU", enabled=False)], (4,))
    assert "every layer is disabled" in messages(off)["model.layers"]


def test_disabled_layers_are_skipped_and_keep_labels_stable():
    layers = [L("Linear", {"out_features": 8}), L("Linear", {"out_featurs": 8}, enabled=False),
              L("ReLU"), L("Linear", {"out_features": 3})]
    report = infer_model(layers, (5,))
    assert report.ok  # the half-configured disabled layer is not checked
    assert [r.label for r in report.rows] == ["linear_1", "linear_2", "relu_1", "linear_3"]
    assert report.rows[1].enabled is False and report.rows[1].out_shape is None and report.rows[1].params == 0
    assert report.output_shape == (3,) and report.total_params == 48 + 27


def test_nested_rows_paths_and_problems():
    layers = [L("Conv2d", {"out_channels": 4, "padding": 1}),
              L("Residual", {}, (L("Conv2d", {"out_channels": 8, "padding": 1}), L("Linear", {"out_features": 2}),
                                 L("Dropout", {"p": 2.0})))]
    report = infer_model(layers, (1, 6, 6))
    paths = [r.path for r in report.rows]
    assert paths == ["model.layers[0]", "model.layers[1]", "model.layers[1].layers[0]",
                     "model.layers[1].layers[1]", "model.layers[1].layers[2]"]
    assert [r.depth for r in report.rows] == [0, 0, 1, 1, 1]
    assert report.rows[3].index == (1, 1)
    found = messages(report)
    assert "add Flatten before it" in found["model.layers[1].layers[1]"]
    assert "must be at most" in found["model.layers[1].layers[2].p"]
    assert report.children(report.rows[1]) == report.rows[2:]
    assert report.problems_at("model.layers[1]") == ()
    assert [p.path for p in report.problems_at("model.layers[1]", nested=True)] == [
        "model.layers[1].layers[1]", "model.layers[1].layers[2].p"]
    assert [p.path for p in report.problems_at("model.layers[1].layers[2]")] == ["model.layers[1].layers[2].p"]
    assert report.first_problem == report.problems[0]
    good = infer_model([layers[0], L("Residual", {}, (L("Conv2d", {"out_channels": 8, "padding": 1}),))], (1, 6, 6))
    assert good.ok and good.rows[1].params == 8 * 4 * 9 + 8 + 4 * 8 and good.rows[1].inner_shape == (8, 6, 6)


def test_labels_from_names():
    layers = [L("Linear", {"out_features": 4}, name="linear_1"), L("Linear", {"out_features": 4}), L("ReLU", name="act")]
    assert layer_labels(layers) == ["linear_1", "linear_2", "act"]
    bad = infer_model([L("ReLU", name="a.b"), L("ReLU", name="forward"), L("Tanh", name="x"), L("Tanh", name="x")], (3,))
    found = messages(bad)
    assert "cannot be a layer name" in found["model.layers[0].name"]
    assert "cannot be a layer name" in found["model.layers[1].name"]
    assert "used twice" in found["model.layers[3].name"]


def test_check_layers_reports_options_without_an_input():
    problems = check_layers([L("Linear", {"out_features": 0}), L("Conv3d")])
    assert [p.path for p in problems] == ["model.layers[1].type"]
    report = infer_model([L("Linear", {"out_features": 0}), L("Conv3d")], None)
    assert list(report.problems) == problems and report.output_shape is None


# ----------------------------------------------------------------------------- check_model

def _spec(layers, info, monkeypatch):
    def fake(data):
        if isinstance(info, Exception):
            raise info
        return info

    monkeypatch.setattr(engine.data, "describe_data", fake)
    return ExperimentSpec().with_layers(layers)


def test_check_model_classification_output(monkeypatch):
    info = DataInfo((1, 8, 8), "float32", "classification", 10)
    spec = _spec([L("Flatten"), L("Linear", {"out_features": 64})], info, monkeypatch)
    assert [str(p) for p in check_model(spec)] == [
        "model.layers[1]: the last layer outputs (64,) but the data has 10 classes — end with "
        "Linear(out_features=10) (out_features = 0 takes it from the data)"]
    spec = _spec([L("Conv2d", {"out_channels": 4})], info, monkeypatch)
    assert "add Flatten and Linear(out_features=10)" in check_model(spec)[0].message
    spec = _spec([L("Flatten"), L("Linear", {"out_features": 0})], info, monkeypatch)
    assert check_model(spec) == []


def test_check_model_sequence_classifier_advice(monkeypatch):
    info = DataInfo((12,), "int64", "classification", 4)
    layers = [L("Embedding", {"num_embeddings": 50, "embedding_dim": 8}), L("LSTM", {"hidden_size": 6}),
              L("Linear", {"out_features": 0})]
    problem = check_model(_spec(layers, info, monkeypatch))[0]
    assert problem.path == "model.layers[2]"
    assert "outputs (12, 4)" in problem.message and 'set output = "last" on model.layers[1] (LSTM)' in problem.message
    fixed = [layers[0], L("LSTM", {"hidden_size": 6, "output": "last"}), layers[2]]
    assert check_model(_spec(fixed, info, monkeypatch)) == []


def test_check_model_final_softmax(monkeypatch):
    layers = [L("Linear", {"out_features": 0}), L("Softmax")]
    info = DataInfo((4,), "float32", "classification", 3)
    assert [str(p) for p in check_model(_spec(layers, info, monkeypatch))] == [
        "model.layers[1]: the model ends with Softmax, but training uses cross-entropy, which expects raw "
        "scores (it applies softmax itself) — remove this layer"]
    regression = DataInfo((4,), "float32", "regression", 3)  # e.g. predicting proportions: fine
    assert check_model(_spec(layers, regression, monkeypatch)) == []


def test_check_model_regression_output(monkeypatch):
    spec = _spec([L("Linear", {"out_features": 3})], DataInfo((5,), "float32", "regression", 1), monkeypatch)
    assert "the data has 1 regression targets — end with Linear(out_features=1)" in check_model(spec)[0].message


def test_check_model_language_modelling(monkeypatch):
    info = DataInfo((16,), "int64", "language_modeling", 40)
    gpt = [L("Embedding", {"embedding_dim": 8}), L("TransformerBlock", {"heads": 2, "causal": True}), L("LMHead")]
    assert check_model(_spec(gpt, info, monkeypatch)) == []
    leaky = [gpt[0], L("TransformerBlock", {"heads": 2}), L("LSTM", {"hidden_size": 4, "bidirectional": True}), gpt[2]]
    found = messages(check_model(_spec(leaky, info, monkeypatch)))
    assert "set causal = true" in found["model.layers[1].causal"]
    assert "set bidirectional = false" in found["model.layers[2].bidirectional"]
    small = [L("Embedding", {"num_embeddings": 20, "embedding_dim": 8}), gpt[1], gpt[2]]
    assert "vocabulary has 40 tokens" in messages(check_model(_spec(small, info, monkeypatch)))["model.layers[0].num_embeddings"]
    pooled = [gpt[0], gpt[1], L("Flatten"), L("Linear", {"out_features": 0})]
    problem = check_model(_spec(pooled, info, monkeypatch))[0]
    assert problem.path == "model.layers[3]" and "language modelling needs (16, 40)" in problem.message


def test_check_model_with_broken_data_reports_options_only(monkeypatch):
    error = SpecError([])
    spec = _spec([L("Linear", {"out_features": 0}), L("Lineer")], error, monkeypatch)
    assert [p.path for p in check_model(spec)] == ["model.layers[1].type"]


EXAMPLE_DATA = {  # input shape, dtype, classes: as the issue states them
    "digits_mlp": ((1, 8, 8), "float32", 10), "digits_mlp_student": ((1, 8, 8), "float32", 10),
    "digits_cnn": ((1, 8, 8), "float32", 10),
    "resnet_mini": ((1, 8, 8), "float32", 10), "wine_mlp": ((13,), "float32", 3),
    "moons_mlp": ((2,), "float32", 2), "seed_bigmodel": ((1000,), "float32", 10),
    "tiny_gpt": ((64,), "int64", 65),
    "finetune_resnet18": ((3, 224, 224), "float32", 3), "finetune_text": ((32,), "int64", 2),
    "continue_from_run": ((32,), "int64", 2),
}


def test_every_example_is_listed():
    assert {p.stem for p in EXAMPLES.glob("*.toml")} == set(EXAMPLE_DATA)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.stem)
def test_examples_infer_without_problems(path):
    spec = load_spec(path)
    shape, dtype, classes = EXAMPLE_DATA[path.stem]
    report = infer_model(spec.model.layers, shape, dtype, num_classes=classes)
    assert report.ok, report.problems
    assert check_model(spec) == []  # with the real data source


def test_rows_are_frozen():
    row = infer_model([L("ReLU")], (2,)).rows[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.label = "x"  # type: ignore[misc]
