"""Fine-tuning a pretrained model: what freezing saves, and our loop against a hand-written one.

1. **Frozen vs full step**: the same resnet18 (+ a new Linear head) built from a spec, one step
   with the backbone frozen (freeze = "all") against one with everything trained, alternated step by
   step on the same batch; printed as the ratio of median step CPU times (frozen / full; freezing
   must make a step cheaper: no weight gradients and no optimizer work for the backbone).
2. **Ours vs a hand-written torchvision loop**: our trainer (real run directory and reporter) on a
   frozen-backbone resnet18 from a Pretrained layer, interleaved step by step (benchmarks/interleave)
   with what a person writes by hand: ``torchvision.models.resnet18()``, ``fc`` replaced, backbone
   parameters ``requires_grad_(False)`` and in eval mode, Adam over the head, the same batches.
   Printed as images/s of each and the ratio of median step CPU times (ours / hand-written;
   target <= 1.05).

    python benchmarks/finetune.py [--steps 40] [--reps 3] [--size 64] [--batch 32]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.pretrained.compat import ensure_torchvision  # noqa: E402

ensure_torchvision()

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from benchmarks.interleave import Interleaver, median_ratio  # noqa: E402
from engine.data import load_data  # noqa: E402
from engine.model import build_model  # noqa: E402
from engine.rank import LocalContext  # noqa: E402
from engine.reporting import RunReporter  # noqa: E402
from engine.runs import RunDir  # noqa: E402
from engine.spec import ExperimentSpec  # noqa: E402
from engine.trainer import train  # noqa: E402

TARGET = 1.05


def make_spec(freeze: str, *, size: int, batch: int, steps: int, samples: int) -> ExperimentSpec:
    return ExperimentSpec.from_dict({
        "name": f"finetune-{freeze}", "seed": 0,
        "data": {"source": "random", "shape": [3, size, size], "classes": 10, "samples": samples,
                 "batch_size": batch, "val_fraction": 0.1},
        "model": {"layers": [{"type": "Pretrained", "model": "resnet18", "weights": "random", "freeze": freeze},
                             {"type": "Linear", "out_features": 0}]},
        "optimizer": {"name": "adam", "lr": 1e-3},
        "training": {"epochs": 1000, "max_steps": steps, "checkpoint_every": 0, "device": "cpu"},
        "tracking": {"tensorboard": False},
    })


def built(spec, info):
    torch.manual_seed(spec.seed)
    return build_model(spec, info.input_shape, info.input_dtype, num_classes=info.num_classes)


def frozen_vs_full(size: int, batch: int, steps: int) -> tuple[float, float, float]:
    """(median frozen step ms, median full step ms, ratio), CPU time, alternating on one batch."""
    spec = make_spec("all", size=size, batch=batch, steps=steps, samples=batch * 2)
    data = load_data(spec.data, spec.seed)
    x, y = torch.as_tensor(data.x_train[:batch]), torch.as_tensor(data.y_train[:batch])
    models = {"all": built(spec, data.info), "none": built(make_spec("none", size=size, batch=batch, steps=steps,
                                                                      samples=batch * 2), data.info)}
    opts = {k: torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=1e-3) for k, m in models.items()}
    times: dict[str, list[float]] = {"all": [], "none": []}
    for i in range(steps + 2):
        for key in ("all", "none"):
            model, opt = models[key], opts[key]
            model.train()
            t0 = time.process_time()
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
            if i >= 2:  # two warm-up steps each
                times[key].append(time.process_time() - t0)
    frozen, full = statistics.median(times["all"]), statistics.median(times["none"])
    return frozen * 1e3, full * 1e3, frozen / full


def hand_written(spec, data, losses: list):
    """The torchvision fine-tuning loop a person writes; yields after each optimizer step."""
    import torchvision

    torch.manual_seed(spec.seed)
    model = torchvision.models.resnet18(weights=None)
    model.fc = torch.nn.Linear(model.fc.in_features, data.info.num_classes)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("fc."))
    optimizer = torch.optim.Adam(model.fc.parameters(), lr=1e-3)
    x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    bs, epoch = spec.data.batch_size, 0
    while True:
        model.train()
        for child in list(model.children())[:-1]:  # the frozen backbone keeps its batch-norm statistics
            child.eval()
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
        for start in range(0, len(x), bs):
            idx = order[start:start + bs]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
            yield model
        epoch += 1


def ours_vs_hand(size: int, batch: int, steps: int, reps: int, runs_dir: Path) -> dict:
    spec = make_spec("all", size=size, batch=batch, steps=steps, samples=batch * (steps + 2))
    data = load_data(spec.data, spec.seed)
    ours_t, plain_t, per_run = [], [], []
    for rep in range(reps + 1):  # rep 0 warms up
        interleaver = Interleaver(hand_written(spec, data, []))
        run = RunDir.create(runs_dir, spec)
        reporter = RunReporter(run)
        try:
            with interleaver:
                result = train(spec, data, built(spec, data.info), reporter, run=run, ctx=LocalContext(device="cpu"))
        finally:
            reporter.close()
        assert result.status == "completed", result
        if rep == 0:
            continue
        ours, plain = interleaver.times(cpu=True)
        ours_t += ours[2:]
        plain_t += plain[2:]
        per_run.append(median_ratio(ours[2:], plain[2:]))
    o, p = statistics.median(ours_t), statistics.median(plain_t)
    return {"ours_ips": batch / o, "plain_ips": batch / p, "ratio": o / p, "range": (min(per_run), max(per_run))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps per measurement")
    parser.add_argument("--reps", type=int, default=3, help="interleaved runs of ours vs hand-written (after a warm-up)")
    parser.add_argument("--size", type=int, default=64, help="image size (pixels)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 = least noise on a shared machine)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, resnet18 on {args.size}x{args.size} images, "
          f"batch {args.batch}", flush=True)
    frozen, full, ratio = frozen_vs_full(args.size, args.batch, args.steps)
    print(f"frozen backbone step vs full step (median CPU time): {frozen:.1f} ms / {full:.1f} ms = ratio {ratio:.3f} "
          f"(frozen must be cheaper: {'OK' if ratio < 1 else 'NOT CHEAPER'})", flush=True)
    with tempfile.TemporaryDirectory(prefix="netwright-finetune-") as tmp:
        r = ours_vs_hand(args.size, args.batch, args.steps, args.reps, Path(tmp))
    lo, hi = r["range"]
    print(f"fine-tuning images/s: ours {r['ours_ips']:.1f}, hand-written torchvision loop {r['plain_ips']:.1f}; "
          f"step ratio ours/hand-written {r['ratio']:.3f} (per run {lo:.3f}-{hi:.3f}) target <= {TARGET}: "
          f"{'OK' if r['ratio'] <= TARGET else 'OVER TARGET'}; load average {load:.1f} -> {os.getloadavg()[0]:.1f}",
          flush=True)
    return 0 if ratio < 1 and r["ratio"] <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
