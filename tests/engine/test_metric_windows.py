"""Metric windows reported in batches (engine.trainer): one rank alone closes a window every
`log_every` steps and turns the closed ones into numbers at most WINDOW_BATCH_SECONDS apart.
Batched or not, the metric events are the same; a NaN, a stop or a pause still finds them all."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import engine.trainer as trainer
from engine.rank import LocalContext
from engine.trainer import train
from tests.engine.test_trainer import FakeReporter, make_dataset, make_model, make_spec

#: fields that measure time, which differ from run to run
TIMING = ("time", "samples_per_s", "step_time")


def metric_events(reporter):
    return [{k: v for k, v in fields.items() if k not in TIMING} for fields in reporter.of("metric")]


def run(monkeypatch, *, batch_seconds, kept_bytes=trainer.KEPT_GRADIENT_BYTES, script=None, **sections):
    monkeypatch.setattr(trainer, "WINDOW_BATCH_SECONDS", batch_seconds)
    monkeypatch.setattr(trainer, "KEPT_GRADIENT_BYTES", kept_bytes)
    reporter = FakeReporter(script)
    spec = make_spec(optimizer={"name": "adam", "lr": 0.01}, training={"epochs": 3, "log_every": 2, **sections})
    result = train(spec, make_dataset(), make_model(), reporter)
    return result, reporter


@pytest.mark.parametrize("kept_bytes", [trainer.KEPT_GRADIENT_BYTES, 1], ids=["gradients kept", "norm taken at once"])
def test_batched_windows_report_the_same_metrics_as_immediate_ones(monkeypatch, kept_bytes):
    _, immediate = run(monkeypatch, batch_seconds=0.0)
    _, batched = run(monkeypatch, batch_seconds=3600.0, kept_bytes=kept_bytes)
    events = metric_events(batched)
    assert events == metric_events(immediate)
    assert [e["step"] for e in events] == [2, 4, 6, 8, 10, 12, 14, 16, 18]
    assert all(e["grad_norm"] > 0 for e in events)
    times = [fields["time"] for fields in batched.of("metric")]
    assert times == sorted(times) and len(set(times)) == len(times)
    # every window of an epoch is reported before its epoch event
    kinds = [t for t, _ in batched.events if t in ("metric", "epoch")]
    assert kinds == ["metric"] * 3 + ["epoch"] + ["metric"] * 3 + ["epoch"] + ["metric"] * 3 + ["epoch"]


def test_a_window_keeps_the_time_it_closed(monkeypatch):
    """Reported at the epoch's end, a window's event still carries the time of its own last step
    (between that step's control poll and the one before)."""
    import time

    class Clocked(FakeReporter):
        def __init__(self):
            super().__init__()
            self.polled_at = {}

        def control(self):
            self.polled_at[self.polls + 1] = time.time()
            return super().control()

    monkeypatch.setattr(trainer, "WINDOW_BATCH_SECONDS", 3600.0)
    reporter = Clocked()
    train(make_spec(training={"epochs": 1, "log_every": 2}), make_dataset(), make_model(), reporter)
    for fields in reporter.of("metric"):
        step = fields["step"]
        assert reporter.polled_at[step - 1] <= fields["time"] <= reporter.polled_at[step]


def test_a_distributed_job_reports_each_window_at_once():
    """Even of one rank: DDP's gradients are views into its buckets, which the next step overwrites."""
    from engine.parallel.context import DistributedContext

    assert object.__new__(DistributedContext).batches_windows is False


def test_kept_gradients_give_the_norm_of_the_log_step(monkeypatch):
    """The norm of a kept window is that of its own log step's gradients, although later steps
    made new ones (zero_grad sets them to None; they are never zeroed in place)."""
    monkeypatch.setattr(trainer, "WINDOW_BATCH_SECONDS", 3600.0)
    seen = []
    real = LocalContext.gradients

    def gradients(self, model):
        grads = real(self, model)
        seen.append(float(trainer.norm_of(grads)))
        return grads

    monkeypatch.setattr(LocalContext, "gradients", gradients)
    reporter = FakeReporter()
    train(make_spec(optimizer={"name": "adam", "lr": 0.01}, training={"epochs": 2, "log_every": 2}),
          make_dataset(), make_model(), reporter)
    assert [e["grad_norm"] for e in reporter.of("metric")] == pytest.approx(seen, rel=1e-6)
    assert len(set(seen)) == len(seen)


def test_a_nan_found_in_a_batch_names_its_own_step(monkeypatch):
    data = make_dataset()
    order = LocalContext().epoch_indices(len(data.x_train), 0, 3)
    data.x_train[int(order[16 * 4 + 3]), 0] = np.nan  # in the 5th batch of the first epoch
    monkeypatch.setattr(trainer, "WINDOW_BATCH_SECONDS", 3600.0)
    reporter = FakeReporter()
    result = train(make_spec(training={"log_every": 3}), data, make_model(), reporter)
    assert result.status == "failed" and "step 5 (epoch 1)" in result.message
    assert [e["step"] for e in reporter.of("metric")] == [3]  # the window before the bad one
    assert not reporter.of("epoch") and result.checkpoint is None


def test_a_stop_reports_every_waiting_window_first(monkeypatch):
    result, reporter = run(monkeypatch, batch_seconds=3600.0, script={5: "stop"})
    assert result.status == "stopped" and result.steps == 5
    assert [e["step"] for e in reporter.of("metric")] == [2, 4, 5]
    assert [t for t, _ in reporter.events][-1] == "status"


def test_a_pause_reports_every_waiting_window_first(monkeypatch):
    result, reporter = run(monkeypatch, batch_seconds=3600.0, script={4: "pause", 5: "run"})
    assert result.status == "completed"
    kinds = [(t, f.get("status"), f.get("step")) for t, f in reporter.events if t in ("metric", "status")]
    paused = kinds.index(("status", "paused", 4))
    assert kinds[paused - 2:paused] == [("metric", None, 2), ("metric", None, 4)]


def test_a_keyboard_interrupt_still_reports_closed_windows(monkeypatch):
    class Interrupting(FakeReporter):
        def control(self):
            if super().control() == "stop":
                raise KeyboardInterrupt
            return "run"

    monkeypatch.setattr(trainer, "WINDOW_BATCH_SECONDS", 3600.0)
    reporter = Interrupting({5: "stop"})
    with pytest.raises(KeyboardInterrupt):
        train(make_spec(training={"epochs": 3, "log_every": 2}), make_dataset(), make_model(), reporter)
    assert [e["step"] for e in reporter.of("metric")] == [2, 4]
    assert reporter.of("status")[-1]["status"] == "stopped"


@pytest.mark.parametrize("sections", [
    {"training": {"epochs": 3, "log_every": 4}, "scheduler": {"name": "cosine"}},
    {"training": {"epochs": 3, "log_every": 2, "max_steps": 10}, "regularization": {"l1": 0.001}},
], ids=["schedule", "max_steps mid-epoch, l1"])
def test_the_plain_loop_trains_exactly_as_the_general_one(monkeypatch, sections):
    """The tight loop of the plain case (`_plain_epoch`) against the general loop, which the fault
    hook's check forces: the same metric and epoch events, result and weights, bit for bit; a stop
    request and a pause land on the same steps."""
    def run_once(general: bool, script=None):
        monkeypatch.setattr(trainer, "fault_enabled", lambda point: general)
        reporter = FakeReporter(script)
        spec = make_spec(optimizer={"name": "adam", "lr": 0.01}, **sections)
        model = make_model(dropout=0.2)
        result = train(spec, make_dataset(), model, reporter)
        events = [(t, {k: v for k, v in f.items() if k not in TIMING and k not in ("epoch_seconds", "metrics")})
                  for t, f in reporter.events if t in ("metric", "epoch", "status")]
        return result, events, model.state_dict()

    for script in (None, {7: "stop"}, {3: "pause", 4: "run"}):
        plain, general = run_once(False, script), run_once(True, script)
        assert plain[0].status == general[0].status and plain[0].steps == general[0].steps
        assert plain[0].metrics == general[0].metrics and plain[1] == general[1]
        assert all(torch.equal(plain[2][k], general[2][k]) for k in general[2])


def test_an_error_mid_epoch_leaves_the_loop_state_at_the_failing_step(monkeypatch):
    """The plain loop keeps its counters in local variables: an error writes them back, so the
    failed run reports the step it reached."""
    calls = {"n": 0}
    real = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("boom")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    reporter = FakeReporter()
    with pytest.raises(RuntimeError, match="boom"):
        train(make_spec(optimizer={"name": "adam", "lr": 0.01}, training={"log_every": 100}), make_dataset(),
              make_model(), reporter)
    assert reporter.of("status")[-1]["step"] == 4 and reporter.of("error")[0]["step"] == 4
