"""The best checkpoint of a 2-rank run holds the full (unsharded / all stages') weights under the
single-process names, and matches the best checkpoint of the same run in one process (192
training samples: whole batches of 16, so pipeline runs drop none and train like one process)."""
from __future__ import annotations

import pytest
import torch

from engine.checkpoint import best_checkpoint, best_info, load_weights
from engine.runs import RunDir
from engine.session import run_training
from tests.engine.parallel.runner import events, log, run_worker, tiny_spec

pytestmark = pytest.mark.slow

SHORT = dict(data={"samples": 256}, training={"epochs": 2, "max_steps": 0})


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run = RunDir.create(tmp_path_factory.mktemp("ref"), tiny_spec(**SHORT))
    assert run_training(run).status == "completed"
    return run


@pytest.mark.parametrize("parallel, batch", [
    ({"strategy": "fsdp", "processes": 2}, 8),
    ({"strategy": "pipeline", "processes": 2, "microbatches": 4, "schedule": "1f1b"}, 16),
])
def test_two_ranks_save_the_full_best_weights(reference, tmp_path, parallel, batch):
    spec = tiny_spec(parallel=parallel, data={**SHORT["data"], "batch_size": batch}, training=SHORT["training"])
    run, code = run_worker(spec, tmp_path)
    assert code == 0, log(run)
    ours, theirs = best_checkpoint(run.checkpoints), best_checkpoint(reference.checkpoints)
    assert ours is not None, log(run)
    assert best_info(ours)["epoch"] == best_info(theirs)["epoch"]
    assert best_info(ours)["value"] == pytest.approx(best_info(theirs)["value"], rel=1e-5)
    assert [e["epoch"] for e in events(run, "checkpoint") if e.get("best")] == \
        [e["epoch"] for e in events(reference, "checkpoint") if e.get("best")]
    weights, ref_weights = load_weights(ours / "model.safetensors"), load_weights(theirs / "model.safetensors")
    assert sorted(weights) == sorted(ref_weights)
    for name, value in ref_weights.items():
        torch.testing.assert_close(weights[name], value, rtol=1e-5, atol=1e-6, msg=lambda m: f"{name}: {m}")
