"""One owner per run directory (an OS lock), append-only files that survive a crash mid-write,
and a status that tells the truth (issue 16)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.appendlog import LineTail, append_text, repair_tail
from engine.events import EventTail, EventWriter, last_seq, read_events
from engine.paths import EXAMPLES
from engine.runs import (RunBusy, RunDir, acquire, effective_status, lock_state, owned, owns, read_owner, read_status,
                         release, run_summary, summarize, write_status)
from engine.spec import ExperimentSpec

ROOT = Path(__file__).resolve().parents[2]
DIGITS = str(EXAMPLES / "digits_mlp.toml")
OWNER = ("import sys, time\nfrom engine.runs import RunDir, claim, write_status\nrun = RunDir.open(sys.argv[1])\n"
         "claim(run, 'test')\nwrite_status(run, 'running')\nprint('owned', flush=True)\ntime.sleep(60)\n")


@pytest.fixture
def run(tmp_path):
    return RunDir.create(tmp_path, ExperimentSpec.from_dict({"name": "own", "data": {"source": "digits"}}))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _owner(run: RunDir) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", OWNER, str(run.path)], stdout=subprocess.PIPE, text=True,
                            env=_env(), cwd=ROOT)
    assert proc.stdout.readline().strip() == "owned"
    return proc


def _end(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait()
    if proc.stdout:
        proc.stdout.close()


# ----------------------------------------------------------------------------- the lock

def test_ownership_is_reentrant_and_released(run):
    assert lock_state(run) == "never" and not owns(run)
    acquire(run, "train")
    acquire(run, "worker")  # the CLI running the worker in-process
    assert owns(run) and lock_state(run) == "held"
    assert read_owner(run)["pid"] == os.getpid() and read_owner(run)["purpose"] == "train"
    release(run)
    assert owns(run)
    release(run)
    assert not owns(run) and lock_state(run) == "free"
    with owned(run, "explain"):
        assert owns(run)
    assert not owns(run)


def test_a_second_owner_is_refused_naming_pid_and_host(run):
    proc = _owner(run)
    try:
        assert lock_state(run) == "held" and effective_status(run) == "running"
        with pytest.raises(RunBusy, match=f"in use by process {proc.pid} on host {socket.gethostname()} \\(test\\)"):
            acquire(run, "train", retry_s=0.05)
        with pytest.raises(RunBusy):
            with owned(run, "export"):
                pass  # pragma: no cover
    finally:
        _end(proc)
    assert lock_state(run) == "free"
    assert effective_status(run) == "crashed"  # the kernel released the lock: no pid guessing
    assert read_status(run)["status"] == "running"  # a reader does not rewrite the file
    with owned(run, "train"):
        pass


def test_a_dead_owner_is_crashed_even_when_its_pid_is_reused(run):
    proc = _owner(run)
    _end(proc)
    write_status(run, "running", pid=os.getpid())  # a live process with the recorded pid: still no owner
    assert effective_status(run) == "crashed"


def test_final_status_is_never_overwritten_by_a_later_writer(run):
    write_status(run, "running")
    write_status(run, "stopped", message="stopped on request", step=40)
    ended = read_status(run)["ended"]
    for late in ("crashed", "failed", "completed", "paused"):
        write_status(run, late, message="late writer")
        assert read_status(run)["status"] == "stopped"
    assert read_status(run)["ended"] == ended and read_status(run)["step"] == 40
    write_status(run, "failed", force=True)
    assert read_status(run)["status"] == "failed"
    write_status(run, "running")  # a new session starts over
    assert read_status(run)["status"] == "running" and read_status(run)["ended"] is None


# ----------------------------------------------------------------------------- append-only files

def test_a_partial_last_line_is_cut_before_the_next_append(tmp_path):
    path = tmp_path / "events.jsonl"
    good = json.dumps({"v": 1, "seq": 0, "time": 1.0, "type": "start"}) + "\n"
    path.write_text(good + '{"v": 1, "seq": 1, "type": "met')  # a writer died mid-line
    with EventWriter(path) as writer:
        writer.event("start", resumed_from="step-1")
    events, _ = read_events(path)
    assert [e["seq"] for e in events] == [0, 1] and events[1]["resumed_from"] == "step-1"
    assert last_seq(path) == 1
    log = tmp_path / "log.txt"
    log.write_text("line one\nhalf a li")
    append_text(log, "next session")
    assert log.read_text() == "line one\nnext session\n"
    whole = tmp_path / "whole.txt"
    whole.write_text("no newline at all")
    fd = os.open(whole, os.O_RDWR)
    try:
        assert repair_tail(fd) == len("no newline at all")
    finally:
        os.close(fd)
    assert whole.read_text() == ""


def test_the_reader_counts_skipped_lines_and_follows_a_repair(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"v":1,"seq":0,"type":"start"}\nnot json\n[1, 2]\n{"v":1,"seq":1,"type":"log"}\n{"v":1,')
    tail = EventTail(path)
    assert [e["seq"] for e in tail.read()] == [0, 1] and tail.skipped == 2
    offset = tail.offset
    with EventWriter(path) as writer:  # cuts the partial line exactly at the reader's offset
        writer.event("log", message="after")
    assert [e["message"] for e in tail.read()] == ["after"] and tail.offset > offset and tail.skipped == 2
    lines = LineTail(path)
    assert len(lines.read()) == 5


# ----------------------------------------------------------------------------- whole runs (processes)

def _train(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "engine", "train", *args, "--quiet"], cwd=ROOT, env=env or _env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _seqs(run: RunDir) -> list[int]:
    tail = EventTail(run.events_path)
    seqs = [e["seq"] for e in tail.read()]
    assert tail.skipped == 0
    return seqs


@pytest.mark.slow
def test_a_crash_mid_write_costs_the_next_session_nothing(tmp_path):
    """The trainer is SIGKILLed halfway through writing a batch of events (engine.faults
    "mid_event_write"); the run reads as crashed at once, its summary shows the last step the events show,
    and after a resume every event of both sessions is readable, numbered without a gap."""
    env = _env()
    # the 20th write: past the first checkpoint (start, status, epoch and checkpoint events are each
    # written at once, metrics in batches), long before the 30th epoch
    env["NETWRIGHT_FAULT"] = "mid_event_write#20:kill"
    first = _train(DIGITS, "--runs-dir", str(tmp_path), "--set", "training.epochs=30", "--set", "training.log_every=2",
                   "--set", "training.checkpoint_every=1", env=env)
    out, err = first.communicate(timeout=300)
    assert first.returncode == -signal.SIGKILL, err
    run = RunDir.open(next(tmp_path.iterdir()))
    raw = run.events_path.read_bytes()
    assert not raw.endswith(b"\n")  # it died mid-line
    assert effective_status(run) == "crashed"
    steps = [e["step"] for e in read_events(run.events_path)[0] if e["type"] == "metric"]
    assert steps and summarize(run).step == steps[-1] > 0
    assert run_summary(run)["steps"] == steps[-1] and run_summary(run)["status"] == "crashed"
    second = _train("--resume", str(run.path))
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["status"] == "completed"
    seqs = _seqs(run)
    assert seqs == list(range(len(seqs)))
    events = read_events(run.events_path)[0]
    starts = [e for e in events if e["type"] == "start"]
    assert len(starts) == 2 and starts[1]["resumed_from"]
    assert read_status(run)["status"] == "completed"


@pytest.mark.slow
def test_five_resumes_at_once_one_trains_four_are_refused(tmp_path):
    first = _train(DIGITS, "--runs-dir", str(tmp_path), "--set", "training.epochs=1")
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    run = RunDir.open(json.loads(out.strip().splitlines()[-1])["run_dir"])
    before = len(_seqs(run))
    procs = [_train("--resume", str(run.path), "--set", "training.epochs=100000") for _ in range(5)]
    refused, training = [], []
    try:
        deadline = time.monotonic() + 240
        while len(refused) < 4 and time.monotonic() < deadline:
            refused = [p for p in procs if p.poll() is not None]
            time.sleep(0.2)
        assert len(refused) == 4, [p.poll() for p in procs]
        training = [p for p in procs if p.poll() is None]
        assert len(training) == 1
        for proc in refused:
            out, err = proc.communicate()
            assert proc.returncode == 2, err
            assert f"in use by process {training[0].pid} on host {socket.gethostname()}" in err
            assert "Traceback" not in err
        deadline = time.monotonic() + 120  # let the one owner make progress, then stop it
        while not any(e["type"] == "metric" for e in read_events(run.events_path, 0)[0][before:]):
            assert time.monotonic() < deadline and training[0].poll() is None
            time.sleep(0.2)
        training[0].send_signal(signal.SIGTERM)
        out, err = training[0].communicate(timeout=120)
        assert training[0].returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1])["status"] == "stopped"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    seqs = _seqs(run)
    assert seqs == list(range(len(seqs)))
    assert sum(e["type"] == "start" for e in read_events(run.events_path)[0]) == 2
    assert read_status(run)["status"] == "stopped" and effective_status(run) == "stopped"


@pytest.mark.slow
def test_sigkill_in_the_first_seconds_reads_as_crashed_at_once(tmp_path):
    proc = _train(DIGITS, "--runs-dir", str(tmp_path), "--set", "training.epochs=100000")
    try:
        deadline = time.monotonic() + 120
        while not (list(tmp_path.iterdir()) and read_status(next(tmp_path.iterdir())).get("status") == "running"):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        run = RunDir.open(next(tmp_path.iterdir()))
        assert effective_status(run) == "running"
    finally:
        proc.kill()
        proc.communicate()
    assert effective_status(run) == "crashed"
    assert summarize(run).status == "crashed"
