"""The worker's teardown watchdog: ranks alive when rank 0 wrote the final status are ended
after the grace; ranks of a later elastic attempt (a restart after a "failed") are not."""
from __future__ import annotations

import subprocess
import sys
import time

from engine.runs import RunDir, write_status
from engine.worker import _children, _TeardownWatchdog
from tests.engine.parallel.runner import tiny_spec, wait_until


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def _note(run: RunDir, rank: int, proc: subprocess.Popen) -> None:
    path = run.rank_pid_path(str(rank))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(proc.pid))


def test_a_rank_stuck_after_the_final_status_is_ended(tmp_path):
    run = RunDir.create(tmp_path, tiny_spec())
    before = _children()
    stuck = _sleeper()
    try:
        _note(run, 0, stuck)
        messages: list[str] = []
        watchdog = _TeardownWatchdog(run, time.time() - 1, before, messages.append, grace=0.5)
        write_status(run, "completed")
        assert stuck.wait(20) != 0
        watchdog.stop()
        assert messages and "rank(s) 0 did not exit within" in messages[0]
    finally:
        stuck.kill()


def test_the_ranks_of_a_restarted_attempt_are_not_ended_by_the_previous_attempts_failure(tmp_path):
    run = RunDir.create(tmp_path, tiny_spec())
    before = _children()
    first = _sleeper()
    second = None
    messages: list[str] = []
    try:
        _note(run, 0, first)
        watchdog = _TeardownWatchdog(run, time.time() - 1, before, messages.append, grace=1.0)
        write_status(run, "failed", message="lost rank 1")
        time.sleep(0.5)  # the watchdog has seen the failure and noted the ranks alive then
        first.kill()  # the elastic agent ends the attempt ...
        first.wait()
        second = _sleeper()  # ... and starts the next one
        _note(run, 0, second)
        write_status(run, "running", force=True)
        time.sleep(2.0)  # well past the grace of the first attempt's failure
        assert second.poll() is None, messages
        assert not messages
        write_status(run, "completed")  # the new attempt's own final status is watched as before
        wait_until(lambda: second.poll() is not None, 20, "the stuck rank of the second attempt ended", run)
        watchdog.stop()
        assert len(messages) == 1
    finally:
        for proc in (first, second):
            if proc is not None:
                proc.kill()


def test_a_restarted_attempt_survives_a_watchdog_that_saw_the_failure_late(tmp_path):
    """The watchdog sees the first attempt's "failed" only after the next attempt has started and
    noted its pids: ranks whose pid files are newer than that final status are not its ranks."""
    run = RunDir.create(tmp_path, tiny_spec())
    before = _children()
    since = time.time() - 1
    write_status(run, "failed", message="lost rank 1")
    time.sleep(0.1)
    second = _sleeper()  # the next attempt's rank 0, noted before the watchdog looked
    messages: list[str] = []
    try:
        _note(run, 0, second)
        watchdog = _TeardownWatchdog(run, since, before, messages.append, grace=0.5)
        time.sleep(2.0)  # well past the grace
        watchdog.stop()
        assert second.poll() is None and not messages
    finally:
        second.kill()
        second.wait()
