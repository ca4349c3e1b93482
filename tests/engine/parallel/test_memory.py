"""The memory estimate against a real measurement on CPU (same model, one training step).

Parameters, gradients and optimizer state must match exactly (to 1%, Adam's step counters
aside); the activations autograd keeps for backward must be within 2% for these
sequential models. Sharding arithmetic is checked per strategy."""
from __future__ import annotations

import pytest
import torch

from engine.model import build_model
from engine.parallel.memory import LayerCost, estimate_memory, optimizer_slots
from engine.shapes import infer_model
from engine.spec import LayerSpec

MLP = [LayerSpec("Flatten"), LayerSpec("Linear", {"out_features": 256}), LayerSpec("ReLU"),
       LayerSpec("Linear", {"out_features": 128}), LayerSpec("GELU"), LayerSpec("Linear", {"out_features": 10})]
CNN = [LayerSpec("Conv2d", {"out_channels": 16, "kernel_size": 3, "padding": 1}), LayerSpec("ReLU"),
       LayerSpec("MaxPool2d", {"kernel_size": 2}), LayerSpec("Conv2d", {"out_channels": 32, "kernel_size": 3, "padding": 1}),
       LayerSpec("Tanh"), LayerSpec("Flatten"), LayerSpec("Linear", {"out_features": 10})]


def costs(layers, shape):
    report = infer_model(layers, shape, "float32", 10)
    assert not report.problems
    return [LayerCost(r.label, r.type, r.params, tuple(r.in_shape), tuple(r.out_shape)) for r in report.rows if r.depth == 0]


def measure(layers, shape, batch):
    torch.manual_seed(0)
    model = build_model(layers, shape, "float32", num_classes=10)
    params = {p.data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t):
        if t.data_ptr() not in params:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    x, y = torch.randn(batch, *shape), torch.randint(0, 10, (batch,))
    opt = torch.optim.Adam(model.parameters())
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    nbytes = lambda ts: sum(t.numel() * t.element_size() for t in ts)
    state = [v for s in opt.state.values() for k, v in s.items() if k != "step"]
    return dict(params=nbytes(model.parameters()), grads=nbytes(p.grad for p in model.parameters()),
                optimizer=nbytes(state), activations=sum(saved.values()))


@pytest.mark.parametrize("layers,shape", [(MLP, (1, 8, 8)), (CNN, (3, 16, 16))], ids=["mlp", "cnn"])
@pytest.mark.parametrize("batch", [8, 64])
def test_estimate_matches_measurement(layers, shape, batch):
    real = measure(layers, shape, batch)
    est = estimate_memory(costs(layers, shape), batch=batch, optimizer_slots=optimizer_slots("adam", {}), num_outputs=10)
    assert est.params == real["params"]
    assert est.grads == real["grads"]
    assert est.optimizer == real["optimizer"]
    assert est.activations == pytest.approx(real["activations"], rel=0.02)


def test_sharding_arithmetic():
    layers = costs(MLP, (1, 8, 8))
    one = estimate_memory(layers, batch=32, strategy="none")
    ddp = estimate_memory(layers, batch=32, strategy="ddp", ranks=2)
    assert ddp.total == one.total  # every rank holds everything
    fsdp = estimate_memory(layers, batch=32, strategy="fsdp", ranks=4)
    biggest = max(l.params for l in layers) * 4
    assert fsdp.optimizer == pytest.approx(one.optimizer / 4, abs=8)
    assert fsdp.params == pytest.approx(one.params / 4 + 2 * biggest, abs=8)
    pipe = estimate_memory(layers, batch=32, strategy="pipeline", ranks=2, stage_starts=[0, 3], microbatches=4)
    assert len(pipe.stages) == 2 and max(pipe.stages) == pipe.total < one.total
    f1b = estimate_memory(layers, batch=32, strategy="pipeline", ranks=2, stage_starts=[0, 3], microbatches=4, schedule="1f1b")
    assert f1b.activations <= pipe.activations  # 1F1B keeps fewer micro-batches in flight
    tp = estimate_memory(layers, batch=32, strategy="tensor", ranks=2, tensor_split=[1, 2, 3])
    assert tp.params < one.params and tp.activations < one.activations
    assert "MiB per device" in one.describe()


def test_optimizer_slots():
    assert optimizer_slots("adam", {}) == 2
    assert optimizer_slots("sgd", {"momentum": 0.0}) == 0
    assert optimizer_slots("sgd", {"momentum": 0.9}) == 1
    assert optimizer_slots("rmsprop", {"momentum": 0.9, "centered": True}) == 3
