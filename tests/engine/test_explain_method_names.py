"""`explain --method` takes the method's name as users type it: any case, snake_case, dashes;
an unknown name gets a did-you-mean."""
from __future__ import annotations

import json

import pytest

from engine.cli import main as cli
from engine.commands.explain import method_name
from tests.engine.interpret_runs import make_run


@pytest.mark.parametrize("typed", ["IntegratedGradients", "integrated_gradients", "integratedgradients",
                                   "INTEGRATED-GRADIENTS", "Integrated Gradients"])
def test_every_spelling_of_a_method_name(typed):
    assert method_name(typed) == "IntegratedGradients"


def test_other_methods_and_layer_methods():
    assert method_name("layer_grad_cam") == "LayerGradCam"
    assert method_name("saliency") == "Saliency"
    assert method_name("feature_ablation") == "FeatureAblation"


def test_an_unknown_name_gets_a_suggestion():
    with pytest.raises(ValueError, match=r"unknown attribution method 'integrated_gradient' — did you mean 'IntegratedGradients'\?"):
        method_name("integrated_gradient")
    with pytest.raises(ValueError) as err:
        method_name("zzz")
    assert "did you mean" not in str(err.value) and "--list-methods" in str(err.value)


def test_the_command_runs_a_snake_case_method(tmp_path, capsys):
    run = make_run(tmp_path, "wine_mlp", steps=20)
    code = cli(["explain", str(run), "--method", "integrated_gradients", "--param", "steps=8", "--samples", "2",
                "--out", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["method"] == "IntegratedGradients"
    assert cli(["explain", str(run), "--method", "integrated_gradiants"]) == 2
    assert "did you mean 'IntegratedGradients'?" in capsys.readouterr().err
