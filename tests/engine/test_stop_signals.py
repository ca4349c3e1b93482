"""A rank under Slurm (engine.stopsignals.obey_sigterm_from_parent_only): Slurm's SIGTERM, sent to
every process of the job, leaves it running for the worker's graceful stop; its parent's SIGTERM
(the elastic agent tearing the ranks down) ends it at once, not after the agent's 30 s wait."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]

RANK = textwrap.dedent("""
    import sys, time
    from engine.stopsignals import obey_sigterm_from_parent_only
    obey_sigterm_from_parent_only()
    open(sys.argv[1], "w").close()
    time.sleep(60)
""")

#: the rank's parent: starts it, reports its pid, and on "term" sends it SIGTERM, then reports how it ended
PARENT = textwrap.dedent("""
    import signal, subprocess, sys
    rank = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]])
    print(rank.pid, flush=True)
    sys.stdin.readline()
    rank.send_signal(signal.SIGTERM)
    print(rank.wait(timeout=20), flush=True)
""")


def test_a_rank_ignores_sigterm_from_others_and_obeys_its_parent(tmp_path):
    ready = tmp_path / "ready"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, RANK, str(ready)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
    rank = int(parent.stdout.readline())
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert time.monotonic() < deadline, "the rank did not start"
            time.sleep(0.05)
        os.kill(rank, signal.SIGTERM)  # as Slurm does: from a process other than its parent
        time.sleep(0.5)
        assert parent.poll() is None
        assert psutil.Process(rank).status() != psutil.STATUS_ZOMBIE  # still running (its parent reaps it later)
        parent.stdin.write("term\n")
        parent.stdin.flush()
        assert parent.stdout.readline().strip() == str(128 + signal.SIGTERM)
    finally:
        for pid in (rank, parent.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        parent.wait(timeout=10)
        parent.stdin.close()
        parent.stdout.close()
