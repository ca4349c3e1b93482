"""GPU checks (skipped without CUDA; run by benchmarks/gpu_check.sh): one GPU, NCCL, bf16
autocast, DDP and FSDP with one rank, and 2-rank DDP/FSDP when the machine has 2 GPUs."""
from __future__ import annotations

import pytest
import torch

from engine.runs import RunDir, read_status
from engine.session import run_training

from tests.engine.parallel.runner import events, log, run_worker, tiny_spec

pytestmark = pytest.mark.gpu


def _gpus() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_single_gpu(precision, tmp_path):
    run = RunDir.create(tmp_path, tiny_spec(training={"device": "cuda", "precision": precision}))
    result = run_training(run)
    assert result.status == "completed"
    assert events(run, "start")[0]["device"].startswith("cuda")
    assert "gpu_memory" in events(run, "metric")[-1]


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_one_rank_on_nccl(strategy, precision, tmp_path):
    spec = tiny_spec(training={"device": "cuda", "precision": precision}, parallel={"strategy": strategy, "processes": 1})
    run, code = run_worker(spec, tmp_path)
    assert code == 0, log(run)
    assert read_status(run)["status"] == "completed"
    assert events(run, "start")[0]["device"] == "cuda:0"


@pytest.mark.slow
@pytest.mark.skipif(_gpus() < 2, reason="needs 2 GPUs")
@pytest.mark.parametrize("strategy", ["ddp", "fsdp", "tensor", "pipeline"])
def test_two_ranks_on_nccl(strategy, tmp_path):
    batch = 8 if strategy in ("ddp", "fsdp") else 16
    spec = tiny_spec(training={"device": "cuda"}, data={"batch_size": batch}, parallel={"strategy": strategy, "processes": 2})
    run, code = run_worker(spec, tmp_path)
    assert code == 0, log(run)
    assert events(run, "start")[0]["world_size"] == 2
