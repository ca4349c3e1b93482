"""Control and faults with the real worker: pause/resume/stop commands, SIGTERM = stop, SIGKILL
= crashed, a raising rank ends the job (through the abort path, not a timeout) with its traceback, restarts resume from the last
checkpoint, and no process of the run is left behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from engine.checkpoint import load_latest
from engine.runs import RunDir, effective_status, read_status

from tests.engine.parallel.runner import REPO, env, events, kill_started, log, start, tiny_spec, wait_until

pytestmark = pytest.mark.slow

LONG = dict(training={"epochs": 500, "max_steps": 0, "log_every": 2, "checkpoint_every": 1},
            data={"batch_size": 8, "samples": 400}, parallel={"strategy": "ddp", "processes": 2})


def long_spec(**extra):
    sections = {k: dict(v) for k, v in LONG.items()}
    for key, changes in extra.items():
        sections.setdefault(key, {}).update(changes)
    return tiny_spec(**sections)


@pytest.fixture(autouse=True)
def _no_stray_workers():
    """Whatever a failing test leaves running is killed (whole process group)."""
    yield
    kill_started()


def ranks_of(proc: subprocess.Popen, run: RunDir) -> dict[int, psutil.Process]:
    """{rank: process} of the worker's ranks, once both have started (they note their pids)."""
    from engine.worker import rank_pids

    def found():
        pids = rank_pids(run.path)
        kids = {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
        return {r: psutil.Process(pid) for r, pid in pids.items() if pid in kids} if len(pids) >= 2 else None
    return wait_until(found, 60, "two rank processes", run)


def assert_all_gone(procs, timeout=10.0):
    gone, alive = psutil.wait_procs(procs, timeout=timeout)
    assert not alive, f"left behind: {[(p.pid, p.name()) for p in alive]}"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", *args], cwd=REPO, env=env(), capture_output=True, text=True, timeout=60)


def metric_after(run, step):
    return lambda: any(e["step"] > step for e in events(run, "metric"))


def test_pause_resume_commands_then_sigterm_stops_gracefully(tmp_path):
    """pause/resume from the command line (all ranks hold, then continue); SIGTERM to the worker
    is a graceful stop: the step finishes, a checkpoint is saved, status stopped, exit 0.
    (The `stop` command writes the same request as the SIGTERM handler: see test_commands.)"""
    run = RunDir.create(tmp_path, long_spec())
    proc = start(run)
    procs = [psutil.Process(proc.pid), *ranks_of(proc, run).values()]
    wait_until(metric_after(run, 2), 60, "training to start", run)
    assert cli("pause", str(run.path)).returncode == 0
    wait_until(lambda: read_status(run).get("status") == "paused", 10, "paused", run)
    time.sleep(0.5)  # events are flushed in batches at most 0.2 s apart
    held = max(e["step"] for e in events(run, "metric"))
    time.sleep(1.0)
    assert max(e["step"] for e in events(run, "metric")) == held  # the ranks hold between steps
    assert effective_status(run) == "paused"
    assert cli("resume", str(run.path)).returncode == 0
    wait_until(metric_after(run, held), 10, "training to resume", run)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(30) == 0, log(run)
    status = read_status(run)
    assert status["status"] == "stopped", status
    assert "stopped by request" in status["message"]
    assert events(run, "checkpoint")[-1]["step"] == status["step"]
    load_latest(run.path)  # the stop's checkpoint loads
    assert_all_gone(procs)


def test_sigkill_of_a_rank_reads_as_crashed(tmp_path):
    run = RunDir.create(tmp_path, long_spec())
    proc = start(run)
    ranks = ranks_of(proc, run)
    wait_until(metric_after(run, 2), 60, "training to start", run)
    ranks[1].kill()
    assert proc.wait(30) == 1, log(run)
    status = read_status(run)
    assert status["status"] == "crashed" and "rank 1" in status["message"] and "SIGKILL" in status["message"]
    assert any(e.get("rank") == 1 and "SIGKILL" in e["message"] for e in events(run, "error"))
    assert effective_status(run) == "crashed"
    assert_all_gone([psutil.Process(proc.pid), *ranks.values()] if psutil.pid_exists(proc.pid) else list(ranks.values()))


def test_sigkill_of_the_worker_reads_as_crashed(tmp_path):
    run = RunDir.create(tmp_path, long_spec())
    proc = start(run)
    ranks = ranks_of(proc, run)
    wait_until(lambda: events(run, "checkpoint"), 60, "a checkpoint", run)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert_all_gone(list(ranks.values()))  # ranks die with their agent (no orphans)
    assert effective_status(run) == "crashed"
    assert read_status(run)["status"] in ("running", "paused")  # what the file says; the watcher sees better
    found = events(run)
    assert found and all("type" in e for e in found)  # the log stays readable
    folder, weights, state = load_latest(run.path)  # and the last checkpoint loads
    assert weights and state["step"] > 0


def test_a_raising_rank_ends_every_rank_by_the_abort_path_with_its_traceback(tmp_path):
    """Rank 1 raises mid-training: the job ends because of it — rank 0 learns of the loss from
    gloo (peer connection closed) or is ended by the agent — never by waiting out a timeout
    (collective, teardown or watchdog). How fast that is, is measured by benchmarks/faults.py."""
    run = RunDir.create(tmp_path, long_spec())
    proc = start(run, "--context", "tests.engine.parallel.faults:RaisingContext", NETWRIGHT_TEST_RUN_DIR=str(run.path))
    procs = [psutil.Process(proc.pid), *ranks_of(proc, run).values()]
    assert proc.wait(60) == 1, log(run)
    assert (run.path / "injected.txt").exists()
    errors = [e for e in events(run, "error") if e.get("rank") == 1]
    assert errors, events(run, "error")
    assert "rank 1" in errors[0]["message"] and "injected failure on rank 1" in errors[0]["message"]
    assert "ValueError: injected failure on rank 1" in errors[0]["traceback"]
    assert "agree_control" in errors[0]["traceback"]
    status = read_status(run)
    assert status["status"] == "failed" and "rank 1" in status["message"]
    text = run.log_path.read_text()
    assert "injected failure on rank 1" in text
    rank0 = [e["message"] for e in events(run, "error") if e.get("rank") == 0]
    assert any("Connection closed by peer" in m for m in rank0) or "Terminating process" in text, (rank0, text[-2000:])
    for timeout_sign in ("Timed out", "timed out", "took over", "did not exit within"):
        assert timeout_sign not in text, text[-2000:]
    assert_all_gone(procs)


def test_max_restarts_resumes_from_the_last_checkpoint(tmp_path):
    spec = long_spec(training={"epochs": 4}, parallel={"max_restarts": 1})
    run = RunDir.create(tmp_path, spec)
    proc = start(run, "--context", "tests.engine.parallel.faults:SlowContext")
    ranks = ranks_of(proc, run)
    wait_until(lambda: events(run, "checkpoint"), 60, "a checkpoint", run)
    cli("pause", str(run.path))
    wait_until(lambda: read_status(run).get("status") == "paused", 10, "paused", run)
    ranks[1].kill()
    assert proc.wait(90) == 0, log(run)
    starts = events(run, "start")
    assert len(starts) == 2 and starts[1]["resumed_from"], starts
    status = read_status(run)
    assert status["status"] == "completed", status
    assert status["step"] == starts[0]["total_steps"]
    assert status["epoch"] == 4
    assert (run.path / "ranks").is_dir() and len(list((run.path / "ranks").glob("*/attempt_1"))) == 1
    assert_all_gone(list(ranks.values()))
