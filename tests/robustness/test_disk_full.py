"""A full disk ends the run with a named message, keeps what was written and can be resumed.

The real thing needs a small file system: a 2 MiB tmpfs (mounted when the tests run as root and
may mount); everywhere else the same path is driven by an injected write fault (engine.faults)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.checkpoint import load_latest
from engine.events import read_events
from engine.runs import RunDir, read_status

REPO = Path(__file__).resolve().parents[2]

SPEC = """
name = "diskfull"
seed = 0
[data]
source = "random"
batch_size = 16
shape = [64]
classes = 4
samples = 256
[model]
layers = [{type = "Linear", out_features = 256}, {type = "ReLU"}, {type = "Linear", out_features = 0}]
[optimizer]
name = "adam"
lr = 0.001
[training]
epochs = EPOCHS
log_every = 1
device = "cpu"
"""


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    env.update(extra)
    return env


def _train(*args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "engine", "train", *args], cwd=REPO, env=_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs (skipped where mounting is not allowed)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); test_injected_disk_full covers the same path")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(folder: Path) -> Path:
    filler = folder / "filler.bin"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    return filler


def _check_failed_run(run: RunDir, out: str, code: int) -> None:
    assert code == 1, out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["status"] == "failed"
    assert f"no space left on {run.path}" in summary["message"] and "MB needed" in summary["message"], summary
    status = read_status(run)
    assert status["status"] == "failed" and "no space left on" in status["message"], status
    events, _ = read_events(run.events_path)
    assert any(e["type"] == "start" for e in events) and any(e["type"] == "checkpoint" for e in events)
    folder, weights, state = load_latest(run.path)  # the checkpoint written before the disk filled loads
    assert weights and state["step"] > 0


@pytest.mark.slow
def test_real_full_disk_fails_named_and_resumes(small_disk, tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.replace("EPOCHS", "400"))
    proc = _train(str(spec), "--runs-dir", str(small_disk / "runs"), "--quiet")
    runs = small_disk / "runs"
    end = time.monotonic() + 60
    while time.monotonic() < end and not any(e["type"] == "checkpoint" for f in runs.glob("*/events.jsonl")
                                             for e in read_events(f)[0]):
        time.sleep(0.05)
    filler = _fill(small_disk)
    out, err = proc.communicate(timeout=60)
    run = RunDir.open(next(runs.iterdir()))
    assert "Traceback" not in err, err
    _check_failed_run(run, out, proc.returncode)
    filler.unlink()
    resumed = subprocess.run([sys.executable, "-m", "engine", "train", "--resume", str(run.path), "--quiet",
                              "--set", "training.epochs=2"], cwd=REPO, env=_env(), capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert read_status(run)["status"] == "completed"


def test_injected_disk_full_in_the_events_writer(tmp_path, capsys):
    """The events writer's flush thread hits ENOSPC (half a batch written): no traceback, the run
    fails with the named message, earlier events stay readable, resume completes."""
    from engine import faults
    from engine.cli import main

    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.replace("EPOCHS", "20"))  # >= 320 metric events: several flushes by count
    faults._faults = faults.parse("mid_event_write#3:enospc")
    faults._counts.clear()
    try:
        code = main(["train", str(spec), "--runs-dir", str(tmp_path / "runs"), "--quiet"])
    finally:
        faults._faults = None
        faults._counts.clear()
    out, err = capsys.readouterr()
    run = RunDir.open(next((tmp_path / "runs").iterdir()))
    assert "Traceback" not in err, err
    assert code == 1, (out, err)
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["status"] == "failed" and f"no space left on {run.path}" in summary["message"], summary
    status = read_status(run)
    assert status["status"] == "failed" and "MB needed" in status["message"]
    events, _ = read_events(run.events_path)
    assert any(e["type"] == "start" for e in events)
    assert main(["train", "--resume", str(run.path), "--quiet"]) == 0
    assert read_status(run)["status"] == "completed"
    types = [e["type"] for e in read_events(run.events_path)[0]]
    assert types.count("start") == 2


def test_events_writer_thread_survives_write_errors_and_odd_values(tmp_path):
    """The background flush never dies: a write error is kept (not raised in the thread), a value
    JSON cannot encode is written as text, and whole lines written before stay readable."""
    import errno
    import threading

    from engine.events import EventWriter

    writer = EventWriter(tmp_path / "events.jsonl", flush_interval=0.02)
    writer.event("log", message="before")
    writer.flush()
    writer.event("log", message=object())  # not JSON: written as its str()
    writer.flush()
    real_fd = writer._fd
    writer._fd = os.open(os.devnull, os.O_RDONLY)  # every write now fails (EBADF), like a full disk
    writer.event("log", message="lost")
    deadline = time.monotonic() + 30  # the flush thread meets the error (wait for it, not a fixed sleep)
    while writer.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert isinstance(writer.error, OSError) and writer.error.errno == errno.EBADF
    assert any(t.name == "events-flush" for t in threading.enumerate())  # still alive
    os.close(writer._fd)
    writer._fd = real_fd
    writer.event("log", message="after")
    writer.close()
    events, _ = read_events(tmp_path / "events.jsonl")
    assert [e["message"] for e in events][0] == "before" and events[-1]["message"] == "after"
    assert "object object" in events[1]["message"]
