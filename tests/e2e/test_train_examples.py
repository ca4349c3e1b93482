"""End to end through the CLI: the examples reach their accuracy; a user's CSV trains."""
from __future__ import annotations

import json

import numpy as np
import pytest

from engine.cli import main
from engine.paths import EXAMPLES

pytestmark = pytest.mark.slow


def train(capsys, *args: str) -> dict:
    code = main(["train", *args, "--quiet"])
    out = capsys.readouterr().out
    summary = json.loads(out.strip().splitlines()[-1])
    assert code == 0, summary
    assert summary["status"] == "completed"
    return summary


def test_digits_mlp_reaches_95_percent(capsys):
    summary = train(capsys, str(EXAMPLES / "digits_mlp.toml"))
    assert summary["metrics"]["val_accuracy"] >= 0.95


def test_wine_reaches_90_percent(capsys):
    summary = train(capsys, str(EXAMPLES / "wine_mlp.toml"))
    assert summary["metrics"]["val_accuracy"] >= 0.9


def test_a_csv_written_here_trains(capsys, tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    x = rng.normal(size=(n, 3)) * [1.0, 10.0, 0.1] + [0.0, 50.0, 0.0]
    label = np.where(x[:, 0] + (x[:, 1] - 50) / 10 > 0.5, "high", np.where(x[:, 2] > 0, "mid", "low"))
    lines = ["width,height,depth,kind"] + [f"{a:.4f},{b:.4f},{c:.5f},{k}" for (a, b, c), k in zip(x, label)]
    csv = tmp_path / "shapes.csv"
    csv.write_text("\n".join(lines) + "\n")
    spec = tmp_path / "shapes.toml"
    spec.write_text(f'name = "shapes"\nseed = 1\n[data]\nsource = "csv"\npath = "{csv}"\ntarget = "kind"\nbatch_size = 16\n'
                    '[model]\nlayers = [{type = "Linear", out_features = 32}, {type = "ReLU"}, {type = "Linear", out_features = 0}]\n'
                    '[optimizer]\nname = "adam"\nlr = 0.01\n[training]\nepochs = 30\n')
    summary = train(capsys, str(spec))
    assert summary["metrics"]["val_accuracy"] >= 0.85


def test_a_regression_csv_trains(capsys, tmp_path):
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(400, 2))
    y = 3 * x[:, 0] - 2 * x[:, 1] + 0.05 * rng.normal(size=400)
    csv = tmp_path / "reg.csv"
    csv.write_text("a,b,price\n" + "".join(f"{a:.5f},{b:.5f},{t:.5f}\n" for (a, b), t in zip(x, y)))
    spec = tmp_path / "reg.toml"
    spec.write_text(f'name = "reg"\n[data]\nsource = "csv"\npath = "{csv}"\ntarget = "price"\nbatch_size = 32\n'
                    '[model]\nlayers = [{type = "Linear", out_features = 16}, {type = "Tanh"}, {type = "Linear", out_features = 0}]\n'
                    '[optimizer]\nname = "adam"\nlr = 0.02\n[training]\nepochs = 40\n')
    summary = train(capsys, str(spec))
    metrics = summary["metrics"]
    assert "val_error" in metrics and "val_accuracy" not in metrics
    baseline = np.abs(y - y.mean()).mean()  # mean absolute error of always predicting the mean
    assert metrics["val_error"] < 0.25 * baseline
