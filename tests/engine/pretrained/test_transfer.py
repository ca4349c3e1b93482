"""Real transfer: a resnet18 first trained on one image folder (stripes at four angles) is the
pretrained source of a run on a related, much smaller folder (stripes at three angles, other periods
and noise); with its backbone frozen and a new head it reaches a higher validation accuracy in 2 epochs
than the same architecture from random weights. The runs are ordinary run directories (weights =
"run"), so this also covers the load report, frozen weights staying put, and reopening a fine-tuned
run without its source."""
from __future__ import annotations

import json
import shutil

import pytest

from tests.engine.pretrained.tiny import need_pretrained_extra

need_pretrained_extra()

import torch  # noqa: E402

from engine.checkpoint import best_checkpoint, latest_checkpoint, load_weights  # noqa: E402
from engine.runs import RunDir  # noqa: E402
from engine.session import run_training  # noqa: E402
from engine.spec import ExperimentSpec  # noqa: E402
from engine.trained import load_run_model  # noqa: E402
from tests.engine.pretrained.images import stripes_folder  # noqa: E402

# three small resnet18 trainings, about 40 s on 2 loaded cores: in one xdist worker, so the module's
# fixture trains them once
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("transfer")]


def _spec(name, folder, block, *, epochs, lr, batch, val_fraction):
    return ExperimentSpec.from_dict({
        "name": name, "seed": 0,
        "data": {"source": "image_folder", "path": str(folder), "size": 32, "batch_size": batch,
                 "val_fraction": val_fraction},
        "model": {"layers": [{"type": "Pretrained", "model": "resnet18", **block}, {"type": "Linear", "out_features": 0}]},
        "optimizer": {"name": "adam", "lr": lr},
        "training": {"epochs": epochs, "device": "cpu", "log_every": 5},
        "tracking": {"tensorboard": False},
    })


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("transfer")
    source = stripes_folder(tmp / "angles4", {"a0": 0, "a45": 45, "a90": 90, "a135": 135}, 80, seed=1,
                            period=(4.0, 8.0))
    target = stripes_folder(tmp / "angles3", {"h": 0, "d": 45, "v": 90}, 16, seed=2, period=(5.0, 10.0), noise=0.4)
    first = RunDir.create(tmp / "runs", _spec("first", source, {"weights": "random"}, epochs=4, lr=1e-3, batch=10,
                                              val_fraction=0.2))
    assert run_training(first).status == "completed"
    tuned = RunDir.create(tmp / "runs", _spec("tuned", target, {"weights": "run", "weights_path": str(first.path),
                                                                "freeze": "all"},
                                              epochs=2, lr=1e-2, batch=4, val_fraction=0.5))
    scratch = RunDir.create(tmp / "runs", _spec("scratch", target, {"weights": "random"},
                                                epochs=2, lr=1e-3, batch=4, val_fraction=0.5))
    results = {name: run_training(run) for name, run in (("tuned", tuned), ("scratch", scratch))}
    return first, tuned, results


def test_a_frozen_backbone_from_a_related_run_beats_random_weights(runs):
    _, _, results = runs
    tuned, scratch = results["tuned"].metrics["val_accuracy"], results["scratch"].metrics["val_accuracy"]
    assert tuned > scratch, (tuned, scratch)
    assert tuned > 0.5  # 3 classes: chance is 1/3


def test_the_run_logs_what_was_loaded_skipped_and_new(runs):
    first, tuned, _ = runs
    events = [json.loads(line) for line in tuned.events_path.read_text().splitlines()]
    report = next(e["pretrained"] for e in events if e["type"] == "log" and "pretrained" in e)
    assert report["prefix"] == "pretrained_1.net." and report["new"] == []
    assert report["skipped"] == ["linear_1.bias", "linear_1.weight"]  # the first run's own head
    assert len(report["loaded"]) == 120 and "layer4.1.bn2.running_mean" in report["loaded"]
    assert str(first.path) in report["source"]


def test_frozen_weights_and_statistics_stay_as_loaded(runs):
    first, tuned, _ = runs
    source = load_weights(best_checkpoint(first.checkpoints) / "model.safetensors")
    after = load_weights(latest_checkpoint(tuned.checkpoints) / "model.safetensors")
    backbone = [k for k in after if k.startswith("pretrained_1.")]
    assert backbone and all(torch.equal(after[k], source[k]) for k in backbone)
    assert not torch.equal(after["linear_1.weight"][:, :4], source["linear_1.weight"][:3, :4])


def test_a_fine_tuned_run_opens_without_its_source(runs, tmp_path):
    first, tuned, _ = runs
    moved = tmp_path / "away"
    shutil.move(str(first.path), moved)  # the source run is gone: explain/export still rebuild the model
    try:
        model = load_run_model(tuned.path, "latest").model
        assert model.pretrained_1.frozen and sum(p.numel() for p in model.parameters()) > 11_000_000
    finally:
        shutil.move(str(moved), str(first.path))
