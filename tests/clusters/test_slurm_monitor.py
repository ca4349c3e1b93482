"""The app against the one-node Slurm cluster: a 2-rank DDP run submitted from the Train page;
the Monitor shows the job queued with Slurm's reason, then running, then the run completed."""
from __future__ import annotations

import json

import pytest

from engine.runs import RunDir, effective_status, load_status
from engine.spec import ExperimentSpec
from tests.app.conftest import _isolated_settings, main_window, styled_app, window  # noqa: F401 (fixtures)
from tests.app.test_train_page import ready
from tests.clusters.test_slurm import spec_text

pytestmark = pytest.mark.slow


def test_monitor_shows_pending_then_running_job(qtbot, window, slurm_cluster):  # noqa: F811
    spec = ExperimentSpec.from_toml(spec_text(launcher='sbatch_options = "--hold"'))
    window.document.edit(spec, "a held Slurm job")
    page = window.show_page("train")
    ready(qtbot, page)
    assert page.train_button.text() == "Submit" and page.train_button.isEnabled(), page.plan.problems
    assert "#SBATCH --hold" in page.plan_panel.commands.toPlainText()
    page.train_button.click()
    monitor = window.page("monitor")
    qtbot.waitUntil(lambda: monitor.job is not None and monitor.job.state == "PENDING", timeout=60_000)
    assert "JobHeldUser" in monitor.job_label.text() and monitor.status_label.text() == "queued"
    assert monitor.stop_button.isEnabled()  # a queued job can be cancelled
    assert slurm_cluster.run("scontrol", "release", monitor.job.job_id).returncode == 0
    qtbot.waitUntil(lambda: monitor.job.state in ("RUNNING", "COMPLETED"), timeout=60_000)
    qtbot.waitUntil(lambda: monitor.status == "completed", timeout=240_000)
    qtbot.waitUntil(lambda: monitor.job.state == "COMPLETED", timeout=30_000)
    assert "COMPLETED" in monitor.job_label.text()
    run = RunDir(monitor.run_dir)
    assert effective_status(run) == "completed" and load_status(run).job_id == monitor.job.job_id
    start = next(json.loads(line) for line in run.events_path.read_text().splitlines() if '"start"' in line)
    assert start["world_size"] == 2
    assert "RUNNING" in monitor.console.text() and "PENDING (JobHeldUser)" in monitor.console.text()
