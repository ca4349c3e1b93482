"""Train page: forms from the registries, undoable edits, LR preview, plan panel, problems block
Train, multi-node commands with a copy button, and Train starting a run in the Monitor."""
from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from app.pages.train import TrainPage
from tests.app.test_monitor_page import fake_launcher


@pytest.fixture
def window(window):
    """The shared window; teardown waits for the Train page's planner."""
    yield window
    window.page("train")._planner.wait()


def ready(qtbot, page: TrainPage) -> None:
    """Wait until the plan shown is the plan of the current spec."""
    qtbot.waitUntil(lambda: page.plan is not None and page.plan.spec == page.document.spec
                    and not page._plan_timer.isActive() and not page._planner.pending, timeout=60_000)


def edit(page: TrainPage, section: str, name: str, value) -> None:
    """Change one field as the user would: through its editor widget."""
    editor = page.forms[section].editor(name)
    editor.set_value(value)
    editor.changed.emit(value)


def test_forms_come_from_the_registries_and_edits_are_undoable(qtbot, window):
    page = window.show_page("train")
    ready(qtbot, page)
    from engine.optim import OPTIMIZERS

    combo = page.forms["optimizer"].editor("name").box
    assert [combo.itemText(i) for i in range(combo.count())] == OPTIMIZERS.names()
    assert {"lr", "beta1", "beta2"} <= {p.name for p in page.forms["optimizer"].params}
    edit(page, "optimizer", "name", "sgd")
    assert window.document.spec.optimizer.name == "sgd"
    assert "momentum" in {p.name for p in page.forms["optimizer"].params}  # the form follows the entry
    edit(page, "training", "epochs", 3)
    assert window.document.spec.training.epochs == 3
    window.document.undo_stack.undo()
    assert window.document.spec.training.epochs != 3
    assert page.forms["training"].editor("epochs").value() == window.document.spec.training.epochs


def test_lr_preview_follows_the_schedule(qtbot, window):
    page = window.show_page("train")
    ready(qtbot, page)
    edit(page, "scheduler", "name", "cosine")
    ready(qtbot, page)
    rates = page.lr_preview.rates
    assert len(rates) > 10 and rates[-1] < rates[0] / 10  # cosine decays
    assert page.plan.total_steps == page.plan.steps_per_epoch * window.document.spec.training.epochs
    assert "steps" in page.lr_preview.caption.text()


def test_plan_shows_batch_steps_memory_and_devices(qtbot, window):
    page = window.show_page("train")
    ready(qtbot, page)
    panel = window.findChild(type(page.plan_panel), "planPanel")
    assert panel is page.plan_panel
    spec = window.document.spec
    assert panel.values["globalBatch"].text().startswith(f"{spec.data.batch_size:,}")
    assert f"{page.plan.steps_per_epoch:,} per epoch" in panel.values["steps"].text()
    assert "MiB per device" in panel.values["memory"].text()
    assert "CPU core" in panel.values["devices"].text()
    assert page.train_button.isEnabled()


def test_a_problem_disables_train_until_fixed(qtbot, window):
    page = window.show_page("train")
    ready(qtbot, page)
    edit(page, "parallel", "processes", 4)  # strategy none with 4 processes
    ready(qtbot, page)
    assert not page.train_button.isEnabled()
    texts = [page.plan_panel.problems.item(i).text() for i in range(page.plan_panel.problems.count())]
    assert any(t.startswith("Parallel · parallel.") for t in texts)  # each problem under its section
    edit(page, "parallel", "processes", 1)
    ready(qtbot, page)
    assert page.train_button.isEnabled()


def test_multi_node_commands_with_copy_button(qtbot, window):
    page = window.show_page("train")
    ready(qtbot, page)
    spec = window.document.spec
    par = dataclasses.replace(spec.parallel, strategy="ddp", nnodes=2, rdzv_endpoint="10.0.0.1:29500")
    window.document.edit(dataclasses.replace(spec, parallel=par), "two nodes")
    ready(qtbot, page)
    panel = page.plan_panel
    assert panel.commands.isVisible()
    lines = panel.commands.toPlainText().splitlines()
    assert len(lines) == 2 and "--node-rank 1" in lines[1] and "10.0.0.1:29500" in lines[1]
    qtbot.mouseClick(panel.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == panel.commands.toPlainText()


def test_train_starts_a_run_and_switches_to_monitor(qtbot, window):
    page = window.show_page("train")
    ready(qtbot, page)
    monitor = window.page("monitor")
    monitor.run_service.launcher = fake_launcher("--steps", "30", "--delay", "0.001")
    qtbot.mouseClick(page.train_button, Qt.MouseButton.LeftButton)
    assert window.current_page_key() == "monitor"
    assert monitor.run_dir is not None and monitor.run_dir.parent == window.runs_dir
    qtbot.waitUntil(lambda: monitor.status == "completed", timeout=20_000)
    from engine.spec import load_spec

    assert load_spec(monitor.run_dir / "spec.toml") == window.document.spec
    monitor._shutdown()
