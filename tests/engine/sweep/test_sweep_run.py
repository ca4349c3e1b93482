"""Whole sweeps through the CLI: parallel TPE, SIGKILL and resume, pruning, a grid, stop.
Each trial is a worker process, so these are slow tests (a few seconds per trial)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import time

import pytest

from engine.runs import process_alive
from tests.engine.sweep.runner import ROOT, env, run_sweep, study, sweep_cmd, sweep_dirs, trial_runs
from tests.engine.sweep.specs import write_sweep

optuna = pytest.importorskip("optuna")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

LR_WIDTH = """
[sweep]
sampler = "tpe"
sampler_options = {n_startup_trials = 5}

[sweep.params]
"optimizer.lr" = {low = 1e-5, high = 0.1, log = true}
"model.layers[1].out_features" = {low = 4, high = 64, step = 4}
"""


def test_a_tpe_sweep_of_8_trials_two_at_a_time(tmp_path):
    spec = write_sweep(tmp_path, LR_WIDTH, epochs=2)
    code, out, err = run_sweep(str(spec), "--trials", "8", "--parallel", "2", "--sweeps-dir", str(tmp_path / "sweeps"))
    assert code == 0, err
    assert (out["status"], out["completed"], out["failed"], out["trials"]) == ("completed", 8, 0, 8)
    sweep_dir = sweep_dirs(tmp_path / "sweeps")[0]
    values = [t.value for t in study(sweep_dir).get_trials(states=(optuna.trial.TrialState.COMPLETE,))]
    assert len(study(sweep_dir).trials) == 8 and len(values) == 8
    assert out["best_value"] == max(values) > statistics.median(values)
    assert set(out["best_params"]) == {"optimizer.lr", "model.layers[1].out_features"}
    runs = trial_runs(sweep_dir)
    assert sorted(n for n, _ in runs) == list(range(8)) and all(s["status"] == "completed" for _, s in runs)
    assert err.count(" completed ") >= 8 and "best 5 of 8 trials" in err  # a line per trial, then the table
    status = json.loads((sweep_dir / "sweep.json").read_text())
    assert status["status"] == "completed" and set(status["importances"]) == {"optimizer.lr", "model.layers[1].out_features"}


def _wait_for(predicate, timeout=600.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _records(sweep_root):
    found = sweep_dirs(sweep_root)
    if not found or not (found[0] / "trials.jsonl").exists():
        return []
    return [json.loads(line) for line in (found[0] / "trials.jsonl").read_text().splitlines() if line.strip()]


def _trial_pids(sweep_dir):
    return [(s.get("pid"), s.get("pid_created")) for _, s in trial_runs(sweep_dir) if s.get("status") == "running"]


def test_a_sigkilled_sweep_resumes_to_its_budget_without_duplicate_runs(tmp_path):
    spec = write_sweep(tmp_path, LR_WIDTH, epochs=3)
    root = tmp_path / "sweeps"
    driver = subprocess.Popen(sweep_cmd(str(spec), "--trials", "6", "--parallel", "2", "--sweeps-dir", str(root)),
                              env=env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:  # kill it once a trial has completed and later ones are training
        assert _wait_for(lambda: any(r["state"] == "completed" for r in _records(root))
                         and any(r["state"] == "running" and r["trial"] >= 2 for r in _records(root)))
        sweep_dir = sweep_dirs(root)[0]
        _wait_for(lambda: _trial_pids(sweep_dir), timeout=60)
        running = _trial_pids(sweep_dir)
        driver.send_signal(signal.SIGKILL)
        driver.wait(30)
    finally:
        if driver.poll() is None:
            driver.kill()
        driver.wait(60)
    assert _wait_for(lambda: not any(process_alive(pid, created) for pid, created in running), timeout=30), \
        "trials must die with their driver"
    code, out, err = run_sweep("--resume", str(sweep_dir))
    assert code == 0, err
    assert out["completed"] == 6 and out["status"] == "completed", out
    assert out["interrupted"] >= 1 and "cut short" in err
    runs = trial_runs(sweep_dir)
    numbers = [n for n, _ in runs]
    assert len(numbers) == len(set(numbers)), "one run directory per trial"
    linked = {t.number: t.user_attrs["run"] for t in study(sweep_dir).trials if t.user_attrs.get("run")}
    assert sorted(linked) == sorted(numbers) and len(set(linked.values())) == len(linked)
    assert sum(s["status"] == "completed" for _, s in runs) == 6
    assert all(s["status"] in ("completed", "failed") for _, s in runs)


def test_a_trial_whose_run_completed_before_the_kill_is_recorded_on_resume_not_retried(tmp_path):
    """The driver was SIGKILLed after a trial's run directory reached "completed" but before it
    told the study: the study still lists the trial as running. Resume records it from its run."""
    spec = write_sweep(tmp_path, LR_WIDTH, epochs=1, max_steps=3)
    code, out, err = run_sweep(str(spec), "--trials", "1", "--parallel", "1", "--sweeps-dir", str(tmp_path / "sweeps"))
    assert code == 0 and out["completed"] == 1, err
    sweep_dir = sweep_dirs(tmp_path / "sweeps")[0]
    (number, status), = trial_runs(sweep_dir)
    done = study(sweep_dir).trials[0]
    run_rel = done.user_attrs["run"]
    copy_rel = f"{run_rel}-copy"  # a second finished run, as the killed driver left it
    shutil.copytree(sweep_dir / run_rel, sweep_dir / copy_rel)
    metric = out["metric"]
    copy_status = json.loads((sweep_dir / copy_rel / "status.json").read_text())
    copy_status["trial"] = 1
    copy_status["metrics"][metric] = 0.4321
    (sweep_dir / copy_rel / "status.json").write_text(json.dumps(copy_status))
    cut = study(sweep_dir).ask(fixed_distributions=done.distributions)  # RUNNING, as the driver left it
    for key, value in (("outcome", "running"), ("run", copy_rel), ("message", "")):
        cut.set_user_attr(key, value)
    assert cut.number == 1

    code, out, err = run_sweep("--resume", str(sweep_dir), "--trials", "2")
    assert code == 0, err
    assert (out["status"], out["completed"], out["interrupted"], out["trials"]) == ("completed", 2, 0, 2), out
    assert "cut short" not in err
    recorded = study(sweep_dir).trials[1]
    assert recorded.state == optuna.trial.TrialState.COMPLETE and recorded.value == 0.4321
    assert recorded.user_attrs["outcome"] == "completed"
    assert sorted(n for n, _ in trial_runs(sweep_dir)) == [0, 1], "no retry, no new run directory"


def test_the_median_pruner_stops_bad_trials_within_an_epoch(tmp_path):
    spec = write_sweep(tmp_path, """
[sweep]
sampler = "grid"
seed = 1
pruner = "median"
pruner_options = {n_startup_trials = 2, n_warmup_steps = 0}

[sweep.params]
"optimizer.lr" = {values = [0.01, 0.003, 1e-6, 3e-7, 2e-7, 1e-7]}
""", epochs=4)  # the seeded grid's order: 1e-6, 0.003, then 2e-7 (pruned against those two), 0.01, ...
    code, out, err = run_sweep(str(spec), "--trials", "6", "--parallel", "1", "--sweeps-dir", str(tmp_path / "sweeps"))
    assert code == 0, err
    assert out["pruned"] >= 1, err
    sweep_dir = sweep_dirs(tmp_path / "sweeps")[0]
    pruned = study(sweep_dir).get_trials(states=(optuna.trial.TrialState.PRUNED,))
    for trial in pruned:
        assert trial.params["optimizer.lr"] < 1e-5  # only clearly bad learning rates are pruned
        status = json.loads((sweep_dir / trial.user_attrs["run"] / "status.json").read_text())
        assert status["status"] == "pruned" and status["checkpoint"]  # stopped cleanly, checkpoint kept
        last_report = max(trial.intermediate_values)
        assert last_report < 4 and status["epoch"] == last_report  # stopped within the epoch after the decision
    assert " pruned " in err


def test_a_grid_sweep_enumerates_exactly_its_grid_and_records_invalid_trials(tmp_path):
    spec = write_sweep(tmp_path, """
[sweep]
sampler = "grid"

[sweep.params]
"optimizer.lr" = {values = [0.001, 0.01]}
"model.layers[1].out_features" = {low = 8, high = 24, step = 8}
"optimizer.name" = {values = ["adam", "adamm"]}
""", epochs=1, max_steps=3)  # "adamm" is no optimizer: those trials are invalid (recorded, never launched)
    code, out, err = run_sweep(str(spec), "--parallel", "2", "--sweeps-dir", str(tmp_path / "sweeps"))
    assert code == 0, err
    sweep_dir = sweep_dirs(tmp_path / "sweeps")[0]
    trials = study(sweep_dir).trials
    points = sorted((t.params["optimizer.lr"], t.params["model.layers[1].out_features"], t.params["optimizer.name"])
                    for t in trials)
    assert points == [(lr, w, name) for lr in (0.001, 0.01) for w in (8, 16, 24) for name in ("adam", "adamm")]
    assert (out["completed"], out["invalid"]) == (6, 6)
    invalid = [t for t in trials if t.user_attrs["outcome"] == "invalid"]
    assert all(t.params["optimizer.name"] == "adamm" and "optimizer.name" in t.user_attrs["message"] for t in invalid)
    assert len(trial_runs(sweep_dir)) == 6  # no run directory for a trial that could not start
    assert " invalid " in err


def test_stop_ends_the_sweep_and_resume_finishes_it(tmp_path):
    spec = write_sweep(tmp_path, LR_WIDTH, epochs=30)
    root = tmp_path / "sweeps"
    out_file, err_file = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with open(out_file, "w") as stdout, open(err_file, "w") as stderr:
        driver = subprocess.Popen(sweep_cmd(str(spec), "--trials", "2", "--parallel", "2", "--sweeps-dir", str(root)),
                                  env=env(), cwd=ROOT, stdout=stdout, stderr=stderr)
    try:
        assert _wait_for(lambda: sweep_dirs(root) and len(_trial_pids(sweep_dirs(root)[0])) == 2)
        stop = subprocess.run([os.sys.executable, "-m", "engine", "stop", str(sweep_dirs(root)[0])], env=env(), cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert stop.returncode == 0, stop.stderr
        driver.wait(300)
    finally:
        if driver.poll() is None:
            driver.kill()
        driver.wait(60)
    out = json.loads(out_file.read_text().splitlines()[-1])
    assert out["status"] == "stopped" and out["interrupted"] == 2, err_file.read_text()
    sweep_dir = sweep_dirs(root)[0]
    assert all(s["status"] == "stopped" and s["checkpoint"] for _, s in trial_runs(sweep_dir))
    code, out, err = run_sweep("--resume", str(sweep_dir), "--trials", "2")
    assert code == 0 and out["completed"] == 2, err
