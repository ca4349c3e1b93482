"""load_trained and the `explain` command on real run directories (trained in-process)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from engine.cli import main as cli
from engine.interpret.core import explain_sample
from engine.interpret.loading import load_trained
from engine.problems import SpecError
from tests.engine.interpret_runs import make_run, regression_spec, text_spec


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain_runs")
    return {"digits": make_run(root, "digits_cnn", steps=40), "wine": make_run(root, "wine_mlp", steps=60),
            "text": make_run(root, spec=text_spec(root / "text"), steps=20)}


def test_load_trained_restores_the_checkpoint(runs):
    trained = load_trained(runs["digits"])
    from engine.checkpoint import load_weights
    saved = load_weights(trained.checkpoint / "model.safetensors")
    for name, tensor in trained.model.state_dict().items():
        assert np.array_equal(tensor.numpy(), saved[name].numpy()), name
    x, y = trained.split("val")
    assert (trained.explainable.predict(x).argmax(1) == y).mean() > 0.7
    assert not trained.model.training
    assert trained.explainable.conv_layers() == ["conv2d_1", "conv2d_2"]
    assert trained.display(x[0]).min() >= -1e-5 and trained.display(x[0]).max() <= 1 + 1e-5


def test_load_trained_problems(tmp_path, runs):
    with pytest.raises(SpecError, match="run directory not found"):
        load_trained(tmp_path / "nope")
    from engine.runs import RunDir
    from engine.spec import load_spec
    from engine.paths import EXAMPLES
    empty = RunDir.create(tmp_path, load_spec(EXAMPLES / "wine_mlp.toml"))
    with pytest.raises(SpecError, match="no complete checkpoint yet"):
        load_trained(empty.path)
    with pytest.raises(SpecError, match="checkpoint not found"):
        load_trained(runs["wine"], "step-999")
    with pytest.raises(SpecError, match="keeps no best checkpoint"):
        load_trained(runs["wine"], "best")
    # a spec edited after training no longer fits the weights
    import shutil
    edited = tmp_path / "edited"
    shutil.copytree(runs["wine"], edited)
    text = (edited / "spec.toml").read_text().replace("out_features = 32", "out_features = 16")
    (edited / "spec.toml").write_text(text)
    with pytest.raises(SpecError, match="does not fit the model in spec.toml"):
        load_trained(edited)


def test_explain_command_writes_maps_pngs_and_summary(runs, tmp_path, capsys):
    out = tmp_path / "out"
    code = cli(["explain", str(runs["digits"]), "--method", "IntegratedGradients", "--param", "steps=32",
                "--index", "0,3,7", "--target", "true", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["samples"] == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "IntegratedGradients" and summary["params"]["steps"] == 32
    assert summary["target"] == "true" and summary["split"] == "val"
    trained = load_trained(runs["digits"])
    x, y = trained.split("val")
    for row in summary["samples"]:
        i = row["index"]
        values = np.load(out / f"sample_{i:05d}.npy")
        assert values.shape == x[i].shape == (1, 8, 8)
        assert row["target"] == int(y[i]) and row["true"] == int(y[i])
        assert row["delta"] is not None and abs(values.sum() - row["sum"]) < 1e-3
        direct = explain_sample(trained.explainable, x[i], "IntegratedGradients", {"steps": 32}, "true", true_label=int(y[i]))
        np.testing.assert_array_equal(values, direct.values)
        assert 0 <= row["probability"] <= 1 and row["seconds"] > 0
        with Image.open(out / f"sample_{i:05d}.png") as png:
            assert png.size[0] > 600 and png.size[1] > 200


def test_explain_tabular_png_is_a_bar_chart(runs, tmp_path):
    out = tmp_path / "wine"
    assert cli(["explain", str(runs["wine"]), "--method", "FeatureAblation", "--samples", "2", "--out", str(out)]) == 0
    values = np.load(out / "sample_00000.npy")
    assert values.shape == (13,)
    with Image.open(out / "sample_00000.png") as png:
        img = np.asarray(png.convert("RGB"))
    red = np.all(img == (178, 24, 43), axis=-1).sum()
    blue = np.all(img == (33, 102, 172), axis=-1).sum()
    assert red + blue > 500, "bars are drawn in the positive/negative colours"


def test_explain_text_run_attributes_each_character(runs, tmp_path):
    out = tmp_path / "text"
    assert cli(["explain", str(runs["text"]), "--method", "IntegratedGradients", "--samples", "1",
                "--target", "true", "--out", str(out)]) == 0
    values = np.load(out / "sample_00000.npy")
    assert values.shape == (12,)
    summary = json.loads((out / "summary.json").read_text())
    trained = load_trained(runs["text"])
    assert summary["samples"][0]["true"] == int(trained.split("val")[1][0][-1])


def test_explain_with_sanity_check(runs, tmp_path):
    out = tmp_path / "sanity"
    assert cli(["explain", str(runs["digits"]), "--method", "Saliency", "--samples", "3", "--sanity", "--out", str(out)]) == 0
    sanity = json.loads((out / "summary.json").read_text())["sanity"]
    assert len(sanity["rank_correlations"]) == 3 and -1 <= sanity["mean"] <= 1
    assert [c["layer"] for c in sanity["cascade"]][0] == "linear_2"


@pytest.mark.parametrize("args,words", [
    (["--method", "GradCam"], "unknown attribution method 'GradCam'"),
    (["--method", "Occlusion", "--param", "window=[9,9]"], "params.window: the window 1x9x9 is larger than the input"),
    (["--target", "12"], "--target: class 12 is outside the model's classes 0..9"),
    (["--index", "0,9999"], "--index: sample 9999 is outside the split"),
    (["--param", "steps"], "expected KEY=VALUE"),
    (["--index", "a,b"], "expected sample numbers"),
    (["--method", "IntegratedGradients", "--param", "baseline=median"], "params.baseline: must be one of zeros, mean, blurred"),
])
def test_explain_bad_arguments_exit_2_with_a_message(runs, tmp_path, capsys, args, words):
    assert cli(["explain", str(runs["digits"]), "--out", str(tmp_path / "x"), *args]) == 2
    assert words in capsys.readouterr().err


def test_gradcam_on_mlp_and_list_methods(runs, tmp_path, capsys):
    assert cli(["explain", str(runs["wine"]), "--method", "LayerGradCam", "--out", str(tmp_path)]) == 2
    assert "LayerGradCam does not work for tabular models" in capsys.readouterr().err
    assert cli(["explain", "--list-methods"]) == 0
    listing = capsys.readouterr().out
    assert "IntegratedGradients" in listing and "noise_tunnel" in listing


def test_regression_run_reports_outputs_not_probabilities(tmp_path):
    run = make_run(tmp_path / "runs", spec=regression_spec(tmp_path / "reg"), steps=80)
    out = tmp_path / "out"
    assert cli(["explain", str(run), "--method", "IntegratedGradients", "--samples", "2", "--out", str(out)]) == 0
    row = json.loads((out / "summary.json").read_text())["samples"][0]
    assert "probability" not in row and row["target"] == 0
    assert abs(np.load(out / "sample_00000.npy").sum() - row["output"]) < 0.5  # zero baseline: F(0) is small
    from engine.interpret.server import Session, answer
    import io
    session = Session(load_trained(run), io.BytesIO())
    pred = answer(session, 1, "predictions", {})["result"]
    assert pred["regression"] and pred["true"].dtype == np.float32
    np.testing.assert_allclose(pred["confidence"], np.abs(pred["predicted"] - pred["true"]), rtol=1e-6)
