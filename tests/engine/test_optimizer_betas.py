"""`betas = [...]` (torch's spelling, named in the engine issue) gets a precise answer: this spec
sets beta1 and beta2 one by one."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine.optim import check_optim
from tests.engine.test_optim import make_spec, paths

ROOT = Path(__file__).resolve().parents[2]


def test_betas_list_points_to_beta1_and_beta2():
    problems = check_optim(make_spec({"name": "adam", "betas": [0.9, 0.95]}))
    assert paths(problems) == ["optimizer.betas"]
    assert "use beta1 and beta2" in problems[0].message and "beta1 = 0.9" in problems[0].message
    problems = check_optim(make_spec({"name": "adamw", "beta1": 0.8, "beta2": 0.95}))
    assert problems == []


def test_betas_on_an_optimizer_without_them_says_so():
    problems = check_optim(make_spec({"name": "sgd", "betas": [0.9, 0.95]}))
    assert paths(problems) == ["optimizer.betas"]
    assert "unknown option for optimizer sgd" in problems[0].message
    assert problems[0].message.endswith("this optimizer has no betas")


def test_validate_cli_shows_the_betas_hint(tmp_path):
    spec = tmp_path / "betas.toml"
    spec.write_text('name = "b"\n[data]\nsource = "moons"\n[model]\nlayers = [{type = "Linear", out_features = 2}]\n'
                    '[optimizer]\nname = "adam"\nbetas = [0.9, 0.95]\n', encoding="utf-8")
    out = subprocess.run([sys.executable, str(ROOT / "main.py"), "validate", str(spec)],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 2
    assert "optimizer.betas: this spec sets the betas one by one: use beta1 and beta2" in out.stderr
