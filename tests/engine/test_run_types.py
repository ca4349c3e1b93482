"""The typed run directory: event dataclasses and their one (de)serialiser, Status, metric names."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from engine import metrics
from engine.event_types import EVENT_CLASSES, ENVELOPE, EpochEvent, ErrorEvent, StartEvent, UnknownEvent, decode
from engine.events import EventWriter, read_events
from engine.runs import RunDir, Status, load_status, read_status, write_status
from engine.spec import ExperimentSpec

README = Path(__file__).resolve().parents[2] / "README.md"


def test_typed_events_round_trip_through_the_file(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventWriter(path) as writer:
        writer.emit(StartEvent(epochs=2, steps_per_epoch=5, resumed_from=None, extra={"future_field": 1}))
        writer.emit(ErrorEvent(message="boom", traceback="", rank=1))
        writer.event("epoch", epoch=1, step=5, train_loss=0.5, val_loss=0.4, val_accuracy=0.9, lr=0.1)
    records = read_events(path)[0]
    start, error, epoch = (decode(r) for r in records)
    assert isinstance(start, StartEvent) and start.epochs == 2 and start.resumed_from is None
    assert "resumed_from" in records[0] and "batch_size" not in records[0]  # documented null kept, unset left out
    assert start.extra == {"future_field": 1} and start.seq == 0
    assert error.message == "boom" and error.rank == 1 and error.seq == 1
    assert isinstance(epoch, EpochEvent) and epoch.val_accuracy == 0.9 and epoch.val_error is None
    assert {k: v for k, v in epoch.record().items() if k != "time"} == {k: v for k, v in records[2].items() if k != "time"}
    unknown = decode({"v": 1, "seq": 9, "time": 1.0, "type": "novel", "x": 2})
    assert isinstance(unknown, UnknownEvent) and unknown.extra["x"] == 2


def test_readme_documents_every_event_type_and_field():
    text = README.read_text(encoding="utf-8")
    for name, cls in EVENT_CLASSES.items():
        row = re.search(rf"^\| `{name}` \|(.*)$", text, flags=re.M)
        assert row, f"README's events table has no row for {name!r}"
        fields = [f.name for f in dataclasses.fields(cls) if f.name not in ("seq", "time", "extra")]
        missing = [f for f in fields if f"`{f}`" not in row.group(1)]
        assert not missing, f"README's {name!r} row does not name {missing}"
    for field in ENVELOPE:
        assert f"| `{field}` |" in text


def test_status_keeps_unknown_fields_and_its_format(tmp_path):
    run = RunDir.create(tmp_path, ExperimentSpec.from_dict({"name": "s", "data": {"source": "digits"}}))
    write_status(run, "running", sweep_trial=3)
    status = load_status(run)
    assert isinstance(status, Status) and status.status == "running" and status.extra["sweep_trial"] == 3
    assert read_status(run)["sweep_trial"] == 3 and read_status(run)["name"] == "s"
    assert Status.from_dict(status.to_dict()) == status
    assert load_status(tmp_path / "nowhere").status == "" and read_status(tmp_path / "nowhere") == {}


def test_metric_names_are_one_registry():
    assert metrics.QUALITY["regression"] == metrics.VAL_ERROR
    assert metrics.improved(metrics.VAL_ACCURACY, 0.9, 0.8) and not metrics.improved(metrics.VAL_LOSS, 0.9, 0.8)
    assert metrics.improved(metrics.VAL_ERROR, 0.1, None)
    assert metrics.format_metrics({"val_loss": 0.5, "lr": 1.0, "train_loss": "nan"}) == "val_loss 0.5000"
    from engine.schedulers import SCHEDULERS
    from engine.spec import RegularizationSpec

    watched = next(p for p in SCHEDULERS.get("plateau").params if p.name == "metric")
    assert tuple(watched.choices) == metrics.WATCHABLE
    assert RegularizationSpec().early_stopping_metric == metrics.VAL_LOSS


@pytest.mark.parametrize("name", sorted(metrics.METRICS))
def test_every_metric_has_a_label(name):
    assert metrics.METRICS[name].label and metrics.METRICS[name].name == name
