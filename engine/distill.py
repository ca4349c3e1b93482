"""Knowledge distillation: a trained run (the teacher) guides a student trained as an ordinary run.

`[distill] teacher = RUN_DIR` turns it on. The trainer swaps its training targets for
`attach_teacher(...)`'s, which carry each sample's label and the teacher's log-probabilities at
temperature T in one (N, 1 + classes) tensor, and its training loss for
``alpha * KL(student/T || teacher/T) * T^2 + (1 - alpha) * task loss``. Packed targets need
nothing from the loop or the parallel strategies: they are indexed, sharded and split into
micro-batches like labels. Validation keeps the task loss, so a student's val_loss compares with
the same model trained alone. The teacher (its best checkpoint, else its latest) runs in eval
mode without gradients on every rank: once over the whole training set when the logits are
small enough to keep (`cache`), else per batch. It sees the samples as the student's data gives
them: normalized with the student's training statistics and never augmented (as in Noisy
Student), so a teacher trained on the same data source and seed sees exactly its own inputs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from engine.checkpoint import WEIGHTS, best_checkpoint, latest_checkpoint
from engine.data import describe_data
from engine.problems import Problem, SpecError
from engine.runs import RunDir
from engine.shapes import infer_model

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from engine.data import DataInfo
    from engine.spec import ExperimentSpec

FIELD = "distill.teacher"
#: `cache = "auto"` keeps the teacher's log-probabilities of the whole training set up to this size
CACHE_BYTES = 256 << 20
#: samples per teacher forward pass when caching
CACHE_BATCH = 1024


@dataclass(frozen=True)
class Teacher:
    """A teacher run as found on disk (no torch): its spec, checkpoint folder, data and output width."""

    run: RunDir
    spec: "ExperimentSpec"
    checkpoint: Path
    info: "DataInfo"
    outputs: tuple[int, ...] | None


def _fail(message: str) -> SpecError:
    return SpecError([Problem(FIELD, message)])


def find_teacher(path: str) -> Teacher:
    """The teacher run at `path`; SpecError on `distill.teacher` naming what is missing."""
    try:
        run = RunDir.open(path)
        spec = run.load_spec()
    except SpecError as err:
        raise _fail(f"{path}: {err.problems[0].message}") from None
    folder = best_checkpoint(run.checkpoints) or latest_checkpoint(run.checkpoints)
    if folder is None or not (folder / WEIGHTS).is_file():
        raise _fail(f"run {run.path.name} has no checkpoint yet — train the teacher (at least one epoch) first")
    try:
        info = describe_data(spec.data)
    except SpecError as err:
        raise _fail(f"the teacher's data cannot be read ({err.problems[0]})") from None
    report = infer_model(spec.model.layers, info.input_shape, info.input_dtype, info.num_classes)
    return Teacher(run, spec, folder, info, report.output_shape)


def check_distill(spec: "ExperimentSpec") -> list[Problem]:
    """Problems of [distill]: the teacher run exists and has a checkpoint, and takes the student's
    inputs and gives one output per student class (temperature and alpha ranges are schema checks)."""
    path = spec.distill.teacher
    if not isinstance(path, str) or not path.strip():
        return []
    try:
        student = describe_data(spec.data)
    except SpecError:  # reported by check_data
        return []
    if student.task != "classification":
        return [Problem(FIELD, f"distillation needs a classification task; this data is "
                               f"{student.task.replace('_', ' ')} — clear distill.teacher")]
    try:
        teacher = find_teacher(path)
    except SpecError as err:
        return list(err.problems)
    return mismatches(teacher, student)


def mismatches(teacher: Teacher, student: "DataInfo") -> list[Problem]:
    """Where the teacher's inputs or outputs do not fit the student's data."""
    name, info = teacher.run.path.name, teacher.info
    problems = []
    if (tuple(info.input_shape), info.input_dtype) != (tuple(student.input_shape), student.input_dtype):
        problems.append(Problem(FIELD, f"teacher {name} takes {info.input_dtype} inputs of shape "
                                       f"{tuple(info.input_shape)}, but the student's data gives {student.input_dtype} "
                                       f"{tuple(student.input_shape)} — choose a teacher trained on this data"))
    if teacher.outputs is not None and tuple(teacher.outputs) != (student.num_classes,):
        problems.append(Problem(FIELD, f"teacher {name}'s outputs {tuple(teacher.outputs)} do not match the student's "
                                       f"{student.num_classes} classes — choose a teacher trained on these classes"))
    elif info.class_names and student.class_names and tuple(info.class_names) != tuple(student.class_names):
        problems.append(Problem(FIELD, f"teacher {name} was trained on classes {', '.join(info.class_names[:6])}…, "
                                       f"the student's data has {', '.join(student.class_names[:6])}…"))
    return problems


def load_teacher(spec: "ExperimentSpec", device: Any = "cpu") -> Any:
    """The teacher's model with its checkpoint's weights, on `device`, in eval mode, frozen."""
    import torch

    from engine.checkpoint import load_weights
    from engine.model import build_model
    from engine.trained import read_weights

    teacher = find_teacher(spec.distill.teacher)
    info = teacher.info
    model = build_model(teacher.spec, info.input_shape, info.input_dtype, info.num_classes)
    state, quantized = read_weights(teacher.checkpoint / WEIGHTS, load_weights)
    try:
        model.load_state_dict(state, strict=True, assign=quantized)
    except RuntimeError as err:
        raise _fail(f"{teacher.checkpoint / WEIGHTS} does not fit the model in the teacher's spec.toml "
                    f"({str(err).splitlines()[0]})") from None
    model.to(torch.device(device)).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class TeacherTargets:
    """Training targets computed per batch: ``targets[idx]`` is ``[label, teacher log-probs at T]``
    for the samples ``x[idx]`` (the teacher runs without gradients)."""

    def __init__(self, teacher: Any, x: "torch.Tensor", y: "torch.Tensor", temperature: float):
        self.teacher, self.x, self.y, self.temperature = teacher, x, y, temperature

    def __getitem__(self, idx: Any) -> "torch.Tensor":
        import torch

        with torch.no_grad():
            logp = torch.log_softmax(self.teacher(self.x[idx]).float() / self.temperature, dim=1)
        return torch.cat([self.y[idx].unsqueeze(1).to(logp.dtype), logp], dim=1)

    def __len__(self) -> int:
        return len(self.y)

    def all(self) -> "torch.Tensor":
        """Every sample's targets at once (the cache), computed in batches of CACHE_BATCH."""
        import torch

        n = len(self.y)
        return torch.cat([self[torch.arange(i, min(i + CACHE_BATCH, n))] for i in range(0, n, CACHE_BATCH)])


def attach_teacher(spec: "ExperimentSpec", x: "torch.Tensor", y: "torch.Tensor", task_loss: Callable, *,
                   classes: int) -> tuple[Any, Callable]:
    """(training targets, training loss) of a distilled run: the teacher's soft targets packed with
    the labels `y` (cached or per batch, `[distill] cache`) and the distillation loss around `task_loss`.
    With `alpha` = 0 the soft targets weigh nothing: `y` and `task_loss` themselves (the same loss,
    exactly), and the teacher is not run."""
    d = spec.distill
    if d.alpha == 0:
        return y, task_loss
    teacher = load_teacher(spec, x.device)
    targets = TeacherTargets(teacher, x, y, d.temperature)
    probe = targets[slice(0, 2)]
    if probe.shape[1] - 1 != classes:
        raise _fail(f"the teacher gives {probe.shape[1] - 1} outputs per sample, the student's data has {classes} "
                    "classes — choose a teacher trained on these classes")
    if d.cache == "on" or (d.cache == "auto" and len(y) * (classes + 1) * 4 <= CACHE_BYTES):
        targets = targets.all()  # the teacher is dropped with the per-batch targets
    return targets, distill_loss(task_loss, d.temperature, d.alpha)


def distill_loss(task_loss: Callable, temperature: float, alpha: float) -> Callable:
    """``fn(output, packed targets)`` = alpha * KL(student/T || teacher/T) * T^2 + (1 - alpha) * task loss."""
    import torch.nn.functional as F  # torch only when training (validation stays torch-free)

    soft_weight = alpha * temperature * temperature

    def loss(out, target):
        labels, teacher_logp = target[:, 0].long(), target[:, 1:]
        student_logp = F.log_softmax(out.float() / temperature, dim=1)
        soft = F.kl_div(student_logp, teacher_logp, reduction="batchmean", log_target=True)
        return soft_weight * soft + (1.0 - alpha) * task_loss(out, labels)

    return loss
