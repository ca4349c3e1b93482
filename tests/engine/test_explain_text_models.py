"""A tiny BERT-style model saved locally fine-tunes on a text-classification CSV (its own tokenizer,
padding and attention mask), and `explain` colours its tokens as the tokenizer split them; the
data is checked against what a pretrained model expects (tokenizer, image size, channels,
normalization), each problem with a fix that applies; LayerGradCam lists an imported model's
convolutional layers."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from engine.cli import main as cli
from engine.spec import ExperimentSpec, apply_overrides
from engine.validation import validate
from tests.engine.text_fixtures import bert_reviews, bert_reviews_spec

# one xdist worker for the module, so its module-scoped fixture (the trained text models) is built once
pytestmark = pytest.mark.xdist_group("explain_text_models")

if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("torchvision") is None:
    pytest.skip("needs the pretrained extra (transformers, torchvision)", allow_module_level=True)

@pytest.fixture(scope="module")
def bert_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bert")
    made = bert_reviews(root)
    assert cli(["train", str(made["spec"]), "--runs-dir", str(root / "runs")]) == 0
    [run] = list((root / "runs").iterdir())
    return {"root": root, "run": run, **made}


def test_the_fine_tuned_bert_learns_and_explain_colours_its_tokens(bert_run, capsys):
    status = json.loads((bert_run["run"] / "status.json").read_text())
    assert status["metrics"]["val_accuracy"] >= 0.8  # fine-tuned: the generated reviews are learnable
    out = bert_run["root"] / "explained"
    capsys.readouterr()
    assert cli(["explain", str(bert_run["run"]), "--method", "IntegratedGradients", "--samples", "2",
                "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert all(s["delta"] < 0.5 for s in summary["samples"])  # the reference keeps the attention mask

    from engine.interpret.loading import load_trained
    from engine.interpret.output import render_attribution

    trained = load_trained(bert_run["run"])
    ctx = trained.explainable
    x, _ = trained.split("val")
    assert ctx.pad_id == 0 and ctx.embedding_layer() is trained.model.pretrained_1.net.bert.embeddings.word_embeddings
    tokens, keep = ctx.shown_tokens(x[0])
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "[PAD]" not in tokens and len(tokens) < 24
    values = np.load(out / "sample_00000.npy")
    assert values.shape == (24,) and np.all(values[len(keep):] == 0)  # padding gets nothing
    words = np.abs(values[1:len(keep) - 1])
    assert words.max() > 0.05 and words.max() > 3 * np.median(words)  # some words matter far more than others
    image = render_attribution(_attribution(summary, values), ctx, x[0])
    pixels = np.asarray(image.convert("RGB"))[60:]
    assert len({tuple(p) for p in pixels.reshape(-1, 3)}) > 10  # coloured token boxes, not plain text


def _attribution(summary, values):
    from engine.interpret.core import Attribution

    s = summary["samples"][0]
    return Attribution("IntegratedGradients", {}, s["target"], s["predicted"], np.array([0.1, 0.9], np.float32), values,
                       s["delta"], s["true"], 0)


def test_the_data_is_checked_against_the_models_tokenizer(bert_run, capsys):
    text = bert_reviews_spec(bert_run["csv"], bert_run["bert"], tokenizer="words")
    spec = ExperimentSpec.from_toml(text)
    [problem] = [p for p in validate(spec) if p.fix]
    assert problem.path == "data.tokenizer" and "its own tokenizer" in problem.message
    fixed = apply_overrides(spec, problem.fix)
    assert not validate(fixed)
    words = bert_run["root"] / "words.toml"
    words.write_text(text)
    capsys.readouterr()
    assert cli(["validate", str(words)]) != 0
    assert f"fix: --set data.tokenizer={bert_run['bert']}" in capsys.readouterr().err  # the CLI prints the fix


def test_image_adaptation_problems_have_fixes_that_apply(tmp_path):
    from PIL import Image

    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.fromarray(np.full((10, 10), 40 * i, np.uint8), "L").save(tmp_path / label / f"{i}.png")

    def spec(model: str, weights: str, **data) -> ExperimentSpec:
        return ExperimentSpec.from_dict({
            "data": {"source": "image_folder", "path": str(tmp_path), "size": 16, **data},
            "model": {"layers": [{"type": "Pretrained", "source": "torchvision", "model": model, "weights": weights},
                                 {"type": "Linear", "out_features": 0}]}})

    def fixes(s: ExperimentSpec) -> dict:
        return {p.path: p.fix for p in validate(s) if p.fix}

    # ImageNet weights on grey 16x16 images: 3 channels and ImageNet's mean/std (a CNN runs at 16x16)
    grey = spec("resnet18", "library", color="grayscale")
    assert fixes(grey) == {"data.color": ("data.color=rgb",), "data.normalize": ("data.normalize=imagenet",)}
    fixed = apply_overrides(grey, [a for fix in fixes(grey).values() for a in fix])
    assert fixed.data.options["color"] == "rgb" and not validate(fixed)
    # random weights: normalization is the data's own business; a ViT cannot read 16x16 images
    assert fixes(spec("resnet18", "random")) == {}
    vit = spec("vit_b_16", "random")
    assert fixes(vit) == {"data.size": ("data.size=224",)}
    assert not [p for p in validate(apply_overrides(vit, ["data.size=224"])) if p.fix]


def test_a_native_embedding_too_small_for_the_tokenizer_gets_a_fix():
    spec = ExperimentSpec.from_dict({
        "data": {"source": "sentiment", "samples": 40, "max_len": 8},
        "model": {"layers": [{"type": "Embedding", "num_embeddings": 0, "embedding_dim": 8}, {"type": "Flatten"},
                             {"type": "Linear", "out_features": 0}]}})
    [problem] = [p for p in validate(spec) if p.fix]
    assert problem.path == "model.layers[0].num_embeddings" and "token ids" in problem.message
    assert not validate(apply_overrides(spec, problem.fix))


def test_gradcam_lists_an_imported_models_convolutions():
    import torch

    from engine.interpret.context import Explainable
    from engine.interpret.core import explain_sample
    from engine.interpret.methods import method_params
    from engine.model import build_model

    spec = ExperimentSpec.from_dict({"model": {"layers": [
        {"type": "Pretrained", "source": "torchvision", "model": "resnet18", "weights": "random"},
        {"type": "Linear", "out_features": 0}]}})
    torch.manual_seed(0)
    model = build_model(spec, (3, 32, 32), "float32", 3)
    ctx = Explainable.from_model(model, kind="image", input_shape=(3, 32, 32), num_classes=3)
    convs = ctx.conv_layers()
    assert len(convs) == 20 and convs[0] == "pretrained_1.net.conv1" and convs[-1] == "pretrained_1.net.layer4.1.conv2"
    [layer] = [p for p in method_params("LayerGradCam", ctx) if p.name == "layer"]
    assert layer.choices == tuple(convs) and layer.default == convs[-1]
    attr = explain_sample(ctx, np.random.default_rng(0).random((3, 32, 32), np.float32), "LayerGradCam",
                          {"layer": "pretrained_1.net.layer3.0.conv1"})
    assert attr.values.shape == (3, 32, 32) and attr.values.max() > 0
