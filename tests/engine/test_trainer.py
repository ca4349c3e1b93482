"""The training loop with a fake reporter: events, metrics, NaN, max_steps, accumulation,
clipping, L1, label smoothing, early stopping, stop/pause, precision, compile, resume."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from engine.data.base import DataInfo, Dataset
from engine.problems import SpecError
from engine.rank import LocalContext
from engine.reporting import RunReporter
from engine.runs import RunDir, read_events, read_status
from engine.spec import ExperimentSpec
from engine.trainer import plan_steps, train


class FakeReporter:
    """Records events; `script` maps an optimizer step (count of control polls) to a request."""

    def __init__(self, script=None):
        self.events: list[tuple[str, dict]] = []
        self.script = dict(script or {})
        self.polls = 0

    def event(self, type, **fields):
        json.dumps(fields)  # plain Python values only
        self.events.append((type, fields))

    def control(self):
        self.polls += 1
        return self.script.get(self.polls, "run")

    def of(self, type):
        return [f for t, f in self.events if t == type]


def make_dataset(n=96, features=6, classes=3, seed=0, task="classification", val=32) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n + val, features)).astype(np.float32)
    if task == "regression":
        y = (x[:, :2] @ np.array([[1.0], [-2.0]], dtype=np.float32)).astype(np.float32)
        info = DataInfo((features,), "float32", "regression", 1)
    else:
        y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1).astype(np.int64)
        info = DataInfo((features,), "float32", "classification", classes)
    return Dataset(info, x[:n], y[:n], x[n:], y[n:])


def make_spec(**sections) -> ExperimentSpec:
    doc = {"name": "unit", "seed": 3, "data": {"source": "random", "batch_size": 16},
           "optimizer": {"name": "sgd", "lr": 0.1}, "training": {"epochs": 2, "log_every": 2}}
    for key, value in sections.items():
        doc.setdefault(key, {}).update(value)
    return ExperimentSpec.from_dict(doc)


def make_model(features=6, out=3, dropout=0.0, seed=0):
    torch.manual_seed(seed)
    layers = [nn.Linear(features, 16), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(16, out))
    return nn.Sequential(*layers)


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ----------------------------------------------------------------------------- basics

def test_events_and_result():
    rep = FakeReporter()
    result = train(make_spec(), make_dataset(), make_model(), rep)
    assert result.status == "completed" and result.epochs == 2 and result.steps == 12
    types = [t for t, _ in rep.events]
    assert types[:2] == ["start", "status"] and types[-1] == "status"
    start = rep.of("start")[0]
    assert start["steps_per_epoch"] == 6 and start["total_steps"] == 12 and start["global_batch"] == 16
    metrics = rep.of("metric")
    assert [m["step"] for m in metrics] == [2, 4, 6, 8, 10, 12]
    for m in metrics:
        assert {"train_loss", "lr", "grad_norm", "samples_per_s", "step_time", "epoch"} <= set(m)
        assert isinstance(m["train_loss"], float) and m["grad_norm"] > 0
    epochs = rep.of("epoch")
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert 0 <= epochs[-1]["val_accuracy"] <= 1 and epochs[-1]["val_loss"] > 0
    assert rep.of("status")[-1]["status"] == "completed"
    assert set(result.metrics) == {"train_loss", "val_loss", "val_accuracy"}
    assert result.samples_per_second > 0


def test_train_loss_is_the_mean_of_step_losses():
    """With lr = 0 every step sees the same weights: the epoch's train loss is the full-data loss."""
    data, model = make_dataset(), make_model()
    rep = FakeReporter()
    train(make_spec(optimizer={"lr": 0.0}, training={"epochs": 1}), data, model, rep)
    expected = nn.functional.cross_entropy(model(torch.as_tensor(data.x_train)), torch.as_tensor(data.y_train)).item()
    assert rep.of("epoch")[0]["train_loss"] == pytest.approx(expected, rel=1e-5)


def test_plan_steps():
    assert plan_steps(100, 16, 1, 3) == (7, 21)
    assert plan_steps(100, 16, 2, 3) == (4, 12)
    assert plan_steps(100, 16, 1, 3, max_steps=5) == (7, 5)
    assert plan_steps(97, 16, 1, 1) == (6, 6)  # a last sample alone joins the batch before it
    assert plan_steps(1, 16, 1, 1) == (1, 1)


def test_a_last_batch_of_one_sample_joins_the_one_before():
    """97 = 6 x 16 + 1: a lone last sample would crash batch norm ("Expected more than 1 value per
    channel"); it trains in the sixth batch instead, and every sample is still seen."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    rep = FakeReporter()
    result = train(make_spec(training={"epochs": 1}), make_dataset(n=97), model, rep)
    assert result.status == "completed" and result.steps == 6
    assert rep.of("epoch")[-1]["epoch"] == 1


def test_regression_reports_val_error():
    rep = FakeReporter()
    result = train(make_spec(optimizer={"lr": 0.05}, training={"epochs": 5}), make_dataset(task="regression"),
                   make_model(out=1), rep)
    first, last = rep.of("epoch")[0], rep.of("epoch")[-1]
    assert "val_error" in last and "val_accuracy" not in last
    assert last["val_loss"] < first["val_loss"] and result.status == "completed"


def test_language_model_accuracy_counts_every_position():
    vocab, seq = 7, 5
    rng = np.random.default_rng(0)
    x = rng.integers(0, vocab, size=(40, seq)).astype(np.int64)
    y = (x + 1) % vocab  # next token = this token + 1: learnable per position
    info = DataInfo((seq,), "int64", "language_modeling", vocab, kind="text")
    data = Dataset(info, x[:32], y[:32], x[32:], y[32:])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(vocab, 16), nn.Linear(16, vocab))
    rep = FakeReporter()
    train(make_spec(optimizer={"name": "adam", "lr": 0.05}, training={"epochs": 20}, data={"batch_size": 8}), data, model, rep)
    assert rep.of("epoch")[-1]["val_accuracy"] == 1.0


# ----------------------------------------------------------------------------- failure and limits

def test_nan_loss_fails_naming_the_step():
    data = make_dataset()
    order = LocalContext().epoch_indices(len(data.x_train), 0, 3)
    poisoned = int(order[16 * 4 + 3])  # in the 5th batch
    data.x_train[poisoned, 0] = np.nan
    rep = FakeReporter()
    result = train(make_spec(training={"log_every": 3}), data, make_model(), rep)
    assert result.status == "failed"
    assert "step 5 (epoch 1)" in result.message and "learning rate" in result.message
    assert rep.of("status")[-1]["status"] == "failed" and rep.of("error")[0]["message"] == result.message
    assert result.checkpoint is None


def test_max_steps_caps_training():
    rep = FakeReporter()
    result = train(make_spec(training={"epochs": 10, "max_steps": 8}), make_dataset(), make_model(), rep)
    assert result.status == "completed" and result.steps == 8 and "max_steps" in result.message
    assert rep.of("start")[0]["total_steps"] == 8
    assert result.metrics["val_loss"] > 0  # validated at the cap


def test_gradient_accumulation_matches_one_big_batch():
    data = make_dataset(n=96)
    big, small = make_model(), make_model()
    train(make_spec(data={"batch_size": 32}, training={"epochs": 2}), data, big, FakeReporter())
    rep = FakeReporter()
    result = train(make_spec(data={"batch_size": 8}, training={"epochs": 2, "grad_accumulation": 4}), data, small, rep)
    assert result.steps == 6 and rep.of("start")[0]["global_batch"] == 32
    for key, value in weights(big).items():
        torch.testing.assert_close(weights(small)[key], value, rtol=1e-5, atol=1e-6)


def test_gradient_clipping_bounds_the_update():
    data = make_dataset()
    spec = make_spec(optimizer={"lr": 1.0}, training={"epochs": 1, "max_steps": 1, "log_every": 1})
    clipped, free = make_model(), make_model()
    before = torch.cat([p.detach().flatten() for p in clipped.parameters()])
    rep = FakeReporter()
    train(make_spec(optimizer={"lr": 1.0}, regularization={"grad_clip_norm": 0.01},
                    training={"epochs": 1, "max_steps": 1, "log_every": 1}), data, clipped, rep)
    train(spec, data, free, FakeReporter())
    moved = torch.cat([p.detach().flatten() for p in clipped.parameters()]) - before
    moved_free = torch.cat([p.detach().flatten() for p in free.parameters()]) - before
    assert moved.norm().item() == pytest.approx(0.01, rel=1e-4)
    assert moved_free.norm().item() > 0.05
    assert rep.of("metric")[0]["grad_norm"] == pytest.approx(moved_free.norm().item(), rel=1e-4)  # reported before clipping


def test_l1_adds_lr_times_l1_times_sign():
    data = make_dataset()
    spec_kw = dict(optimizer={"lr": 0.1}, training={"epochs": 1, "max_steps": 1})
    with_l1, without = make_model(), make_model()
    signs = {k: v.sign() for k, v in weights(with_l1).items()}
    train(make_spec(regularization={"l1": 0.5}, **spec_kw), data, with_l1, FakeReporter())
    train(make_spec(**spec_kw), data, without, FakeReporter())
    for key, value in weights(without).items():
        torch.testing.assert_close(weights(with_l1)[key], value - 0.1 * 0.5 * signs[key], rtol=1e-5, atol=1e-6)


def test_label_smoothing_changes_the_reported_loss():
    data = make_dataset()
    losses = []
    for smoothing in (0.0, 0.3):
        rep = FakeReporter()
        train(make_spec(optimizer={"lr": 0.0}, regularization={"label_smoothing": smoothing}, training={"epochs": 1}),
              data, make_model(), rep)
        losses.append(rep.of("epoch")[0]["train_loss"])
    assert losses[0] != pytest.approx(losses[1], rel=1e-3)


def test_early_stopping_stops_when_the_metric_stalls():
    rep = FakeReporter()
    result = train(make_spec(optimizer={"lr": 0.0}, regularization={"early_stopping_patience": 2},
                             training={"epochs": 10}), make_dataset(), make_model(), rep)
    assert result.status == "completed" and result.epochs == 3
    assert "early stopping after epoch 3" in result.message and "val_loss" in result.message


def test_early_stopping_on_accuracy_waits_for_improvement():
    rep = FakeReporter()
    result = train(make_spec(optimizer={"name": "adam", "lr": 0.01},
                             regularization={"early_stopping_patience": 50, "early_stopping_metric": "val_accuracy"},
                             training={"epochs": 4}), make_dataset(), make_model(), rep)
    assert result.epochs == 4 and result.message == ""


# ----------------------------------------------------------------------------- control

def test_stop_request_finishes_the_step_and_checkpoints(tmp_path):
    spec = make_spec(training={"epochs": 3})
    run = RunDir.create(tmp_path, spec)
    rep = FakeReporter({4: "stop"})
    result = train(spec, make_dataset(), make_model(), rep, run=run)
    assert result.status == "stopped" and result.steps == 4 and "step 4" in result.message
    assert result.checkpoint and rep.of("checkpoint")[-1]["step"] == 4
    assert rep.of("status")[-1]["status"] == "stopped"


def test_pause_holds_then_resumes():
    rep = FakeReporter({2: "pause", 3: "pause", 4: "run"})
    result = train(make_spec(), make_dataset(), make_model(), rep)
    statuses = [s["status"] for s in rep.of("status")]
    assert statuses == ["running", "paused", "running", "completed"]
    assert result.status == "completed" and result.steps == 12


def test_stop_while_paused():
    rep = FakeReporter({1: "pause", 2: "stop"})
    result = train(make_spec(), make_dataset(), make_model(), rep)
    assert result.status == "stopped" and result.steps == 1


def test_scheduled_lr_is_reported():
    rep = FakeReporter()
    spec = make_spec(scheduler={"name": "step", "step_epochs": 1, "gamma": 0.5}, training={"epochs": 3, "log_every": 6})
    train(spec, make_dataset(), make_model(), rep)
    assert [e["lr"] for e in rep.of("epoch")] == pytest.approx([0.05, 0.025, 0.0125])


# ----------------------------------------------------------------------------- precision, compile

def test_bf16_autocast_trains_on_cpu():
    rep = FakeReporter()
    result = train(make_spec(training={"precision": "bf16", "epochs": 1}), make_dataset(), make_model(), rep)
    assert result.status == "completed" and math.isfinite(result.metrics["val_loss"])
    assert rep.of("start")[0]["precision"] == "bf16"


def test_fp16_on_cpu_is_a_clear_problem():
    rep = FakeReporter()
    with pytest.raises(SpecError, match="training.precision: fp16 needs a CUDA GPU"):
        train(make_spec(training={"precision": "fp16", "device": "cpu"}), make_dataset(), make_model(), rep)
    assert rep.of("status")[-1]["status"] == "failed"


def test_compile_option_compiles_the_model(monkeypatch):
    calls = []
    real = torch.compile

    def fake_compile(model, **kwargs):
        calls.append(model)
        return real(model, backend="eager")

    monkeypatch.setattr(torch, "compile", fake_compile)
    model = make_model()
    result = train(make_spec(training={"compile": True, "epochs": 1}), make_dataset(), model, FakeReporter())
    assert calls == [model] and result.status == "completed"


def test_unexpected_errors_are_reported_and_raised():
    rep = FakeReporter()
    with pytest.raises(RuntimeError):
        train(make_spec(), make_dataset(features=6), make_model(features=5), rep)
    error = rep.of("error")[0]
    assert "RuntimeError" in error["message"] and "Traceback" in error["traceback"] and error["rank"] == 0
    assert rep.of("status")[-1]["status"] == "failed"


# ----------------------------------------------------------------------------- resume

def _epoch_rows(run):
    return [(e["epoch"], e["step"], e["train_loss"], e["val_loss"]) for e in read_events(run.events_path)[0] if e["type"] == "epoch"]


@pytest.mark.parametrize("stop_at", [4, 9])  # mid-epoch (6 steps per epoch) in the 1st and 2nd epoch
def test_interrupted_then_resumed_equals_uninterrupted(tmp_path, stop_at):
    spec = make_spec(optimizer={"name": "adam", "lr": 0.01}, scheduler={"name": "cosine"}, training={"epochs": 3})
    data = make_dataset()
    whole = RunDir.create(tmp_path, spec)
    rep = RunReporter(whole)
    train(spec, data, make_model(dropout=0.3), rep, run=whole)
    rep.close()

    parted = RunDir.create(tmp_path, spec)
    rep = RunReporter(parted)
    first = train(spec, data, make_model(dropout=0.3), StopAt(rep, stop_at), run=parted)
    rep.close()
    assert first.status == "stopped" and first.steps == stop_at
    torch.manual_seed(12345)  # the RNG must come from the checkpoint, not from here
    resumed_model = make_model(dropout=0.3, seed=99)  # weights must come from the checkpoint too
    rep = RunReporter(parted)
    second = train(spec, data, resumed_model, rep, run=parted, resume=True)
    rep.close()
    assert second.status == "completed" and second.steps == 18
    assert _epoch_rows(parted) == _epoch_rows(whole)
    from engine.checkpoint import load_latest

    _, final_whole, _ = load_latest(whole.path)
    for key, value in final_whole.items():
        assert torch.equal(resumed_model.state_dict()[key], value)
    assert read_status(parted)["status"] == "completed"
    seqs = [e["seq"] for e in read_events(parted.events_path)[0]]
    assert seqs == list(range(len(seqs)))


class StopAt:
    def __init__(self, inner, step):
        self.inner, self.step, self.polls = inner, step, 0

    def event(self, type, **fields):
        self.inner.event(type, **fields)

    def control(self):
        self.polls += 1
        return "stop" if self.polls == self.step else "run"


def test_resume_with_a_corrupt_checkpoint_names_the_file(tmp_path):
    spec = make_spec(training={"epochs": 1})
    run = RunDir.create(tmp_path, spec)
    train(spec, make_dataset(), make_model(), FakeReporter(), run=run)
    from engine.checkpoint import latest_checkpoint

    state = latest_checkpoint(run.checkpoints) / "state.pt"
    state.write_bytes(state.read_bytes()[:100])
    rep = FakeReporter()
    with pytest.raises(SpecError, match="state.pt: is corrupt or incomplete"):
        train(spec, make_dataset(), make_model(), rep, run=run, resume=True)
    assert rep.of("status")[-1]["status"] == "failed"


def test_resume_with_a_changed_model_names_the_weights_file(tmp_path):
    spec = make_spec(training={"epochs": 1})
    run = RunDir.create(tmp_path, spec)
    train(spec, make_dataset(), make_model(), FakeReporter(), run=run)
    bigger = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 3))
    with pytest.raises(SpecError, match=r"model.safetensors: does not fit this model"):
        train(spec, make_dataset(), bigger, FakeReporter(), run=run, resume=True)


def test_max_steps_mid_epoch_reports_fractional_epochs_and_train_loss():
    result = train(make_spec(training={"epochs": 3, "max_steps": 9}), make_dataset(), make_model(), FakeReporter())
    assert result.epochs == 1.5 and "train_loss" in result.metrics


def test_keyboard_interrupt_marks_the_run_stopped():
    class Interrupting(FakeReporter):
        def control(self):
            raise KeyboardInterrupt

    rep = Interrupting()
    with pytest.raises(KeyboardInterrupt):
        train(make_spec(), make_dataset(), make_model(), rep)
    assert rep.of("status")[-1]["status"] == "stopped" and "interrupted" in rep.of("status")[-1]["message"]
