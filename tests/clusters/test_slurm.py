"""The slurm launcher against a real one-node Slurm cluster (tests/clusters/slurm_cluster.py):
a job is cancelled mid-run, an impossible request stays PENDING with Slurm's reason, a
held job whose node sees another folder fails as "not shared". (A 2-rank DDP job run to
completion, watched from the app's Monitor, is in test_slurm_monitor.py.)"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.launchers import launcher_for_run, launcher_of
from engine.runs import RunDir, effective_status, load_status
from engine.spec import ExperimentSpec
from tests.engine.parallel.runner import events, wait_until

pytestmark = pytest.mark.slow

SPEC = """
name = "slurm_ddp"
[data]
source = "random"
samples = 256
shape = [8]
classes = 2
batch_size = 16
[model]
layers = [{{type = "Linear", out_features = 16}}, {{type = "ReLU"}}, {{type = "Linear", out_features = 2}}]
[training]
epochs = {epochs}
checkpoint_every = 1
log_every = 1
[parallel]
strategy = "{strategy}"
processes = {processes}
nnodes = {nodes}
[launcher]
kind = "slurm"
time_limit = "10"
{launcher}
"""


def spec_text(*, epochs=2, nodes=1, launcher="", processes=2) -> str:
    return SPEC.format(epochs=epochs, nodes=nodes, launcher=launcher, processes=processes,
                       strategy="ddp" if processes * nodes > 1 else "none")


def _submit(tmp_path, *, epochs=2, nodes=1, launcher="", processes=2):
    spec = ExperimentSpec.from_toml(spec_text(epochs=epochs, nodes=nodes, launcher=launcher, processes=processes))
    run = RunDir.create(tmp_path / "runs", spec)
    submission = launcher_of(spec).submit(run, spec)
    return run, submission


def test_impossible_request_pends_with_slurms_reason(slurm_cluster, tmp_path, capsys):
    """Through the CLI: train submits and returns, runs shows the job's reason, stop cancels it."""
    spec_file = tmp_path / "eight_nodes.toml"
    spec_file.write_text(spec_text(nodes=8))  # one node in this cluster: never runs
    runs_dir = tmp_path / "runs"
    assert main(["train", str(spec_file), "--runs-dir", str(runs_dir)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run = RunDir(Path(summary["run_dir"]))
    assert summary["job_id"] and summary["launcher"] == "slurm" and summary["status"] == "created"
    assert "#SBATCH --nodes=8" in (run.path / "job.sbatch").read_text()
    status = load_status(run)
    assert (status.launcher, status.job_id) == ("slurm", summary["job_id"])

    assert main(["runs", "--runs-dir", str(runs_dir), "--json"]) == 0
    job = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["job"]
    assert job["state"] == "PENDING" and job["reason"], job  # e.g. PartitionConfig / PartitionNodeLimit
    assert main(["runs", "--runs-dir", str(runs_dir)]) == 0
    assert f"job {summary['job_id']} PENDING ({job['reason']})" in capsys.readouterr().out

    assert main(["stop", str(run.path)]) == 0  # nothing runs yet that could read a stop request: scancel
    assert "asked Slurm to end job" in capsys.readouterr().err
    launcher = launcher_for_run(run)
    cancelled = wait_until(lambda: (j := launcher.job_state(run)).final and j, 30, "the pending job to be cancelled")
    assert cancelled.state == "CANCELLED"
    assert effective_status(run) == "created"  # never started: nothing in the run changed


def test_cancel_mid_run_stops_with_a_checkpoint(slurm_cluster, tmp_path):
    """scancel's SIGTERM reaches every process of the job; the ranks leave it to the worker, which
    stops them gracefully (within the cluster's KillWait): status stopped, a checkpoint of the step."""
    run, _ = _submit(tmp_path, epochs=400, processes=1)  # one rank: the cancel is what is tested
    launcher = launcher_for_run(run)
    wait_until(lambda: len(events(run, "metric")) >= 3, 240, "training steps", run)
    assert launcher.job_state(run).state == "RUNNING"
    assert main(["stop", "--cancel", str(run.path)]) == 0  # what `stop` offers for a job that does not answer
    job = wait_until(lambda: (j := launcher.job_state(run)).final and j, 90, "the job to end", run)
    assert job.state == "CANCELLED" and "cancelled" in job.describe()
    status = wait_until(lambda: effective_status(run) not in ("running", "paused") and effective_status(run), 30,
                        "a final status", run)
    assert status == "stopped", (status, run.log_path.read_text()[-3000:])
    assert load_status(run).checkpoint and load_status(run).step >= 3


def test_node_that_sees_another_folder_fails_as_not_shared(slurm_cluster, tmp_path):
    run, submission = _submit(tmp_path, launcher='sbatch_options = "--hold"')
    launcher = launcher_for_run(run)
    assert launcher.job_state(run).state == "PENDING"
    (run.path / "shared-probe").write_text("another folder at the same path\n")  # what a node-local disk would show
    assert slurm_cluster.run("scontrol", "release", submission.job_id).returncode == 0
    job = wait_until(lambda: (j := launcher.job_state(run)).final and j, 120, "the job to fail", run)
    assert job.state == "FAILED" and job.exit_code.startswith("3"), job
    assert "not shared" in job.describe()
    assert "cannot read" in run.log_path.read_text()
