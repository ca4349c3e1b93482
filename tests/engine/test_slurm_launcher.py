"""The slurm launcher without a cluster: its script, its checks and its named bad inputs."""
from __future__ import annotations

import subprocess

import pytest

from engine.launchers import LaunchError, launcher_of
from engine.runs import RunDir, load_status
from engine.spec import ExperimentSpec
from engine.validation import validate

SPEC = """
name = "multi node"
[data]
source = "random"
[model]
layers = [{{type = "Linear", out_features = 0}}]
[parallel]
strategy = "ddp"
processes = {processes}
nnodes = {nodes}
[launcher]
kind = "slurm"
{launcher}
"""


def _spec(processes=4, nodes=2, launcher=""):
    return ExperimentSpec.from_toml(SPEC.format(processes=processes, nodes=nodes, launcher=launcher))


def test_script_for_two_gpu_nodes(tmp_path):
    spec = _spec(launcher='partition = "gpu"\naccount = "proj1"\ngpus_per_node = 4\ncpus_per_rank = 8\nmemory = "64G"\n'
                          'time_limit = "2-00:00:00"\nsbatch_options = "--qos=high --constraint=a100"\n'
                          'setup = "module load cuda/12.4\\nsource ~/venv/bin/activate"\npython = "python"')
    assert validate(spec) == []  # 2 nodes need no rdzv_endpoint: the job's first node hosts it
    text = launcher_of(spec).script(tmp_path / "run", spec)
    for line in ("#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=4", "#SBATCH --gpus-per-node=4", "#SBATCH --cpus-per-task=8",
                 "#SBATCH --mem=64G", "#SBATCH --time=2-00:00:00", "#SBATCH --partition=gpu", "#SBATCH --account=proj1",
                 "#SBATCH --qos=high", "#SBATCH --constraint=a100", "#SBATCH --requeue", "module load cuda/12.4",
                 "source ~/venv/bin/activate", "--rdzv-endpoint $HEAD:29500", "--cpus-per-task=32 --gpus-per-node=4", "ln -sfn"):
        assert line in text, line
    assert "PYTHONPATH" not in text  # python = "python": Netwright is installed on the nodes
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0


@pytest.mark.parametrize("launcher, path, words", [
    ('time_limit = "1 hour"', "launcher.time_limit", "HH:MM:SS"),
    ("gpus_per_node = 2", "parallel.processes", "one rank per GPU"),
    ('sbatch_options = "qos=high"', "launcher.sbatch_options", "--qos=high"),
    ("gpus_per_nod = 2", "launcher.gpus_per_nod", "did you mean 'gpus_per_node'"),
])
def test_bad_options_are_named(launcher, path, words):
    found = {p.path: p.message for p in validate(_spec(launcher=launcher))}
    assert words in found[path], found


def test_a_cuda_spec_needs_gpus_from_slurm_not_here():
    spec = ExperimentSpec.from_toml(SPEC.format(processes=4, nodes=2, launcher="").replace(
        "[parallel]", '[training]\ndevice = "cuda"\n[parallel]'))
    found = {p.path: p.message for p in validate(spec)}
    assert "training.device" not in found  # this machine's GPUs do not count
    assert "ask Slurm for the GPUs" in found["launcher.gpus_per_node"]


def test_sbatch_missing_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    spec = _spec(processes=1, nodes=1)
    run = RunDir.create(tmp_path / "runs", spec)
    with pytest.raises(LaunchError) as err:
        launcher_of(spec).submit(run, spec)
    assert "sbatch was not found" in str(err.value) and "apt-get install slurm-client" in str(err.value)
    assert load_status(run).job_id is None and load_status(run).status == "created"


def test_unreachable_login_node_is_named(tmp_path):
    spec = _spec(processes=1, nodes=1, launcher='login_host = "ssh://127.0.0.1:1"')  # nothing listens on port 1
    run = RunDir.create(tmp_path / "runs", spec)
    with pytest.raises(LaunchError) as err:
        launcher_of(spec).submit(run, spec)
    (problem,) = err.value.problems
    assert problem.path == "launcher.login_host" and "cannot reach the login node" in problem.message
    assert "without a password" in problem.message
    assert not (run.path / "job.sbatch").exists() and load_status(run).job_id is None
