"""Compress page: choose a trained run, edit the default steps (prune -> fine-tune -> quantize) in
their schema forms, compress in a background process, see the before/after table and the
accuracy-vs-size chart with its Pareto front; Cancel keeps no run."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from engine.runs import RunDir
from engine.session import run_training
from engine.spec import ExperimentSpec, LayerSpec, TrackingSpec, TrainingSpec



def trained_run(runs_dir):
    layers = (LayerSpec("Flatten"), LayerSpec("Linear", {"out_features": 32}), LayerSpec("ReLU"),
              LayerSpec("Linear", {"out_features": 0}))
    spec = ExperimentSpec(name="digits_small", training=TrainingSpec(epochs=3, log_every=50),
                          tracking=TrackingSpec(tensorboard=False)).with_layers(layers)
    run = RunDir.create(runs_dir, spec)
    assert run_training(run).status == "completed"
    return run.path


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_compress_flow_table_chart_and_cancel(window, qtbot):
    pytest.importorskip("torchao")  # (the distillation test below needs no compress extra)
    source = trained_run(window.services.runs.runs_dir)
    page = window.show_page("compress")
    assert page.source.currentData() == str(source)
    assert [t.split(":")[0] for t in page.step_texts()] == ["prune", "finetune", "quantize"]
    page.steps.setCurrentRow(1)  # the fine-tune step's form comes from its schema
    assert [p.name for p in page.options.params] == ["epochs", "lr"]
    qtbot.mouseClick(page.findChild(QPushButton, "removeCompressStep"), Qt.MouseButton.LeftButton)
    page.steps.setCurrentRow(0)
    page.options.editor("sparsity").box.setValue(0.6)
    assert page.step_texts() == ["prune:sparsity=0.6,structured=false,scope=global",
                                 "quantize:scheme=int8_dynamic,group_size=128,calibration=256"]

    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    assert page.cancel_button.isEnabled() and not page.start_button.isEnabled()
    qtbot.waitUntil(lambda: page.table.rowCount() > 0, timeout=300_000)
    assert page.problems.isHidden(), page.problems.text()
    rows = {page.table.item(r, 0).text(): page.table.item(r, 3).text() for r in range(page.table.rowCount())}
    assert float(rows["weights file (bytes)"].rstrip("x")) < 0.5  # int8 weights: well under half the size
    assert "val_accuracy" in rows and page.progress.value() == 100
    assert [v.steps for v in page.chart.variants] == [(), tuple(page.step_texts())]  # the source and its variant
    assert len(page.chart.points.data) == 2 and len(page.chart.front_line.xData) >= 1

    # a long fine-tune added after the prune step, cancelled while it trains: no run is kept
    runs_before = {p.name for p in source.parent.iterdir()}
    page.steps.setCurrentRow(0)
    page.kind.setCurrentIndex(page.kind.findData("finetune"))
    qtbot.mouseClick(page.findChild(QPushButton, "addCompressStep"), Qt.MouseButton.LeftButton)
    page.options.editor("epochs").box.setValue(500)
    assert [t.split(":")[0] for t in page.step_texts()] == ["prune", "finetune", "quantize"]
    assert page.step_texts()[1] == "finetune:epochs=500,lr=0.0"
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.status.text().startswith(("step 2/3", "fine-tuning")), timeout=120_000)
    qtbot.mouseClick(page.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.status.text().startswith("cancelled"), timeout=120_000)
    assert {p.name for p in source.parent.iterdir()} == runs_before
    assert page.start_button.isEnabled() and not page.cancel_button.isEnabled()


def test_a_refused_option_value_blocks_compress_until_mended(window, qtbot):
    trained_run(window.services.runs.runs_dir)
    page = window.show_page("compress")
    page.steps.setCurrentRow(2)  # quantize (int8_dynamic)
    page.options.editor("calibration").box.setValue(5)  # only used by int8_static
    assert page.problems.isVisible() and "quantize.calibration" in page.problems.text()
    assert page.step_texts()[2] == "quantize:scheme=int8_dynamic,group_size=128,calibration=256"
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    assert not page.job.running and page.problems.isVisible()  # nothing ran with the old value
    page.options.editor("calibration").box.setValue(256)
    assert page.problems.isHidden() and not page._refused


def test_train_page_sets_up_distillation(window, tmp_path):
    """[distill] has a form on the Train page; the teacher is a folder (run directory) chooser."""
    page = window.show_page("train")
    form = page.forms["distill"]
    assert [p.name for p in form.params] == ["teacher", "temperature", "alpha", "cache"]
    teacher = form.editor("teacher")
    assert teacher.wants_folder
    teacher.ask_path = lambda: str(tmp_path)
    teacher.browse()
    assert window.document.spec.distill.teacher == str(tmp_path)
    form.editor("alpha").box.setValue(0.8)
    assert window.document.spec.distill.alpha == 0.8


def test_closing_while_compressing_cancels_twice_rather_than_kill(window, monkeypatch):
    """Closing the window cancels a running compression; if it is still training after 5 s, a
    second SIGTERM interrupts the step (the command then removes its run), never a kill."""
    page = window.show_page("compress")
    calls = []

    class Busy:
        running = True

        def cancel(self):
            calls.append("cancel")

        def wait(self, ms):
            calls.append(f"wait {ms}")
            return calls.count("cancel") > 1  # the first SIGTERM is not enough

    monkeypatch.setattr(page, "job", Busy())
    assert page.can_close()
    assert calls == ["cancel", "wait 5000", "cancel", "wait 5000"]
