"""Pure planning helpers for parallel training: layout arithmetic, stage splits, checks.

Nothing here imports torch; the hardware question (how many GPUs / CPU cores) goes through
engine.devices. What depends on the strategy is asked of its Strategy object (STRATEGIES,
engine/parallel/strategies). :func:`check_parallel` is the spec check called by
``engine.validation.validate``; every message names the numbers involved and what to change.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from engine.devices import local_devices, uses_gpu
from engine.layers import LAYERS
from engine.problems import Problem, SpecError
from engine.spec import STRATEGIES
from engine.steps import global_batch_size, plan_steps


def is_elementwise(kind: str) -> bool:
    """Whether layer kind `kind` acts on each element alone (a layer trait in engine.layers)."""
    return kind in LAYERS and LAYERS.get(kind).obj.elementwise


# ----------------------------------------------------------------------------- layout

def resolve_backend(spec) -> str:
    """The collective backend: the spec's choice, or nccl on GPU and gloo on CPU for auto."""
    if spec.parallel.backend != "auto":
        return spec.parallel.backend
    return "nccl" if uses_gpu(spec) else "gloo"


def world_size(spec) -> int:
    """Total ranks: processes per node times nodes."""
    return spec.parallel.processes * spec.parallel.nnodes


def data_parallel_size(spec) -> int:
    """How many ranks split each global batch (1 for tensor and pipeline parallel)."""
    return STRATEGIES.get(spec.parallel.strategy).obj.data_parallel_size(world_size(spec))


def global_batch(spec) -> int:
    """Samples per optimizer step over all ranks, gradient accumulation included."""
    return global_batch_size(spec.data.batch_size, spec.training.grad_accumulation, data_parallel_size(spec))


# ----------------------------------------------------------------------------- steps per epoch
# The single source of truth for how many samples each rank trains on per epoch and how many
# optimizer steps that makes: the worker (DistributedContext.epoch_indices, the trainer's
# plan_steps) and the plan (PlanSummary.steps_per_epoch, the Train page) all call these.

def rank_samples(n_train: int, strategy: str, world_size: int, batch_size: int) -> int:
    """Training samples one rank sees per epoch (Strategy.rank_samples: data parallel splits the
    epoch evenly, a pipeline drops the last partial batch, others see all `n_train` samples)."""
    if n_train < 0 or world_size < 1 or batch_size < 1:
        raise ValueError(f"need n_train >= 0, world_size >= 1, batch_size >= 1 (got {n_train}, {world_size}, {batch_size})")
    return STRATEGIES.get(strategy).obj.rank_samples(n_train, world_size, batch_size)


def epoch_steps(n_train: int, strategy: str, world_size: int, batch_size: int, accumulation: int = 1,
                epochs: int = 1, max_steps: int = 0) -> tuple[int, int]:
    """(optimizer steps per epoch, total planned steps) of a run with `n_train` training samples."""
    return plan_steps(rank_samples(n_train, strategy, world_size, batch_size), batch_size, accumulation, epochs, max_steps)


def bubble_fraction(stages: int, microbatches: int) -> float:
    """Predicted idle fraction of a GPipe/1F1B pipeline: (K-1)/(M+K-1)."""
    if stages < 1 or microbatches < 1:
        raise ValueError(f"stages ({stages}) and microbatches ({microbatches}) must be at least 1")
    return (stages - 1) / (microbatches + stages - 1)


# ----------------------------------------------------------------------------- stage split

def split_stages(params: Sequence[int], stages: int) -> list[int]:
    """Split layers (given their parameter counts) into `stages` contiguous, non-empty stages
    that minimise the largest stage's parameter count. Returns each stage's first layer index
    (the first is always 0). Ties keep parameter-free layers with the layer before them."""
    n = len(params)
    if stages < 1 or stages > n:
        raise ValueError(f"cannot split {n} layers into {stages} stages")
    prefix = [0]
    for p in params:
        prefix.append(prefix[-1] + int(p))
    inf = float("inf")
    # best[k][i]: minimal max-stage cost splitting layers[:i] into k stages; cut[k][i]: start of the last
    best = [[inf] * (n + 1) for _ in range(stages + 1)]
    cut = [[0] * (n + 1) for _ in range(stages + 1)]
    best[0][0] = 0
    for k in range(1, stages + 1):
        for i in range(k, n + 1):
            for j in range(k - 1, i):  # last stage = layers[j:i]; later j wins ties
                cost = max(best[k - 1][j], prefix[i] - prefix[j])
                if cost <= best[k][i]:
                    best[k][i], cut[k][i] = cost, j
    starts, i = [], n
    for k in range(stages, 0, -1):
        i = cut[k][i]
        starts.append(i)
    return starts[::-1]


def stage_starts(spec, params: Sequence[int]) -> list[int]:
    """Stage start positions (over the model's enabled top-level layers) for this spec:
    ``parallel.stages`` by hand (layer indices into model.layers), else balanced automatically."""
    k = world_size(spec)
    manual = list(spec.parallel.stages)
    if not manual:
        return split_stages(params, k)
    enabled = [layer.enabled for layer in spec.model.layers]
    position = [sum(enabled[:i]) for i in range(len(enabled) + 1)]
    starts = [position[i] for i in manual if 0 <= i <= len(enabled)]
    return starts if starts[:1] == [0] else [0, *starts]


def check_stages(manual: Sequence[int], n_layers: int, stages: int) -> list[Problem]:
    """Problems with hand-given stage boundaries (indices where stages 2..K start)."""
    given = [i for i in manual if i != 0] if manual[:1] == [0] else list(manual)
    path = "parallel.stages"
    if len(given) != stages - 1:
        return [Problem(path, f"lists {len(given)} boundaries but {stages} pipeline stages need {stages - 1} "
                              f"(the layer index where each stage after the first starts); or leave it empty to balance automatically")]
    if any(b <= a for a, b in zip(given, given[1:])):
        return [Problem(path, f"{list(manual)} must be strictly increasing layer indices")]
    if given and (given[0] < 1 or given[-1] > n_layers - 1):
        return [Problem(path, f"{list(manual)}: each boundary must be between 1 and {n_layers - 1} "
                              f"(the model has {n_layers} layers, indices 0..{n_layers - 1})")]
    return []


# ----------------------------------------------------------------------------- tensor parallel

@dataclass(frozen=True)
class TensorPlanItem:
    """One split: top-level layer `label` split `style` ("colwise"/"rowwise"/"block")."""

    label: str
    style: str
    index: int


def tensor_plan(rows: Sequence) -> list[TensorPlanItem]:
    """Which top-level layers tensor parallelism splits: Linear pairs (column-wise, then only
    element-wise layers, then row-wise) and TransformerBlocks (attention heads and MLP).
    `rows` are the enabled top-level rows of a ModelReport (type, label)."""
    plan: list[TensorPlanItem] = []
    i = 0
    while i < len(rows):
        kind = rows[i].type
        if kind == "TransformerBlock":
            plan.append(TensorPlanItem(rows[i].label, "block", i))
        elif kind == "Linear":
            j = i + 1
            while j < len(rows) and is_elementwise(rows[j].type):
                j += 1
            if j < len(rows) and rows[j].type == "Linear":
                plan += [TensorPlanItem(rows[i].label, "colwise", i), TensorPlanItem(rows[j].label, "rowwise", j)]
                i = j
        i += 1
    return plan


# ----------------------------------------------------------------------------- the spec check

def model_rows(spec) -> tuple[Sequence, object] | None:
    """The enabled top-level rows of the model's shape report and the data description,
    or None when the data or model has problems of its own (reported by their checks)."""
    from engine.data import describe_data  # numpy: the GUI lists the strategies before engine.data loads
    from engine.shapes import infer_model  # loads engine.data too

    try:
        info = describe_data(spec.data)
    except SpecError:
        return None
    report = infer_model(spec.model.layers, tuple(info.input_shape), info.input_dtype, info.num_classes)
    if report.problems:
        return None
    return [r for r in report.rows if r.depth == 0 and r.enabled], info


def blocking_section(spec) -> str:
    """Which section must be fixed before the model can be planned: "data" when the data cannot
    be described, else "model" (its shapes have problems)."""
    from engine.data import describe_data  # numpy: see model_rows

    try:
        describe_data(spec.data)
    except SpecError:
        return "data"
    return "model"


def check_parallel(spec) -> list[Problem]:
    """Problems with the [parallel] section for this spec, each naming the numbers involved."""
    par = spec.parallel
    if par.strategy not in STRATEGIES:
        return []  # named (with a did-you-mean) by the field check of parallel.strategy
    strategy = STRATEGIES.get(par.strategy).obj
    problems = _layout_problems(spec, strategy)
    if not strategy.multi_rank:
        return problems
    if spec.regularization.l1 and not strategy.allows_l1:
        problems.append(Problem("regularization.l1", f"is not supported with strategy {par.strategy} (the penalty would need "
                                                     "the sharded weights) — use weight decay, or strategy ddp"))
    found = model_rows(spec)
    rows = found[0] if found is not None else None
    problems += strategy.check(spec, rows)
    if rows is not None:
        problems += _pretrained_problems(rows, strategy)
    if rows is not None and strategy.splits_batch_statistics:
        for row in rows:
            if row.type in LAYERS and LAYERS.get(row.type).obj.batch_statistics:
                problems.append(Problem(row.path, f"({row.label}, {row.type}) is not supported by strategy {par.strategy}: it "
                                                  "normalises each rank's (or micro-batch's) samples separately, so the result "
                                                  "differs from one process — use LayerNorm or GroupNorm"))
    return problems


def _pretrained_problems(rows: Sequence, strategy) -> list[Problem]:
    """What a multi-rank strategy cannot do with a Pretrained block: those that are not data parallel
    (tensor, pipeline) split Netwright layers, not a library model's inside; gradual unfreezing
    would need the data-parallel wrapper rebuilt mid-run."""
    problems = []
    for row in rows:
        if row.type != "Pretrained":
            continue
        what = f"({row.label}, Pretrained {row.options.get('model', '')})"
        if not strategy.data_parallel:
            problems.append(Problem("parallel.strategy", f"is {strategy.name}, which cannot split {what}: the block is a library "
                                                         "model, not Netwright layers (and its batch-norm layers would "
                                                         "see partial batches) — use ddp or fsdp"))
        elif row.options.get("unfreeze_after"):
            problems.append(Problem(f"{row.path}.unfreeze_after", f"{what}: gradual unfreezing is not supported with "
                                                                  f"strategy {strategy.name} — set it to 0, or train the frozen "
                                                                  "stage, then continue from that run (weights = \"run\") "
                                                                  "with freeze = \"none\""))
    return problems


def _layout_problems(spec, strategy) -> list[Problem]:
    par = spec.parallel
    problems: list[Problem] = []
    if not strategy.multi_rank and par.processes == 1 and par.nnodes == 1 and par.backend == "auto":
        return problems  # one plain process: nothing to check
    k = world_size(spec)
    if not strategy.multi_rank and k > 1:
        choices = ", ".join(e.name for e in STRATEGIES if e.obj.multi_rank)
        problems.append(Problem("parallel.strategy", f"is {par.strategy} but {par.processes} processes x {par.nnodes} nodes = {k} ranks "
                                                     f"were asked for — choose one of {choices}, or set processes = 1 and nnodes = 1"))
    if par.node_rank >= par.nnodes:
        problems.append(Problem("parallel.node_rank", f"is {par.node_rank} but there are {par.nnodes} nodes (valid: 0..{par.nnodes - 1})"))
    if par.rdzv_endpoint:
        host, _, port = par.rdzv_endpoint.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            problems.append(Problem("parallel.rdzv_endpoint", f"{par.rdzv_endpoint!r} must look like host:port, e.g. 10.0.0.1:29500"))
    elif par.nnodes > 1 and not spec.launcher.remote:  # (a scheduler's launcher puts it on the job's first node)
        problems.append(Problem("parallel.rdzv_endpoint", f"is required with {par.nnodes} nodes: node 0's address and a free port, "
                                                          "e.g. 10.0.0.1:29500 (every node uses the same value)"))
    if spec.launcher.remote:  # the ranks run on the cluster's nodes: this machine's devices do not count
        return problems
    devices = local_devices()
    gpu = uses_gpu(spec)
    backend = resolve_backend(spec)
    if backend == "nccl" and not gpu:
        why = "training.device is cpu" if spec.training.device == "cpu" else "this machine has no CUDA GPU"
        problems.append(Problem("parallel.backend", f"nccl needs CUDA GPUs but {why} — use backend gloo (or auto)"))
    if gpu and devices.gpus == 0:
        pass  # training.device = cuda without a GPU: reported by the optimizer/device check
    elif gpu and strategy.multi_rank and par.processes > devices.gpus:
        problems.append(Problem("parallel.processes", f"is {par.processes} but this machine has {devices.gpus} GPU(s); "
                                                      f"each process needs its own GPU — use at most {devices.gpus}"))
    elif not gpu and par.processes > devices.cpus:
        problems.append(Problem("parallel.processes", f"is {par.processes} but this machine has {devices.cpus} CPU core(s); "
                                                      f"use at most {devices.cpus} processes on CPU"))
    return problems
