"""The trainer's prune hook (what a sweep's pruner uses): after the decision the run stops within
its next step, with status "pruned" and a checkpoint; rank agreement carries "prune" too."""
from __future__ import annotations

from pathlib import Path

from engine.rank import CONTROL_CODES
from engine.runs import RunDir, read_control, read_status, request_control
from engine.session import run_training
from engine.spec import ExperimentSpec, LayerSpec, TrainingSpec
from engine.sweep.trial import EpochReporter


class Answer:
    """A driver stand-in: prune at `epoch`."""

    def __init__(self, epoch: int):
        self.epoch, self.asked = epoch, []

    def ask(self, report):
        self.asked.append(report)
        return "prune" if report["epoch"] >= self.epoch else "run"


def test_a_pruned_run_stops_within_an_epoch_with_its_checkpoint(tmp_path):
    spec = ExperimentSpec(name="prune", training=TrainingSpec(epochs=5, log_every=5, checkpoint_every=0)).with_layers(
        (LayerSpec("Flatten"), LayerSpec("Linear", {"out_features": 0})))
    run = RunDir.create(tmp_path, spec)
    answer = Answer(epoch=2)
    observer = EpochReporter(answer, "val_accuracy")
    result = run_training(run, observers=(observer,), on_reporter=observer.attach)
    assert result.status == "pruned" and result.checkpoint
    assert [r["epoch"] for r in answer.asked] == [1, 2] and all(0 <= r["value"] <= 1 for r in answer.asked)
    status = read_status(run)
    assert status["status"] == "pruned" and status["epoch"] == 2
    assert result.steps <= 2 * 23 + 1  # the decision after epoch 2 takes effect at the next step
    assert Path(result.checkpoint).is_dir()  # the checkpoint is kept


def test_prune_is_a_control_action_all_ranks_agree_on(tmp_path):
    request_control(tmp_path, "prune")
    assert read_control(tmp_path) == "prune" and CONTROL_CODES["prune"] not in (0, 1, 2)
