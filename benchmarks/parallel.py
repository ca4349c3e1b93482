"""Parallel training overhead and pipeline bubble, measured side by side.

1. DDP with 2 ranks: our worker (`python -m engine worker RUN_DIR`: elastic launcher, the real
   trainer with events, status, control checks) against a hand-written torchrun-style DDP
   loop (elastic_launch, DDP, the same model, data, seed and sample order), alternating, in
   rounds. Both time windows of `log_every` steps (ours: wall time between consecutive metric
   events, logging included; plain: perf_counter around the same windows, including its loss
   all-reduce); prints the ratio of the median window step times (ours / plain; target
   <= 1.05) and whether the losses match.
   Then the same comparison inside the same 2 ranks, alternating (the trainer with its
   DistributedContext against the plain loop), which isolates our per-step overhead from
   the noise of separate launches on a busy machine.
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
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel

    from engine.data import load_data
    from engine.model import build_model

    spec = ExperimentSpec.from_toml(spec_toml)
    cuda = spec.training.device.startswith("cuda")
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", int(os.environ["LOCAL_RANK"])) if cuda else torch.device("cpu")
    data = load_data(spec.data, spec.seed)
    torch.manual_seed(spec.seed)
    model = build_model(spec, data.info.input_shape, data.info.input_dtype, num_classes=data.info.num_classes).to(device)
    model = DistributedDataParallel(model, device_ids=[device.index] if cuda else None, gradient_as_bucket_view=True)
    opt = torch.optim.Adam(model.parameters(), lr=spec.optimizer.options.get("lr", 1e-3))
    x, y = torch.as_tensor(data.x_train).to(device), torch.as_tensor(data.y_train).to(device)
    n = len(x)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(spec.seed * 1_000_003))
    order = order[: n - n % world][rank::world]
    b, every, steps = spec.data.batch_size, spec.training.log_every, spec.training.max_steps
    windows, losses, pending = [], [], []
    t0 = time.perf_counter()
    for step in range(steps):
        idx = order[step * b:(step + 1) * b]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        pending.append(loss.detach())
        if (step + 1) % every == 0:
            total = torch.stack(pending).sum()
            dist.all_reduce(total)
            losses.append(total.item() / (every * world))
            pending.clear()
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

class _WindowReporter:
    """Times the windows between metric events (a reporter for engine.trainer.train)."""

    def __init__(self, every: int):
        self.every = every
        self.windows, self.losses, self.last = [], [], None

    def event(self, type, **fields):
        if type == "metric":
            now = time.perf_counter()
            if self.last is not None:
                self.windows.append((now - self.last) / self.every)
            self.last = now
            self.losses.append(fields["train_loss"])

    def control(self):
        return "run"


def same_ranks_rank(spec_toml: str, rounds: int, out_path: str) -> None:
    """In the same 2 ranks, alternately: the hand-written DDP loop and engine.trainer.train with
    a DistributedContext (no run directory). Isolates our per-step overhead from the noise of
    separate process launches on a busy machine."""
    import json

    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel

    from engine.data import load_data
    from engine.model import build_model
    from engine.parallel.context import DistributedContext
    from engine.trainer import train

    spec = ExperimentSpec.from_toml(spec_toml)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    data = load_data(spec.data, spec.seed)
    b, every, steps = spec.data.batch_size, spec.training.log_every, spec.training.max_steps
    x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)

    def model():
        torch.manual_seed(spec.seed)
        return build_model(spec, data.info.input_shape, data.info.input_dtype, num_classes=data.info.num_classes)

    def plain() -> float:
        net = DistributedDataParallel(model(), gradient_as_bucket_view=True)
        opt = torch.optim.Adam(net.parameters(), lr=spec.optimizer.options.get("lr", 1e-3))
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(spec.seed * 1_000_003))
        order = order[: len(x) - len(x) % world][rank::world]
        windows, t0 = [], time.perf_counter()
        for step in range(steps):
            idx = order[step * b:(step + 1) * b]
            F.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if (step + 1) % every == 0:
                now = time.perf_counter()
                windows.append((now - t0) / every)
                t0 = now
        return statistics.median(windows[1:])

    def ours() -> float:
        reporter = _WindowReporter(every)
        train(spec, data, model(), reporter, run=None, ctx=DistributedContext(spec))
        return statistics.median(reporter.windows[1:])

    ratios = []
    for r in range(rounds):
        a, c = (plain(), ours()) if r % 2 == 0 else tuple(reversed((ours(), plain())))
        ratios.append(c / a)
    if rank == 0:
        Path(out_path).write_text(json.dumps(ratios))
    dist.destroy_process_group()


def same_ranks(rounds: int, steps: int) -> None:
    import json

    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    spec = bench_spec(steps, "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "ratios.json")
        config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=2, run_id="same", rdzv_backend="c10d",
                              rdzv_endpoint="127.0.0.1:0", start_method="spawn", max_restarts=0, monitor_interval=0.1)
        elastic_launch(config, same_ranks_rank)(spec.to_toml(), rounds, out)
        ratios = json.loads(Path(out).read_text())
    print(f"same 2 ranks, alternating (trainer + DistributedContext / plain DDP loop): ratios "
          f"{', '.join(f'{x:.3f}' for x in ratios)}; median {statistics.median(ratios):.3f}")


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
