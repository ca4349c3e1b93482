"""The run directory: ids, events log (batching, truncated lines), status, crash detection,
control requests, listing; checkpoints (round trip, weights_only, pruning, corrupt files)."""
from __future__ import annotations

import fractions
import json
import os
import re
import subprocess
import sys
import time

import pytest
import torch

from engine.checkpoint import (CheckpointError, latest_checkpoint, load_checkpoint, load_latest, rng_state,
                               save_checkpoint, set_rng_state, weights_path)
from engine.events import EventWriter, last_seq, read_events
from engine.reporting import RunReporter
from engine.runs import (RunDir, effective_status, list_runs, read_control, read_status, request_control,
                         summarize, write_status)
from engine.spec import ExperimentSpec


@pytest.fixture
def spec():
    return ExperimentSpec.from_dict({"name": "digits mlp/1", "data": {"source": "digits"}})


def test_create_gives_unique_readable_ids(tmp_path, spec):
    a, b = RunDir.create(tmp_path, spec), RunDir.create(tmp_path, spec)
    assert a.id != b.id
    assert re.fullmatch(r"\d{8}-\d{6}-digits_mlp_1-[0-9a-f]{4}", a.id)
    assert a.load_spec() == spec
    assert read_status(a)["status"] == "created" and read_status(a)["name"] == "digits mlp/1"
    assert a.checkpoints.is_dir()
    assert RunDir.open(a.path).id == a.id


def test_open_names_the_folder(tmp_path):
    with pytest.raises(Exception, match="run directory not found"):
        RunDir.open(tmp_path / "nope")
    with pytest.raises(Exception, match="has no spec.toml"):
        RunDir.open(tmp_path)


# ----------------------------------------------------------------------------- events

def test_event_fields_sequence_and_resume_continues_seq(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventWriter(path) as w:
        w.event("start", epochs=3)
        w.event("metric", step=1, train_loss=0.5)
    events, offset = read_events(path)
    assert [e["seq"] for e in events] == [0, 1] and offset == path.stat().st_size
    assert all(e["v"] == 1 and isinstance(e["time"], float) for e in events)
    assert events[1]["type"] == "metric" and events[1]["train_loss"] == 0.5
    with EventWriter(path) as w:  # a resumed session appends, numbering on
        w.event("status", status="running")
    assert last_seq(path) == 2
    more, offset2 = read_events(path, offset)
    assert [e["seq"] for e in more] == [2] and offset2 == path.stat().st_size


def test_events_are_batched_but_never_wait_long(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventWriter(path, flush_interval=0.2) as w:
        w.event("log", message="a")
        w.event("log", message="b")
        time.sleep(0.6)  # no further events: the timer writes them
        assert len(read_events(path)[0]) == 2
    slow = tmp_path / "slow.jsonl"
    w = EventWriter(slow, flush_interval=60)
    try:
        for i in range(63):
            w.event("metric", step=i)
        assert read_events(slow)[0] == []  # batched, not yet written
        w.event("metric", step=63)  # the 64th pending event writes the batch
        assert len(read_events(slow)[0]) == 64
        w.event("metric", step=64)
    finally:
        w.close()
    assert [e["step"] for e in read_events(slow)[0]] == list(range(65))


def test_non_finite_numbers_are_written_as_strings(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventWriter(path) as w:
        w.event("metric", train_loss=float("nan"), grad_norm=float("inf"))
    line = path.read_text()
    assert "NaN" not in line and "Infinity" not in line
    event = read_events(path)[0][0]
    assert event["train_loss"] == "nan" and event["grad_norm"] == "inf"


def test_reader_tolerates_a_truncated_last_line_and_garbage(tmp_path):
    path = tmp_path / "events.jsonl"
    full = json.dumps({"v": 1, "seq": 0, "type": "start"}) + "\n"
    partial = json.dumps({"v": 1, "seq": 1, "type": "metric", "step": 10})
    path.write_text(full + "{not json}\n" + partial[:15])
    events, offset = read_events(path)
    assert [e["seq"] for e in events] == [0]
    assert offset == len(full) + len("{not json}\n")
    with open(path, "a") as fh:  # the writer completes the line later
        fh.write(partial[15:] + "\n")
    events, offset = read_events(path, offset)
    assert events == [json.loads(partial)]
    assert read_events(tmp_path / "missing.jsonl", 7) == ([], 7)


# ----------------------------------------------------------------------------- status

def test_status_writes_are_atomic_and_merge(tmp_path, spec):
    run = RunDir.create(tmp_path, spec)
    write_status(run, "running")
    data = read_status(run)
    assert data["pid"] == os.getpid() and data["status"] == "running" and "started" in data
    write_status(run, "completed", metrics={"val_accuracy": 0.9})
    data = read_status(run)
    assert data["status"] == "completed" and data["ended"] >= data["started"] and data["name"] == "digits mlp/1"
    assert not [p for p in run.path.iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(ValueError):
        write_status(run, "exploded")


def test_crashed_when_the_recorded_process_is_gone(tmp_path, spec):
    run = RunDir.create(tmp_path, spec)
    write_status(run, "running")
    assert effective_status(run) == "running"  # this process is alive
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    write_status(run, "running", pid=proc.pid)
    assert effective_status(run) == "running"
    proc.kill()
    proc.wait()
    assert effective_status(run) == "crashed"
    assert read_status(run)["status"] == "running"  # the file is not rewritten by a reader
    write_status(run, "stopped")
    assert effective_status(run) == "stopped"


def test_list_runs(tmp_path, spec):
    assert list_runs(tmp_path / "none") == []
    first = RunDir.create(tmp_path, spec)
    write_status(first, "running")
    time.sleep(0.01)
    write_status(first, "completed", metrics={"val_loss": 0.25}, epoch=3, step=30)
    second = RunDir.create(tmp_path, ExperimentSpec.from_dict({"name": "other", "parallel": {"strategy": "ddp", "processes": 2}}))
    write_status(second, "running", pid=2 ** 22 + 12345)  # no such process
    (tmp_path / "not-a-run").mkdir()
    rows = list_runs(tmp_path)
    assert [r.id for r in rows] == [second.id, first.id]
    assert rows[0].status == "crashed" and rows[0].strategy == "ddp" and rows[0].processes == 2
    assert rows[1].status == "completed" and rows[1].metrics == {"val_loss": 0.25} and rows[1].duration >= 0
    assert rows[1].name == "digits mlp/1" and rows[1].step == 30
    assert summarize(first.path).id == first.id


def test_list_runs_uses_the_runs_dir_env(tmp_path, spec, monkeypatch):
    monkeypatch.setenv("NETWRIGHT_RUNS_DIR", str(tmp_path / "r"))
    RunDir.create(tmp_path / "r", spec)
    assert len(list_runs()) == 1


# ----------------------------------------------------------------------------- control

def test_control_requests(tmp_path, spec):
    run = RunDir.create(tmp_path, spec)
    assert read_control(run) == "run"
    request_control(run, "pause")
    assert read_control(run) == "pause"
    request_control(run.path, "resume")
    assert read_control(run) == "run"
    with pytest.raises(ValueError, match="unknown control action"):
        request_control(run, "explode")


def test_a_stop_requested_before_a_fresh_run_starts_is_honoured(tmp_path, spec):
    run = RunDir.create(tmp_path, spec)
    request_control(run, "stop")
    reporter = RunReporter(run, poll=0.0)
    try:
        assert reporter.control() == "stop"
    finally:
        reporter.close()


def test_reporter_polls_control_and_clears_stale_requests(tmp_path, spec):
    run = RunDir.create(tmp_path, spec)
    write_status(run, "stopped")
    request_control(run, "stop")  # stale, from an earlier session
    reporter = RunReporter(run, poll=0.0)
    try:
        assert reporter.control() == "run"
        request_control(run, "stop")
        assert reporter.control() == "stop"
        request_control(run, "resume")
        time.sleep(0.01)
        os.utime(run.control_path)  # make sure the mtime changes on coarse clocks
        assert reporter.control() == "run"
        reporter.request_stop()
        assert reporter.control() == "stop"
    finally:
        reporter.close()


def test_a_stop_asked_in_process_outranks_a_prune_and_the_file(tmp_path, spec):
    run = RunDir.create(tmp_path, spec)
    reporter = RunReporter(run, poll=0.0)
    try:
        request_control(run, "pause")
        assert reporter.control() == "pause"
        reporter.request_prune()
        assert reporter.control() == "prune"  # a sweep's pruner outranks the file
        reporter.request_stop()
        reporter.request_prune()
        assert reporter.control() == "stop"  # and a stop (a signal) outranks a prune
    finally:
        reporter.close()


def test_reporter_keeps_status_and_log(tmp_path, spec):
    run = RunDir.create(tmp_path, spec)
    reporter = RunReporter(run)
    reporter.event("status", status="running", step=0)
    reporter.event("log", level="warning", message="careful")
    reporter.event("error", message="boom", traceback="Traceback ...\nValueError: boom", rank=1)
    reporter.event("status", status="failed", message="boom", metrics={"train_loss": 1.0})
    reporter.close()
    assert read_status(run)["status"] == "failed" and read_status(run)["message"] == "boom"
    log = run.log_path.read_text()
    assert "WARNING: careful" in log and "[rank 1] ERROR: boom" in log and "ValueError: boom" in log
    assert [e["type"] for e in read_events(run.events_path)[0]] == ["status", "log", "error", "status"]



def test_reporter_writes_state_events_at_once_and_batches_metrics(tmp_path, spec):
    """A kill right after the start, a status, an epoch, a checkpoint or an error loses none of
    them (issue 16/17: a session killed before its first checkpoint still shows its start);
    per-step metrics wait for the writer's batch."""
    run = RunDir.create(tmp_path, spec)
    reporter = RunReporter(run, flush_interval=3600.0)  # no timer flush during the test
    try:
        reporter.event("metric", step=1, train_loss=1.0)
        assert read_events(run.events_path)[0] == []
        for kind, fields in [("start", {"step": 0, "resumed_from": None}), ("status", {"status": "running", "step": 0}),
                             ("epoch", {"epoch": 1, "step": 20}), ("checkpoint", {"step": 20, "path": "x"}),
                             ("error", {"message": "boom", "traceback": "", "rank": 0})]:
            reporter.event(kind, **fields)
            assert read_events(run.events_path)[0][-1]["type"] == kind
        reporter.event("metric", step=21, train_loss=0.5)
        assert read_events(run.events_path)[0][-1]["type"] == "error"
    finally:
        reporter.close()
    assert [e["type"] for e in read_events(run.events_path)[0]][-1] == "metric"


# ----------------------------------------------------------------------------- checkpoints

def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))


def test_checkpoint_round_trip_and_pruning(tmp_path):
    model = _model()
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(5, 4)).sum().backward()
    opt.step()
    state = {"step": 7, "optimizer": opt.state_dict(), "rng": rng_state(), "metrics": {"val_loss": 0.5}}
    for step in (3, 5, 7):
        folder = save_checkpoint(tmp_path, model.state_dict(), state, step=step, keep=2)
    assert latest_checkpoint(tmp_path) == folder and folder.name == "step-000000007"
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-000000005", "step-000000007"]
    weights, loaded = load_checkpoint(folder)
    for key, value in model.state_dict().items():
        assert torch.equal(weights[key], value)
    assert loaded["step"] == 7 and loaded["metrics"] == {"val_loss": 0.5}
    fresh = torch.optim.Adam(_model().parameters())
    fresh.load_state_dict(loaded["optimizer"])  # loadable with weights_only=True (no pickled objects)
    torch.load(folder / "state.pt", weights_only=True)
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_weights_path_of_a_run(tmp_path):
    assert weights_path(tmp_path) is None
    save_checkpoint(tmp_path / "checkpoints", _model().state_dict(), {}, step=1)
    assert weights_path(tmp_path).name == "model.safetensors"


def test_tied_weights_are_saved(tmp_path):
    emb = torch.nn.Embedding(5, 3)
    head = torch.nn.Linear(3, 5, bias=False)
    head.weight = emb.weight
    model = torch.nn.Sequential(emb, head)
    folder = save_checkpoint(tmp_path, model.state_dict(), {}, step=1)
    weights, _ = load_checkpoint(folder)
    assert torch.equal(weights["0.weight"], weights["1.weight"])


def test_rng_state_round_trip():
    import random

    import numpy as np

    state = rng_state()
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


def test_corrupt_or_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint to resume from") as err:
        load_latest(tmp_path)
    assert str(tmp_path / "checkpoints" / "latest") in str(err.value)
    folder = save_checkpoint(tmp_path / "checkpoints", _model().state_dict(), {"step": 1}, step=1)
    (folder / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="corrupt or incomplete") as err:
        load_latest(tmp_path)
    assert str(folder / "model.safetensors") in str(err.value)
    folder = save_checkpoint(tmp_path / "checkpoints", _model().state_dict(), {"step": 2}, step=2)
    (folder / "state.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(CheckpointError, match="state.pt: is corrupt"):
        load_latest(tmp_path)
    (folder / "state.pt").unlink()
    with pytest.raises(CheckpointError, match="checkpoint state is missing"):
        load_latest(tmp_path)


def test_state_with_pickled_objects_is_refused(tmp_path):
    folder = save_checkpoint(tmp_path, _model().state_dict(), {"step": 1}, step=1)
    torch.save({"step": 1, "obj": fractions.Fraction(1, 3)}, folder / "state.pt")
    with pytest.raises(CheckpointError, match="corrupt or incomplete"):
        load_checkpoint(folder)
