"""End to end with the real worker (`python -m engine worker RUN_DIR`, torch's elastic launcher):
press Train on the default experiment and watch it complete; stop a run midway (checkpoint,
"stopped"); kill a worker ("crashed" within 2 s, curves kept); restart the window and find the
runs in the history; overlay two runs."""
from __future__ import annotations

import dataclasses
import os
import signal

import pytest
from PySide6.QtCore import Qt

from tests.app.conftest import _isolated_settings, main_window, styled_app  # noqa: F401  (GUI fixtures)

pytestmark = pytest.mark.slow

START_TIMEOUT = 120_000  # ms: torch import + elastic launch on a busy 2-core machine


def short(spec, **training):
    return dataclasses.replace(spec, training=dataclasses.replace(spec.training, **training))


def points(monitor, name="train_loss") -> int:
    series = monitor.plots.store().series.get(name)
    return len(series) if series else 0


def press_train(qtbot, window):
    page = window.show_page("train")
    qtbot.waitUntil(lambda: page.plan is not None and page.plan.spec == window.document.spec
                    and page.train_button.isEnabled(), timeout=60_000)
    qtbot.mouseClick(page.train_button, Qt.MouseButton.LeftButton)
    assert window.current_page_key() == "monitor"
    return window.page("monitor")


def test_train_default_experiment_until_completed(qtbot, main_window):
    window = main_window
    window.page("monitor").ask_close_action = lambda: "stop"
    assert window.document.spec.data.source == "digits"
    window.document.edit(short(window.document.spec, epochs=1, log_every=1), "one epoch")
    monitor = press_train(qtbot, window)
    seen = []  # the real worker's start-up phases, each shown before the first point
    qtbot.waitUntil(lambda: seen.append((monitor.phases.current, points(monitor))) or monitor.status == "completed",
                    timeout=START_TIMEOUT)
    shown = [name for name, n in seen if name and n == 0]
    assert shown[0] == "starting worker" and "first step" in shown, seen[:5]
    assert all(n == 0 for name, n in seen if name)  # the strip goes once the curves start
    assert "loading data…" in monitor.console.text() and "completed" in monitor.console.text()
    steps = monitor.plots.store().progress().total_steps
    qtbot.waitUntil(lambda: steps > 5 and points(monitor) == steps, timeout=5_000)
    monitor.plots.flush()
    xs, ys = monitor.plots._curves[("run", "train_loss")].raw.getData()
    assert list(xs) == list(range(1, steps + 1)) and all(y > 0 for y in ys)
    assert "val_loss" in monitor.plots.store().series
    assert monitor.progress.value() == 1000
    assert monitor.status_label.text() == "completed"


def test_stop_kill_restart_history_overlay(qtbot, main_window, tmp_path):
    from app.main_window import MainWindow
    from engine.runs import effective_status

    window = main_window
    window.page("monitor").ask_close_action = lambda: "stop"
    window.document.edit(short(window.document.spec, epochs=200, log_every=1, checkpoint_every=1), "long run")

    # stop midway: a checkpoint and "stopped"
    monitor = press_train(qtbot, window)
    stopped_dir = monitor.run_dir
    qtbot.waitUntil(lambda: monitor.status == "running" and points(monitor) >= 30, timeout=START_TIMEOUT)
    qtbot.mouseClick(monitor.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: monitor.status == "stopped", timeout=30_000)
    assert any((stopped_dir / "checkpoints").iterdir())
    assert monitor.resume_button.isVisible()
    qtbot.waitUntil(lambda: not monitor.run_service.active_runs(), timeout=15_000)

    # kill the worker: "crashed", the curves stay
    monitor = press_train(qtbot, window)
    killed_dir = monitor.run_dir
    assert killed_dir != stopped_dir
    qtbot.waitUntil(lambda: monitor.status == "running" and points(monitor) >= 5, timeout=START_TIMEOUT)
    os.killpg(os.getpgid(monitor.run_service.worker_pid(killed_dir)), signal.SIGKILL)
    qtbot.waitUntil(lambda: monitor.status == "crashed", timeout=10_000)
    assert points(monitor) >= 5
    assert effective_status(killed_dir) == "crashed"

    # restart: a new window finds both runs in the history and overlays them
    again = MainWindow(runs_dir=window.runs_dir)
    again.ask_unsaved_changes = lambda: "discard"
    qtbot.addWidget(again)
    again.show()
    runs = again.show_page("runs")
    qtbot.waitUntil(lambda: runs.table.model().rowCount() == 2, timeout=10_000)
    statuses = {runs.table.model().index(r, 1).data() for r in range(2)}
    assert statuses == {"stopped", "crashed"}
    runs.select_paths([stopped_dir, killed_dir])
    qtbot.waitUntil(lambda: len(runs.overlay.sources()) == 2, timeout=10_000)
    runs.overlay.flush()
    legend = [label.text for _, label in runs.overlay.plot("loss").getPlotItem().legend.items]
    assert sum(text.startswith(window.document.spec.name) for text in legend) == 2  # one entry per run
    for call in (runs._lister, runs._loader):
        call.wait()
