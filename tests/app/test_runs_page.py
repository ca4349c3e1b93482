"""Runs page: listing (GUI and CLI runs alike), sort, filter, overlay, open, clone and edit, delete."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.pages.runs import COLUMNS, RunsPage
from engine import runs
from engine.spec import ExperimentSpec, load_spec
from tests.app import fake_worker

NAME, STATUS = 0, 1


def make_run(runs_dir: Path, name: str, steps: int, *, lr: float = 1e-3) -> Path:
    """A finished run written exactly as a worker writes it (the stand-in worker, in-process)."""
    spec = ExperimentSpec(name=name, optimizer=ExperimentSpec().optimizer.__class__(name="sgd", options={"lr": lr}))
    run = runs.RunDir.create(runs_dir, spec)
    assert fake_worker.main([str(run.path), "--steps", str(steps), "--steps-per-epoch", "10", "--delay", "0"]) == 0
    return run.path


def make_crashed_run(runs_dir: Path) -> Path:
    run = runs.RunDir.create(runs_dir, ExperimentSpec(name="lost"))
    runs.write_status(run, "running", pid=2 ** 22 + 12345)  # no such process
    return run.path


@pytest.fixture
def window(window):
    """The shared window; teardown waits for the Runs page's background calls."""
    yield window
    page = window.page("runs")
    for call in (page._lister, page._loader, page._deleter):
        call.wait()


def table_column(page: RunsPage, column: int) -> list[str]:
    model = page.table.model()
    return [model.index(row, column).data() for row in range(model.rowCount())]


def show_runs(qtbot, window, count: int) -> RunsPage:
    page = window.show_page("runs")
    qtbot.waitUntil(lambda: page.table.model().rowCount() == count, timeout=10_000)
    return page


def test_lists_every_run_with_status_and_metrics(qtbot, window, tmp_path):
    runs_dir = tmp_path / "runs"
    make_run(runs_dir, "alpha", 30)
    make_run(runs_dir, "beta", 20)
    make_crashed_run(runs_dir)
    page = show_runs(qtbot, window, 3)
    assert window.findChild(type(page.table), "runsTable") is page.table
    statuses = dict(zip(table_column(page, NAME), table_column(page, STATUS)))
    assert statuses == {"alpha": "completed", "beta": "completed", "lost": "crashed"}
    headers = [c[0] for c in COLUMNS]
    losses = dict(zip(table_column(page, NAME), table_column(page, headers.index("Train loss"))))
    assert losses["alpha"] == "0.1" and losses["lost"] == "—"  # final metrics from status.json
    # sort by name, both ways
    page.table.sortByColumn(NAME, Qt.SortOrder.AscendingOrder)
    assert table_column(page, NAME) == ["alpha", "beta", "lost"]
    page.table.sortByColumn(NAME, Qt.SortOrder.DescendingOrder)
    assert table_column(page, NAME) == ["lost", "beta", "alpha"]
    # free-text and status filters
    qtbot.keyClicks(page.filter_edit, "ALP")
    assert table_column(page, NAME) == ["alpha"]
    page.filter_edit.clear()
    page.status_combo.setCurrentIndex(page.status_combo.findData("crashed"))
    assert table_column(page, NAME) == ["lost"]


def test_overlay_two_runs_in_one_plot_with_legend(qtbot, window, tmp_path):
    a = make_run(tmp_path / "runs", "first", 30)
    b = make_run(tmp_path / "runs", "second", 50, lr=0.1)
    page = show_runs(qtbot, window, 2)
    page.select_paths([a, b])
    qtbot.waitUntil(lambda: len(page.overlay.sources()) == 2 and ("Comparing" in page.overlay_hint.text()),
                    timeout=10_000)
    page.overlay.flush()
    curves = page.overlay._curves
    assert (str(a), "train_loss") in curves and (str(b), "train_loss") in curves
    assert curves[(str(a), "train_loss")].color != curves[(str(b), "train_loss")].color
    legend = page.overlay.plot("loss").getPlotItem().legend
    labels = [label.text for _, label in legend.items]
    assert "first" in labels and "second" in labels and "dashed: validation" in labels
    assert len(curves[(str(b), "train_loss")].raw.getData()[0]) == 50


def test_open_shows_the_run_read_only_in_monitor(qtbot, window, tmp_path):
    path = make_run(tmp_path / "runs", "finished", 30)
    page = show_runs(qtbot, window, 1)
    page.select_paths([path])
    qtbot.mouseClick(page.open_button, Qt.MouseButton.LeftButton)
    monitor = window.page("monitor")
    assert window.current_page_key() == "monitor" and monitor.run_dir == path
    qtbot.waitUntil(lambda: monitor.status == "completed", timeout=10_000)
    qtbot.waitUntil(lambda: "train_loss" in monitor.plots.store().series, timeout=5_000)
    assert len(monitor.plots.store().series["train_loss"]) == 30
    assert not monitor.stop_button.isEnabled() and not monitor.pause_button.isEnabled()
    monitor._shutdown()


def test_clone_and_edit_loads_the_spec_into_the_builder_undoably(qtbot, window, tmp_path):
    path = make_run(tmp_path / "runs", "cloned", 10, lr=0.05)
    before = window.document.spec
    page = show_runs(qtbot, window, 1)
    page.select_paths([path])
    qtbot.mouseClick(page.clone_button, Qt.MouseButton.LeftButton)
    assert window.current_page_key() == "build"
    assert window.document.spec == load_spec(path / "spec.toml")
    assert window.document.spec.optimizer.options["lr"] == 0.05
    window.document.undo_stack.undo()
    assert window.document.spec == before


def test_delete_asks_first(qtbot, window, tmp_path, monkeypatch):
    keep = make_run(tmp_path / "runs", "keep", 10)
    gone = make_run(tmp_path / "runs", "gone", 10)
    page = show_runs(qtbot, window, 2)
    page.select_paths([gone])
    asked = []
    monkeypatch.setattr(page, "confirm_delete", lambda names: asked.append(list(names)) or False)
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    assert asked == [["gone"]] and gone.exists()
    monkeypatch.setattr(page, "confirm_delete", lambda names: True)
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.table.model().rowCount() == 1, timeout=10_000)
    assert not gone.exists() and keep.exists()
    assert table_column(page, NAME) == ["keep"]


def test_active_run_is_not_deleted(qtbot, window, tmp_path, monkeypatch):
    run = runs.RunDir.create(tmp_path / "runs", ExperimentSpec(name="live"))
    runs.write_status(run, "running", pid=os.getpid())
    page = show_runs(qtbot, window, 1)
    page.select_paths([run.path])
    monkeypatch.setattr("app.pages.runs.QMessageBox.information", lambda *a, **k: None)
    monkeypatch.setattr(page, "confirm_delete", lambda names: pytest.fail("must not ask: the run is live"))
    page.delete_selected()
    assert run.path.exists()


def test_empty_states_say_why_the_table_is_empty(qtbot, window, tmp_path):
    page = window.show_page("runs")
    qtbot.waitUntil(lambda: page._listed, timeout=10_000)
    assert page.table_stack.currentWidget() is page.empty and page.empty.isVisible()
    assert "No runs yet" in page.empty.text() and "Train" in page.empty.text()
    make_run(tmp_path / "runs", "alpha", 10)
    qtbot.mouseClick(page.refresh_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.table.model().rowCount() == 1, timeout=10_000)
    assert page.table_stack.currentWidget() is page.table
    qtbot.keyClicks(page.filter_edit, "zzz")
    assert page.table_stack.currentWidget() is page.empty and "No run matches the filter" in page.empty.text()
    page.filter_edit.clear()
    assert page.table_stack.currentWidget() is page.table


def test_wall_and_training_time_are_labelled_and_agree_with_the_monitor(qtbot, window, tmp_path):
    from app.pages.runs import HEADER_TIPS

    path = make_run(tmp_path / "runs", "timed", 10)
    runs.write_status(path, "completed", training_seconds=72.0, wall_seconds=95.0)  # as a session's end records them
    page = show_runs(qtbot, window, 1)
    headers = [c[0] for c in COLUMNS]
    assert "Duration" not in headers
    assert table_column(page, headers.index("Wall time")) == ["1:35"]
    assert table_column(page, headers.index("Training time")) == ["1:12"]
    tip = page.model.horizontalHeaderItem(headers.index("Wall time")).toolTip()
    assert tip == HEADER_TIPS["Wall time"] and "start-up included" in tip
    page.select_paths([path])
    qtbot.mouseClick(page.open_button, Qt.MouseButton.LeftButton)
    monitor = window.page("monitor")
    qtbot.waitUntil(lambda: monitor.status == "completed", timeout=10_000)
    qtbot.waitUntil(lambda: "training 1:12 · wall 1:35" in monitor.progress_info.text(), timeout=5_000)
