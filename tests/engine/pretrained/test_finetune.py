"""Freezing, per-group learning rates and gradual unfreezing of a Pretrained block in the trainer,
and the parallel plan's problems with imported models (small timm test models, random data)."""
from __future__ import annotations

import pytest

from tests.engine.pretrained.tiny import need_pretrained_extra

need_pretrained_extra()

import torch  # noqa: E402

from engine.optim import build_optimizer  # noqa: E402
from engine.session import prepare  # noqa: E402
from engine.spec import ExperimentSpec  # noqa: E402
from engine.trainer import train  # noqa: E402
from engine.validation import validate  # noqa: E402
from tests.engine.test_trainer import FakeReporter  # noqa: E402


def _spec(block, **training):
    return ExperimentSpec.from_dict({
        "name": "ft", "seed": 0,
        "data": {"source": "random", "shape": [3, 24, 24], "classes": 3, "samples": 24, "batch_size": 8},
        "model": {"layers": [{"type": "Pretrained", "source": "timm", "model": "test_resnet", "weights": "random",
                              **block}, {"type": "Linear", "out_features": 0}]},
        "optimizer": {"name": "sgd", "lr": 0.1},
        "training": {"device": "cpu", "log_every": 100, **training}, "tracking": {"tensorboard": False},
    })


def _backbone(model):
    return {k: v.detach().clone() for k, v in model.pretrained_1.state_dict().items()}


def test_freeze_up_to_a_part_trains_only_what_follows():
    spec = _spec({"freeze": "up_to", "freeze_until": "layer2"}, epochs=1)
    data, model = prepare(spec)
    before = _backbone(model)
    assert train(spec, data, model, FakeReporter()).status == "completed"
    after = _backbone(model)
    frozen = [k for k in before if k.split(".")[1] in ("conv1", "bn1", "layer1", "layer2")]
    trained = [k for k in before if k.split(".")[1] in ("layer3", "layer4") and "weight" in k]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)  # batch-norm statistics too
    assert trained and any(not torch.equal(before[k], after[k]) for k in trained)


def test_backbone_learning_rate_multiplier_makes_a_parameter_group():
    spec = _spec({"lr_multiplier": 0.1})
    _, model = prepare(spec)
    groups = build_optimizer(spec, model).param_groups
    assert sorted(g["lr"] for g in groups) == pytest.approx([0.01, 0.1])
    head = next(g for g in groups if g["lr"] == pytest.approx(0.1))
    assert {id(p) for p in head["params"]} == {id(p) for p in model.linear_1.parameters()}


def test_gradual_unfreezing_after_n_epochs():
    spec = _spec({"freeze": "all", "unfreeze_after": 1}, epochs=2, checkpoint_every=0)
    data, model = prepare(spec)
    start = _backbone(model)
    seen = []

    class Watch(FakeReporter):
        def event(self, type, **fields):
            if type == "epoch":
                seen.append(_backbone(model))
            super().event(type, **fields)

    rep = Watch()
    assert train(spec, data, model, rep).status == "completed"
    conv = "net.conv1.0.weight"
    assert torch.equal(seen[0][conv], start[conv])          # epoch 1: frozen
    assert not torch.equal(seen[1][conv], start[conv])      # epoch 2: unfrozen and trained
    assert any("unfroze" in e["message"] for e in rep.of("log"))
    assert all(p.requires_grad for p in model.parameters()) and not model.pretrained_1.frozen


def test_option_and_plan_problems_name_the_field():
    bad = _spec({"freeze": "up_to", "freeze_until": "layer9"})
    assert any("freeze_until = 'layer9' is not a part of test_resnet" in p.message and "layer4" in p.message
               for p in validate(bad))
    useless = _spec({"unfreeze_after": 2})
    assert any("nothing to unfreeze" in p.message for p in validate(useless))
    missing = _spec({"weights": "file"})
    assert any("no weights_path" in p.message for p in validate(missing))
    for strategy, field in (("tensor", "parallel.strategy"), ("pipeline", "parallel.strategy")):
        spec = ExperimentSpec.from_dict({**_spec({}).to_dict(), "parallel": {"strategy": strategy, "processes": 2}})
        assert any(p.path == field and "Pretrained test_resnet" in p.message for p in validate(spec)), strategy
    gradual = ExperimentSpec.from_dict({**_spec({"freeze": "all", "unfreeze_after": 1}).to_dict(),
                                        "parallel": {"strategy": "ddp", "processes": 2}})
    assert any(p.path == "model.layers[0].unfreeze_after" for p in validate(gradual))
    plain = ExperimentSpec.from_dict({**_spec({"freeze": "all"}).to_dict(), "parallel": {"strategy": "ddp", "processes": 2}})
    assert not [p for p in validate(plain) if "Pretrained" in p.message]
