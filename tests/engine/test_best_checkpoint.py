"""The run's best checkpoint: the trainer records it when the watched validation metric improves
(scripted here through a fake `_validate`), it survives the keep-2 pruning, and `explain
--checkpoint best` / load_trained(run, "best") load exactly those weights."""
from __future__ import annotations

import json

import pytest
import torch

from engine.checkpoint import BEST, best_checkpoint, best_info, latest_checkpoint, load_weights
from engine.cli import main as cli
from engine.interpret.loading import load_trained
from engine.paths import EXAMPLES
from engine.problems import SpecError
from engine.runs import RunDir
from engine.session import prepare
from engine.spec import apply_overrides, load_spec
from engine.trainer import _Loop, train
from tests.engine.test_trainer import FakeReporter


def scripted_run(tmp_path, monkeypatch, values, metric="val_loss"):
    """Train wine_mlp for len(values) epochs (checkpoint every epoch) with validation reporting
    `values[epoch - 1]` for `metric`. Returns (run, reporter, weights after each epoch)."""
    spec = apply_overrides(load_spec(EXAMPLES / "wine_mlp.toml"), [
        f"training.epochs={len(values)}", "training.checkpoint_every=1", "training.log_every=100",
        f"regularization.early_stopping_metric={metric}"])
    after_epoch: dict[int, dict[str, torch.Tensor]] = {}

    def fake_validate(loop):
        after_epoch[loop.epoch] = {k: v.detach().clone() for k, v in loop.raw_model.state_dict().items()}
        other = "val_accuracy" if metric != "val_accuracy" else "val_loss"
        return {metric: values[loop.epoch - 1], other: 0.5}

    monkeypatch.setattr(_Loop, "_validate", fake_validate)
    run = RunDir.create(tmp_path, spec)
    dataset, model = prepare(spec)
    rep = FakeReporter()
    assert train(spec, dataset, model, rep, run=run).status == "completed"
    return run, rep, after_epoch


def assert_same(state, expected):
    assert state.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(state[key], value), key


def test_best_follows_val_loss_and_explain_loads_it(tmp_path, monkeypatch, capsys):
    run, rep, after_epoch = scripted_run(tmp_path, monkeypatch, [1.0, 0.5, 0.8, 0.9])
    best = best_checkpoint(run.checkpoints)
    info = best_info(best)
    assert info["epoch"] == 2 and info["metric"] == "val_loss" and info["value"] == 0.5
    assert_same(load_weights(best / "model.safetensors"), after_epoch[2])
    # the checkpoint events: one regular per epoch (best false), a best one at epochs 1 and 2
    events = rep.of("checkpoint")
    assert [e["epoch"] for e in events if e["best"]] == [1, 2]
    assert [e["epoch"] for e in events if not e["best"]] == [1, 2, 3, 4]
    last_best = [e for e in events if e["best"]][-1]
    assert last_best["path"] == f"checkpoints/{best.name}" and last_best["value"] == 0.5
    assert last_best["metric"] == "val_loss" and last_best["step"] == info["step"]
    # the keep-2 rule pruned epochs 1 and 2 but not the best; only one best folder is kept
    regular = sorted(p.name for p in run.checkpoints.glob("step-*"))
    assert len(regular) == 2 and regular[-1] == latest_checkpoint(run.checkpoints).name
    assert [p.name for p in run.checkpoints.glob("best-*")] == [best.name]
    # load_trained and the explain command use those weights, not the latest ones
    trained = load_trained(run.path, "best")
    assert trained.checkpoint == best
    assert_same({k: v for k, v in trained.model.state_dict().items()}, after_epoch[2])
    latest = load_trained(run.path, "latest")
    assert not all(torch.equal(latest.model.state_dict()[k], v) for k, v in after_epoch[2].items())
    out = tmp_path / "explained"
    assert cli(["explain", str(run.path), "--checkpoint", "best", "--method", "Saliency", "--samples", "1",
                "--out", str(out)]) == 0, capsys.readouterr().err
    assert json.loads((out / "summary.json").read_text())["checkpoint"] == str(best)


@pytest.mark.parametrize("metric, values, epoch", [
    ("val_accuracy", [0.5, 0.6, 0.9, 0.7], 3),  # higher is better
    ("val_error", [0.3, 0.2, 0.25, 0.4], 2),    # lower is better
    ("val_loss", [0.4, 0.6, 0.7, 0.8], 1),      # best at the first epoch, long since pruned from step-*
])
def test_best_uses_the_watched_metric(tmp_path, monkeypatch, metric, values, epoch):
    run, rep, after_epoch = scripted_run(tmp_path, monkeypatch, values, metric)
    best = best_checkpoint(run.checkpoints)
    assert best_info(best)["epoch"] == epoch and best_info(best)["value"] == values[epoch - 1]
    assert_same(load_weights(best / "model.safetensors"), after_epoch[epoch])
    assert rep.of("checkpoint")[-1]["best"] is False  # the final checkpoint comes after the last best


def test_a_run_without_best_names_the_run_and_suggests_latest(tmp_path, monkeypatch, capsys):
    spec = apply_overrides(load_spec(EXAMPLES / "wine_mlp.toml"), ["training.epochs=1"])
    monkeypatch.setattr(_Loop, "_validate", lambda loop: {})  # no validation metric: nothing to rank
    run = RunDir.create(tmp_path, spec)
    dataset, model = prepare(spec)
    rep = FakeReporter()
    train(spec, dataset, model, rep, run=run)
    assert best_checkpoint(run.checkpoints) is None and latest_checkpoint(run.checkpoints) is not None
    assert all(not e["best"] for e in rep.of("checkpoint"))
    with pytest.raises(SpecError) as err:
        load_trained(run.path, "best")
    message = str(err.value)
    assert run.path.name in message and "no best checkpoint" in message and "use latest" in message
    assert str(run.checkpoints / BEST) in message
    assert cli(["explain", str(run.path), "--checkpoint", "best", "--out", str(tmp_path / "x")]) == 2
    assert "use latest" in capsys.readouterr().err


def test_a_best_pointer_to_a_missing_folder_is_no_best(tmp_path):
    (tmp_path / BEST).write_text("best-000000010\n")
    assert best_checkpoint(tmp_path) is None
    (tmp_path / "best-000000010").mkdir()  # folder without weights: incomplete
    assert best_checkpoint(tmp_path) is None


def test_resume_keeps_the_best_so_far(tmp_path, monkeypatch):
    """Stopped in epoch 3 (after the best epoch 2) and resumed: epoch 3 and 4 are worse than the
    restored best, so the best stays epoch 2's and the resumed session writes no new best."""
    values = [1.0, 0.5, 0.8, 0.9]
    spec = apply_overrides(load_spec(EXAMPLES / "wine_mlp.toml"), ["training.epochs=4", "training.log_every=100"])
    monkeypatch.setattr(_Loop, "_validate", lambda loop: {"val_loss": values[loop.epoch - 1], "val_accuracy": 0.5})
    run = RunDir.create(tmp_path, spec)
    dataset, model = prepare(spec)
    first = train(spec, dataset, model, FakeReporter(script={22: "stop"}), run=run)
    assert first.status == "stopped" and 2 < first.epochs < 3
    best = best_checkpoint(run.checkpoints)
    saved = load_weights(best / "model.safetensors")
    rep = FakeReporter()
    _, fresh = prepare(spec)
    assert train(spec, dataset, fresh, rep, run=run, resume=True).status == "completed"
    assert not [e for e in rep.of("checkpoint") if e["best"]]
    assert best_checkpoint(run.checkpoints) == best and best_info(best)["epoch"] == 2
    assert_same(load_weights(best / "model.safetensors"), saved)
