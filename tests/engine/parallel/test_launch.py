"""The launcher's configuration and failure report (no processes started)."""
from __future__ import annotations

import dataclasses
import json

from engine.elastic import JobFailure, RankFailure, launch_config
from engine.launchers.local import worker_command
from engine.runs import RunDir
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
    assert JobFailure([raised, killed]).crashed and not JobFailure([raised]).crashed
    assert not JobFailure([]).crashed  # no failure recorded is no evidence of a killed rank


def test_only_a_peers_socket_reads_as_a_lost_peer():
    def failure(message):
        return RankFailure(rank=1, pid=10, exitcode=1, message=message, traceback="Traceback ...")

    gloo = "RuntimeError: [../third_party/gloo/gloo/transport/tcp/pair.cc:538] writev [127.0.0.1]:29411: Broken pipe"
    assert failure(gloo).lost_peer
    assert failure("DistNetworkError: sendBytes failed on SocketImpl(fd=5, addr=[localhost]:41420, "
                   "remote=[localhost]:29500): Broken pipe").lost_peer  # the TCP store's host went away
    assert failure("RuntimeError: [pair.cc:589] Read error [10.0.0.2]:4021: Connection reset by peer").lost_peer
    assert failure("DistBackendError: Connection closed by peer [127.0.0.1]:55440").lost_peer
    assert not failure("BrokenPipeError: [Errno 32] Broken pipe").lost_peer  # the rank's own pipe: its own failure
    assert not failure("ValueError: bad").lost_peer
    # a job whose every error only says a peer went away was ended from outside (crashed); not so here
    assert JobFailure([failure(gloo)]).crashed and not JobFailure([failure("BrokenPipeError: [Errno 32] Broken pipe")]).crashed


def _error_file(folder, message):
    folder.mkdir(parents=True)
    path = folder / "error.json"
    path.write_text(json.dumps({"message": {"message": message, "extraInfo": {"py_callstack": f"Traceback ...\n{message}",
                                                                              "timestamp": "1"}}}))
    return str(path)


def test_the_rank_that_raised_comes_before_the_rank_that_only_lost_it(tmp_path):
    """The agent reports only the first rank to exit; when that one only lost its peer, the
    peer's own error (its error.json beside it) is the cause and is named first."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure

    from engine.elastic import _failures

    run = RunDir.create(tmp_path, tiny_spec())
    attempt = run.ranks / "job" / "attempt_0"
    lost = "RuntimeError: [pair.cc:553] Connection closed by peer [127.0.0.1]:1234"
    first = ProcessFailure(local_rank=0, pid=11, exitcode=1, error_file=_error_file(attempt / "0", lost))
    run.rank_pid_path(1).write_text("12")
    err = ChildFailedError("rank_main", {0: first})
    alone = JobFailure(_failures(err, run.path))
    assert [f.rank for f in alone.failures] == [0] and alone.crashed  # its peer left no error: killed
    _error_file(attempt / "1", "ValueError: injected")
    failure = JobFailure(_failures(err, run.path))
    assert [(f.rank, f.pid) for f in failure.failures] == [(1, 12), (0, 11)]
    assert str(failure).startswith("rank 1 (pid 12) exited with code 1: ValueError: injected")
    assert "ValueError: injected" in failure.failures[0].traceback and not failure.crashed


def test_agent_tracebacks_reach_torch_log_formatter_as_text():
    """torch's log formatter imports all of torch._dynamo (seconds) to format a record's
    exception; the agent logs one when a rank fails. The filter hands it the text instead."""
    import logging
    import sys

    from torch.distributed.launcher.api import elastic_launch  # noqa: F401  (sets up torch's log handlers)

    from engine.elastic import plain_traceback_logs

    plain_traceback_logs()
    plain_traceback_logs()
    handler = next(h for h in logging.getLogger("torch").handlers if type(h.formatter).__name__ == "TorchLogsFormatter")
    assert len([f for f in handler.filters if type(f).__name__ == "_TracebackAsText"]) == 1
    try:
        raise ValueError("rank 1 failed")
    except ValueError:
        record = logging.getLogger("torch.distributed.elastic").makeRecord(
            "torch.distributed.elastic", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert handler.filter(record)
    assert record.exc_info is None and "ValueError: rank 1 failed" in record.exc_text
    assert "ValueError: rank 1 failed" in handler.format(record)
