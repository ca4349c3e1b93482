"""Pure planning helpers for parallel training: layout arithmetic, stage splits, checks.

Nothing here imports torch at module level; the one question that needs the hardware
(how many GPUs / CPU cores this machine has) goes through :func:`local_devices`, which
can be overridden in tests. :func:`check_parallel` is the spec check called by
``engine.spec.validate``; every message names the numbers involved and what to change.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Sequence

from engine.problems import Problem

#: layers that only act element-wise: they may sit between a column- and a row-wise Linear
ELEMENTWISE = frozenset({"ReLU", "LeakyReLU", "GELU", "SiLU", "Tanh", "Sigmoid", "Dropout"})
BATCH_NORMS = frozenset({"BatchNorm1d", "BatchNorm2d"})


# ----------------------------------------------------------------------------- layout

@dataclass(frozen=True)
class Devices:
    """What this machine offers: `gpus` CUDA devices and `cpus` cores."""

    gpus: int
    cpus: int


def _gpu_count() -> int:
    """CUDA devices, without importing torch when it is not loaded yet (the GUI validates on
    every edit): the NVIDIA driver's /proc entries, limited by CUDA_VISIBLE_DEVICES."""
    import sys

    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        try:
            return torch.cuda.device_count() if torch.cuda.is_available() else 0
        except Exception:  # pragma: no cover - broken driver
            return 0
    try:
        found = len(os.listdir("/proc/driver/nvidia/gpus"))
    except OSError:
        return 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        found = min(found, len([v for v in visible.split(",") if v.strip() and not v.strip().startswith("-")]))
    return found


@functools.lru_cache(maxsize=1)
def _probe_devices() -> Devices:
    gpus = _gpu_count()
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return Devices(gpus, cpus)


_override: Devices | None = None


def local_devices() -> Devices:
    """GPUs and CPU cores of this machine (cached; see :func:`set_devices_for_tests`)."""
    return _override or _probe_devices()


def set_devices_for_tests(devices: Devices | None) -> None:
    """Pretend this machine has `devices` (None = probe the real hardware)."""
    global _override
    _override = devices


def uses_gpu(spec) -> bool:
    """True when training runs on CUDA: device cuda*, or auto with a GPU present."""
    device = spec.training.device
    if device.startswith("cuda"):
        return True
    return device == "auto" and local_devices().gpus > 0


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
    from engine.parallel.strategies import STRATEGIES

    entry = STRATEGIES.get(spec.parallel.strategy)
    return world_size(spec) if entry.extra.get("data_parallel") else 1


def global_batch(spec) -> int:
    """Samples per optimizer step over all ranks (before gradient accumulation)."""
    return spec.data.batch_size * data_parallel_size(spec)


# ----------------------------------------------------------------------------- steps per epoch
# The single source of truth for how many samples each rank trains on per epoch and how many
# optimizer steps that makes: the worker (DistributedContext.epoch_indices, the trainer's
# plan_steps) and the plan (PlanSummary.steps_per_epoch, the Train page) all call these.

DATA_PARALLEL_STRATEGIES = frozenset({"ddp", "fsdp"})


def rank_samples(n_train: int, strategy: str, world_size: int, batch_size: int) -> int:
    """Training samples one rank sees per epoch. Data parallel (ddp, fsdp): the epoch is cut to a
    multiple of the world size and split evenly (floor), so every rank takes the same number of
    steps. Pipeline: whole batches only (every micro-batch must have the same shape), the last
    partial batch is dropped. Otherwise every rank sees all `n_train` samples."""
    if n_train < 0 or world_size < 1 or batch_size < 1:
        raise ValueError(f"need n_train >= 0, world_size >= 1, batch_size >= 1 (got {n_train}, {world_size}, {batch_size})")
    if strategy in DATA_PARALLEL_STRATEGIES:
        return n_train // world_size
    if strategy == "pipeline":
        return n_train - n_train % batch_size
    return n_train


def plan_steps(n_samples: int, batch_size: int, accumulation: int, epochs: int, max_steps: int = 0) -> tuple[int, int]:
    """(optimizer steps per epoch, total planned steps) for one rank's share of the data: the last
    partial batch and the last partial accumulation group each still make a step."""
    micro = -(-n_samples // batch_size)
    per_epoch = max(1, -(-micro // accumulation))
    total = per_epoch * epochs
    return per_epoch, (min(total, max_steps) if max_steps else total)


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
            while j < len(rows) and rows[j].type in ELEMENTWISE:
                j += 1
            if j < len(rows) and rows[j].type == "Linear":
                plan += [TensorPlanItem(rows[i].label, "colwise", i), TensorPlanItem(rows[j].label, "rowwise", j)]
                i = j
        i += 1
    return plan


def _tensor_problems(spec, rows: Sequence, tp: int) -> list[Problem]:
    plan = tensor_plan(rows)
    if not plan:
        kinds = sorted({r.type for r in rows})
        return [Problem("parallel.strategy", f"tensor parallel has nothing to split in this model (layers: {', '.join(kinds)}): "
                                             "it splits Linear pairs (Linear, optional activations, Linear) and TransformerBlocks — "
                                             "add such layers or use strategy ddp")]
    problems = []
    for item in plan:
        row = rows[item.index]
        path = row.path
        if item.style == "colwise":
            width = row.out_shape[-1] if row.out_shape else 0
            if width % tp:
                problems.append(Problem(f"{path}.out_features", f"({row.label}) has {width} outputs, which do not divide by the "
                                                              f"{tp} tensor-parallel ranks — use a multiple of {tp}"))
        elif item.style == "block":
            layer = _layer_spec(spec, row.index)
            heads = int(layer.params.get("heads", 1)) if layer is not None else 1
            dim = row.out_shape[-1] if row.out_shape else 0
            ratio = float(layer.params.get("mlp_ratio", 4)) if layer is not None else 4.0
            hidden = int(dim * ratio)
            if heads % tp:
                problems.append(Problem(f"{path}.heads", f"({row.label}) has {heads} heads, which do not divide by the {tp} "
                                                         f"tensor-parallel ranks — use a multiple of {tp}"))
            if hidden % tp:
                problems.append(Problem(f"{path}.mlp_ratio", f"({row.label}) gives an MLP width of {hidden} ({dim} x {ratio:g}), "
                                                             f"which does not divide by the {tp} tensor-parallel ranks"))
    return problems


def _layer_spec(spec, index: tuple[int, ...]):
    layers, layer = spec.model.layers, None
    for i in index:
        if i >= len(layers):
            return None
        layer = layers[i]
        layers = layer.layers
    return layer


# ----------------------------------------------------------------------------- the spec check

def model_rows(spec) -> tuple[Sequence, object] | None:
    """The enabled top-level rows of the model's shape report and the data description,
    or None when the data or model has problems of its own (reported by their checks)."""
    try:
        from engine.data import describe_data
        from engine.shapes import infer_model

        info = describe_data(spec.data)
        report = infer_model(spec.model.layers, tuple(info.input_shape), info.input_dtype, info.num_classes)
    except Exception:
        return None
    if report.problems:
        return None
    return [r for r in report.rows if r.depth == 0 and r.enabled], info


def check_parallel(spec) -> list[Problem]:
    """Problems with the [parallel] section for this spec, each naming the numbers involved."""
    par = spec.parallel
    problems = _layout_problems(spec)
    if par.strategy == "none":
        return problems
    from engine.parallel.strategies import STRATEGIES

    entry = STRATEGIES.get(par.strategy)
    k = world_size(spec)
    problems += entry.obj.check(spec)
    found = model_rows(spec)
    if found is None:
        return problems
    rows, _info = found
    unsupported = entry.extra.get("unsupported", {})
    for row in rows:
        if row.type in unsupported:
            problems.append(Problem(row.path, f"({row.label}, {row.type}) is not supported by strategy {par.strategy}: "
                                              f"{unsupported[row.type]}"))
    if par.strategy == "pipeline":
        if k > len(rows):
            problems.append(Problem("parallel.processes", f"a pipeline of {k} stages ({par.processes} processes x {par.nnodes} nodes) "
                                                          f"needs at least {k} layers, but the model has {len(rows)} — "
                                                          f"use at most {len(rows)} processes"))
        elif par.stages:
            problems += check_stages(par.stages, len(spec.model.layers), k)
    elif par.strategy == "tensor":
        problems += _tensor_problems(spec, rows, k)
    return problems


def _layout_problems(spec) -> list[Problem]:
    par = spec.parallel
    problems: list[Problem] = []
    if par.strategy == "none" and par.processes == 1 and par.nnodes == 1 and par.backend == "auto":
        return problems  # one plain process: nothing to check (and no hardware probe)
    k = world_size(spec)
    if par.strategy == "none" and k > 1:
        problems.append(Problem("parallel.strategy", f"is none but {par.processes} processes x {par.nnodes} nodes = {k} ranks were asked for "
                                                     "— choose ddp, fsdp, tensor or pipeline, or set processes = 1 and nnodes = 1"))
    if par.node_rank >= par.nnodes:
        problems.append(Problem("parallel.node_rank", f"is {par.node_rank} but there are {par.nnodes} nodes (valid: 0..{par.nnodes - 1})"))
    if par.rdzv_endpoint:
        host, _, port = par.rdzv_endpoint.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            problems.append(Problem("parallel.rdzv_endpoint", f"{par.rdzv_endpoint!r} must look like host:port, e.g. 10.0.0.1:29500"))
    elif par.nnodes > 1:
        problems.append(Problem("parallel.rdzv_endpoint", f"is required with {par.nnodes} nodes: node 0's address and a free port, "
                                                          "e.g. 10.0.0.1:29500 (every node uses the same value)"))
    devices = local_devices()
    gpu = uses_gpu(spec)
    backend = resolve_backend(spec)
    if backend == "nccl" and not gpu:
        why = "training.device is cpu" if spec.training.device == "cpu" else "this machine has no CUDA GPU"
        problems.append(Problem("parallel.backend", f"nccl needs CUDA GPUs but {why} — use backend gloo (or auto)"))
    if gpu and devices.gpus == 0:
        pass  # training.device = cuda without a GPU: reported by the optimizer/device check
    elif gpu and par.strategy != "none" and par.processes > devices.gpus:
        problems.append(Problem("parallel.processes", f"is {par.processes} but this machine has {devices.gpus} GPU(s); "
                                                      f"each process needs its own GPU — use at most {devices.gpus}"))
    elif not gpu and par.processes > devices.cpus:
        problems.append(Problem("parallel.processes", f"is {par.processes} but this machine has {devices.cpus} CPU core(s); "
                                                      f"use at most {devices.cpus} processes on CPU"))
    return problems
