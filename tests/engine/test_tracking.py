"""Tracking: a run's TensorBoard event files read back (tensorboard's EventAccumulator) equal its
events.jsonl; [tracking] tensorboard = false writes none; MLflow in a local file store gets the
params, every metric at its step, the weights, and an export's files."""
from __future__ import annotations

import pytest

from engine.paths import EXAMPLES
from engine.runs import RunDir, read_events
from engine.session import run_training
from engine.spec import apply_overrides, load_spec

SHORT = ["training.epochs=2", "data.batch_size=512", "training.log_every=2"]  # 3 steps an epoch


def train(tmp_path, *extra):
    spec = apply_overrides(load_spec(EXAMPLES / "digits_cnn.toml"), [*SHORT, *extra])
    run = RunDir.create(tmp_path / "runs", spec)
    assert run_training(run).status == "completed"
    events, _ = read_events(run.events_path)
    return run, events


def test_tensorboard_files_read_back_equal_the_events(tmp_path):
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    run, events = train(tmp_path)
    board = EventMultiplexer()
    board.AddRunsFromDirectory(str(run.path / "tensorboard"))
    board.Reload()
    scalars: dict[str, list] = {}
    for name in board.Runs():
        for tag in board.GetAccumulator(name).Tags()["scalars"]:
            scalars.setdefault(tag, []).extend((e.step, e.value) for e in board.Scalars(name, tag))
    expected: dict[str, list] = {}
    for e in events:
        if e["type"] in ("metric", "epoch"):
            for key, value in e.items():
                if key not in ("v", "seq", "time", "type", "step", "epoch") and isinstance(value, (int, float)):
                    expected.setdefault(f"{e['type']}/{key}", []).append((e["step"], value))
    assert {"metric/train_loss", "metric/lr", "epoch/val_loss", "epoch/val_accuracy"} <= set(expected)
    for tag, values in expected.items():
        assert [s for s, _ in scalars[tag]] == [s for s, _ in values], tag
        assert [v for _, v in scalars[tag]] == pytest.approx([v for _, v in values], rel=1e-6), tag  # float32 in the file
    assert "hparam/val_loss" in scalars  # the hyper-parameters run with the final metrics
    assert not [tag for tag in scalars if tag.endswith("/time")]  # an event's time is its position, not a metric
    assert any(board.GetAccumulator(name).Tags()["graph"] for name in board.Runs())


def test_tensorboard_off(tmp_path):
    run, _ = train(tmp_path, "tracking.tensorboard=false")
    assert not (run.path / "tensorboard").exists()


def test_mlflow_file_store_gets_params_metrics_and_exports(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    from engine.export import export_run
    from engine.tracking.mlflow_writer import read_record

    uri = (tmp_path / "mlruns").as_uri()
    run, events = train(tmp_path, "tracking.tensorboard=false", f"tracking.mlflow_uri={uri}",
                        "tracking.mlflow_experiment=tests")
    record = read_record(run.path)
    client = MlflowClient(tracking_uri=uri)
    logged = client.get_run(record["mlflow_run_id"])
    assert logged.info.status == "FINISHED" and logged.info.run_name == run.id
    assert logged.data.params["optimizer.lr"] == "0.002" and logged.data.params["data.source"] == "digits"
    history = client.get_metric_history(record["mlflow_run_id"], "metric/train_loss")
    expected = [(e["step"], e["train_loss"]) for e in events if e["type"] == "metric"]
    assert sorted((m.step, m.value) for m in history) == pytest.approx(expected)
    assert {a.path for a in client.list_artifacts(record["mlflow_run_id"], "model")} == {"model/spec.toml",
                                                                                         "model/model.safetensors"}
    export_run(run.path, "bundle", tmp_path / "bundle")
    exported = {a.path for a in client.list_artifacts(record["mlflow_run_id"], "exports/bundle")}
    assert "exports/bundle/model.safetensors" in exported and mlflow is not None


def test_mlflow_uri_without_mlflow_is_a_named_problem(monkeypatch):
    import importlib.util

    from engine.validation import validate

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    spec = apply_overrides(load_spec(EXAMPLES / "digits_mlp.toml"), ["tracking.mlflow_uri=file:/tmp/x"])
    assert [p.path for p in validate(spec)] == ["tracking.mlflow_uri"]
    assert "pip install 'netwright[mlflow]'" in validate(spec)[0].message
