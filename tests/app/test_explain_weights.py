"""The Explain page's Weights box: latest or the run's best checkpoint (the worker is faked: this
checks which weights the page asks the worker for, and what it says when a run has no best);
and a best checkpoint alone does not make a run resumable."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from engine.checkpoint import save_best, save_checkpoint


def fake_run(root: Path, name: str, *, best: bool) -> Path:
    run = root / name
    state = {"w": torch.zeros(2)}
    save_checkpoint(run / "checkpoints", state, {"step": 20}, step=20)
    if best:
        save_best(run / "checkpoints", state, step=10, epoch=1, metric="val_loss", value=0.25)
    return run


@pytest.fixture
def page(qtbot, styled_app, tmp_path, monkeypatch):
    from app.pages.explain import ExplainPage

    page = ExplainPage(SimpleNamespace(runs_dir=tmp_path / "none"))
    qtbot.addWidget(page)
    opened = []

    def fake_open(run_dir, checkpoint="latest"):
        page.client.run_dir, page.client.checkpoint, page.client.state = Path(run_dir), checkpoint, "ready"
        opened.append((Path(run_dir).name, checkpoint))

    monkeypatch.setattr(page.client, "open", fake_open)
    page.opened = opened
    return page


def labels(combo):
    return [combo.itemText(i) for i in range(combo.count())]


def test_best_weights_are_offered_with_their_metric_and_opened(page, tmp_path):
    run = fake_run(tmp_path, "with_best", best=True)
    page.open_run(run)
    combo = page.weights_combo
    assert labels(combo) == ["latest", "best — val_loss 0.25 at epoch 1"]
    assert page.opened == [("with_best", "latest")]
    combo.setCurrentIndex(1)
    combo.activated.emit(1)  # as a user picking it
    assert page.opened[-1] == ("with_best", "best")


def test_a_run_without_best_says_so_and_stays_on_latest(page, tmp_path):
    with_best, without = fake_run(tmp_path, "with_best", best=True), fake_run(tmp_path, "no_best", best=False)
    page.open_run(with_best, "best")
    page.open_run(without)  # the Weights box showed best: this run has none, so latest is opened
    assert page.opened == [("with_best", "best"), ("no_best", "latest")]
    assert labels(page.weights_combo) == ["latest", "best (none saved)"]
    page.weights_combo.setCurrentIndex(1)
    page.weights_combo.activated.emit(1)
    assert page.opened[-1] == ("no_best", "latest") and len(page.opened) == 2  # nothing new opened
    assert page.weights_combo.currentData() == "latest"
    assert "no_best keeps no best checkpoint" in page.status.text() and "use latest" in page.status.text()


def test_a_best_checkpoint_alone_does_not_offer_resume(tmp_path):
    from app.services.run_service import has_checkpoint

    run = tmp_path / "only_best"
    save_best(run / "checkpoints", {"w": torch.zeros(2)}, step=10, epoch=1, metric="val_loss", value=0.25)
    assert not has_checkpoint(run)  # resuming needs a step-* checkpoint with training state
    save_checkpoint(run / "checkpoints", {"w": torch.zeros(2)}, {"step": 20}, step=20)
    assert has_checkpoint(run)
