"""Issue 17 in the app: a run killed before its first checkpoint offers Resume, which starts it
again from step 0 in the same run directory (stand-in worker: tests/app/fake_worker.py)."""
from __future__ import annotations

import os
import signal

from app.pages import monitor as monitor_mod
from engine.spec import ExperimentSpec
from tests.app.test_monitor_page import loss_points, page  # noqa: F401  (the page fixture)


def test_crashed_before_the_first_checkpoint_resumes_from_step_0(page, qtbot):  # noqa: F811
    monitor = page("--steps", "60", "--steps-per-epoch", "100000", "--delay", "0.02")
    run_dir = monitor.start_run(ExperimentSpec(name="early"))
    qtbot.waitUntil(lambda: monitor.status == "running" and loss_points(monitor) > 3, timeout=20_000)
    os.killpg(os.getpgid(monitor.run_service.worker_pid(run_dir)), signal.SIGKILL)
    qtbot.waitUntil(lambda: monitor.status == "crashed", timeout=10_000)
    assert not list((run_dir / "checkpoints").iterdir())  # nothing was checkpointed
    assert monitor.resume_button.isVisible()
    qtbot.waitUntil(lambda: not monitor.run_service.active_runs(), timeout=5_000)
    qtbot.mouseClick(monitor.resume_button, monitor_mod.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: monitor.status == "completed", timeout=20_000)
    assert monitor.run_dir == run_dir
    assert (run_dir / "log.txt").read_text().count("fake worker: 60 steps") == 2  # a second session, same folder
