"""Knowledge distillation ([distill], engine/distill.py): the check of the teacher, the packed
targets (cached = per batch), the loss, and a distilled student beating the same student alone."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from engine.cli import main as cli
from engine.distill import attach_teacher, check_distill, distill_loss
from engine.losses import build_loss
from engine.model import build_model
from engine.paths import EXAMPLES
from engine.problems import SpecError
from engine.runs import RunDir
from engine.session import run_training
from engine.spec import DistillSpec, ExperimentSpec, apply_overrides, load_spec, save_spec
from engine.validation import validate

# one xdist worker for the module, so its module-scoped fixture (the teacher) is built once
pytestmark = pytest.mark.xdist_group("distill")

QUIET = ["training.log_every=1000", "tracking.tensorboard=false", "training.checkpoint_every=0"]


def mlp(*widths: int) -> str:
    hidden = "".join(f"{{type='Linear',out_features={w}}},{{type='ReLU'}}," for w in widths)
    return f"model.layers=[{{type='Flatten'}},{hidden}{{type='Linear',out_features=0}}]"


def digits_csv(path: Path, rows) -> str:
    """The sklearn digits `rows` as a CSV: 64 pixel columns (0-16) and the digit."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    lines = [",".join([*(f"p{i}" for i in range(64)), "digit"])]
    lines += [",".join([*(f"{v:g}" for v in digits.data[i]), str(digits.target[i])]) for i in rows]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def csv_spec(path: str, overrides: list[str]) -> ExperimentSpec:
    return apply_overrides(ExperimentSpec(), ["data.source=csv", f"data.path={path}", "optimizer.lr=0.003", *overrides,
                                              *QUIET])


def train(folder: Path, spec: ExperimentSpec):
    run = RunDir.create(folder, spec)
    return run.path, run_training(run)


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> dict[str, str]:
    """Two disjoint CSV files of the digits: 1,500 for the teacher, the other 297 for the student
    (Hinton et al.'s small transfer set: the student's validation half is no sample the teacher saw)."""
    import numpy as np

    folder = tmp_path_factory.mktemp("digits")
    order = np.random.default_rng(0).permutation(1797)
    return {"teacher": digits_csv(folder / "teacher.csv", order[:1500]),
            "student": digits_csv(folder / "student.csv", order[1500:])}


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, digits) -> Path:
    """An MLP trained on the teacher's 1,500 digits (val accuracy ~0.99)."""
    spec = csv_spec(digits["teacher"], [mlp(128, 64), "training.epochs=15", "data.val_fraction=0.1"])
    path, result = train(tmp_path_factory.mktemp("teacher"), spec)
    assert result.status == "completed" and result.metrics["val_accuracy"] > 0.97
    return path


@pytest.fixture
def student(digits) -> ExperimentSpec:
    """A 32-unit MLP on the student's 297 digits (148 to train on), 400 steps."""
    return csv_spec(digits["student"], [mlp(32), "data.val_fraction=0.5", "training.epochs=10000",
                                        "training.max_steps=400"])


def distilled(spec: ExperimentSpec, teacher: Path, **options) -> ExperimentSpec:
    return dataclasses.replace(spec, distill=DistillSpec(teacher=str(teacher), **options))


def test_distilled_student_beats_the_same_student_alone(teacher, student, tmp_path):
    _, alone = train(tmp_path, student)
    _, taught = train(tmp_path, distilled(student, teacher, temperature=4.0, alpha=0.9))
    assert alone.steps == taught.steps == 400
    assert taught.metrics["val_accuracy"] > alone.metrics["val_accuracy"] + 0.01, (alone.metrics, taught.metrics)


def test_cached_and_per_batch_targets_are_the_same(teacher, student):
    spec = distilled(student, teacher, cache="on")
    x, y = torch.randn(40, 64), torch.randint(0, 10, (40,))
    cached, loss_fn = attach_teacher(spec, x, y, build_loss(spec, "classification"), classes=10)
    per_batch, _ = attach_teacher(dataclasses.replace(spec, distill=dataclasses.replace(spec.distill, cache="off")),
                                  x, y, build_loss(spec, "classification"), classes=10)
    assert isinstance(cached, torch.Tensor) and not isinstance(per_batch, torch.Tensor)
    idx = torch.tensor([3, 17, 0, 39])
    assert torch.allclose(cached[idx], per_batch[idx])
    assert torch.equal(cached[idx][:, 0].long(), y[idx])
    assert torch.allclose(cached[:, 1:].exp().sum(1), torch.ones(40))  # log-probabilities


def test_alpha_zero_trains_on_the_labels_without_running_the_teacher(student, monkeypatch):
    """alpha = 0 weighs the soft targets by nothing: the teacher is not even loaded."""
    import engine.distill as distill

    def no_teacher(*args, **kwargs):
        raise AssertionError("the teacher was loaded")

    monkeypatch.setattr(distill, "load_teacher", no_teacher)
    spec = distilled(student, Path("teacher-run"), alpha=0.0)
    x, y = torch.randn(8, 64), torch.randint(0, 10, (8,))
    task = build_loss(spec, "classification")
    targets, loss_fn = attach_teacher(spec, x, y, task, classes=10)
    assert targets is y and loss_fn is task


def test_loss_mixes_soft_and_hard_targets():
    task = build_loss(ExperimentSpec(), "classification")
    out, teacher_logits, labels = torch.randn(6, 4), torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    T = 3.0
    packed = torch.cat([labels[:, None].float(), torch.log_softmax(teacher_logits / T, 1)], 1)
    soft = torch.nn.functional.kl_div(torch.log_softmax(out / T, 1), torch.softmax(teacher_logits / T, 1),
                                      reduction="batchmean") * T * T
    assert torch.allclose(distill_loss(task, T, 1.0)(out, packed), soft)
    assert torch.allclose(distill_loss(task, T, 0.0)(out, packed), task(out, labels))
    assert torch.allclose(distill_loss(task, T, 0.25)(out, packed), 0.25 * soft + 0.75 * task(out, labels))
    same = torch.cat([labels[:, None].float(), torch.log_softmax(out / T, 1)], 1)
    assert float(distill_loss(task, T, 1.0)(out, same)) == pytest.approx(0.0, abs=1e-6)


def test_bad_teachers_and_options_are_named(teacher, student, tmp_path):
    missing = check_distill(distilled(student, tmp_path / "nowhere"))
    assert [p.path for p in missing] == ["distill.teacher"] and "run directory not found" in missing[0].message
    untrained = RunDir.create(tmp_path / "runs", student)  # created, never trained
    assert "has no checkpoint yet" in check_distill(distilled(student, untrained.path))[0].message
    # a teacher with 5 outputs (its spec and checkpoint exist; it was never meant for 10 digits)
    five = RunDir.create(tmp_path / "runs", apply_overrides(student, ["model.layers[3].out_features=5"]))
    from engine.checkpoint import save_checkpoint

    save_checkpoint(five.checkpoints, build_model(five.load_spec(), (64,), num_classes=10).state_dict(), {}, step=0)
    (message,) = [p.message for p in check_distill(distilled(student, five.path))]
    assert "outputs (5,) do not match the student's 10 classes" in message
    with pytest.raises(SpecError, match="gives 5 outputs per sample, the student's data has 10 classes"):
        attach_teacher(distilled(student, five.path), torch.randn(4, 64), torch.zeros(4, dtype=torch.long),
                       build_loss(student, "classification"), classes=10)
    wine = load_spec(EXAMPLES / "wine_mlp.toml")  # 13 features, 3 classes
    problems = {p.message.split(" — ")[0] for p in check_distill(distilled(wine, teacher))}
    assert any("takes float32 inputs of shape (64,), but the student's data gives float32 (13,)" in m for m in problems)
    assert any("do not match the student's 3 classes" in m for m in problems)
    lm = check_distill(distilled(load_spec(EXAMPLES / "tiny_gpt.toml"), teacher))
    assert "needs a classification task" in lm[0].message
    ranges = {p.path for p in validate(distilled(student, teacher, temperature=0.0, alpha=1.5))}
    assert {"distill.temperature", "distill.alpha"} <= ranges
    assert not [p for p in validate(distilled(student, teacher)) if p.path.startswith("distill")]


def test_spec_section_round_trips_and_resolves_relative_teacher(tmp_path):
    assert "[distill]" not in ExperimentSpec().to_toml()  # off: not written
    (tmp_path / "s.toml").write_text('[distill]\nteacher = "runs/t"\nalpha = 0.3\n')
    spec = load_spec(tmp_path / "s.toml")
    assert spec.distill == DistillSpec(teacher=str(tmp_path / "runs" / "t"), alpha=0.3)
    assert ExperimentSpec.from_toml(spec.to_toml()).distill == spec.distill


def test_cli_reaches_distill_through_set(teacher, student, tmp_path, capsys):
    save_spec(student, tmp_path / "student.toml")
    spec = str(tmp_path / "student.toml")
    assert cli(["validate", spec, "--set", f"distill.teacher={tmp_path / 'none'}"]) == 2
    assert "distill.teacher" in capsys.readouterr().out
    assert cli(["validate", spec, "--set", f"distill.teacher={teacher}", "--set", "distill.alpha=0.8"]) == 0
    assert cli(["validate", "digits_mlp", "--set", f"distill.teacher={teacher}"]) == 2  # (1, 8, 8) images
    assert "takes float32 inputs of shape (64,)" in capsys.readouterr().out
    assert cli(["validate", spec, "--set", "distill.alpa=0.8"]) == 2
    assert "did you mean 'alpha'" in capsys.readouterr().out
