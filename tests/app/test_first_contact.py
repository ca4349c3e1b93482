"""What a newcomer does first, clicked through as a user would (issue 9): press Train as soon as
the window shows, watch the start-up phases, stop, quit at once. Uses the stand-in worker (no
torch); tests/e2e runs the real one."""
from __future__ import annotations

import time

import psutil
import pytest
from PySide6.QtCore import Qt

from tests.app.test_monitor_page import fake_launcher, loss_points


@pytest.fixture
def window(window):
    yield window
    window.page("train")._planner.wait()
    monitor = window.page("monitor")
    for path in monitor.run_service.active_runs():
        monitor.run_service.terminate(path)
    monitor._shutdown()
    monitor.tailer.wait_idle()


def run_dirs(window) -> list:
    return sorted(p for p in window.runs_dir.glob("*") if (p / "spec.toml").is_file()) if window.runs_dir.is_dir() else []


def test_train_says_planning_until_ready_then_one_click_starts_one_run_with_its_phases(qtbot, window):
    from engine.runs import read_events

    page = window.show_page("train")  # as soon as the window shows
    window.services.runs.launcher = fake_launcher("--steps", "40", "--delay", "0.005", "--phase-delay", "0.5")
    button = page.train_button
    assert button.text() == "Planning…" and not button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # an impatient click: nothing starts half-planned
    assert run_dirs(window) == [] and window.current_page_key() == "train"
    qtbot.waitUntil(button.isEnabled, timeout=60_000)
    assert button.text() == "Train"

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert len(run_dirs(window)) == 1  # exactly one run per click
    assert window.current_page_key() == "monitor"
    monitor = window.page("monitor")
    phases = monitor.phases
    assert phases.isVisible() and phases.current == "starting worker"  # from the click, before the worker is up
    assert monitor.status_label.text() == "starting"
    seen = []
    qtbot.waitUntil(lambda: seen.append((phases.current, loss_points(monitor))) or phases.current == "first step",
                    timeout=20_000)
    assert {"loading data", "building model"} <= {name for name, _ in seen}
    assert all(points == 0 for _, points in seen)  # every phase shows before the first point
    assert "✓ loading data" in phases.text() and "since Train" in phases.elapsed.text()
    assert "first step…" in monitor.console.text()
    assert not monitor.pause_button.isEnabled() and monitor.stop_button.isEnabled()  # stop, but nothing to pause yet
    assert monitor.progress_info.text().startswith("training — · wall 0:")  # no training time before the first step
    qtbot.waitUntil(lambda: monitor.status == "completed", timeout=20_000)
    assert phases.isHidden() and monitor.status_label.text() == "completed"
    assert monitor.plots.store().t0 == next(e["time"] for e in read_events(monitor.run_dir / "events.jsonl")[0]
                                            if e["type"] == "start")  # time 0 of the curves: training's start
    assert len(run_dirs(window)) == 1


def test_train_asked_while_planning_starts_once_the_plan_is_ready(qtbot, window):
    page = window.show_page("train")
    window.services.runs.launcher = fake_launcher("--steps", "10", "--delay", "0.001")
    assert not page.plan_ready()
    page.train()  # e.g. a shortcut pressed while the plan is computed: remembered, not swallowed
    qtbot.waitUntil(lambda: len(run_dirs(window)) == 1, timeout=60_000)
    assert window.current_page_key() == "monitor"
    qtbot.waitUntil(lambda: window.page("monitor").status == "completed", timeout=20_000)
    assert len(run_dirs(window)) == 1


def test_stop_then_quit_at_once_neither_asks_nor_kills_and_the_run_stays_stopped(qtbot, window):
    from engine.runs import effective_status, read_events

    window.services.runs.launcher = fake_launcher("--steps", "100000", "--delay", "0.005", "--exit-delay", "2")
    window.show_page("train")
    run_dir = window.services.runs.start(window.document.spec)
    monitor = window.page("monitor")
    qtbot.waitUntil(lambda: monitor.status == "running" and loss_points(monitor) > 3, timeout=20_000)
    pid = monitor.run_service.worker_pid(run_dir)
    qtbot.mouseClick(monitor.stop_button, Qt.MouseButton.LeftButton)
    asked = []
    monitor.ask_close_action = lambda: asked.append(1) or "stop"
    assert window.close()  # quit at once, while the worker is still exiting
    assert asked == []  # "a run is still training" is not said of a run that is stopping
    process = psutil.Process(pid)
    qtbot.waitUntil(lambda: effective_status(run_dir) == "stopped", timeout=10_000)
    assert process.is_running()  # still tearing down: nobody killed it
    assert process.wait(timeout=20) == 0  # it ended on its own, cleanly
    time.sleep(0.3)
    assert effective_status(run_dir) == "stopped"  # and stays stopped
    statuses = [e["status"] for e in read_events(run_dir / "events.jsonl")[0] if e["type"] == "status"]
    assert statuses[-1] == "stopped" and "crashed" not in statuses and "failed" not in statuses


def test_closing_after_the_run_stopped_while_its_worker_exits_asks_nothing(qtbot, window):
    window.services.runs.launcher = fake_launcher("--steps", "100000", "--delay", "0.005", "--exit-delay", "3")
    run_dir = window.services.runs.start(window.document.spec)
    monitor = window.page("monitor")
    qtbot.waitUntil(lambda: monitor.status == "running", timeout=20_000)
    monitor.run_service.request(run_dir, "stop")  # stopped from elsewhere (the CLI's `stop`)
    qtbot.waitUntil(lambda: monitor.status == "stopped", timeout=10_000)
    assert monitor.run_service.is_running(run_dir) and monitor.run_service.is_exiting(run_dir)
    assert monitor.run_service.stop(run_dir) == "exiting"  # "Stop the run" never kills an exiting worker
    assert monitor.active_runs() == []


def test_the_log_says_started_once_and_what_stop_did(qtbot, window):
    window.services.runs.launcher = fake_launcher("--steps", "100000", "--delay", "0.005")
    window.services.runs.start(window.document.spec)
    monitor = window.page("monitor")
    qtbot.waitUntil(lambda: monitor.status == "running" and loss_points(monitor) > 3, timeout=20_000)
    qtbot.waitUntil(lambda: "fake worker:" in monitor.console.text(), timeout=5_000)
    qtbot.mouseClick(monitor.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: monitor.status == "stopped", timeout=10_000)
    qtbot.waitUntil(lambda: "stopped at step" in monitor.console.text(), timeout=5_000)
    text = monitor.console.text()
    assert text.count("fake worker:") == 1  # log events are in log.txt; not shown twice
    assert "stop requested" in text and "stopped on request" in text


def test_monitor_without_a_run_says_where_runs_come_from(qtbot, window):
    monitor = window.show_page("monitor")
    assert monitor.body.currentWidget().objectName() == "monitorEmpty"
    assert monitor.findChild(type(monitor.title), "emptyTitle").text() == "No run to show yet"
    qtbot.mouseClick(monitor.findChild(type(monitor.stop_button), "goTrainButton"), Qt.MouseButton.LeftButton)
    assert window.current_page_key() == "train"


def test_the_monitor_plots_have_their_promised_object_names(qtbot, window):
    import pyqtgraph as pg

    window.services.runs.launcher = fake_launcher("--steps", "20", "--delay", "0.001")
    window.services.runs.start(window.document.spec)
    monitor = window.show_page("monitor")
    names = ("lossPlot", "accuracyPlot", "lrPlot", "gradNormPlot", "throughputPlot")
    qtbot.waitUntil(lambda: all(window.findChild(pg.PlotWidget, n) is not None for n in names), timeout=10_000)
    qtbot.waitUntil(lambda: monitor.status == "completed", timeout=20_000)
    assert window.findChild(pg.PlotWidget, "lossPlot").isVisible()


def test_one_problems_list_with_sections_on_every_page(qtbot, window):
    """A data problem shows on Build (never "No problems"), on Data, on Train and in the window's
    problems button, each under its section; choosing it goes to the Data page."""
    import dataclasses

    doc = window.document
    checker = window.services.problems
    build = window.show_page("build")
    doc.edit(dataclasses.replace(doc.spec, data=dataclasses.replace(doc.spec.data, options={"batchsize": 32})),
             "a hand-written typo")
    qtbot.waitUntil(lambda: not checker.pending, timeout=30_000)
    button = window.problems_button
    assert "Data" in button.texts() and any("did you mean 'data.batch_size'" in t for t in button.texts())
    assert "1 problem" in button.text() and "(Data 1)" in button.text()
    summary = build.summary.problems_label.text()
    assert "No problems" not in summary and "Data" in summary
    data = window.show_page("data")
    assert "batchsize" in data.problems_label.text()
    train = window.show_page("train")
    qtbot.waitUntil(lambda: train.plan_ready(), timeout=60_000)
    items = [train.plan_panel.problems.item(i).text() for i in range(train.plan_panel.problems.count())]
    assert any(t.startswith("Data · data.batchsize") for t in items)
    assert not train.train_button.isEnabled()
    window.show_problem("data.batchsize")  # what choosing it in the problems menu does
    assert window.current_page_key() == "data"


def test_editing_a_field_clears_its_problem_at_once(qtbot, window):
    train = window.show_page("train")
    checker = window.services.problems
    qtbot.waitUntil(lambda: train.plan_ready(), timeout=60_000)
    editor = train.forms["parallel"].editor("processes")
    editor.set_value(4)
    editor.changed.emit(4)  # strategy none with 4 processes: a parallel problem
    qtbot.waitUntil(lambda: not checker.pending and any(p.path.startswith("parallel") for p in checker.problems()),
                    timeout=30_000)
    qtbot.waitUntil(lambda: "Parallel" in window.problems_button.texts(), timeout=5_000)
    qtbot.waitUntil(lambda: train.plan_ready() and train.forms["parallel"].problem("processes") != "", timeout=60_000)
    editor.set_value(1)
    editor.changed.emit(1)
    # at once: no waiting for the background check
    assert train.forms["parallel"].problem("processes") == ""
    assert not any(p.path.startswith("parallel") for p in checker.problems())
    assert "Parallel" not in window.problems_button.texts()
    qtbot.waitUntil(lambda: not checker.pending, timeout=30_000)
    assert checker.problems() == [] and window.problems_button.text() == "✓ No problems"


def test_a_run_started_before_the_monitor_was_built_is_shown_there(qtbot, main_window):
    window = main_window
    assert "monitor" not in window._pages  # pages are built on first use
    window.services.runs.launcher = fake_launcher("--steps", "10", "--delay", "0.001")
    page = window.show_page("train")
    qtbot.waitUntil(page.train_button.isEnabled, timeout=60_000)
    run_dir = window.services.runs.start(window.document.spec)
    monitor = window.show_page("monitor")
    assert monitor.run_dir == run_dir and monitor.body.currentWidget().objectName() != "monitorEmpty"
    qtbot.waitUntil(lambda: monitor.status == "completed", timeout=20_000)
    monitor._shutdown()
    monitor.tailer.wait_idle()
    page._planner.wait()
