"""Parallel training overhead and pipeline bubble, measured side by side.

1. DDP with 2 ranks: our worker (`python -m engine worker RUN_DIR`: elastic launcher, the real
   trainer with events, status, control checks) against a hand-written torchrun-style DDP
   loop (elastic_launch, DDP, the same model, data, seed and sample order), alternating, in
   rounds. Both time windows of `log_every` steps (ours: wall time between consecutive metric
   events, logging included; plain: perf_counter around the same windows, including its loss
   all-reduce); prints the ratio of the median window step times (ours / plain; target
   <= 1.05) and whether the losses match. Wall clock, separate launches: on a machine with more
   runnable processes than cores this figure is mostly scheduling noise.
   Then the same comparison inside the same 2 ranks, interleaved step by step
   (benchmarks/interleave.py: after each optimizer step of the trainer with its
   DistributedContext, the plain loop takes one step): the ratio of the median step CPU time
   (target <= 1.02), per round, the wall-clock ratio beside it, whether losses and weights
   match bit for bit, and the load average. This isolates our per-step overhead.
2. Pipeline with 2 stages (GPipe): each stage's measured idle fraction (1 - CPU time of its
   compute thread / wall time of the step; OMP 1 thread, so waiting for the neighbour stage is
   the idle part) beside the predicted bubble (K-1)/(M+K-1). On a loaded machine the wall time
   also holds time spent waiting for a core, which reads as idle.

    python benchmarks/parallel.py [--rounds 3] [--steps 120] [--device cpu|cuda] [--processes 2] [--skip-pipeline]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.spec import ExperimentSpec  # noqa: E402

SPEC = """
name = "bench_ddp"
seed = 0
[data]
source = "random"
batch_size = 64
val_fraction = 0.05
shape = [512]
classes = 10
samples = 40000
[model]
layers = [
  {type = "Linear", out_features = 1024},
  {type = "ReLU"},
  {type = "Linear", out_features = 1024},
  {type = "ReLU"},
  {type = "Linear", out_features = 10},
]
[optimizer]
name = "adam"
lr = 0.001
[training]
epochs = 1
log_every = 10
checkpoint_every = 0
device = "cpu"
[parallel]
strategy = "ddp"
processes = 2
"""


def bench_spec(steps: int, device: str, processes: int = 2) -> ExperimentSpec:
    spec = ExperimentSpec.from_toml(SPEC)
    return dataclasses.replace(spec, training=dataclasses.replace(spec.training, max_steps=steps, device=device),
                               parallel=dataclasses.replace(spec.parallel, processes=processes))


# ----------------------------------------------------------------------------- plain DDP loop

def plain_rank(spec_toml: str, out_path: str) -> None:
    """A torchrun-style DDP loop: one process per rank, env:// rendezvous, DDP, the trainer's
    sample order (one seeded permutation, interleaved over ranks like a DistributedSampler)."""
    import json

    import torch
    import torch.distributed as dist

    from engine.data import load_data
    from engine.model import build_model

    spec = ExperimentSpec.from_toml(spec_toml)
    cuda = spec.training.device.startswith("cuda")
    dist.init_process_group("nccl" if cuda else "gloo")
    rank = dist.get_rank()
    device = torch.device("cuda", int(os.environ["LOCAL_RANK"])) if cuda else torch.device("cpu")
    data = load_data(spec.data, spec.seed)
    torch.manual_seed(spec.seed)
    model = build_model(spec, data.info.input_shape, data.info.input_dtype, num_classes=data.info.num_classes)
    every, steps = spec.training.log_every, spec.training.max_steps
    windows, losses = [], []
    loop = plain_ddp_steps(spec, data, model, losses, device)
    t0 = time.perf_counter()
    for step in range(steps):
        next(loop)
        if (step + 1) % every == 0:  # the loop logged its loss (one all-reduce and a host sync)
            if cuda:
                torch.cuda.synchronize()
            now = time.perf_counter()
            windows.append((now - t0) / every)
            t0 = now
    if rank == 0:
        Path(out_path).write_text(json.dumps({"windows": windows, "losses": losses}))
    dist.destroy_process_group()


def run_plain(spec: ExperimentSpec, workdir: Path) -> dict:
    import json

    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    out = workdir / f"plain-{time.monotonic_ns()}.json"
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=spec.parallel.processes, run_id="plain", rdzv_backend="c10d",
                          rdzv_endpoint="127.0.0.1:0", start_method="spawn", max_restarts=0, monitor_interval=0.1)
    elastic_launch(config, plain_rank)(spec.to_toml(), str(out))
    return json.loads(out.read_text())


def run_ours(spec: ExperimentSpec, workdir: Path) -> dict:
    from engine.events import read_events
    from engine.runs import RunDir

    run = RunDir.create(workdir, spec)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", "engine", "worker", str(run.path)], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = [e for e in read_events(run.events_path)[0] if e["type"] == "metric"]
    every = spec.training.log_every
    # wall time between consecutive metric events: everything ours does per window, logging included
    windows = [(b["time"] - a["time"]) / every for a, b in zip(metrics, metrics[1:])]
    return {"windows": [metrics[0]["step_time"], *windows], "losses": [e["train_loss"] for e in metrics]}


def ddp_overhead(rounds: int, steps: int, device: str, processes: int = 2) -> bool:
    spec = bench_spec(steps, device, processes)
    ours_w, plain_w, paired = [], [], []
    ours_l = plain_l = None
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            pair = [("ours", run_ours), ("plain", run_plain)]
            medians = {}
            for name, fn in pair if r % 2 == 0 else pair[::-1]:
                result = fn(spec, Path(tmp))
                windows = result["windows"][1:]  # the first window holds warm-up
                medians[name] = statistics.median(windows)
                (ours_w if name == "ours" else plain_w).extend(windows)
                if name == "ours":
                    ours_l = result["losses"]
                else:
                    plain_l = result["losses"]
                print(f"  round {r + 1} {name:5s}: median step {statistics.median(windows) * 1e3:.2f} ms", flush=True)
            paired.append(medians["ours"] / medians["plain"])
    ratio = statistics.median(ours_w) / statistics.median(plain_w)
    match = ours_l is not None and plain_l is not None and len(ours_l) == len(plain_l) and all(
        abs(a - b) <= 1e-4 * max(1.0, abs(b)) for a, b in zip(ours_l, plain_l))
    print(f"DDP {processes} rank(s) ({device}): median step ours {statistics.median(ours_w) * 1e3:.2f} ms / plain "
          f"{statistics.median(plain_w) * 1e3:.2f} ms = ratio {ratio:.3f} (target <= 1.05: {'met' if ratio <= 1.05 else 'NOT met'}); "
          f"losses match: {match}" + ("" if match else f" (ours {ours_l[:3]}..., plain {plain_l[:3]}...)"))
    print(f"  per-round ratios (each round's two runs back to back): {', '.join(f'{x:.3f}' for x in paired)}; "
          f"median {statistics.median(paired):.3f}")
    return ratio <= 1.05 and match


# ----------------------------------------------------------------------------- same ranks, alternating

class _LossReporter:
    """Keeps the trainer's metric losses (a reporter for engine.trainer.train; control: run)."""

    def __init__(self):
        self.losses: list[float] = []

    def event(self, type, **fields):
        if type == "metric":
            self.losses.append(fields["train_loss"])

    def control(self):
        return "run"


def plain_ddp_steps(spec: ExperimentSpec, data, model, logged: list, device=None):
    """The hand-written DDP loop of `plain_rank` as a generator: yields the DDP module after each
    optimizer step (so it can run interleaved with ours, step by step). Like `plain_rank` it
    logs the mean loss over ranks every `log_every` steps (one all-reduce) into `logged`."""
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel

    rank, world = dist.get_rank(), dist.get_world_size()
    device = device or torch.device("cpu")
    x, y = torch.as_tensor(data.x_train).to(device), torch.as_tensor(data.y_train).to(device)
    net = DistributedDataParallel(model.to(device), device_ids=[device.index] if device.type == "cuda" else None,
                                  gradient_as_bucket_view=True)
    opt = torch.optim.Adam(net.parameters(), lr=spec.optimizer.options.get("lr", 1e-3))
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(spec.seed * 1_000_003))
    order = order[: len(x) - len(x) % world][rank::world]
    b, every, pending = spec.data.batch_size, spec.training.log_every, []
    for step in range(len(order) // b):
        idx = order[step * b:(step + 1) * b]
        loss = F.cross_entropy(net(x[idx]), y[idx])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        pending.append(loss.detach())
        if (step + 1) % every == 0:
            total = torch.stack(pending).sum()
            dist.all_reduce(total)
            logged.append(total.item() / (every * world))
            pending.clear()
        yield net


def same_ranks_rank(spec_toml: str, rounds: int, out_path: str) -> None:
    """In the same 2 ranks, interleaved step by step (benchmarks/interleave.py): the trainer with
    a DistributedContext (no run directory) and the hand-written DDP loop. Isolates our per-step
    overhead from the noise of separate process launches on a busy machine. Each rank writes its
    paired step times and whether losses and weights matched."""
    import json

    import torch
    import torch.distributed as dist

    from benchmarks.interleave import Interleaver
    from engine.data import load_data
    from engine.model import build_model
    from engine.parallel.context import DistributedContext
    from engine.trainer import train

    spec = ExperimentSpec.from_toml(spec_toml)
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    data = load_data(spec.data, spec.seed)

    def model():
        torch.manual_seed(spec.seed)
        return build_model(spec, data.info.input_shape, data.info.input_dtype, num_classes=data.info.num_classes)

    out = {"cpu": [], "wall": [], "match": True}
    for r in range(rounds + 1):  # round 0 warms up
        plain_l: list = []
        interleaver = Interleaver(plain_ddp_steps(spec, data, model(), plain_l))
        reporter, ours = _LossReporter(), model()
        with interleaver:
            train(spec, data, ours, reporter, run=None, ctx=DistributedContext(spec))
        same_weights = all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(),
                                                               interleaver.partner_value.module.state_dict().values()))
        out["match"] &= same_weights and len(plain_l) == len(reporter.losses) and all(
            abs(a - b) <= 1e-5 * max(1.0, abs(b)) for a, b in zip(reporter.losses, plain_l))
        if r:
            for kind in ("cpu", "wall"):
                o, p = interleaver.times(cpu=kind == "cpu")
                out[kind].append((o[2:], p[2:]))
    Path(f"{out_path}.{rank}").write_text(json.dumps(out))
    dist.destroy_process_group()


def same_ranks(rounds: int, steps: int) -> None:
    import json

    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from benchmarks.interleave import median_ratio

    spec = bench_spec(steps, "cpu")
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "steps")
        config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=2, run_id="same", rdzv_backend="c10d",
                              rdzv_endpoint="127.0.0.1:0", start_method="spawn", max_restarts=0, monitor_interval=0.1)
        elastic_launch(config, same_ranks_rank)(spec.to_toml(), rounds, out)
        ranks = [json.loads(Path(f"{out}.{r}").read_text()) for r in range(2)]

    def pooled(kind: str) -> float:
        ours = [t for rk in ranks for o, _ in rk[kind] for t in o]
        plain = [t for rk in ranks for _, p in rk[kind] for t in p]
        return median_ratio(ours, plain)

    per_round = [median_ratio(o + o1, p + p1) for (o, p), (o1, p1) in zip(ranks[0]["cpu"], ranks[1]["cpu"])]
    match = all(rk["match"] for rk in ranks)
    print(f"same 2 ranks, interleaved step by step (trainer + DistributedContext / plain DDP loop): ratio of median "
          f"step CPU time {pooled('cpu'):.3f} (target <= 1.02: {'met' if pooled('cpu') <= 1.02 else 'NOT met'}; per round "
          f"{', '.join(f'{x:.3f}' for x in per_round)}); wall clock {pooled('wall'):.3f}; losses and weights match: {match}; "
          f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}")


# ----------------------------------------------------------------------------- pipeline bubble

def pipeline_rank(microbatches: int, steps: int, out_path: str) -> None:
    """Two balanced stages under GPipe; time inside this stage's forward/backward vs step time."""
    import json

    import torch
    import torch.distributed as dist
    from torch import nn

    from engine.parallel.pipeline import apply_pipeline

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    width, batch = 768, 64 * microbatches
    model = nn.Sequential(*[m for _ in range(4) for m in (nn.Linear(width, width), nn.Tanh())], nn.Linear(width, 10))
    runner = apply_pipeline(model, stage=rank, starts=[0, 4], device=torch.device("cpu"), microbatches=microbatches,
                            schedule="gpipe")
    opt = torch.optim.SGD(runner.module.parameters(), lr=0.01)
    x, y = torch.randn(batch, width), torch.randint(0, 10, (batch,))
    loss_fn = nn.functional.cross_entropy
    idle = []
    for step in range(steps):
        dist.barrier()
        t0, c0 = time.perf_counter(), time.thread_time()
        runner.step(x, y, loss_fn)
        wall, busy = time.perf_counter() - t0, time.thread_time() - c0
        opt.step()
        opt.zero_grad()
        if step >= 2:
            idle.append(max(0.0, 1 - busy / wall))
    Path(f"{out_path}.{rank}").write_text(json.dumps(idle))
    dist.destroy_process_group()


def pipeline_bubble(microbatches: int, steps: int) -> None:
    import json

    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from engine.parallel.plan import bubble_fraction

    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "idle")
        config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=2, run_id="pipe", rdzv_backend="c10d",
                              rdzv_endpoint="127.0.0.1:0", start_method="spawn", max_restarts=0, monitor_interval=0.1)
        elastic_launch(config, pipeline_rank)(microbatches, steps, out)
        idle = [statistics.median(json.loads(Path(f"{out}.{r}").read_text())) for r in range(2)]
    print(f"pipeline GPipe, 2 stages, {microbatches} micro-batches: measured idle fraction per stage "
          f"{', '.join(f'{v:.1%}' for v in idle)} (mean {statistics.mean(idle):.1%}) vs predicted bubble "
          f"{bubble_fraction(2, microbatches):.1%}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--processes", type=int, default=2, help="DDP ranks (one GPU each on CUDA)")
    parser.add_argument("--skip-pipeline", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    ok = ddp_overhead(args.rounds, args.steps, args.device, args.processes)
    if args.device == "cpu" and args.processes == 2:
        same_ranks(args.rounds, args.steps)
    if not args.skip_pipeline and args.device == "cpu":
        for m in (2, 4, 8):
            pipeline_bubble(m, 8)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
