"""Pure planning: stage split, bubble, layout checks (each bad input named with its numbers)."""
from __future__ import annotations

import dataclasses

import pytest

from engine.parallel import plan
from engine.devices import Devices, set_devices_for_tests
from engine.parallel.plan import bubble_fraction, check_stages, split_stages, tensor_plan
from engine.parallel.strategies import STRATEGIES
from engine.spec import ExperimentSpec, LayerSpec, load_spec
from engine.validation import validate
from engine.paths import EXAMPLES


@pytest.fixture(autouse=True)
def two_cpus():
    set_devices_for_tests(Devices(gpus=0, cpus=2))
    yield
    set_devices_for_tests(None)


def spec_with(path="moons_mlp.toml", **sections) -> ExperimentSpec:
    spec = load_spec(EXAMPLES / path)
    for name, changes in sections.items():
        spec = dataclasses.replace(spec, **{name: dataclasses.replace(getattr(spec, name), **changes)})
    return spec


def problems(spec) -> dict[str, str]:
    return {p.path: p.message for p in validate(spec)}


# ----------------------------------------------------------------------------- stage split

def _cost(params, starts):
    bounds = [*starts, len(params)]
    return max(sum(params[a:b]) for a, b in zip(bounds, bounds[1:]))


@pytest.mark.parametrize("params,k,expected", [
    ([1, 1, 1, 1], 4, [0, 1, 2, 3]),
    ([5, 0, 5, 0], 2, [0, 2]),  # a parameter-free layer stays with the layer before it
    ([10, 0, 100, 0, 10], 3, [0, 2, 4]),
    ([100, 1, 1, 2, 100], 2, [0, 3]),
    ([7], 1, [0]),
])
def test_split_stages_examples(params, k, expected):
    assert split_stages(params, k) == expected


def test_split_stages_is_optimal_against_brute_force():
    import itertools
    import random

    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(1, 8)
        params = [rng.choice([0, 1, 5, 50, 500]) for _ in range(n)]
        k = rng.randint(1, n)
        starts = split_stages(params, k)
        assert starts[0] == 0 and len(starts) == k and starts == sorted(set(starts))
        best = min(_cost(params, [0, *c]) for c in itertools.combinations(range(1, n), k - 1))
        assert _cost(params, starts) == best


def test_split_stages_rejects_more_stages_than_layers():
    with pytest.raises(ValueError, match="3 layers into 4 stages"):
        split_stages([1, 2, 3], 4)


def test_bubble_fraction():
    assert bubble_fraction(1, 8) == 0
    assert bubble_fraction(2, 4) == pytest.approx(1 / 5)
    assert bubble_fraction(4, 4) == pytest.approx(3 / 7)
    with pytest.raises(ValueError):
        bubble_fraction(0, 4)


def test_manual_stage_checks():
    assert check_stages([3], 5, 2) == []
    assert check_stages([0, 3], 5, 2) == []
    assert "need 1" in check_stages([1, 2], 5, 2)[0].message
    assert "strictly increasing" in check_stages([3, 2], 5, 3)[0].message
    assert "between 1 and 4" in check_stages([5], 5, 2)[0].message


# ----------------------------------------------------------------------------- layout checks

def test_valid_parallel_specs_have_no_problems():
    for strategy in ("ddp", "fsdp", "tensor"):
        assert problems(spec_with(parallel={"strategy": strategy, "processes": 2})) == {}
    assert problems(spec_with(parallel={"strategy": "pipeline", "processes": 2}, data={"batch_size": 32})) == {}


def test_processes_more_than_devices():
    msg = problems(spec_with(parallel={"strategy": "ddp", "processes": 3}))["parallel.processes"]
    assert "is 3" in msg and "2 CPU core(s)" in msg
    set_devices_for_tests(Devices(gpus=2, cpus=16))
    msg = problems(spec_with(parallel={"strategy": "ddp", "processes": 4}))["parallel.processes"]
    assert "is 4" in msg and "2 GPU(s)" in msg and "at most 2" in msg


def test_nccl_without_gpu():
    msg = problems(spec_with(parallel={"strategy": "ddp", "processes": 2, "backend": "nccl"}))["parallel.backend"]
    assert "nccl needs CUDA" in msg and "gloo" in msg
    msg = problems(spec_with(parallel={"strategy": "ddp", "processes": 2, "backend": "nccl"}, training={"device": "cpu"}))["parallel.backend"]
    assert "training.device is cpu" in msg


def test_backend_resolution():
    assert plan.resolve_backend(spec_with()) == "gloo"
    set_devices_for_tests(Devices(gpus=1, cpus=4))
    assert plan.resolve_backend(spec_with()) == "nccl"
    assert plan.resolve_backend(spec_with(training={"device": "cpu"})) == "gloo"


def test_pipeline_stages_more_than_layers():
    spec = spec_with(parallel={"strategy": "pipeline", "processes": 2}, data={"batch_size": 32},
                     model={"layers": (LayerSpec("Linear", {"out_features": 0}),)})
    msg = problems(spec)["parallel.processes"]
    assert "2 stages" in msg and "the model has 1" in msg


def test_microbatches_must_divide_the_batch():
    msg = problems(spec_with(parallel={"strategy": "pipeline", "processes": 2, "microbatches": 5}, data={"batch_size": 32}))
    assert "5 micro-batches do not divide data.batch_size = 32" in msg["parallel.microbatches"]
    assert "30 or 35" in msg["parallel.microbatches"]


def test_1f1b_needs_enough_microbatches():
    msg = problems(spec_with(parallel={"strategy": "pipeline", "processes": 2, "microbatches": 1, "schedule": "1f1b"},
                             data={"batch_size": 32}))["parallel.microbatches"]
    assert "1 < 2 stages" in msg


def test_pipeline_rejects_batchnorm_grad_accumulation_and_fp16():
    spec = spec_with("digits_cnn.toml", parallel={"strategy": "pipeline", "processes": 2},
                     training={"grad_accumulation": 2, "precision": "fp16"})
    found = problems(spec)
    bn = [path for path, msg in found.items() if "BatchNorm2d" in msg]
    assert bn and bn[0].startswith("model.layers[")
    assert "is 2" in found["training.grad_accumulation"]
    assert "fp16" in found["training.precision"]


def test_tensor_sizes_must_divide():
    layers = (LayerSpec("Linear", {"out_features": 15}), LayerSpec("ReLU"), LayerSpec("Linear", {"out_features": 0}))
    found = problems(spec_with(parallel={"strategy": "tensor", "processes": 2}, model={"layers": layers}))
    assert "15 outputs, which do not divide by the 2" in found["model.layers[0].out_features"]


def test_tensor_needs_something_to_split():
    layers = (LayerSpec("Linear", {"out_features": 0}),)
    msg = problems(spec_with(parallel={"strategy": "tensor", "processes": 2}, model={"layers": layers}))["parallel.strategy"]
    assert "nothing to split" in msg and "Linear" in msg


def test_tensor_checks_transformer_mlp_width():
    spec = load_spec(EXAMPLES / "tiny_gpt.toml")
    spec = dataclasses.replace(spec, parallel=dataclasses.replace(spec.parallel, strategy="tensor", processes=2))
    assert not [p for p in validate(spec) if p.path.startswith(("model", "parallel"))]


def test_l1_is_rejected_where_weights_are_sharded():
    for strategy in ("fsdp", "tensor", "pipeline"):
        found = problems(spec_with(parallel={"strategy": strategy, "processes": 2}, regularization={"l1": 0.01},
                                   data={"batch_size": 32}))
        assert "regularization.l1" in found, strategy
    assert "regularization.l1" not in problems(spec_with(parallel={"strategy": "ddp", "processes": 2}, regularization={"l1": 0.01}))


def test_multi_node_layout():
    found = problems(spec_with(parallel={"strategy": "ddp", "nnodes": 2, "node_rank": 2}))
    assert "is 2 but there are 2 nodes" in found["parallel.node_rank"]
    assert "is required with 2 nodes" in found["parallel.rdzv_endpoint"]
    found = problems(spec_with(parallel={"strategy": "ddp", "nnodes": 2, "rdzv_endpoint": "node0"}))
    assert "host:port" in found["parallel.rdzv_endpoint"]


def test_none_with_several_processes():
    msg = problems(spec_with(parallel={"processes": 2}))["parallel.strategy"]
    assert "choose one of ddp, fsdp, tensor, pipeline" in msg and "2 ranks" in msg


def test_global_batch_and_registry():
    assert plan.global_batch(spec_with(parallel={"strategy": "ddp", "processes": 2})) == 2 * spec_with().data.batch_size
    assert plan.global_batch(spec_with(parallel={"strategy": "tensor", "processes": 2})) == spec_with().data.batch_size
    accumulated = spec_with(parallel={"strategy": "ddp", "processes": 2}, training={"grad_accumulation": 4})
    assert plan.global_batch(accumulated) == 2 * 4 * spec_with().data.batch_size
    assert STRATEGIES.names() == ["none", "ddp", "fsdp", "tensor", "pipeline"]
    for entry in STRATEGIES:
        assert entry.description and entry.obj.name == entry.name


def test_tensor_plan_pairs():
    class R:
        def __init__(self, t, label):
            self.type, self.label = t, label

    rows = [R("Linear", "a"), R("ReLU", "r"), R("Dropout", "d"), R("Linear", "b"), R("Linear", "c"), R("LayerNorm", "n"),
            R("Linear", "e"), R("TransformerBlock", "t")]
    assert [(i.label, i.style) for i in tensor_plan(rows)] == [("a", "colwise"), ("b", "rowwise"), ("t", "block")]


def test_checks_and_plan_do_not_import_torch():
    """The GUI validates on every edit: planning a parallel spec must stay torch-free."""
    import subprocess
    import sys

    code = ("import sys; from engine.spec import load_spec, apply_overrides; from engine.validation import validate; "
            "from engine.paths import EXAMPLES; from engine.parallel.summary import plan_summary; "
            "s = apply_overrides(load_spec(EXAMPLES / 'moons_mlp.toml'), ['parallel.strategy=pipeline', 'parallel.processes=2']); "
            "plan_summary(s, problems=validate(s)); assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=str(EXAMPLES.parent.parent))
    assert done.returncode == 0, done.stderr
