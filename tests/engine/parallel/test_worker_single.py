"""The GUI's everyday path: one plain process, still through the worker and elastic launcher."""
from __future__ import annotations

import pytest

from engine.runs import read_status
from engine.worker import rank_pids

from tests.engine.parallel.runner import events, log, run_worker, tiny_spec

pytestmark = pytest.mark.slow


def test_single_process_run_through_the_worker(tmp_path):
    run, code = run_worker(tiny_spec(), tmp_path)
    assert code == 0, log(run)
    from engine.events import PHASES

    assert [e["phase"] for e in events(run, "phase")] == list(PHASES)  # the GUI shows these during start-up
    start = events(run, "start")[0]
    assert start["world_size"] == 1 and start["strategy"] == "none"
    status = read_status(run)
    assert status["status"] == "completed" and status["samples_per_second"] > 0
    assert list(rank_pids(run.path)) == [0]
    assert "worker" in log(run) and "1 process(es) x 1 node(s)" in log(run)
    assert list((run.path / "ranks").glob("*/attempt_0/0/stderr.log"))  # each rank's own log
