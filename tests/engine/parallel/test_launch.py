"""The launcher's configuration and failure report (no processes started)."""
from __future__ import annotations

import dataclasses

from engine.elastic import JobFailure, RankFailure, launch_config
from engine.launchers.local import worker_command
from engine.worker import apply_layout

from tests.engine.parallel.runner import tiny_spec


def test_one_node_uses_c10d_on_a_free_port_with_spawn(tmp_path):
    spec = tiny_spec(parallel={"strategy": "ddp", "processes": 2, "max_restarts": 2})
    config = launch_config(spec, tmp_path)
    assert (config.min_nodes, config.max_nodes, config.nproc_per_node) == (1, 1, 2)
    assert config.rdzv_backend == "c10d" and config.rdzv_endpoint == "127.0.0.1:0"  # port 0: the store picks a free one
    assert config.start_method == "spawn" and config.max_restarts == 2
    assert "SIGTERM" not in config.signals_to_handle and "SIGINT" not in config.signals_to_handle  # the worker's own
    assert config.logs_specs.root_log_dir == str(tmp_path / "ranks")
    assert launch_config(spec, tmp_path).run_id != config.run_id


def test_multi_node_uses_static_rendezvous_with_node_rank(tmp_path):
    spec = tiny_spec(parallel={"strategy": "ddp", "processes": 2, "nnodes": 3, "node_rank": 2, "rdzv_endpoint": "10.0.0.1:29500"})
    config = launch_config(spec, tmp_path)
    assert config.rdzv_backend == "static" and config.rdzv_endpoint == "10.0.0.1:29500"
    assert config.rdzv_configs["rank"] == 2 and (config.min_nodes, config.max_nodes) == (3, 3)
    other = dataclasses.replace(spec, parallel=dataclasses.replace(spec.parallel, node_rank=0))
    assert launch_config(other, tmp_path).run_id == config.run_id  # every node names the same job


def test_layout_overrides_and_command(tmp_path):
    spec = apply_layout(tiny_spec(), processes=2, nnodes=2, node_rank=1, rdzv_endpoint="h:1")
    assert (spec.parallel.processes, spec.parallel.nnodes, spec.parallel.node_rank, spec.parallel.rdzv_endpoint) == (2, 2, 1, "h:1")
    assert apply_layout(spec) is spec
    cmd = worker_command(tmp_path, resume=True)
    assert cmd[1:4] == ["-m", "engine", "worker"] and cmd[-1] == "--resume"


def test_failure_descriptions():
    raised = RankFailure(rank=1, pid=10, exitcode=1, message="ValueError: bad", traceback="Traceback ...")
    killed = RankFailure(rank=0, pid=11, exitcode=-9, message="", traceback="")
    assert not raised.killed and killed.killed
    assert raised.describe() == "rank 1 (pid 10) exited with code 1: ValueError: bad"
    assert killed.describe() == "rank 0 (pid 11) was killed by SIGKILL"
    assert str(JobFailure([raised, killed])).startswith("rank 1 (pid 10)")
