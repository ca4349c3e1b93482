"""The sweep spec: parsing, every problem named, the grid, per-trial specs (no processes)."""
from __future__ import annotations

import pytest

from engine.problems import SpecError
from engine.sweep.config import load_sweep, trial_problems, trial_spec, validate_sweep
from engine.sweep.samplers import SAMPLERS
from engine.sweep.pruners import PRUNERS
from engine.sweep.space import Dimension, grid_size, sweepable
from tests.engine.sweep.specs import write_sweep

pytest.importorskip("optuna")

GOOD = """
[sweep]
sampler = "tpe"
trials = 12
concurrency = 2
pruner = "median"

[sweep.params]
"optimizer.lr" = {low = 1e-4, high = 0.3, log = true}
"model.layers[1].out_features" = {low = 8, high = 64, step = 8}
"optimizer.name" = {values = ["adam", "sgd"]}
"""


def paths(problems):
    return {p.path for p in problems}


def test_a_good_sweep_reads_with_its_distributions(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, GOOD))
    assert validate_sweep(sweep) == []
    dims = {d.path: d for d in sweep.dimensions}
    assert dims["optimizer.lr"] == Dimension("optimizer.lr", "float", 1e-4, 0.3, log=True)
    assert dims["model.layers[1].out_features"].kind == "int" and dims["model.layers[1].out_features"].step == 8
    assert dims["optimizer.name"].kind == "categorical" and dims["optimizer.name"].values == ("adam", "sgd")
    assert sweep.resolved_metric() == "val_accuracy" and sweep.resolved_direction() == "maximize"
    assert sweep.budget() == 12 and sweep.concurrency == 2


def test_the_sweep_toml_round_trips(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, GOOD))
    again = tmp_path / "again.toml"
    again.write_text(sweep.to_toml(), encoding="utf-8")
    assert load_sweep(again) == sweep


def test_a_sweep_file_names_its_base_spec(tmp_path):
    base = write_sweep(tmp_path, "", name="base.toml")
    sweep_file = tmp_path / "search.toml"
    sweep_file.write_text('base = "base.toml"\n' + GOOD, encoding="utf-8")
    sweep = load_sweep(sweep_file)
    assert sweep.base.name == "digits_sweep" and len(sweep.dimensions) == 3
    assert base.exists()


def test_every_problem_is_named(tmp_path):
    bad = """
[sweep]
sampler = "tpee"
pruner = "medain"
metric = "val_error"
trials = 5

[sweep.params]
"optimizer.lrr" = {low = 1e-4, high = 0.3, log = true}
"model.layers[9].out_features" = {low = 8, high = 64}
"model.layers[1].out_features" = {low = 8.5, high = 64.0}
"optimizer.lr" = {low = 0.0, high = 0.3}
"""
    problems = validate_sweep(load_sweep(write_sweep(tmp_path, bad)))
    text = "\n".join(map(str, problems))
    assert "sweep.params.optimizer.lrr: names no option of the spec — did you mean 'optimizer.lr'?" in text
    assert "sweep.params.model.layers[9].out_features: names no option" in text
    assert "sweep.params.model.layers[1].out_features.low: expects an integer, got 8.5" in text
    assert "sweep.params.optimizer.lr.low: must be > 0" in text
    assert "sweep.sampler: unknown sampler 'tpee' — did you mean 'tpe'?" in text
    assert "sweep.pruner: unknown pruner 'medain' — did you mean 'median'?" in text
    assert "sweep.metric: classification runs report val_accuracy, not val_error" in text


def test_malformed_tables_are_named(tmp_path):
    bad = """
[sweep]
trials = -1
concurrency = 0
colour = "red"

[sweep.params]
"optimizer.lr" = {low = 0.3, high = 1e-4, log = true}
"optimizer.weight_decay" = {low = "a", high = 1}
"data.batch_size" = {values = []}
"""
    found = paths(validate_sweep(load_sweep(write_sweep(tmp_path, bad))))
    assert {"sweep.trials", "sweep.concurrency", "sweep.colour", "sweep.params.optimizer.weight_decay.low",
            "sweep.params.data.batch_size.values"} <= found


def test_a_missing_sweep_section_is_named(tmp_path):
    with pytest.raises(SpecError, match=r"has no \[sweep\] section"):
        load_sweep(write_sweep(tmp_path, ""))


def test_a_grid_lists_exactly_its_points_and_must_fit_the_budget(tmp_path):
    grid = """
[sweep]
sampler = "grid"
trials = 4

[sweep.params]
"optimizer.lr" = {values = [0.001, 0.01, 0.1]}
"model.layers[1].out_features" = {low = 16, high = 32, step = 16}
"""
    sweep = load_sweep(write_sweep(tmp_path, grid))
    assert grid_size(sweep.dimensions) == 6
    assert [str(p) for p in validate_sweep(sweep)] == [
        "sweep.trials: the grid has 6 points but the budget is 4 trials — raise sweep.trials to 6 (or 0 = the whole grid) "
        "or take points out"]
    assert sweep.with_options(trials=0).budget() == 6


def test_a_grid_needs_finite_points(tmp_path):
    grid = """
[sweep]
sampler = "grid"

[sweep.params]
"optimizer.lr" = {low = 1e-4, high = 0.1, log = true}
"""
    problems = validate_sweep(load_sweep(write_sweep(tmp_path, grid)))
    assert any(p.path == "sweep.params.optimizer.lr" and "finite list of points" in p.message for p in problems)


def test_cmaes_applies_to_number_ranges_only(tmp_path):
    spec = """
[sweep]
sampler = "cmaes"

[sweep.params]
"optimizer.lr" = {low = 1e-4, high = 0.1, log = true}
"optimizer.name" = {values = ["adam", "sgd"]}
"""
    problems = validate_sweep(load_sweep(write_sweep(tmp_path, spec)))
    assert any(p.path == "sweep.params.optimizer.name" and "CMA-ES" in p.message for p in problems)


def test_samplers_and_pruners_are_registries_with_schemas():
    assert {"grid", "random", "tpe", "cmaes"} <= set(SAMPLERS.names())
    assert {"none", "median", "successive_halving", "hyperband"} <= set(PRUNERS.names())
    assert [p.name for p in PRUNERS.get("median").params] == ["n_startup_trials", "n_warmup_steps", "interval_steps"]


def test_an_invalid_trial_is_named_not_crashed(tmp_path):
    spec = """
[sweep]
[sweep.params]
"model.layers[1].out_features" = {low = 0, high = 8}
"""
    sweep = load_sweep(write_sweep(tmp_path, spec))
    trial = trial_spec(sweep, {"model.layers[1].out_features": 4, "optimizer.lr": 0.01}, 3)
    assert trial.name == "digits_sweep-t003" and trial.optimizer.options["lr"] == 0.01
    assert trial.model.layers[1].params["out_features"] == 4
    assert trial_problems(trial) == []
    bad = trial_spec(sweep, {"optimizer.name": "adamm"}, 4)
    assert any(p.path == "optimizer.name" for p in trial_problems(bad))


def test_the_offer_lists_options_of_the_spec(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, GOOD))
    offered = dict(sweepable(sweep.base))
    assert {"optimizer.lr", "optimizer.name", "data.batch_size", "model.layers[1].out_features", "training.epochs",
            "regularization.label_smoothing"} <= set(offered)
    assert "training.device" not in offered and "model.layers[3].out_features" in offered


def test_more_trials_at_once_than_cores_is_a_warning_and_trials_share_the_threads(monkeypatch):
    from engine.sweep import driver

    monkeypatch.setattr(driver.os, "cpu_count", lambda: 2)
    assert driver.oversubscribed(2, 1) == ""
    warning = driver.oversubscribed(3, 1)
    assert "3 trials at once" in warning and "2 CPU cores" in warning and "--parallel to 2" in warning
    assert "lower --parallel to 1" in driver.oversubscribed(2, 2)  # each trial is 2 processes
    assert driver.trial_threads(1, 1) == 0 and driver.trial_threads(2, 1) == 1
