"""The Monitor and a run submitted to a cluster, with a stand-in launcher whose scheduler answers
from a list (the real Slurm flow is tests/clusters/test_slurm_monitor.py)."""
from __future__ import annotations

from engine.launchers import JobState, Launcher, register
from engine.runs import RunDir, write_status
from engine.spec import LAUNCHERS, ExperimentSpec
from tests.app.test_monitor_page import page  # noqa: F401 (the fixture)


class Scripted(Launcher):
    """Job states from `STATES`, one per question (the last one repeats)."""

    name, label, description = "scripted", "Scripted", "a stand-in scheduler"
    STATES: list[JobState] = []
    cancelled: list[str] = []

    def script(self, run_dir, spec):
        return "submit"

    def job_state(self, run):
        return self.STATES.pop(0) if len(self.STATES) > 1 else self.STATES[0]

    def cancel(self, run):
        self.cancelled.append(str(run.path))
        return True


def test_a_queued_job_cancelled_before_it_ran(page, qtbot, tmp_path):  # noqa: F811
    register(Scripted)
    try:
        spec = ExperimentSpec.from_toml('name = "queued"\n[launcher]\nkind = "scripted"\n')
        run = RunDir.create(tmp_path / "runs", spec)
        write_status(run, "created", launcher="scripted", job_id="7")
        Scripted.STATES[:] = [JobState("7", "PENDING", reason="Resources")]
        monitor = page()
        monitor.attach(run.path)
        qtbot.waitUntil(lambda: monitor.job is not None, timeout=10_000)
        assert monitor.status_label.text() == "queued" and "PENDING (Resources)" in monitor.job_label.text()
        assert monitor.stop_button.isEnabled() and monitor.phases.isHidden()  # nothing starts before the job does
        monitor.stop()  # nothing runs that could read a request: the scheduler cancels the job
        qtbot.waitUntil(lambda: Scripted.cancelled == [str(run.path)], timeout=10_000)
        Scripted.STATES[:] = [JobState("7", "CANCELLED")]
        qtbot.waitUntil(lambda: monitor.job.state == "CANCELLED", timeout=10_000)
        assert monitor.status_label.text() == "cancelled" and not monitor.stop_button.isEnabled()
        assert "job 7 CANCELLED" in monitor.console.text()
    finally:
        LAUNCHERS.remove("scripted")
