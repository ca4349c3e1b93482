"""plan / stop / pause / resume / worker commands: output and exit codes (no ranks started)."""
from __future__ import annotations

import dataclasses

import pytest

from engine.cli import main
from engine.devices import Devices, set_devices_for_tests
from engine.parallel.summary import node_commands, plan_summary
from engine.paths import EXAMPLES
from engine.runs import RunDir, read_status, write_status
from engine.spec import apply_overrides, load_spec
from engine.validation import validate

from tests.engine.parallel.runner import events


@pytest.fixture(autouse=True)
def two_cpus():
    set_devices_for_tests(Devices(gpus=0, cpus=2))
    yield
    set_devices_for_tests(None)


def test_plan_prints_layout_memory_stages_bubble_and_command(capsys):
    code = main(["plan", str(EXAMPLES / "seed_bigmodel.toml"), "--set", "parallel.strategy=pipeline",
                 "--set", "parallel.processes=2"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "2 process(es) x 1 node(s) = 2 rank(s); backend gloo on cpu" in out
    assert "memory estimate:" in out and "per stage:" in out
    assert "stage 0: layers 0-1 (linear_1, relu_1)" in out
    assert "predicted pipeline bubble (idle fraction): 20.0%" in out  # K=2, M=4
    assert "netwright worker" in out and "problems: none" in out


def test_plan_prints_every_node_command_and_problems(capsys):
    code = main(["plan", str(EXAMPLES / "moons_mlp.toml"), "--set", "parallel.strategy=ddp", "--set", "parallel.processes=3",
                 "--set", "parallel.nnodes=2", "--set", "parallel.rdzv_endpoint=10.0.0.1:29500"])
    out = capsys.readouterr().out
    assert code == 2
    assert out.count("--rdzv-endpoint 10.0.0.1:29500") == 2
    assert "--node-rank 0" in out and "--node-rank 1" in out
    assert "global batch" in out
    assert "problem: parallel.processes: is 3 but this machine has 2 CPU core(s)" in out


def test_plan_summary_values():
    spec = apply_overrides(load_spec(EXAMPLES / "tiny_gpt.toml"), ["parallel.strategy=tensor", "parallel.processes=2"])
    summary = plan_summary(spec, problems=validate(spec))
    assert summary.world_size == 2 and summary.global_batch == spec.data.batch_size
    assert summary.tensor_split == ("transformerblock_1 (block)", "transformerblock_2 (block)")
    assert summary.memory is not None and summary.memory.total > 0
    ddp = apply_overrides(load_spec(EXAMPLES / "digits_mlp.toml"), ["parallel.strategy=ddp", "parallel.processes=2"])
    summary = plan_summary(ddp, problems=validate(ddp))
    assert summary.global_batch == 2 * ddp.data.batch_size
    assert summary.steps_per_epoch(1000) == 8  # 500 samples per rank, 64 per batch


def test_node_commands_without_endpoint_show_a_placeholder():
    spec = load_spec(EXAMPLES / "moons_mlp.toml")
    spec = dataclasses.replace(spec, parallel=dataclasses.replace(spec.parallel, strategy="ddp", nnodes=2))
    commands = node_commands(spec, "my spec.toml")
    assert len(commands) == 2 and "'my spec.toml'" in commands[0] and "NODE0_HOST:29500" in commands[1]


def test_control_commands_exit_codes(tmp_path, capsys):
    assert main(["stop", str(tmp_path / "missing")]) == 2
    run = RunDir.create(tmp_path, load_spec(EXAMPLES / "moons_mlp.toml"))
    assert main(["pause", str(run.path)]) == 1  # created, not running
    assert "not running" in capsys.readouterr().err
    write_status(run, "running")  # this (live) process counts as the run's
    assert main(["pause", str(run.path)]) == 0
    assert (run.path / "control.json").read_text().count("pause") == 1
    assert main(["resume", str(run.path)]) == 0
    assert main(["stop", str(run.path)]) == 0
    assert '"stop"' in (run.path / "control.json").read_text()


def test_worker_refuses_a_spec_with_problems(tmp_path, capsys):
    spec = apply_overrides(load_spec(EXAMPLES / "moons_mlp.toml"), ["parallel.strategy=pipeline", "parallel.processes=2",
                                                                     "parallel.microbatches=3"])
    run = RunDir.create(tmp_path, spec)
    assert main(["worker", str(run.path)]) == 2
    status = read_status(run)
    assert status["status"] == "failed" and "parallel.microbatches" in status["message"]
    assert "parallel.microbatches" in events(run, "error")[0]["message"]


def test_worker_refuses_a_run_that_is_already_running(tmp_path, capsys):
    import os

    run = RunDir.create(tmp_path, load_spec(EXAMPLES / "moons_mlp.toml"))
    write_status(run, "running", pid=os.getppid())  # a live process that is not us
    assert main(["worker", str(run.path)]) == 2
    assert "already running" in capsys.readouterr().err
    assert read_status(run)["pid"] == os.getppid()  # untouched


def test_plan_repeats_the_overrides_in_every_node_command(capsys):
    """`plan SPEC --set ...` prints node commands that run the same (overridden) spec."""
    overrides = ["parallel.strategy=ddp", "parallel.nnodes=2", "training.epochs=3"]
    main(["plan", str(EXAMPLES / "moons_mlp.toml"), *(a for o in overrides for a in ("--set", o))])
    commands = [line.strip() for line in capsys.readouterr().out.splitlines() if "netwright worker" in line]
    assert len(commands) == 2
    for command in commands:
        assert all(f"--set {o}" in command for o in overrides)


@pytest.mark.parametrize("command", ["validate", "plan", "train"])
def test_an_unknown_strategy_is_a_named_problem_in_every_command(command, capsys, tmp_path):
    args = [command, str(EXAMPLES / "moons_mlp.toml"), "--set", "parallel.strategy=dpp"]
    code = main(args + (["--runs-dir", str(tmp_path), "--quiet"] if command == "train" else []))
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert "parallel.strategy: must be one of none, ddp, fsdp, tensor, pipeline; got 'dpp' — did you mean 'ddp'?" in out + err
    assert "Traceback" not in out + err


def test_plan_names_the_data_when_the_data_blocks_the_estimate(capsys, tmp_path):
    code = main(["plan", str(EXAMPLES / "moons_mlp.toml"), "--set", "data.source=csv",
                 "--set", f"data.path={tmp_path / 'missing.csv'}"])
    out = capsys.readouterr().out
    assert code == 2 and "memory estimate: — (fix the data first)" in out


def test_plan_global_batch_counts_accumulation(capsys):
    code = main(["plan", str(EXAMPLES / "moons_mlp.toml"), "--set", "parallel.strategy=ddp", "--set", "parallel.processes=2",
                 "--set", "data.batch_size=16", "--set", "training.grad_accumulation=4"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "batch: 16 per rank, global batch 128 (16 x 2 ranks x 4 accumulated micro-batches)" in out
