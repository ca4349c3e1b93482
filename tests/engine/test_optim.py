"""Optimizers, weight decay modes, schedules (preview == what runs) and losses."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from engine.losses import LOSSES, build_loss, check_loss, loss_name
from engine.optim import OPTIMIZERS, build_optimizer, check_optim
from engine.schedulers import SCHEDULERS, build_scheduler, lr_curve
from engine.spec import ExperimentSpec


def make_spec(optimizer=None, scheduler=None, regularization=None, training=None, data=None) -> ExperimentSpec:
    doc = {"name": "t", "optimizer": optimizer or {"name": "sgd", "lr": 0.1},
           "scheduler": scheduler or {"name": "constant"}, "regularization": regularization or {},
           "training": training or {}, "data": data or {"source": "digits"}}
    return ExperimentSpec.from_dict(doc)


def paths(problems):
    return [p.path for p in problems]


# ----------------------------------------------------------------------------- optimizers

@pytest.mark.parametrize("name,cls", [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.Adam),
                                      ("rmsprop", torch.optim.RMSprop), ("adagrad", torch.optim.Adagrad)])
def test_every_optimizer_builds_with_its_defaults(name, cls):
    model = torch.nn.Linear(3, 2)
    opt = build_optimizer(make_spec({"name": name}), model)
    assert isinstance(opt, cls)
    assert opt.param_groups[0]["lr"] == OPTIMIZERS.get(name).param("lr").default


def test_options_reach_torch():
    model = torch.nn.Linear(3, 2)
    sgd = build_optimizer(make_spec({"name": "sgd", "lr": 0.5, "momentum": 0.8, "nesterov": True}), model)
    assert (sgd.defaults["lr"], sgd.defaults["momentum"], sgd.defaults["nesterov"]) == (0.5, 0.8, True)
    adam = build_optimizer(make_spec({"name": "adam", "beta1": 0.7, "beta2": 0.9, "eps": 1e-5}), model)
    assert adam.defaults["betas"] == (0.7, 0.9) and adam.defaults["eps"] == 1e-5
    rms = build_optimizer(make_spec({"name": "rmsprop", "alpha": 0.5}), model)
    assert rms.defaults["alpha"] == 0.5


def _steps(spec, grads, start):
    p = torch.nn.Parameter(start.clone())
    opt = build_optimizer(spec, [p])
    for g in grads:
        p.grad = g.clone()
        opt.step()
    return p.detach()


def test_decoupled_weight_decay_equals_adamw_and_l2_equals_coupled_adam():
    torch.manual_seed(0)
    start, grads = torch.randn(5), [torch.randn(5) for _ in range(6)]
    decoupled = _steps(make_spec({"name": "adam", "lr": 0.01, "weight_decay": 0.1}), grads, start)
    l2 = _steps(make_spec({"name": "adam", "lr": 0.01, "weight_decay": 0.1},
                          regularization={"weight_decay_mode": "l2"}), grads, start)

    def reference(cls):
        p = torch.nn.Parameter(start.clone())
        opt = cls([p], lr=0.01, weight_decay=0.1)
        for g in grads:
            p.grad = g.clone()
            opt.step()
        return p.detach()

    torch.testing.assert_close(decoupled, reference(torch.optim.AdamW))
    torch.testing.assert_close(l2, reference(torch.optim.Adam))
    assert not torch.allclose(decoupled, l2)


def test_decay_modes_differ_as_expected_with_zero_gradient():
    """Zero gradient: decoupled shrinks p by lr*wd*p; L2 feeds wd*p to Adam, which normalizes it to ~lr."""
    start, zero = torch.ones(1), [torch.zeros(1)]
    decoupled = _steps(make_spec({"name": "adam", "lr": 0.1, "weight_decay": 0.5}), zero, start)
    l2 = _steps(make_spec({"name": "adam", "lr": 0.1, "weight_decay": 0.5}, regularization={"weight_decay_mode": "l2"}), zero, start)
    assert decoupled.item() == pytest.approx(1 - 0.1 * 0.5)
    assert l2.item() == pytest.approx(1 - 0.1, abs=1e-6)


def test_decoupled_decay_follows_the_scheduled_lr():
    spec = make_spec({"name": "sgd", "lr": 1.0, "weight_decay": 0.1}, scheduler={"name": "step", "step_epochs": 1, "gamma": 0.5})
    p = torch.nn.Parameter(torch.ones(1))
    opt = build_optimizer(spec, [p])
    sched = build_scheduler(spec, opt, steps_per_epoch=1, total_steps=3)
    values = []
    for _ in range(3):
        p.grad = torch.zeros(1)
        opt.step()
        sched.step()
        values.append(p.item())
    assert values == pytest.approx([0.9, 0.9 * 0.95, 0.9 * 0.95 * 0.975])


def test_optimizer_problems():
    problems = check_optim(make_spec({"name": "sgd", "nesterov": True}))
    assert "optimizer.nesterov" in paths(problems)
    problems = check_optim(make_spec({"name": "adamm"}))
    assert paths(problems) == ["optimizer.name"] and "did you mean 'adam'" in problems[0].message
    problems = check_optim(make_spec({"name": "adam", "momentum": 0.9, "lr": -1}))
    assert set(paths(problems)) == {"optimizer.momentum", "optimizer.lr"}
    assert "optimizer.lr: must be > 0, got -1" in [str(p) for p in problems]
    problems = check_optim(make_spec({"name": "sgd", "lr": 0}))  # a learning rate of 0 trains nothing
    assert [str(p) for p in problems] == ["optimizer.lr: must be > 0, got 0"]


def test_training_device_and_precision_problems():
    from engine.devices import check_device

    problems = check_device(make_spec(training={"precision": "fp16", "device": "cpu"}))
    assert paths(problems) == ["training.precision"] and "bf16" in problems[0].message
    assert paths(check_device(make_spec(training={"device": "gpu"}))) == ["training.device"]
    if not torch.cuda.is_available():
        assert paths(check_device(make_spec(training={"device": "cuda"}))) == ["training.device"]


# ----------------------------------------------------------------------------- schedules

def _lr_trace(spec, steps_per_epoch, total):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer(spec, [p])
    sched = build_scheduler(spec, opt, steps_per_epoch, total)
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"])
        p.grad = torch.zeros(1)
        opt.step()
        if sched is not None:
            sched.step()
    return out


@pytest.mark.parametrize("scheduler", [
    {"name": "constant"}, {"name": "step", "step_epochs": 2, "gamma": 0.5}, {"name": "cosine", "min_lr": 0.01},
    {"name": "warmup_cosine", "warmup_steps": 5}, {"name": "warmup_cosine", "warmup_fraction": 0.2},
    {"name": "one_cycle", "max_lr": 0.5, "pct_start": 0.25},
])
def test_preview_is_exactly_what_runs(scheduler):
    spec = make_spec({"name": "sgd", "lr": 0.1}, scheduler=scheduler)
    assert check_optim(spec) == []
    assert lr_curve(spec, 10, 60) == pytest.approx(_lr_trace(spec, 10, 60), rel=1e-12)


def test_schedule_shapes():
    def curve(**sched):
        return lr_curve(make_spec({"name": "sgd", "lr": 0.1}, scheduler=sched), 10, 100)

    step = curve(name="step", step_epochs=3, gamma=0.1)
    assert step[29] == pytest.approx(0.1) and step[30] == pytest.approx(0.01) and step[60] == pytest.approx(0.001)
    cos = curve(name="cosine", min_lr=0.001)
    assert cos[0] == pytest.approx(0.1) and cos[50] == pytest.approx((0.1 + 0.001) / 2) and 0.001 <= cos[-1] < 0.0011
    warm = curve(name="warmup_cosine", warmup_steps=10)
    assert warm[0] == pytest.approx(0.01) and warm[9] == pytest.approx(0.1) and warm[10] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(warm[10:], warm[11:]))
    one = curve(name="one_cycle", max_lr=1.0, pct_start=0.3, div_factor=10, final_div_factor=100)
    assert one[0] == pytest.approx(0.1) and max(one) == pytest.approx(1.0) and one.index(max(one)) == 29
    assert one[-1] == pytest.approx(0.001)
    assert curve(name="plateau") == [0.1] * 100  # metric-driven: drawn flat


def test_plateau_reduces_when_the_metric_stalls():
    spec = make_spec({"name": "sgd", "lr": 0.1}, scheduler={"name": "plateau", "patience": 1, "factor": 0.5})
    p = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer(spec, [p])
    sched = build_scheduler(spec, opt, 5, 50)
    for value in (1.0, 0.5, 0.5, 0.5):
        sched.epoch_end({"val_loss": value})
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)
    assert sched.state_dict()  # checkpointable


def test_scheduler_problems():
    from engine.schedulers import check_scheduler

    problems = check_scheduler(make_spec(scheduler={"name": "cosine", "warmup": 3}))
    assert paths(problems) == ["scheduler.warmup"]
    problems = check_scheduler(make_spec(scheduler={"name": "expo"}))
    assert paths(problems) == ["scheduler.name"]
    problems = check_scheduler(make_spec(scheduler={"name": "step", "gamma": 2.0}))
    assert paths(problems) == ["scheduler.gamma"]


def test_every_registered_schedule_has_a_curve():
    for entry in SCHEDULERS:
        spec = make_spec(scheduler={"name": entry.name})
        curve = lr_curve(spec, 4, 20)
        assert len(curve) == 20 and all(math.isfinite(v) and v >= 0 for v in curve)


# ----------------------------------------------------------------------------- losses

def test_auto_loss_follows_the_task():
    spec = make_spec()
    assert loss_name(spec, "classification") == "cross_entropy"
    assert loss_name(spec, "language_modeling") == "cross_entropy"
    assert loss_name(spec, "regression") == "mse"


def test_label_smoothing_changes_cross_entropy():
    torch.manual_seed(0)
    out, y = torch.randn(8, 4), torch.randint(0, 4, (8,))
    plain = build_loss(make_spec(), "classification")(out, y)
    smooth = build_loss(make_spec(regularization={"label_smoothing": 0.2}), "classification")(out, y)
    assert plain.item() == pytest.approx(F.cross_entropy(out, y).item())
    assert smooth.item() == pytest.approx(F.cross_entropy(out, y, label_smoothing=0.2).item())
    assert smooth.item() != pytest.approx(plain.item())


def test_language_model_loss_flattens_positions():
    out, y = torch.randn(2, 5, 7), torch.randint(0, 7, (2, 5))
    loss = build_loss(make_spec(), "language_modeling")(out, y)
    assert loss.item() == pytest.approx(F.cross_entropy(out.reshape(10, 7), y.reshape(10)).item())


@pytest.mark.parametrize("name,fn", [("mse", F.mse_loss), ("l1", F.l1_loss), ("huber", F.huber_loss), ("smooth_l1", F.smooth_l1_loss)])
def test_regression_losses(name, fn):
    out, y = torch.randn(6, 2) * 3, torch.randn(6, 2)
    loss = build_loss(make_spec(training={"loss": name}), "regression")(out, y)
    assert loss.item() == pytest.approx(fn(out, y).item())


def test_loss_problems():
    assert paths(check_loss(make_spec(training={"loss": "mse"}))) == ["training.loss"]  # digits: classification
    problems = check_loss(make_spec(training={"loss": "cross_entropyy"}))
    assert "did you mean 'cross_entropy'" in problems[0].message
    problems = check_loss(make_spec(training={"loss": "mse"}, regularization={"label_smoothing": 0.1},
                                    data={"source": "digits"}))
    assert "regularization.label_smoothing" in paths(problems)
    assert check_loss(make_spec(training={"loss": "cross_entropy"})) == []
    assert all("tasks" in e.extra for e in LOSSES)


def test_loss_check_with_unusable_data_is_left_to_check_data():
    spec = make_spec(training={"loss": "mse"}, data={"source": "csv", "path": "/nonexistent.csv", "target": "y"})
    assert check_loss(spec) == []


def test_spec_validate_runs_check_optim():
    from engine.validation import validate

    spec = dataclasses.replace(make_spec({"name": "sgd", "lr": 0.1, "betas": 3}))
    assert "optimizer.betas" in paths(validate(spec))


def test_gui_side_modules_do_not_import_torch():
    """The Train page previews the LR curve and validates before torch is loaded."""
    import subprocess
    import sys

    code = ("import sys\n"
            "import engine.optim, engine.schedulers, engine.losses, engine.runs, engine.events, engine.reporting, "
            "engine.checkpoint, engine.rank, engine.trainer\n"
            "from engine.paths import EXAMPLES\nfrom engine.spec import load_spec\n"
            "from engine.schedulers import lr_curve\nfrom engine.validation import validate\n"
            "spec = load_spec(EXAMPLES / 'tiny_gpt.toml')\nassert len(lr_curve(spec, 10, 50)) == 50\n"
            "assert validate(spec) == []\nassert 'torch' not in sys.modules, 'torch was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
