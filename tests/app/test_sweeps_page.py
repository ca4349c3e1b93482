"""Sweeps page: set up from the current spec, bad setups named, a real sweep watched live,
a trial opened in Monitor and its settings used in the builder."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from engine.spec import ExperimentSpec, LayerSpec, TrackingSpec, TrainingSpec

pytest.importorskip("optuna")


def tiny_spec() -> ExperimentSpec:
    """Digits, a small MLP, two short epochs, no TensorBoard: a trial takes a few seconds (mostly start-up)."""
    layers = (LayerSpec("Flatten"), LayerSpec("Linear", {"out_features": 16}), LayerSpec("ReLU"),
              LayerSpec("Linear", {"out_features": 0}))
    spec = ExperimentSpec(name="digits_tiny", training=TrainingSpec(epochs=2, log_every=5, checkpoint_every=0),
                          tracking=TrackingSpec(tensorboard=False))
    return spec.with_layers(layers)


@pytest.fixture
def page(window, qtbot):
    window.document.reset(tiny_spec())
    page = window.show_page("sweeps")
    yield page
    page._validator.wait()
    if page.watch is not None and page.proc is not None and page.proc.poll() is None:
        page.stop()
        page.proc.wait(120)


def test_the_setup_offers_the_spec_options_and_names_problems(page, qtbot):
    assert page.params.rowCount() == 1 and page.params.table() == {"optimizer.lr": {"low": 0.0001, "high": 0.01, "log": True}}
    offered = [page.params.cellWidget(0, 0).itemData(i) for i in range(page.params.cellWidget(0, 0).count())]
    assert "model.layers[1].out_features" in offered and "training.device" not in offered
    page.sampler.setCurrentIndex(page.sampler.findData("grid"))  # a grid over an unstepped log range
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.problems.isVisible(), timeout=30_000)
    assert "sweep.params.optimizer.lr" in page.problems.text() and "finite list of points" in page.problems.text()
    assert page.watch is None  # nothing started


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_sweep_runs_in_the_background_and_its_trials_open(page, window, qtbot):
    page.params.add_row("model.layers[1].out_features", {"low": 8, "high": 32, "step": 8})
    page.trials.setValue(4)
    page.concurrency.setValue(2)
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.watch is not None, timeout=60_000)
    assert page.proc is not None and page.proc.pid  # the driver is its own process
    qtbot.waitUntil(lambda: page.watch.status.get("effective") == "completed", timeout=600_000)
    page.poll()
    assert page.model.rowCount() == 4
    states = {page.model.item(r, 1).text() for r in range(page.model.rowCount())}
    assert states == {"completed"}
    assert len(page.curves.curves) == 4 and all(len(c.xData) == 2 for c in page.curves.curves.values())
    assert page.parallel.lines  # axes and one line per trial
    assert set(dict(page.importances.rows)) == {"optimizer.lr", "model.layers[1].out_features"}
    best = page.watch.best()
    assert best.number in page.curves.curves and "best" in page.summary.text()
    page.proxy.sort(2, Qt.SortOrder.DescendingOrder)  # sortable by the metric: the best on top
    assert page.proxy.index(0, 0).data(Qt.ItemDataRole.UserRole + 2) == best.number
    page.select_trial(best.number)
    page.use_settings()
    spec = window.document.spec
    assert spec.optimizer.options["lr"] == pytest.approx(best.params["optimizer.lr"])
    assert spec.model.layers[1].params["out_features"] == best.params["model.layers[1].out_features"]
    assert spec.name == "digits_tiny"
    window.document.undo_stack.undo()  # one undoable edit
    assert window.document.spec == tiny_spec()
    window.show_page("sweeps")
    page.select_trial(best.number)
    page.open_in_monitor()
    monitor = window.page("monitor")
    qtbot.waitUntil(lambda: str(getattr(monitor, "run_dir", "")) == str(page.watch.run_path(best.number)), timeout=30_000)


def test_sampler_and_pruner_options_come_from_their_schemas(page):
    page.pruner.setCurrentIndex(page.pruner.findData("median"))
    assert set(page.pruner_form.values()) == {"n_startup_trials", "n_warmup_steps", "interval_steps"}
    page.pruner_form.set_values({"n_startup_trials": 2})
    page.sampler.setCurrentIndex(page.sampler.findData("random"))
    assert page.sampler_form.isHidden()  # random has no options
    table = page.sweep_table()
    assert table["pruner"] == "median" and table["pruner_options"]["n_startup_trials"] == 2
    assert table["sampler"] == "random" and table["sampler_options"] == {}
