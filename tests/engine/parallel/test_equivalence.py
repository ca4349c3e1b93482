"""Each strategy trains like one process: same model (no dropout), data, seed and global batch,
once single-process and once with 2 gloo ranks through the real worker; losses and final
weights agree to float tolerance. This is the proof that each option is real."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
import torch

from engine.checkpoint import load_latest
from engine.runs import RunDir
from engine.session import run_training
from engine.spec import save_spec

from tests.engine.parallel.runner import REPO, env, events, log, run_worker, start, step_losses, tiny_spec

pytestmark = pytest.mark.slow

CASES = {
    # strategy: (parallel section, per-rank batch size)
    "ddp": ({"strategy": "ddp", "processes": 2}, 8),
    "fsdp+resume": ({"strategy": "fsdp", "processes": 2}, 8),
    "tensor": ({"strategy": "tensor", "processes": 2}, 16),
    "pipeline-gpipe": ({"strategy": "pipeline", "processes": 2, "microbatches": 4, "schedule": "gpipe"}, 16),
    "pipeline-1f1b+resume": ({"strategy": "pipeline", "processes": 2, "microbatches": 4, "schedule": "1f1b", "stages": [3]}, 16),
}


def _train_cli(spec, tmp_path) -> RunDir:
    path = tmp_path / "spec.toml"
    save_spec(spec, path)
    done = subprocess.run([sys.executable, "main.py", "train", str(path), "--runs-dir", str(tmp_path / "runs"), "--quiet"],
                          cwd=REPO, env=env(), capture_output=True, text=True, timeout=120)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0 and summary["status"] == "completed", done.stderr[-3000:]
    assert summary["world_size"] == 2 and summary["steps"] == 6 and summary["samples_per_second"] > 0
    return RunDir.open(summary["run_dir"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One process, global batch 16, grad clipping on (so sharded global norms are exercised)."""
    spec = tiny_spec(regularization={"grad_clip_norm": 0.5})
    run = RunDir.create(tmp_path_factory.mktemp("ref"), spec)
    result = run_training(run)
    assert result.status == "completed"
    return run


@pytest.mark.parametrize("case", list(CASES))
def test_two_ranks_match_one_process(case, reference, tmp_path):
    parallel, batch = CASES[case]
    spec = tiny_spec(parallel=parallel, data={"batch_size": batch}, regularization={"grad_clip_norm": 0.5})
    if case == "ddp":  # `train` routes processes > 1 through the same launcher
        run = _train_cli(spec, tmp_path)
    elif case.endswith("+resume"):  # 3 steps, then resume from that checkpoint for 3 more
        first = dataclasses.replace(spec, training=dataclasses.replace(spec.training, max_steps=3))
        run, code = run_worker(first, tmp_path)
        assert code == 0, log(run)
        proc = start(run, "--resume", "--set", "training.max_steps=6")
        assert proc.wait(90) == 0, log(run)
        assert [e["resumed_from"] for e in events(run, "start")][1]
    else:
        run, code = run_worker(spec, tmp_path)
        assert code == 0, log(run)
    assert events(run, "start")[0]["world_size"] == 2

    ours, theirs = step_losses(run), step_losses(reference)
    assert sorted(ours) == sorted(theirs) == list(range(1, 7))
    for step in theirs:
        assert ours[step] == pytest.approx(theirs[step], rel=1e-5, abs=1e-6), f"step {step}"
    final_ref = events(reference, "status")[-1]["metrics"]
    final = events(run, "status")[-1]["metrics"]
    assert final["val_loss"] == pytest.approx(final_ref["val_loss"], rel=1e-5)

    _, weights, _ = load_latest(run.path)
    _, ref_weights, _ = load_latest(reference.path)
    assert sorted(weights) == sorted(ref_weights)  # full, unsharded weights under the same names
    for name, value in ref_weights.items():
        torch.testing.assert_close(weights[name], value, rtol=1e-5, atol=1e-6, msg=lambda m: f"{name}: {m}")
    # and they did train: the weights moved away from the seeded initial ones
    assert events(run, "metric")[-1]["train_loss"] < events(run, "metric")[0]["train_loss"] + 0.5


TINY_LM = """
name = "tiny_lm"
seed = 1
[data]
source = "text"
batch_size = 8
val_fraction = 0.1
seq_len = 8
[model]
layers = [
  {type = "Embedding", num_embeddings = 0, embedding_dim = 16},
  {type = "PositionalEmbedding", max_len = 8},
  {type = "TransformerBlock", heads = 4, mlp_ratio = 2, dropout = 0.0, causal = true},
  {type = "LMHead", vocab_size = 0},
]
[optimizer]
name = "sgd"
lr = 0.3
momentum = 0.9
weight_decay = 0.01
[training]
epochs = 1
max_steps = 4
log_every = 1
device = "cpu"
"""


def test_tensor_parallel_transformer_matches_one_process(tmp_path):
    """Heads and MLP of a TransformerBlock split over 2 ranks: the same LM as one process.
    (SGD: the key bias has an exactly-zero true gradient, so Adam would amplify rounding noise.)"""
    import dataclasses

    from engine.spec import ExperimentSpec

    spec = ExperimentSpec.from_toml(TINY_LM)
    reference = RunDir.create(tmp_path / "ref", spec)
    assert run_training(reference).status == "completed"
    spec = dataclasses.replace(spec, parallel=dataclasses.replace(spec.parallel, strategy="tensor", processes=2))
    run, code = run_worker(spec, tmp_path / "tp")
    assert code == 0, log(run)
    ours, theirs = step_losses(run), step_losses(reference)
    assert sorted(ours) == sorted(theirs) == [1, 2, 3, 4]
    for step in theirs:
        assert ours[step] == pytest.approx(theirs[step], rel=1e-5), f"step {step}"
    _, weights, _ = load_latest(run.path)
    _, ref_weights, _ = load_latest(reference.path)
    assert sorted(weights) == sorted(ref_weights)  # packed back into nn.MultiheadAttention's names
    for name, value in ref_weights.items():
        torch.testing.assert_close(weights[name], value, rtol=1e-4, atol=1e-5, msg=lambda m: f"{name}: {m}")
