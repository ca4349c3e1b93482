"""Pure shape inference (no torch): the shape after every layer, parameter counts, problems.

:func:`infer_model` walks a layer stack (recursing into composite kinds such as Residual),
checks each layer's options against its schema and its shape rule, and returns a
:class:`ModelReport` with one :class:`LayerRow` per layer. :func:`check_model` is the
whole-spec check run by ``engine.validation.validate``: it takes the input from the data source
and also checks that the model's output fits the task.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from engine.layers import LAYERS
from engine.layers.base import INT_DTYPES, ShapeError, fmt
from engine.problems import Problem, SpecError
from engine.registry import check_options
from engine.spec import LayerSpec

Shape = tuple[int, ...]

#: public attributes of torch.nn.Sequential; a layer label must not shadow them
_TORCH_ATTRS = frozenset("""T_destination add_module append apply bfloat16 buffers call_super_init
children compile cpu cuda double dump_patches eval extend extra_repr float forward get_buffer
get_extra_state get_parameter get_submodule half insert ipu load_state_dict modules mtia
named_buffers named_children named_modules named_parameters parameters pop register_backward_hook
register_buffer register_forward_hook register_forward_pre_hook register_full_backward_hook
register_full_backward_pre_hook register_load_state_dict_post_hook register_load_state_dict_pre_hook
register_module register_parameter register_state_dict_post_hook register_state_dict_pre_hook
requires_grad_ set_extra_state set_submodule share_memory state_dict to to_empty train training
type xpu zero_grad""".split())
_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Fix:
    """A one-click fix: insert `insert` right before the offending layer."""

    description: str
    insert: LayerSpec


@dataclass(frozen=True)
class LayerRow:
    """One layer as inferred. `params` of a composite row includes its nested layers.
    `options` are the resolved parameters (defaults filled in, 0 = "from the data" replaced)."""

    path: str
    index: tuple[int, ...]
    depth: int
    type: str
    label: str
    in_shape: Shape | None
    out_shape: Shape | None
    params: int
    enabled: bool
    problem: Problem | None
    fix: Fix | None
    options: Mapping[str, Any] = field(default_factory=dict)
    in_dtype: str = "float32"
    out_dtype: str | None = None
    inner_shape: Shape | None = None  # composite kinds: output of the nested stack


@dataclass(frozen=True)
class ModelReport:
    """Every row (pre-order: a composite row is followed by its nested rows), the final output
    shape (None if inference broke), the total parameter count and every problem found."""

    input_shape: Shape | None
    rows: tuple[LayerRow, ...]
    output_shape: Shape | None
    total_params: int
    problems: tuple[Problem, ...]
    input_dtype: str = "float32"
    output_dtype: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def problems_at(self, path: str, nested: bool = False) -> tuple[Problem, ...]:
        """Problems of the layer at `path` (``model.layers[3]``) and its options; with `nested`
        also those of the layers inside it."""
        def hit(p: Problem) -> bool:
            if p.path == path:
                return True
            rest = p.path[len(path):] if p.path.startswith(path + ".") else None
            return rest is not None and (nested or not rest.startswith(".layers["))
        return tuple(p for p in self.problems if hit(p))

    def top_rows(self) -> tuple[LayerRow, ...]:
        """Rows of the top-level stack (depth 0)."""
        return tuple(r for r in self.rows if r.depth == 0)

    def children(self, row: LayerRow) -> tuple[LayerRow, ...]:
        """Direct nested rows of a composite row."""
        n = len(row.index)
        return tuple(r for r in self.rows if len(r.index) == n + 1 and r.index[:n] == row.index)

    def row(self, path: str) -> LayerRow:
        for r in self.rows:
            if r.path == path:
                return r
        raise KeyError(path)

    def table(self) -> str:
        """A plain-text table: label, type, output shape, parameters (for `validate`)."""
        lines = [f"{'layer':<28} {'type':<20} {'output shape':<18} {'params':>12}"]
        lines.append(f"{'input':<28} {'':<20} {_show(self.input_shape):<18} {'':>12}")
        for r in self.rows:
            name = "  " * r.depth + r.label + ("" if r.enabled else " (off)")
            shape = "—" if not r.enabled else ("?" if r.problem else _show(r.out_shape))
            lines.append(f"{name:<28} {r.type:<20} {shape:<18} {r.params:>12,}")
        lines.append(f"total parameters: {self.total_params:,}")
        return "\n".join(lines)


def _show(shape: Shape | None) -> str:
    return "?" if shape is None else fmt(shape)


@dataclass
class _Walk:
    """Mutable state of one inference walk."""

    num_classes: int | None
    quiet_from_data: bool = False
    rows: list[LayerRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def infer_model(layers: Sequence[LayerSpec], input_shape: Sequence[int] | None,
                input_dtype: str = "float32", num_classes: int | None = None) -> ModelReport:
    """Infer every layer's output shape and parameter count from the per-sample `input_shape`
    (no batch dimension). `num_classes` resolves options set to 0 ("from the data"). Pure: no torch.
    With `input_shape=None` (the data is unknown) only the options are checked, and 0 = "from
    the data" is not flagged."""
    walk = _Walk(num_classes, quiet_from_data=input_shape is None)
    return _report(walk, layers, input_shape, input_dtype)


def check_layers(layers: Sequence[LayerSpec]) -> list[Problem]:
    """Option problems only (unknown type, missing/out-of-range option), for when the input is unknown."""
    return list(infer_model(layers, None).problems)


def _report(walk: _Walk, layers: Sequence[LayerSpec], input_shape: Sequence[int] | None,
            input_dtype: str) -> ModelReport:
    shape = None if input_shape is None else tuple(int(d) for d in input_shape)
    if not layers:
        walk.problems.append(Problem("model.layers", "the model has no layers — add at least one (e.g. Linear)"))
    out, dtype, total = _stack(walk, layers, "model.layers", (), 0, shape, input_dtype)
    if layers and not any(l.enabled for l in layers):
        walk.problems.append(Problem("model.layers", "every layer is disabled — enable at least one"))
    return ModelReport(shape, tuple(walk.rows), out, total, tuple(walk.problems), input_dtype, dtype)


def layer_labels(layers: Sequence[LayerSpec]) -> list[str]:
    """Unique labels for one level of a stack: the layer's `name` if set, else `<type>_<n>`
    counted per type (1-based, disabled layers included so labels stay stable when toggling)."""
    return _labels(layers, "", [])


def _labels(layers: Sequence[LayerSpec], prefix: str, problems: list[Problem]) -> list[str]:
    taken: set[str] = set()
    for i, spec in enumerate(layers):
        if not spec.name:
            continue
        path = f"{prefix}[{i}].name"
        if not spec.enabled:  # disabled layers are not checked, but their names stay taken
            taken.add(spec.name)
            continue
        if not _LABEL.match(spec.name) or spec.name in _TORCH_ATTRS:
            problems.append(Problem(path, f"{spec.name!r} cannot be a layer name — use letters, digits and "
                                          "underscores, starting with a letter (and not a torch method name)"))
        elif spec.name in taken:
            problems.append(Problem(path, f"the name {spec.name!r} is used twice at this level — names must be unique"))
        taken.add(spec.name)
    counts: dict[str, int] = {}
    labels = []
    for spec in layers:
        if spec.name:
            labels.append(spec.name)
            continue
        base = re.sub(r"[^a-z0-9_]", "_", spec.type.lower()) or "layer"
        while True:
            counts[base] = counts.get(base, 0) + 1
            label = f"{base}_{counts[base]}"
            if label not in taken:
                break
        taken.add(label)
        labels.append(label)
    return labels


def _stack(walk: _Walk, layers: Sequence[LayerSpec], prefix: str, index: tuple[int, ...], depth: int,
           shape: Shape | None, dtype: str) -> tuple[Shape | None, str, int]:
    """Infer one level; returns (output shape or None if broken, dtype, parameter total)."""
    labels = _labels(layers, prefix, walk.problems)
    total = 0
    for i, (spec, label) in enumerate(zip(layers, labels)):
        path = f"{prefix}[{i}]"
        if not spec.enabled:
            walk.rows.append(LayerRow(path, index + (i,), depth, spec.type, label, shape, None, 0, False, None, None,
                                      in_dtype=dtype))
            continue
        shape, dtype, params = _layer(walk, spec, path, index + (i,), depth, label, shape, dtype)
        total += params
    return shape, dtype, total


def _layer(walk: _Walk, spec: LayerSpec, path: str, index: tuple[int, ...], depth: int, label: str,
           shape: Shape | None, dtype: str) -> tuple[Shape | None, str, int]:
    """Infer one enabled layer, appending its row (and its nested rows)."""
    problems: list[Problem] = []
    if spec.type not in LAYERS:
        problems.append(Problem(f"{path}.type", LAYERS.unknown_message(spec.type)))
        walk.rows.append(LayerRow(path, index, depth, spec.type, label, shape, None, 0, True, problems[0], None,
                                  in_dtype=dtype))
        walk.problems.extend(problems)
        _nested_unknown(walk, spec, path, index, depth)
        return None, dtype, 0
    entry = LAYERS.get(spec.type)
    kind = entry.obj
    options, problems = check_options(entry.params, spec.params, path, what=f"layer {spec.type}")
    for name in kind.from_data:
        if options.get(name) == 0 and not any(p.path == f"{path}.{name}" for p in problems):
            if walk.num_classes:
                options[name] = walk.num_classes
            elif not walk.quiet_from_data:
                problems.append(Problem(f"{path}.{name}", "0 means \"from the data\", but the number of classes "
                                        "(vocabulary size) is not known here — set a number"))
    composite = bool(entry.extra.get("composite"))
    if spec.layers and not composite:
        problems.append(Problem(f"{path}.layers", f"{spec.type} does not hold nested layers — remove `layers` "
                                "(only composite kinds such as Residual do)"))
    if composite and not spec.layers:
        problems.append(Problem(f"{path}.layers", f"{spec.type} needs a nested stack — add at least one layer to its `layers`"))
    walk.problems.extend(problems)
    row_at = len(walk.rows)
    walk.rows.append(None)  # type: ignore[arg-type]  # placeholder: the row precedes its children
    inner, inner_params = None, 0
    if composite:
        inner_in = shape if not problems else None
        inner, _, inner_params = _stack(walk, spec.layers, f"{path}.layers", index, depth + 1, inner_in, dtype)
    out, params, out_dtype, problem, fix = None, 0, dtype, (problems[0] if problems else None), None
    if shape is not None and not problems and (inner is not None or not composite):
        try:
            _check_dtype(kind.accepts, dtype)
            result = kind.infer(options, shape, dtype, inner)
            out, params = result.shape, result.params + inner_params
            out_dtype = result.dtype or ("float32" if kind.accepts != "any" else dtype)
        except ShapeError as err:
            text = f"{spec.type} {err.message}" + (f" — {err.fix_text}" if err.fix_text else "")
            problem = Problem(path, text)
            walk.problems.append(problem)
            if err.fix is not None:
                fix_type, fix_params = err.fix
                fix = Fix(err.fix_text or f"insert {fix_type}", LayerSpec(fix_type, dict(fix_params)))
    walk.rows[row_at] = LayerRow(path, index, depth, spec.type, label, shape, out, params, True, problem, fix,
                                 options, dtype, out_dtype if out is not None else None, inner)
    return out, out_dtype, params


def _nested_unknown(walk: _Walk, spec: LayerSpec, path: str, index: tuple[int, ...], depth: int) -> None:
    """Check nested layers of an unknown type's entry, so their option problems still show."""
    if spec.layers:
        _stack(walk, spec.layers, f"{path}.layers", index, depth + 1, None, "float32")


def _check_dtype(accepts: str, dtype: str) -> None:
    is_int = dtype in INT_DTYPES
    if accepts == "float" and is_int:
        raise ShapeError(f"expects floating-point values, got {dtype} token ids", ("Embedding", {"embedding_dim": 64}),
                         "add Embedding before it to turn token ids into vectors")
    if accepts == "int" and not is_int:
        raise ShapeError(f"expects integer token ids, got {dtype} values — use it only on token (text) data, "
                         "or replace it with Linear")


# ----------------------------------------------------------------------------- whole-spec check

def check_model(spec: Any) -> list[Problem]:
    """Problems of `spec.model` given the data it will see, including whether the output fits the
    task (classes, regression targets, or next-token scores for language modelling)."""
    from engine.data import describe_data  # numpy, scikit-learn: the GUI infers shapes before they load

    try:
        info = describe_data(spec.data)
    except SpecError:
        return check_layers(spec.model.layers)  # the data problem itself is reported by check_data
    report = infer_model(spec.model.layers, tuple(info.input_shape), info.input_dtype, info.num_classes)
    return list(report.problems) + task_problems(report, info.task, info.num_classes)


def task_problems(report: ModelReport, task: str, num_classes: int | None) -> list[Problem]:
    """Whether the model's output fits the task; for language modelling also causality and vocabulary."""
    problems: list[Problem] = []
    enabled = [r for r in report.top_rows() if r.enabled]
    path = enabled[-1].path if enabled else "model.layers"
    if task == "language_modeling":
        problems += _lm_problems(report, num_classes)
    if task in ("classification", "language_modeling") and enabled and enabled[-1].type in ("Softmax", "Sigmoid"):
        problems.append(Problem(path, f"the model ends with {enabled[-1].type}, but training uses cross-entropy, "
                                      "which expects raw scores (it applies softmax itself) — remove this layer"))
    out = report.output_shape
    if out is None or report.problems or not num_classes:
        return problems
    if task == "language_modeling":
        seq = report.input_shape[0] if report.input_shape else 0
        want: Shape = (seq, num_classes)
        if out != want:
            problems.append(Problem(path, f"the model outputs {fmt(out)} but language modelling needs {fmt(want)}: "
                                          f"one score per vocabulary token at each position — end with LMHead(vocab_size=0)"))
        return problems
    want = (num_classes,)
    if out == want:
        return problems
    noun = "classes" if task == "classification" else "regression targets"
    end = f"Linear(out_features={num_classes})"
    advice = f"add Flatten and {end}" if len(out) > 1 else f"end with {end}"
    sequence = [r for r in enabled if r.options.get("output") == "sequence"]
    if len(out) == 2 and sequence:
        advice = (f"set output = \"last\" on {sequence[-1].path} ({sequence[-1].type}) to keep only the final "
                  f"state, then end with {end}")
    problems.append(Problem(path, f"the last layer outputs {fmt(out)} but the data has {num_classes} {noun} — "
                                  f"{advice} (out_features = 0 takes it from the data)"))
    return problems


def _lm_problems(report: ModelReport, vocab: int | None) -> list[Problem]:
    problems = []
    for row in report.rows:
        if not row.enabled or row.type not in LAYERS or not row.options:
            continue
        kind = LAYERS.get(row.type).obj
        if kind.sees_future is not None and kind.sees_future(row.options):
            key = "causal" if "causal" in row.options else "bidirectional"
            fix = "true" if key == "causal" else "false"
            problems.append(Problem(f"{row.path}.{key}", f"language modelling predicts the next token, so {row.type} "
                                    f"must not look ahead — set {key} = {fix}"))
        if row.type == "Embedding" and vocab and row.options.get("num_embeddings", vocab) < vocab:
            problems.append(Problem(f"{row.path}.num_embeddings", f"is {row.options['num_embeddings']} but the "
                                    f"vocabulary has {vocab} tokens — set it to 0 to take it from the data"))
    return problems
