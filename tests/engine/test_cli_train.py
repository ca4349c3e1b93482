"""The headless commands: train (exit codes, JSON last line, resume, signals), validate, runs."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.cli import main
from engine.paths import EXAMPLES
from engine.runs import list_runs, read_events, read_status

ROOT = Path(__file__).resolve().parents[2]
DIGITS = str(EXAMPLES / "digits_mlp.toml")
QUICK = ["--set", "training.epochs=1"]


def last_json(out: str) -> dict:
    lines = [line for line in out.strip().splitlines() if line.strip()]
    return json.loads(lines[-1])


def test_train_prints_a_json_summary_last(capsys, _runs_dir):
    code = main(["train", DIGITS, *QUICK, "--set", "training.log_every=5"])
    out, err = capsys.readouterr()
    assert code == 0
    summary = last_json(out)
    assert summary["status"] == "completed" and summary["epochs"] == 1 and summary["steps"] == 23
    assert set(summary["metrics"]) == {"train_loss", "val_loss", "val_accuracy"}
    assert summary["wall_seconds"] > 0 and summary["samples_per_second"] > 0
    run_dir = Path(summary["run_dir"])
    assert run_dir.parent == _runs_dir and summary["run_id"] == run_dir.name
    assert "epoch 1/1" in err and "completed after 23 steps" in err
    assert read_status(run_dir)["status"] == "completed"
    events = read_events(run_dir / "events.jsonl")[0]
    phases = [e["phase"] for e in events if e["type"] == "phase"]
    assert phases == ["loading data", "building model", "first step"]  # the worker adds "starting worker"
    first_metric = next(i for i, e in enumerate(events) if e["type"] == "metric")
    assert max(i for i, e in enumerate(events) if e["type"] == "phase") < first_metric
    assert "training.epochs" not in out  # stdout holds only the summary
    spec_text = (run_dir / "spec.toml").read_text()
    assert "epochs = 1" in spec_text and "log_every = 5" in spec_text  # exactly what ran


def test_runs_dir_option(capsys, tmp_path):
    assert main(["train", DIGITS, *QUICK, "--quiet", "--runs-dir", str(tmp_path / "elsewhere")]) == 0
    out, err = capsys.readouterr()
    assert Path(last_json(out)["run_dir"]).parent == tmp_path / "elsewhere" and err == ""
    assert main(["runs", "--runs-dir", str(tmp_path / "elsewhere")]) == 0
    out, _ = capsys.readouterr()
    assert "digits_mlp" in out and "completed" in out and "val_accuracy=" in out and "1 run in" in out


@pytest.mark.parametrize("args,fragment", [
    (["train", DIGITS, "--set", "optimizer.lrr=0.1"], "optimizer.lrr: unknown option for optimizer adam — did you mean 'lr'?"),
    (["train", DIGITS, "--set", "training.epochs=0"], "training.epochs: must be at least 1"),
    (["train", "/no/such/spec.toml"], "/no/such/spec.toml: file not found"),
    (["train", DIGITS, "--set", "bogus"], "an override must look like key=value"),
    (["train"], "give a spec file"),
    (["train", "--resume", "/no/such/run"], "run directory not found"),
])
def test_bad_spec_or_arguments_exit_2(capsys, args, fragment):
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert fragment in err
    summary = last_json(out)
    assert summary["status"] == "invalid" and any(fragment in p for p in summary["problems"])
    assert list_runs() == []  # nothing was created


def test_non_toml_file_exit_2(capsys, tmp_path):
    bad = tmp_path / "notes.toml"
    bad.write_text("this is [not toml\n")
    assert main(["train", str(bad)]) == 2
    assert "is not valid TOML" in capsys.readouterr().err


def test_unknown_flag_exit_2(capsys):
    assert main(["train", DIGITS, "--epochs", "3"]) == 2


def test_failed_run_exits_1(capsys, monkeypatch):
    import engine.session

    real_prepare = engine.session.prepare

    def poisoned(spec, reporter=None):  # a NaN in every training sample: the loss is NaN from step 1
        dataset, model = real_prepare(spec, reporter)
        dataset.x_train[:, 0, 0, 0] = float("nan")
        return dataset, model

    monkeypatch.setattr(engine.session, "prepare", poisoned)
    code = main(["train", DIGITS, *QUICK, "--set", "training.log_every=1"])
    out, err = capsys.readouterr()
    assert code == 1
    summary = last_json(out)
    assert summary["status"] == "failed" and "NaN or infinite at step 1 " in summary["message"]
    assert "lower the learning rate" in err
    events = read_events(Path(summary["run_dir"]) / "events.jsonl")[0]
    assert events[-1]["type"] == "status" and events[-1]["status"] == "failed"


def test_csv_with_text_in_a_feature_column_exits_2(capsys, tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,label\n1,2,x\n3,oops,y\n" + "".join(f"{i},{i + 1},{'xy'[i % 2]}\n" for i in range(30)))
    spec = tmp_path / "s.toml"
    spec.write_text(f'name = "csv"\n[data]\nsource = "csv"\npath = "{csv}"\ntarget = "label"\n'
                    '[model]\nlayers = [{type = "Linear", out_features = 0}]\n')
    code = main(["train", str(spec), *QUICK])
    out, err = capsys.readouterr()
    assert code == 2 and "oops" in err and "b" in err
    assert last_json(out)["status"] in ("invalid", "failed")


def test_data_failing_at_load_time_exits_2_and_marks_the_run_failed(capsys, monkeypatch):
    import engine.data

    from engine.problems import Problem, SpecError

    def broken(data, seed):
        raise SpecError([Problem("data.path", "row 7: unreadable — fix the file")])

    monkeypatch.setattr(engine.data, "load_data", broken)
    code = main(["train", DIGITS, *QUICK])
    out, err = capsys.readouterr()
    assert code == 2 and "data.path: row 7: unreadable" in err
    summary = last_json(out)
    assert summary["status"] == "failed" and read_status(summary["run_dir"])["status"] == "failed"
    events = read_events(Path(summary["run_dir"]) / "events.jsonl")[0]
    assert [e["type"] for e in events] == ["phase", "error", "status"]
    assert events[0]["phase"] == "loading data"


def test_resume_continues_from_the_checkpoint(capsys):
    assert main(["train", DIGITS, *QUICK, "--quiet"]) == 0
    first = last_json(capsys.readouterr().out)
    assert main(["train", "--resume", first["run_dir"], "--set", "training.epochs=2", "--quiet"]) == 0
    second = last_json(capsys.readouterr().out)
    assert second["run_id"] == first["run_id"] and second["epochs"] == 2 and second["steps"] == 46
    events = read_events(Path(first["run_dir"]) / "events.jsonl")[0]
    starts = [e for e in events if e["type"] == "start"]
    assert starts[1]["resumed_from"] == "step-000000023" and starts[1]["step"] == 23
    assert "epochs = 2" in (Path(first["run_dir"]) / "spec.toml").read_text()


def test_resume_with_a_corrupt_checkpoint_exits_2_naming_the_file(capsys):
    assert main(["train", DIGITS, *QUICK, "--quiet"]) == 0
    run_dir = Path(last_json(capsys.readouterr().out)["run_dir"])
    weights = next(run_dir.glob("checkpoints/step-*/model.safetensors"))
    weights.write_bytes(b"corrupt")
    assert main(["train", "--resume", str(run_dir), "--quiet"]) == 2
    out, err = capsys.readouterr()
    assert f"{weights}: is corrupt or incomplete" in err
    assert last_json(out)["status"] == "failed"


def test_train_a_run_directory_in_place(capsys, _runs_dir):
    from engine.runs import RunDir
    from engine.spec import apply_overrides, load_spec

    run = RunDir.create(_runs_dir, apply_overrides(load_spec(DIGITS), ["training.epochs=1"]))
    assert main(["train", str(run.path), "--quiet"]) == 0
    assert last_json(capsys.readouterr().out)["run_id"] == run.id


def test_validate_prints_the_layer_table(capsys):
    assert main(["validate", str(EXAMPLES / "digits_cnn.toml")]) == 0
    out, err = capsys.readouterr()
    assert "conv2d_1" in out and "(16, 8, 8)" in out and "total parameters" in out and "no problems" in err
    assert last_json(out)["valid"] is True


def test_validate_lists_every_problem_and_exits_2(capsys):
    code = main(["validate", DIGITS, "--set", "optimizer.name=adamm", "--set", "model.layers[1].out_features=-3",
                 "--set", "training.loss=mse"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "optimizer.name: unknown optimizer 'adamm'" in err and "model.layers[1].out_features" in err
    assert "training.loss" in err
    assert len(last_json(out)["problems"]) >= 3


def test_runs_lists_and_json(capsys):
    assert main(["runs"]) == 0
    assert "no runs" in capsys.readouterr().out
    main(["train", DIGITS, *QUICK, "--quiet"])
    summary = last_json(capsys.readouterr().out)
    assert main(["runs", "--json"]) == 0
    row = last_json(capsys.readouterr().out)
    assert row["status"] == "completed" and row["name"] == "digits_mlp" and "val_accuracy" in row["metrics"]
    # one definition of each duration: the summary, `runs` and the app's Runs page show the same figures
    assert 0 < summary["training_seconds"] <= summary["wall_seconds"]
    assert row["wall_seconds"] == summary["wall_seconds"] and row["training_seconds"] == summary["training_seconds"]
    assert main(["runs"]) == 0
    table = capsys.readouterr().out
    assert "wall" in table.splitlines()[0] and "training" in table.splitlines()[0]


@pytest.mark.slow
def test_main_py_train_from_another_cwd_and_sigterm_stops(tmp_path):
    env = {**os.environ, "NETWRIGHT_RUNS_DIR": str(tmp_path / "runs"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "train", "--set", "training.epochs=1", DIGITS],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert last_json(done.stdout)["status"] == "completed"
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "train", DIGITS, "--set", "training.epochs=100000"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        runs = [r for r in list_runs(tmp_path / "runs") if r.status == "running" and (r.step or 0) >= 0]
        if runs and (runs[0].path / "events.jsonl").exists() and any(
                e["type"] == "metric" for e in read_events(runs[0].path / "events.jsonl")[0]):
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    summary = last_json(out)
    assert summary["status"] == "stopped" and summary["checkpoint"]
    assert read_status(summary["run_dir"])["status"] == "stopped"


def test_validate_with_unusable_data_lists_the_data_problem(capsys, tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('[data]\nsource = "csv"\npath = "/no/such.csv"\ntarget = "y"\n[model]\nlayers = [{type = "Linear", out_features = 2}]\n')
    assert main(["validate", str(spec)]) == 2
    out, err = capsys.readouterr()
    assert "data.path" in err and "/no/such.csv" in err
    assert last_json(out)["valid"] is False


def test_progress_display_on_a_terminal_and_in_a_log():
    import io

    from engine.commands._progress import Progress

    events = [("start", dict(total_steps=20, epochs=2, step=0, params=1234, device="cpu", steps_per_epoch=10, global_batch=8)),
              ("metric", dict(step=10, epoch=1.0, train_loss=0.5, samples_per_s=100.0)),
              ("epoch", dict(epoch=1, step=10, train_loss=0.5, val_loss=0.6, val_accuracy=0.75, epoch_seconds=0.1)),
              ("log", dict(level="warning", message="careful")),
              ("status", dict(status="completed", step=20, message="reached max_steps"))]
    for live in (True, False):
        stream = io.StringIO()
        progress = Progress(stream, live=live)
        for type, fields in events:
            progress.event(type, **fields)
        text = stream.getvalue()
        assert "training 1,234 parameters on cpu: 2 epochs x 10 steps, batch 8" in text
        assert "epoch 1/2  step 10  train_loss 0.5000  val_loss 0.6000  val_accuracy 0.7500" in text
        assert "warning: careful" in text and "completed after 20 steps" in text and "reached max_steps" in text
        assert ("[" in text and "step 10/20" in text and "ETA" in text) == live


def test_resuming_a_run_that_another_process_owns_is_refused(capsys):
    import socket
    import subprocess
    import sys

    from engine.runs import write_status

    assert main(["train", DIGITS, *QUICK, "--quiet"]) == 0
    run_dir = Path(last_json(capsys.readouterr().out)["run_dir"])
    owner = subprocess.Popen([sys.executable, "-c", "import sys, time; from engine.runs import RunDir, claim; "
                              "claim(RunDir.open(sys.argv[1])); print('owned', flush=True); time.sleep(60)", str(run_dir)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout.readline().strip() == "owned"
        assert main(["train", "--resume", str(run_dir), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"in use by process {owner.pid} on host {socket.gethostname()}" in err
    finally:
        owner.kill()
        owner.wait()
        owner.stdout.close()
    write_status(run_dir, "running", pid=2 ** 22 + 4321)  # its owner is gone: crashed, so resumable
    assert main(["train", "--resume", str(run_dir), "--quiet"]) == 0
