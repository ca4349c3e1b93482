"""Monitor page with a stand-in worker process (no torch): live curves, status, stop, pause,
crash detection, error banner, export, close question. The real worker is in tests/e2e."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.pages import monitor as monitor_mod
from app.pages.monitor import CLOSE_CANCEL, CLOSE_KEEP, CLOSE_STOP, MonitorPage
from engine.spec import ExperimentSpec

FAKE = Path(__file__).with_name("fake_worker.py")


def fake_launcher(*extra: str, argv: list[str] | None = None):
    """Starts the stand-in worker the way engine.launchers.local.start_worker starts the real one."""
    def launch(run_dir: Path, resume: bool) -> subprocess.Popen:
        cmd = argv or [sys.executable, str(FAKE), str(run_dir), *extra, *(["--resume"] if resume else [])]
        with open(run_dir / "log.txt", "ab") as log:
            return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
    return launch


@pytest.fixture
def page(qtbot, tmp_path):
    def make(*extra: str) -> MonitorPage:
        widget = MonitorPage(SimpleNamespace(runs_dir=tmp_path / "runs"))
        widget.run_service.launcher = fake_launcher(*extra)
        qtbot.addWidget(widget)
        widget.resize(1200, 760)
        widget.show()
        made.append(widget)
        return widget

    made: list[MonitorPage] = []
    yield make
    for widget in made:
        for path in widget.run_service.active_runs():
            widget.run_service.terminate(path)
        widget._shutdown()
        widget.tailer.wait_idle()
        widget.system.wait_idle()


def loss_points(page: MonitorPage) -> int:
    series = page.plots.store().series.get("train_loss")
    return len(series) if series else 0


def test_run_fills_curves_and_completes(page, qtbot, tmp_path):
    monitor = page("--steps", "120", "--delay", "0.002")
    run_dir = monitor.start_run(ExperimentSpec(name="fake"))
    assert run_dir.parent == tmp_path / "runs" and (run_dir / "spec.toml").is_file()
    qtbot.waitUntil(lambda: monitor.status == "completed", timeout=20_000)
    qtbot.waitUntil(lambda: loss_points(monitor) == 120, timeout=5_000)
    monitor.plots.flush()
    curve = monitor.plots._curves[("run", "train_loss")].raw
    assert len(curve.getData()[0]) == 120
    assert monitor.findChild(type(monitor.status_label), "statusLabel").text() == "completed"
    assert monitor.progress.value() == 1000 and "step 120/120" in monitor.progress.format()
    assert not monitor.stop_button.isEnabled() and not monitor.pause_button.isEnabled()
    assert "fake worker: 120 steps" in monitor.console.text()
    assert {"val_loss", "val_accuracy", "lr", "grad_norm", "samples_per_second"} <= set(monitor.plots.store().series)


def test_stop_midway_checkpoints_and_shows_stopped(page, qtbot):
    monitor = page("--steps", "100000", "--delay", "0.005")
    run_dir = monitor.start_run(ExperimentSpec(name="stopme"))
    qtbot.waitUntil(lambda: monitor.status == "running" and loss_points(monitor) > 5, timeout=20_000)
    qtbot.mouseClick(monitor.stop_button, monitor_mod.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: monitor.status == "stopped", timeout=10_000)
    assert (run_dir / "checkpoints" / "step.txt").is_file()
    assert monitor.resume_button.isVisible()
    steps_before = loss_points(monitor)
    assert 5 < steps_before < 100000


def test_pause_and_resume(page, qtbot):
    monitor = page("--steps", "100000", "--delay", "0.005")
    monitor.start_run(ExperimentSpec(name="pauseme"))
    qtbot.waitUntil(lambda: monitor.status == "running" and monitor.pause_button.isEnabled(), timeout=20_000)
    qtbot.mouseClick(monitor.pause_button, monitor_mod.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: monitor.status == "paused", timeout=10_000)
    assert monitor.pause_button.text() == "Resume"
    qtbot.wait(400)  # events written just before the pause arrive
    held = loss_points(monitor)
    qtbot.wait(500)
    assert loss_points(monitor) == held  # nothing trains while paused
    qtbot.waitUntil(monitor.pause_button.isEnabled, timeout=5_000)
    qtbot.mouseClick(monitor.pause_button, monitor_mod.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: monitor.status == "running" and loss_points(monitor) > held + 5, timeout=10_000)
    monitor.stop()
    qtbot.waitUntil(lambda: monitor.status == "stopped", timeout=10_000)


def test_killed_worker_shows_crashed(page, qtbot):
    monitor = page("--steps", "100000", "--delay", "0.005")
    run_dir = monitor.start_run(ExperimentSpec(name="killme"))
    qtbot.waitUntil(lambda: monitor.status == "running" and loss_points(monitor) > 55, timeout=20_000)
    pid = monitor.run_service.worker_pid(run_dir)
    os.killpg(os.getpgid(pid), signal.SIGKILL)
    qtbot.waitUntil(lambda: monitor.status == "crashed", timeout=10_000)
    assert loss_points(monitor) > 55  # the curves stay, up to the last event
    assert monitor.resume_button.isVisible()  # it checkpointed at epoch ends


def test_resume_from_checkpoint_continues_the_run(page, qtbot):
    monitor = page("--steps", "150", "--delay", "0.01")
    run_dir = monitor.start_run(ExperimentSpec(name="resume"))
    qtbot.waitUntil(lambda: loss_points(monitor) > 60, timeout=20_000)
    monitor.stop()
    qtbot.waitUntil(lambda: monitor.status == "stopped", timeout=10_000)
    qtbot.waitUntil(lambda: not monitor.run_service.active_runs(), timeout=5_000)
    qtbot.mouseClick(monitor.resume_button, monitor_mod.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: monitor.status == "completed", timeout=20_000)
    assert monitor.run_dir == run_dir
    steps = monitor.plots.store().series["train_loss"].x("step")
    assert steps[-1] == 150


def test_error_event_shows_banner_with_rank_and_traceback(page, qtbot):
    monitor = page("--steps", "50", "--delay", "0.001", "--fail-at", "10")
    monitor.start_run(ExperimentSpec(name="boom"))
    qtbot.waitUntil(lambda: monitor.status == "failed", timeout=20_000)
    qtbot.waitUntil(monitor.console.banner.isVisible, timeout=5_000)
    banner = monitor.console.banner
    assert "Rank 0 failed at step 10: ValueError: boom" in banner.label.text()
    assert not banner.traceback.isVisible()
    qtbot.mouseClick(banner.toggle, monitor_mod.Qt.MouseButton.LeftButton)
    assert banner.traceback.isVisible() and "Traceback" in banner.traceback.toPlainText()


def test_export_png_svg_csv(page, qtbot, tmp_path):
    monitor = page("--steps", "60", "--delay", "0.001")
    monitor.start_run(ExperimentSpec(name="export"))
    qtbot.waitUntil(lambda: monitor.status == "completed" and loss_points(monitor) == 60, timeout=20_000)
    monitor.plots.flush()
    png, svg, table = (monitor.plots.export(tmp_path / f"curves.{ext}") for ext in ("png", "svg", "csv"))
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in svg.read_bytes()[:2000]
    with table.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    loss = [r for r in rows if r["metric"] == "train_loss"]
    assert len(loss) == 60 and loss[0]["step"] == "1"
    with pytest.raises(ValueError, match="png, .svg or .csv"):
        monitor.plots.export(tmp_path / "curves.bmp")


@pytest.mark.parametrize("choice", [CLOSE_STOP, CLOSE_KEEP, CLOSE_CANCEL])
def test_close_question_stop_keep_cancel(page, qtbot, monkeypatch, choice):
    monitor = page("--steps", "100000", "--delay", "0.005")
    run_dir = monitor.start_run(ExperimentSpec(name="closing"))
    qtbot.waitUntil(lambda: monitor.status == "running", timeout=20_000)
    monkeypatch.setattr(monitor, "ask_close_action", lambda: choice)
    assert monitor.can_close() is (choice != CLOSE_CANCEL)
    from engine.runs import effective_status

    if choice == CLOSE_STOP:
        qtbot.waitUntil(lambda: effective_status(run_dir) == "stopped", timeout=10_000)
    elif choice == CLOSE_KEEP:
        qtbot.wait(300)
        assert effective_status(run_dir) == "running"
        # the next window re-attaches to it live
        again = page()
        qtbot.waitUntil(lambda: again.run_dir == run_dir and again.status == "running", timeout=10_000)
        again.run_service.request(run_dir, "stop")
        qtbot.waitUntil(lambda: effective_status(run_dir) == "stopped", timeout=10_000)
    else:
        assert monitor.status == "running"
        monitor.stop()
        qtbot.waitUntil(lambda: monitor.status == "stopped", timeout=10_000)


def test_stop_falls_back_to_sigterm_when_the_request_is_not_answered(page, qtbot, monkeypatch):
    monkeypatch.setattr(monitor_mod, "STOP_GRACE_MS", 500)
    monitor = page("--steps", "100000", "--delay", "0.005", "--ignore-control")
    monitor.start_run(ExperimentSpec(name="deaf"))
    qtbot.waitUntil(lambda: monitor.status == "running", timeout=20_000)
    monitor.stop()
    qtbot.waitUntil(lambda: monitor.status == "stopped", timeout=10_000)
    qtbot.waitUntil(lambda: "sent SIGTERM" in monitor.console.text(), timeout=5_000)


def test_stop_while_the_worker_is_still_starting(page, qtbot):
    monitor = page("--startup-delay", "30")
    run_dir = monitor.start_run(ExperimentSpec(name="early"))
    assert monitor.stop_button.isEnabled()
    qtbot.mouseClick(monitor.stop_button, monitor_mod.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: monitor.status == "stopped", timeout=10_000)
    from engine.runs import read_status

    assert read_status(run_dir)["message"] == "stopped before training started"


def test_close_asks_about_every_run_started_here(page, qtbot, monkeypatch):
    monitor = page("--steps", "100000", "--delay", "0.005")
    first = monitor.start_run(ExperimentSpec(name="one"))
    second = monitor.start_run(ExperimentSpec(name="two"))  # the Monitor now shows the second
    qtbot.waitUntil(lambda: monitor.status == "running", timeout=20_000)
    assert set(monitor.active_runs()) == {first, second}
    monkeypatch.setattr(monitor, "ask_close_action", lambda: CLOSE_STOP)
    assert monitor.can_close()
    from engine.runs import effective_status

    qtbot.waitUntil(lambda: effective_status(first) == effective_status(second) == "stopped", timeout=15_000)


def test_worker_that_dies_before_starting_is_failed(page, qtbot, tmp_path):
    monitor = page()
    monitor.run_service.launcher = fake_launcher(argv=[sys.executable, "-c", "import sys; sys.exit(3)"])
    run_dir = monitor.start_run(ExperimentSpec(name="dead"))
    qtbot.waitUntil(lambda: monitor.status == "failed", timeout=10_000)
    from engine.runs import read_status

    assert "exited with code 3" in read_status(run_dir)["message"]
