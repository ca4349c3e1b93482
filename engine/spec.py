"""The experiment spec: frozen, typed dataclasses; TOML load/save; overrides; validate().

One spec describes a whole experiment; the GUI, the CLI and the tests use the same TOML.
Fixed sections carry their parameter schema in field metadata (see :func:`section_params`),
so validation and the GUI's forms are generated from one place. Sections whose options
depend on a registry entry (data source, optimizer, scheduler, layers) keep those options
in a flat mapping, exactly as they appear in the TOML; overrides are typed by those entries'
schemas. Whole-spec validation (every module's checks) is `engine.validation.validate`.
"""
from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from engine import tomlio
from engine.atomic import atomic_write_text
from engine.layers import LAYERS
from engine.metrics import VAL_LOSS, WATCHABLE
from engine.optim import OPTIMIZERS
from engine.problems import Problem, SpecError, did_you_mean
from engine.registry import Choices, Param, Registry
from engine.schedulers import SCHEDULERS

SCHEMA_VERSION = 1

#: Parallel strategies by name (`[parallel] strategy`): one Strategy class each, registered by
#: engine.parallel.strategies, which sits in a higher layer and is imported on the first lookup.
STRATEGIES: Registry = Registry("parallel strategy", load="engine.parallel.strategies")
#: Launchers by kind (`[launcher] kind`): local, slurm, ray; one Launcher class each, registered by
#: engine.launchers (a higher layer, imported on the first lookup). Their options live in [launcher].
LAUNCHERS: Registry = Registry("launcher", load="engine.launchers")


def _opt(default: Any, kind: str, help: str, *, min: float | None = None, max: float | None = None,
         choices: Sequence[str] = (), exclusive_min: bool = False) -> Any:
    """A dataclass field whose metadata carries its schema (the name is filled in later)."""
    param = Param("", kind, default, help, min, max, choices if isinstance(choices, Choices) else tuple(choices),
                  exclusive_min)
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"param": param})
    return field(default=default, metadata={"param": param})


def section_params(cls: type) -> tuple[Param, ...]:
    """The schema of a fixed section, built from its dataclass field metadata."""
    out = []
    for f in dataclasses.fields(cls):
        param = f.metadata.get("param")
        if param is not None:
            out.append(dataclasses.replace(param, name=f.name))
    return tuple(out)


# ----------------------------------------------------------------------------- sections

@dataclass(frozen=True)
class LayerSpec:
    """One layer: its registry `type`, its parameters, and nested `layers` for composite kinds.
    `name` is an optional label; a disabled layer stays in the spec but is left out of the model."""

    type: str
    params: Mapping[str, Any] = field(default_factory=dict)
    layers: tuple["LayerSpec", ...] = ()
    name: str = ""
    enabled: bool = True

    RESERVED = ("type", "name", "enabled", "layers")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.name:
            out["name"] = self.name
        out.update(self.params)
        if self.layers or _is_composite(self.type):
            out["layers"] = [child.to_dict() for child in self.layers]
        if not self.enabled:
            out["enabled"] = False
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], path: str) -> "LayerSpec":
        if not isinstance(raw, Mapping):
            raise SpecError([Problem(path, f"expects a table such as {{type = \"Linear\", out_features = 10}}, got {raw!r}")])
        if "type" not in raw or not isinstance(raw["type"], str):
            raise SpecError([Problem(f"{path}.type", "is required: the layer kind, such as \"Linear\" or \"Conv2d\"")])
        children = raw.get("layers", ())
        if not isinstance(children, (list, tuple)):
            raise SpecError([Problem(f"{path}.layers", "expects a list of layer tables")])
        params = {k: v for k, v in raw.items() if k not in cls.RESERVED}
        return cls(
            type=raw["type"],
            params=params,
            layers=tuple(cls.from_dict(c, f"{path}.layers[{i}]") for i, c in enumerate(children)),
            name=str(raw.get("name", "")),
            enabled=bool(raw.get("enabled", True)),
        )


def _is_composite(type_name: str) -> bool:
    return type_name in LAYERS and bool(LAYERS.get(type_name).extra.get("composite"))


@dataclass(frozen=True)
class DataSpec:
    """[data]: the source (a data-source registry name), batching and split, plus the source's
    own options (e.g. `path`, `target`, `shape`, `classes`, `samples`) kept flat in `options`."""

    source: str = _opt("digits", "str", "Data source (see the data-source registry)")
    batch_size: int = _opt(64, "int", "Samples per batch (per rank when training in parallel)", min=1, max=1 << 20)
    val_fraction: float = _opt(0.2, "float", "Fraction of the samples held out for validation", min=0.0, max=0.9)
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSpec:
    """[model]: the layer stack. Input sizes are inferred from the data."""

    layers: tuple[LayerSpec, ...] = ()


@dataclass(frozen=True)
class OptimizerSpec:
    """[optimizer]: `name` (an optimizer registry name) and its hyper-parameters."""

    name: str = _opt("adam", "str", "Optimizer (see the optimizer registry)")
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SchedulerSpec:
    """[scheduler]: `name` (a scheduler registry name) and its options."""

    name: str = _opt("constant", "str", "Learning-rate schedule (see the scheduler registry)")
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RegularizationSpec:
    """[regularization]: how weight decay is applied, L1, clipping, smoothing, early stopping."""

    weight_decay_mode: str = _opt(
        "decoupled", "choice", "How optimizer.weight_decay is applied: decoupled (AdamW-style) or l2 (added to the gradient)",
        choices=("decoupled", "l2"))
    l1: float = _opt(0.0, "float", "L1 penalty on the weights, added to the loss", min=0.0)
    grad_clip_norm: float = _opt(0.0, "float", "Clip the global gradient norm to this value (0 = off)", min=0.0)
    label_smoothing: float = _opt(0.0, "float", "Label smoothing for cross-entropy (0 = off)", min=0.0, max=0.99)
    early_stopping_patience: int = _opt(0, "int", "Stop after this many epochs without improvement (0 = off)", min=0)
    early_stopping_metric: str = _opt(
        VAL_LOSS, "choice", "Metric watched by early stopping", choices=WATCHABLE)


@dataclass(frozen=True)
class TrainingSpec:
    """[training]: length, precision, accumulation, device, checkpointing and logging cadence."""

    epochs: int = _opt(10, "int", "Passes over the training data", min=1, max=1_000_000)
    max_steps: int = _opt(0, "int", "Stop after this many optimizer steps (0 = no cap)", min=0)
    precision: str = _opt("fp32", "choice", "Numeric precision (bf16/fp16 use autocast)", choices=("fp32", "bf16", "fp16"))
    grad_accumulation: int = _opt(1, "int", "Micro-batches accumulated per optimizer step", min=1, max=1024)
    device: str = _opt("auto", "str", "auto, cpu, cuda or cuda:N")
    checkpoint_every: int = _opt(1, "int", "Save a checkpoint every N epochs (0 = only at the end)", min=0)
    log_every: int = _opt(10, "int", "Report training metrics every N optimizer steps", min=1)
    compile: bool = _opt(False, "bool", "Compile the model with torch.compile")
    loss: str = _opt("auto", "str", "Loss function; auto chooses from the task (cross_entropy, mse, ...)")


@dataclass(frozen=True)
class ParallelSpec:
    """[parallel]: strategy and process layout (see engine/parallel)."""

    strategy: str = _opt("none", "choice", "How training is spread over processes",
                         choices=STRATEGIES.choices())
    processes: int = _opt(1, "int", "Processes (ranks) per node", min=1, max=1024)
    nnodes: int = _opt(1, "int", "Number of machines (nodes)", min=1, max=4096)
    node_rank: int = _opt(0, "int", "This machine's index among the nodes", min=0)
    rdzv_endpoint: str = _opt("", "str", "host:port of the rendezvous (node 0); empty = this machine")
    backend: str = _opt("auto", "choice", "Communication backend; auto = nccl on GPU, gloo on CPU",
                        choices=("auto", "gloo", "nccl"))
    microbatches: int = _opt(4, "int", "Pipeline micro-batches per batch", min=1, max=4096)
    schedule: str = _opt("gpipe", "choice", "Pipeline schedule", choices=("gpipe", "1f1b"))
    stages: list = _opt([], "ints", "Pipeline stage boundaries as layer indices (empty = balance automatically)", min=0)
    max_restarts: int = _opt(0, "int", "Times the elastic agent restarts failed ranks (they resume from the last checkpoint)", min=0, max=100)


@dataclass(frozen=True)
class TrackingSpec:
    """[tracking]: experiment-tracking writers (rank 0, fed from the event stream off the step's path;
    see engine/tracking)."""

    tensorboard: bool = _opt(True, "bool", "Write TensorBoard event files into the run directory (RUN_DIR/tensorboard)")
    mlflow_uri: str = _opt("", "str", "MLflow tracking URI, e.g. file:/path/mlruns or http://host:5000 (empty = off; "
                                      "needs pip install 'netwright[mlflow]')")
    mlflow_experiment: str = _opt("", "str", "MLflow experiment name (empty = the spec's name)")


@dataclass(frozen=True)
class LauncherSpec:
    """[launcher]: where the ranks start (a LAUNCHERS kind) and that kind's options, kept flat in
    `options` (e.g. slurm's `partition`, `time_limit`). The default, local, is written nowhere:
    a spec without [launcher] trains on this machine."""

    kind: str = _opt("local", "choice", "Where the run's processes start: this machine, a Slurm cluster or a Ray cluster",
                     choices=LAUNCHERS.choices())
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_default(self) -> bool:
        return self.kind == "local" and not self.options

    @property
    def remote(self) -> bool:
        """True when a scheduler starts the ranks elsewhere (slurm, ray): this machine's GPUs and
        cores do not bound the layout, and the scheduler picks the rendezvous host."""
        return self.kind in LAUNCHERS and bool(LAUNCHERS.get(self.kind).obj.scheduled)


@dataclass(frozen=True)
class DistillSpec:
    """[distill]: knowledge distillation from a trained teacher run (engine/distill.py); off while
    `teacher` is empty. The training loss becomes
    alpha * KL(student/T || teacher/T) * T^2 + (1 - alpha) * task loss."""

    teacher: str = _opt("", "path", "Run directory of the trained teacher (its best checkpoint, else its latest); "
                                    "empty = no distillation")
    temperature: float = _opt(4.0, "float", "Softmax temperature T of both models' logits (higher = softer targets)",
                              min=0.0, max=100.0, exclusive_min=True)
    alpha: float = _opt(0.5, "float", "Weight of the teacher's soft targets (1 - alpha weighs the true labels)",
                        min=0.0, max=1.0)
    cache: str = _opt("auto", "choice", "Teacher logits: computed once for the whole training set (on), per batch "
                                        "(off), or once when they fit in 256 MB (auto)", choices=("auto", "on", "off"))


SECTIONS: dict[str, type] = {
    "data": DataSpec, "model": ModelSpec, "optimizer": OptimizerSpec, "scheduler": SchedulerSpec,
    "regularization": RegularizationSpec, "training": TrainingSpec, "parallel": ParallelSpec,
    "tracking": TrackingSpec, "launcher": LauncherSpec, "distill": DistillSpec,
}
#: sections written to the TOML only when they differ from their defaults (an optional feature)
_OPTIONAL_SECTIONS = ("distill",)
#: sections whose extra keys are a registry entry's options rather than unknown keys:
#: section -> (the registry naming its kinds, the field holding the kind's name)
_OPTION_SECTIONS: dict[str, tuple[Registry | None, str]] = {
    "data": (None, "source"), "optimizer": (OPTIMIZERS, "name"), "scheduler": (SCHEDULERS, "name"),
    "launcher": (LAUNCHERS, "kind")}
TOP_LEVEL = ("name", "seed")


@dataclass(frozen=True)
class ExperimentSpec:
    """A whole experiment. `unknown` keeps keys that are not part of the format (by dotted path)
    so a hand-written file opens with its problems shown and saves back unchanged."""

    name: str = "experiment"
    seed: int = 0
    data: DataSpec = field(default_factory=DataSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    scheduler: SchedulerSpec = field(default_factory=SchedulerSpec)
    regularization: RegularizationSpec = field(default_factory=RegularizationSpec)
    training: TrainingSpec = field(default_factory=TrainingSpec)
    parallel: ParallelSpec = field(default_factory=ParallelSpec)
    tracking: TrackingSpec = field(default_factory=TrackingSpec)
    launcher: LauncherSpec = field(default_factory=LauncherSpec)
    distill: DistillSpec = field(default_factory=DistillSpec)
    unknown: Mapping[str, Any] = field(default_factory=dict)

    # -- dict form (the TOML document) -------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The TOML-shaped document: registry options are flattened into their section."""
        doc: dict[str, Any] = {"name": self.name, "seed": self.seed}
        for section in SECTIONS:
            value = getattr(self, section)
            if section == "launcher" and value.is_default:
                continue  # local: files written before launchers existed stay byte-identical
            if section in _OPTIONAL_SECTIONS and value == SECTIONS[section]():
                continue
            if section == "model":
                table: dict[str, Any] = {"layers": [layer.to_dict() for layer in value.layers]}
            else:
                table = {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.name != "options"}
                table.update(getattr(value, "options", {}))
            doc[section] = table
        for dotted, value in self.unknown.items():
            head, _, rest = dotted.partition(".")
            if rest and isinstance(doc.get(head), dict):
                doc[head][rest] = value
            else:
                doc[dotted] = value
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> "ExperimentSpec":
        """Build a spec from a TOML-shaped document. Structural errors (a section that is not a
        table, a layer without a type) raise SpecError; unknown keys are kept for validate()."""
        problems: list[Problem] = []
        unknown: dict[str, Any] = {}
        kwargs: dict[str, Any] = {}
        for key, value in doc.items():
            if key in TOP_LEVEL:
                kwargs[key] = value
            elif key in SECTIONS:
                if not isinstance(value, Mapping):
                    problems.append(Problem(key, f"expects a [{key}] table, got {value!r}"))
            else:
                unknown[key] = value
        for section, section_cls in SECTIONS.items():
            raw = doc.get(section, {})
            if not isinstance(raw, Mapping):
                continue
            if section == "model":
                layers_raw = raw.get("layers", [])
                for key in raw:
                    if key != "layers":
                        unknown[f"model.{key}"] = raw[key]
                if not isinstance(layers_raw, (list, tuple)):
                    problems.append(Problem("model.layers", "expects a list of layer tables"))
                    continue
                try:
                    layers = tuple(LayerSpec.from_dict(l, f"model.layers[{i}]") for i, l in enumerate(layers_raw))
                except SpecError as err:
                    problems.extend(err.problems)
                    continue
                kwargs["model"] = ModelSpec(layers)
                continue
            names = {f.name for f in dataclasses.fields(section_cls)} - {"options"}
            fixed = {k: v for k, v in raw.items() if k in names}
            rest = {k: v for k, v in raw.items() if k not in names}
            if section in _OPTION_SECTIONS:
                fixed["options"] = rest
            else:
                unknown.update({f"{section}.{k}": v for k, v in rest.items()})
            kwargs[section] = section_cls(**fixed)
        if problems:
            raise SpecError(problems)
        return cls(unknown=unknown, **kwargs)

    def to_toml(self) -> str:
        return tomlio.dumps(self.to_dict())

    @classmethod
    def from_toml(cls, text: str, source: str = "<string>") -> "ExperimentSpec":
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise SpecError([Problem(source, f"is not valid TOML: {err} — fix the syntax at that line")]) from None
        return cls.from_dict(doc)

    def with_layers(self, layers: Sequence[LayerSpec]) -> "ExperimentSpec":
        return dataclasses.replace(self, model=ModelSpec(tuple(layers)))


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read a spec file. Raises SpecError naming the file for a missing, unreadable or non-TOML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([Problem(str(path), "file not found — check the path")]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError([Problem(str(path), f"cannot be read: {err}")]) from None
    spec = resolve_data_path(ExperimentSpec.from_toml(text, source=str(path)), path.parent)
    return resolve_relative_files(spec, path.parent)


def resolve_data_path(spec: ExperimentSpec, folder: str | Path) -> ExperimentSpec:
    """The spec with a relative `data.path` and `distill.teacher` made absolute against `folder`
    (the spec file's folder when loading, so a spec and its data move together; a run directory
    keeps the absolute path)."""
    teacher = spec.distill.teacher
    if isinstance(teacher, str) and teacher.strip() and not Path(teacher).expanduser().is_absolute():
        absolute = os.path.normpath(Path(folder).absolute() / teacher)
        spec = dataclasses.replace(spec, distill=dataclasses.replace(spec.distill, teacher=absolute))
    raw = spec.data.options.get("path")
    if not isinstance(raw, str) or not raw.strip() or Path(raw).expanduser().is_absolute():
        return spec
    absolute = os.path.normpath(Path(folder).absolute() / raw)
    options = {**spec.data.options, "path": absolute}
    return dataclasses.replace(spec, data=dataclasses.replace(spec.data, options=options))


#: options naming a file or folder that may be written relative to the spec file: data options, and
#: options of layer kinds (a Pretrained model's folder and weights file)
_DATA_FILES = ("tokenizer",)
_LAYER_FILES = ("model", "weights_path")


def resolve_relative_files(spec: ExperimentSpec, folder: str | Path) -> ExperimentSpec:
    """The spec with relative file options that exist next to the spec file made absolute (a
    tokenizer or a Pretrained model folder shipped beside an example; a hub id or "words" that is no
    such file stays as written)."""
    def fix(value: Any) -> Any:
        if not isinstance(value, str) or not value.strip() or Path(value).expanduser().is_absolute():
            return value
        candidate = Path(folder).absolute() / value
        return os.path.normpath(candidate) if candidate.exists() else value

    def layer(spec_: LayerSpec) -> LayerSpec:
        params = {k: (fix(v) if k in _LAYER_FILES else v) for k, v in spec_.params.items()}
        return dataclasses.replace(spec_, params=params, layers=tuple(layer(c) for c in spec_.layers))

    options = {k: (fix(v) if k in _DATA_FILES else v) for k, v in spec.data.options.items()}
    return dataclasses.replace(spec, data=dataclasses.replace(spec.data, options=options),
                               model=ModelSpec(tuple(layer(l) for l in spec.model.layers)))


def save_spec(spec: ExperimentSpec, path: str | Path) -> None:
    """Write the spec as TOML, atomically."""
    atomic_write_text(Path(path), spec.to_toml())


# ----------------------------------------------------------------------------- overrides

_INDEX = re.compile(r"^([A-Za-z_][\w]*)\[(\d+)\]$")


def apply_overrides(spec: ExperimentSpec, assignments: Sequence[str]) -> ExperimentSpec:
    """Apply ``key=value`` overrides with dotted paths (``training.epochs=3``,
    ``model.layers[2].out_features=64``). Values are typed by the schema: numbers, booleans
    and lists are parsed as TOML literals, string parameters are taken as written."""
    doc = spec.to_dict()
    problems: list[Problem] = []
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(Problem(assignment, "an override must look like key=value, e.g. training.epochs=3"))
            continue
        try:
            _set_path(doc, key, _parse_value(raw.strip(), _param_kind(spec, key)))
        except (KeyError, IndexError, TypeError) as err:
            problems.append(Problem(key, f"cannot be set: {err.args[0] if err.args else err}"))
    if problems:
        raise SpecError(problems)
    return ExperimentSpec.from_dict(doc)


def _param_kind(spec: ExperimentSpec, key: str) -> str | None:
    if key == "name":
        return "str"
    param = param_at(spec, key)
    return param.kind if param is not None else None


def param_at(spec: ExperimentSpec, key: str) -> Param | None:
    """The schema of the option at dotted path `key` in `spec` (``optimizer.lr``,
    ``model.layers[2].out_features``, ``seed``), or None when the path names no option."""
    parts = key.split(".")
    if key == "seed":
        return Param("seed", "int", 0, "Random seed", min=0)
    if len(parts) == 2 and parts[0] in SECTIONS and parts[0] != "model":
        for p in section_params(SECTIONS[parts[0]]):
            if p.name == parts[1]:
                return p
        entry = registry_entry(spec, parts[0])
        if entry is not None:
            for p in entry.params:
                if p.name == parts[1]:
                    return p
    if parts[0] == "model" and len(parts) >= 3:
        try:
            layer = _layer_at(spec, parts[1:-1])
            return LAYERS.get(layer.type).param(parts[-1])
        except LookupError:  # no such layer, kind or parameter: set as written, validate() names it
            return None
    return None


def registry_entry(spec: ExperimentSpec, section: str):
    """The registry entry whose options a section holds (None: not such a section, or an unknown name)."""
    if section not in _OPTION_SECTIONS:
        return None
    registry, field_name = _OPTION_SECTIONS[section]
    if registry is None:
        from engine.data import DATA_SOURCES as registry  # numpy: the GUI paints before engine.data loads
    name = getattr(getattr(spec, section), field_name)
    return registry.get(name) if name in registry else None


def _layer_at(spec: ExperimentSpec, parts: Sequence[str]) -> LayerSpec:
    layers: Sequence[LayerSpec] = spec.model.layers
    layer = None
    for part in parts:
        m = _INDEX.match(part)
        if not m:
            raise KeyError(part)
        layer = layers[int(m.group(2))]
        layers = layer.layers
    if layer is None:
        raise KeyError(".".join(parts))
    return layer


def _parse_value(raw: str, kind: str | None) -> Any:
    if kind in ("str", "path", "choice"):
        return raw
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # `lr=1` is the number 1.0 for a float option
    return value


def _set_path(doc: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node: Any = doc
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        m = _INDEX.match(part)
        if m:
            name, index = m.group(1), int(m.group(2))
            seq = node.get(name) if isinstance(node, dict) else None
            if not isinstance(seq, list):
                raise KeyError(f"{name!r} is not a list")
            if index >= len(seq):
                raise IndexError(f"{name} has {len(seq)} entries; index {index} is out of range")
            if last:
                seq[index] = value
            node = seq[index]
        else:
            if not isinstance(node, dict):
                raise TypeError(f"{part!r} is not inside a table")
            if last:
                node[part] = value
            else:
                if part not in node:
                    if i == 0 and part not in SECTIONS:
                        raise KeyError(f"unknown section {part!r}{did_you_mean(part, SECTIONS)}")
                    node[part] = {}
                node = node[part]


# ----------------------------------------------------------------------------- validation

def check_fixed(spec: ExperimentSpec) -> list[Problem]:
    """Problems in the top-level keys, the fixed sections' types/ranges and unknown keys."""
    problems: list[Problem] = []
    for name, value in (("name", spec.name), ("seed", spec.seed)):
        kind = "str" if name == "name" else "int"
        problems += [p for p in [Param(name, kind, help="").check(value, name)[1]] if p]
    for section, cls in SECTIONS.items():
        if section == "model":
            continue
        obj = getattr(spec, section)
        for param in section_params(cls):
            _, problem = param.check(getattr(obj, param.name), f"{section}.{param.name}")
            if problem:
                problems.append(problem)
    for dotted in spec.unknown:
        head, _, rest = dotted.partition(".")
        if head == "sweep":  # a sweep spec given to train/validate
            problems.append(Problem(dotted, "the [sweep] section is read by `sweep` (netwright sweep FILE), not by "
                                            "train or validate — run the sweep, or remove the section to train once"))
        elif rest and head in SECTIONS:
            known = [p.name for p in section_params(SECTIONS[head])] or ["layers"]
            problems.append(Problem(dotted, f"unknown key in [{head}]{did_you_mean(rest, known)}"))
        else:
            problems.append(Problem(dotted, f"unknown key{did_you_mean(head, [*TOP_LEVEL, *SECTIONS])}"))
    return problems


def check_launcher(spec: ExperimentSpec) -> list[Problem]:
    """The [launcher] options against its kind's schema (an unknown kind is check_fixed's)."""
    if spec.launcher.kind not in LAUNCHERS:
        return []
    options, problems = LAUNCHERS.check(spec.launcher.kind, spec.launcher.options, "launcher", siblings=["kind"])
    return problems or LAUNCHERS.get(spec.launcher.kind).obj(options).check(spec)
