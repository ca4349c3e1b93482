"""The ray launcher against a real one-node Ray cluster (tests/clusters/ray_head.py) on 127.0.0.1,
and its bad inputs (no Ray, an address nobody answers at)."""
from __future__ import annotations

import enum
import sys

import pytest

from engine.launchers import LaunchError, launcher_of
from engine.runs import RunDir, load_status, request_control
from engine.spec import ExperimentSpec
from tests.engine.parallel.runner import TINY, events, log, run_worker, step_losses, wait_until

DDP = '\n[parallel]\nstrategy = "ddp"\nprocesses = 2\n'


def ray_spec(address: str, *, mode: str = "streamed", scratch: str = "/tmp/netwright-ray", **training) -> ExperimentSpec:
    text = TINY + DDP + (f'[launcher]\nkind = "ray"\naddress = "{address}"\nmode = "{mode}"\nscratch_dir = "{scratch}"\n'
                         f'python = "{sys.executable}"\n')  # the job runs this Python (with torch), whatever PATH says
    spec = ExperimentSpec.from_toml(text)
    if training:
        import dataclasses

        spec = dataclasses.replace(spec, training=dataclasses.replace(spec.training, **training))
    return spec


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when this returns: nothing listens there


def test_address_nobody_answers_at_is_named_and_nothing_starts(tmp_path):
    pytest.importorskip("ray")
    import psutil

    spec = ray_spec(f"http://127.0.0.1:{_closed_port()}")
    run = RunDir.create(tmp_path / "runs", spec)
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(LaunchError) as err:
        launcher_of(spec).submit(run, spec)
    (problem,) = err.value.problems
    assert problem.path == "launcher.address" and "no Ray cluster answers at http://127.0.0.1:" in problem.message
    assert "connection refused" in problem.message and "ray start --head" in problem.message
    assert {p.pid for p in psutil.Process().children(recursive=True)} == before  # no follower, no job
    assert load_status(run).job_id is None and not (run.path / ".ray-probe").exists()
    assert launcher_of(spec).preflight(run, spec)[0].path == "launcher.address"


def test_ray_not_installed_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray.job_submission", None)  # import fails as if Ray were missing
    spec = ray_spec("http://127.0.0.1:8265")
    with pytest.raises(LaunchError) as err:
        launcher_of(spec).submit(RunDir.create(tmp_path / "runs", spec), spec)
    assert err.value.problems[0].path == "launcher.kind"
    assert "pip install 'netwright[ray]'" in str(err.value)
    import engine.launchers.ray as ray_launcher
    from engine.validation import validate

    monkeypatch.setattr(ray_launcher, "ray_installed", lambda: False)

    assert "netwright[ray]" in {p.path: p.message for p in validate(spec)}["launcher.kind"]  # shown before submitting


def test_address_and_gpu_checks_in_validate():
    pytest.importorskip("ray")
    from engine.validation import validate

    found = {p.path: p.message for p in validate(ray_spec("ftp://head:8265"))}
    assert "is not a Ray address" in found["launcher.address"]
    assert validate(ray_spec("ray://head:10001")) == []
    on_gpu = {p.path for p in validate(ray_spec("ray://head:10001", device="cuda"))}
    assert "launcher.gpus_per_rank" in on_gpu  # GPU ranks must reserve a GPU each


# ----------------------------------------------------------------------------- on a real cluster

@pytest.fixture(scope="module")
def head():
    pytest.importorskip("ray")
    from tests.clusters.ray_head import RayHead

    with RayHead(cpus=2) as running:
        yield running
    assert not running.processes()  # nothing of the cluster is left running


@pytest.fixture(scope="module")
def local_losses(tmp_path_factory):
    """The local launcher's per-step losses of the same 2-rank DDP spec."""
    spec = ExperimentSpec.from_toml(TINY + DDP)
    run, code = run_worker(spec, tmp_path_factory.mktemp("local"))
    assert code == 0, log(run)
    return step_losses(run)


def _follow(run: RunDir, submission, timeout: float = 240) -> int:
    try:
        return submission.process.wait(timeout)
    except Exception:
        submission.process.kill()
        raise AssertionError(f"the follower did not finish in {timeout} s:\n{log(run)}")


@pytest.mark.slow
def test_streamed_ddp_job_completes_with_the_local_losses(head, local_losses, tmp_path):
    spec = ray_spec(head.address, scratch=str(tmp_path / "scratch"))
    run = RunDir.create(tmp_path / "runs", spec)
    launcher = launcher_of(spec)
    submission = launcher.submit(run, spec)
    assert submission.job_id and load_status(run).job_id == submission.job_id
    assert _follow(run, submission) == 0, log(run)
    status = load_status(run)
    assert status.status == "completed" and status.launcher == "ray" and status.extra["job_state"] == "COMPLETED"
    assert launcher.job_state(run).state == "COMPLETED"
    # the events, status and checkpoint rank 0 wrote on the cluster are here, in order
    assert step_losses(run) == local_losses and len(local_losses) == 6
    seqs = [e["seq"] for e in events(run)]
    assert seqs == list(range(len(seqs)))
    assert (run.checkpoints / "latest").read_text().strip() == "step-000000006"
    assert (run.checkpoints / "step-000000006" / "model.safetensors").stat().st_size > 0
    assert list(run.tensorboard.glob("events.out.tfevents.*"))  # TensorBoard's files came too
    assert not list((tmp_path / "scratch").iterdir())  # the ranks' node-local copies are gone


@pytest.mark.slow
def test_shared_run_directory_stops_through_control_json(head, tmp_path):
    spec = ray_spec(head.address, mode="shared", max_steps=100000, epochs=1000)
    run = RunDir.create(tmp_path / "runs", spec)
    submission = launcher_of(spec).submit(run, spec)
    wait_until(lambda: any(e["type"] == "metric" for e in events(run)), 180, "the first step on the cluster", run)
    request_control(run, "stop")  # read by rank 0 on the cluster, as for a local run
    assert _follow(run, submission) == 0, log(run)
    status = load_status(run)
    assert status.status == "stopped", log(run)
    assert (run.checkpoints / "latest").exists()
    assert status.extra["job_state"] == "COMPLETED" and status.job_id == submission.job_id


# ----------------------------------------------------------------------------- without a cluster

def test_streamed_records_rebuild_rank0s_folder_here_even_when_read_twice(tmp_path):
    """What the job's streamer reads in rank 0's folder, written into the local run directory by
    the follower's RecordWriter: events with the same bytes, log lines, status, complete
    checkpoints with their pointer, pruned ones removed; a log stream read again from its start
    (a reconnect) changes nothing."""
    import json

    from engine.launchers._ray_job import CHUNK, MARK, FileStream
    from engine.launchers._ray_follow import RecordWriter, parse_output

    spec = ray_spec("http://127.0.0.1:8265")
    local = RunDir.create(tmp_path / "runs", spec)
    (local.events_path).write_text('{"seq": 0}\n')  # staged with the job: its copy starts the same
    remote = tmp_path / "rank0"
    (remote / "checkpoints" / "step-000000002").mkdir(parents=True)
    (remote / "events.jsonl").write_text('{"seq": 0}\n')
    stream = FileStream(remote, skip_existing=True)
    with open(remote / "events.jsonl", "a") as f:
        f.write('{"seq": 1}\n{"seq": 2}\n{"seq": 3, "partial')  # a line being written is not sent
    (remote / "log.txt").write_text("rank 0 says hello\n")
    (remote / "status.json").write_text(json.dumps({"status": "running", "pid": 1, "step": 2, "host": "node7"}))
    big = bytes(range(256)) * (CHUNK // 128)  # two parts
    (remote / "checkpoints" / "step-000000004").mkdir()
    (remote / "checkpoints" / "step-000000004" / "model.safetensors").write_bytes(big)
    (remote / "checkpoints" / "latest").write_text("step-000000004\n")
    (remote / "tensorboard").mkdir()
    (remote / "tensorboard" / "events.out.tfevents.1").write_bytes(b"\x00\x01binary")
    records = stream.pull()
    with open(remote / "tensorboard" / "events.out.tfevents.1", "ab") as f:
        f.write(b"\xffmore")
    with open(remote / "events.jsonl", "a") as f:
        f.write(' 1}\n')
    records += stream.pull()
    (local.checkpoints / "step-000000002").mkdir(parents=True)  # arrived earlier; pruned on the node now
    stream.sent_folders.add("step-000000002")
    (remote / "checkpoints" / "step-000000002").rmdir()
    records += stream.pull()
    text = "".join(MARK + json.dumps(r) + "\n" for r in records)
    writer = RecordWriter(local)
    for _ in range(2):  # the second time is a reconnect reading the log from its start
        items, rest = parse_output(text[:1000], "")
        items2, rest = parse_output(text[1000:], rest)
        assert rest == ""
        for item in items + items2:
            writer.apply(item)
    assert local.events_path.read_text() == (remote / "events.jsonl").read_text()
    assert local.log_path.read_text().count("rank 0 says hello") == 1
    assert (local.checkpoints / "step-000000004" / "model.safetensors").read_bytes() == big
    assert (local.checkpoints / "latest").read_text() == "step-000000004\n"
    assert not (local.checkpoints / "step-000000002").exists()
    assert (local.tensorboard / "events.out.tfevents.1").read_bytes() == b"\x00\x01binary\xffmore"
    status = load_status(local)
    assert status.status == "running" and status.step == 2 and status.host != "node7"  # this process owns it here
    assert stream.pull() == []  # nothing new: nothing sent


def test_rank_layout_gives_each_node_its_gpus_and_local_ranks():
    from engine.launchers._ray_job import _layout

    infos = [{"node_id": "a", "gpus": ["3"]}, {"node_id": "b", "gpus": ["0"]}, {"node_id": "a", "gpus": ["1"]},
             {"node_id": "b", "gpus": ["1"]}]
    layout = _layout(infos)
    assert [env["CUDA_VISIBLE_DEVICES"] for env in layout] == ["1,3", "0,1", "1,3", "0,1"]
    assert [env["LOCAL_RANK"] for env in layout] == ["1", "0", "0", "1"]  # its own GPU in that list
    cpu = _layout([{"node_id": "a", "gpus": []}, {"node_id": "a", "gpus": []}, {"node_id": "b", "gpus": []}])
    assert [env["LOCAL_RANK"] for env in cpu] == ["0", "1", "0"] and "CUDA_VISIBLE_DEVICES" not in cpu[0]
    assert [env["LOCAL_WORLD_SIZE"] for env in cpu] == ["2", "2", "1"]


def test_follower_reads_the_log_again_after_a_lost_connection_without_doubling_anything(tmp_path, monkeypatch):
    """The job's log stream drops mid-way (mid-line, too); the follower reads it again from its
    start and skips what it handled: every line once in log.txt, the result taken once."""
    import json

    from engine.launchers import launcher_of
    from engine.launchers._ray_follow import _follow
    from engine.launchers._ray_job import MARK

    monkeypatch.setattr("engine.launchers._ray_follow.RETRY_S", 0.0)
    spec = ray_spec("http://127.0.0.1:8265", mode="shared")
    run = RunDir.create(tmp_path / "runs", spec)
    log_text = ("rank 0 line one\n" + MARK + json.dumps({"kind": "ranks", "ranks": [{"host": "n1"}]}) + "\n"
                + "rank 1 line two\n" + MARK + json.dumps({"kind": "result", "result": {"status": "completed"}}) + "\n")

    class Client:
        tails = 0

        async def tail_job_logs(self, job_id):
            Client.tails += 1
            if Client.tails == 1:
                yield log_text[:30]  # a line and a half, then the connection drops
                raise RuntimeError("connection closed")
            for at in range(0, len(log_text), 7):
                yield log_text[at:at + 7]

        def get_job_status(self, job_id):
            return JobStatus.RUNNING

    outcome = _follow(Client(), "job1", run, launcher_of(spec), "", say=lambda text: None)
    assert Client.tails == 2 and outcome["result"] == {"status": "completed"}
    lines = run.log_path.read_text().splitlines()
    assert lines.count("rank 0 line one") == 1 and lines.count("rank 1 line two") == 1
    assert load_status(run).extra["job_nodes"] == "n1"


class JobStatus(str, enum.Enum):
    """Ray's job states as its client returns them (a str enum: the follower reads `.value`)."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"


def test_follower_stops_on_a_record_it_cannot_apply_naming_the_job(tmp_path, monkeypatch):
    """An error applying a record here (a full disk) is not a lost connection: reading the log
    again cannot mend it, so the follower ends at once and says the job may still run."""
    import errno
    import json

    from engine.launchers import launcher_of
    from engine.launchers._ray_follow import RecordWriter, _follow
    from engine.launchers._ray_job import MARK

    monkeypatch.setattr("engine.launchers._ray_follow.RETRY_S", 0.0)

    def full(self, record):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(RecordWriter, "apply", full)
    spec = ray_spec("http://127.0.0.1:8265", mode="shared")
    run = RunDir.create(tmp_path / "runs", spec)
    said = []

    class Client:
        tails = 0

        async def tail_job_logs(self, job_id):
            Client.tails += 1
            yield MARK + json.dumps({"kind": "append", "path": "events.jsonl", "text": "{}"}) + "\n"

        def get_job_status(self, job_id):
            return JobStatus.RUNNING

    with pytest.raises(RuntimeError) as err:
        _follow(Client(), "job7", run, launcher_of(spec), "", say=said.append)
    assert Client.tails == 1 and not said
    assert "No space left" in str(err.value) and "job7 may still run" in str(err.value)
