"""Two "nodes" of one process each on 127.0.0.1 train as one job (static rendezvous)."""
from __future__ import annotations

import pytest

from engine.launchers.local import free_port
from engine.runs import RunDir, read_status
from engine.session import run_training

from tests.engine.parallel.runner import events, kill_started, log, start, step_losses, tiny_spec

pytestmark = pytest.mark.slow


def test_two_nodes_train_as_one_job(tmp_path):
    endpoint = f"127.0.0.1:{free_port()}"
    runs = []
    for node in (0, 1):
        spec = tiny_spec(data={"batch_size": 8}, parallel={"strategy": "ddp", "processes": 1, "nnodes": 2,
                                                           "node_rank": node, "rdzv_endpoint": endpoint})
        runs.append(RunDir.create(tmp_path / f"node{node}", spec))
    procs = [start(run) for run in runs]
    try:
        codes = [proc.wait(120) for proc in procs]
    finally:
        kill_started()
    assert codes == [0, 0], log(runs[0]) + log(runs[1])
    node0, node1 = runs
    assert events(node0, "start")[0]["world_size"] == 2
    assert read_status(node0)["status"] == "completed"
    assert not events(node1, "metric")  # rank 0 (node 0) alone reports
    status1 = read_status(node1)
    assert status1["status"] == "completed" and "node 1" in status1["message"]

    reference = RunDir.create(tmp_path / "one", tiny_spec())  # one process, the same global batch of 16
    assert run_training(reference).status == "completed"
    ours, theirs = step_losses(node0), step_losses(reference)
    assert sorted(ours) == sorted(theirs)
    for step in theirs:
        assert ours[step] == pytest.approx(theirs[step], rel=1e-5, abs=1e-6)
