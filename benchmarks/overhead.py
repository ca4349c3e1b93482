"""Trainer overhead: our training loop against a plain hand-written PyTorch loop.

For each case (the seed_bigmodel and digits_mlp examples) both loops train the same model (same
initial weights), on the same data, in the same batch order, for the same number of steps, in
this one process. Ours runs with its real reporter: events written to a run directory at the
default metrics cadence (`training.log_every`), status file, control polling.

The two loops run *interleaved, step by step*: after each of our optimizer steps (an optimizer
step hook) the plain loop takes one step. So every step of ours has a step of the plain loop
right beside it, a millisecond apart, and the load of other processes on a shared machine hits
both alike. Printed per case:

- ratio: the median over steps of (our step / the plain step beside it) — the typical step;
- amortized: total time of ours / total of plain over all steps except our epoch ends (so
  logging, the gradient norm for the plot and control polling are included; validation, which
  the plain loop does not do, is not);
- whether the final losses and weights match bit for bit, and the load average.

    python benchmarks/overhead.py [--reps N] [--steps-big 20] [--steps-small 300] [--device cpu]

Targets (the typical-step ratio): <= 1.03 for both cases.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from benchmarks.interleave import Interleaver, median_ratio  # noqa: E402
from engine.data import load_data  # noqa: E402
from engine.model import build_model  # noqa: E402
from engine.paths import EXAMPLES  # noqa: E402
from engine.reporting import RunReporter  # noqa: E402
from engine.runs import RunDir  # noqa: E402
from engine.spec import apply_overrides, load_spec  # noqa: E402
from engine.trainer import train  # noqa: E402

TARGETS = {"seed_bigmodel": 1.03, "digits_mlp": 1.03}
#: runs per case by default. A digits run takes under a second; on a quiet 2-core machine its ratio
#: over 6 runs ranged 1.016-1.035 in four invocations, over 20 runs 1.015-1.028 in eight
REPS = {"seed_bigmodel": 6, "digits_mlp": 20}


class TimingReporter(RunReporter):
    """The real run reporter; remembers the last metric window and which steps ended an epoch."""

    def __init__(self, run: RunDir, interleaver: Interleaver):
        super().__init__(run)
        self.interleaver = interleaver
        self.last_loss: float | None = None
        self.windows: list[int] = [0]  # steps at which metric events closed a window
        self.epoch_ends: set[int] = set()  # indices (into Interleaver.times) of steps that validated

    def event(self, type: str, **fields) -> None:
        super().event(type, **fields)
        if type == "metric":
            self.last_loss = fields["train_loss"]
            self.windows.append(fields["step"])
        elif type == "epoch":
            self.epoch_ends.add(self.interleaver.steps - 1)


def fresh_model(spec, info, device):
    torch.manual_seed(spec.seed)
    return build_model(spec, info.input_shape, info.input_dtype, num_classes=info.num_classes).to(device)


def plain_steps(spec, dataset, device, losses: list):
    """What a person writes by hand: tensors on the device, a seeded permutation per epoch,
    index slicing, zero_grad / forward / loss / backward / step. Yields the model after each
    optimizer step (a generator, so the loop body stays a plain loop with local variables)."""
    model = fresh_model(spec, dataset.info, device)
    x = torch.as_tensor(dataset.x_train).to(device)
    y = torch.as_tensor(dataset.y_train).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=spec.optimizer.options["lr"])
    bs, seed, epoch = spec.data.batch_size, spec.seed, 0
    while True:
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        for start in range(0, len(x), bs):
            idx = order[start:start + bs]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
            yield model
        epoch += 1


def run_pair(spec, dataset, device, runs_dir: Path) -> dict:
    """One run of ours with the plain loop interleaved step by step."""
    plain_losses: list = []
    partner = plain_steps(spec, dataset, device, plain_losses)
    interleaver = Interleaver(partner)
    model = fresh_model(spec, dataset.info, device)
    run = RunDir.create(runs_dir, spec)
    reporter = TimingReporter(run, interleaver)
    from engine.rank import LocalContext

    try:
        with interleaver:
            result = train(spec, dataset, model, reporter, run=run, ctx=LocalContext(device=device))
    finally:
        reporter.close()
    assert result.status == "completed", result
    first, last = reporter.windows[-2], reporter.windows[-1]  # the steps our final metric event averaged
    lp = statistics.fmean(torch.stack(plain_losses[first:last]).tolist())
    max_dw = max((a.float() - b.float()).abs().max().item()
                 for a, b in zip(model.state_dict().values(), interleaver.partner_value.state_dict().values()))
    return {"cpu": interleaver.times(cpu=True), "wall": interleaver.times(), "epoch_ends": reporter.epoch_ends, "loss_ours": reporter.last_loss,
            "loss_plain": lp, "max_weight_diff": max_dw, "plain_steps": len(plain_losses)}


def bench_case(name: str, steps: int, reps: int, device: str, runs_dir: Path) -> dict:
    spec = load_spec(EXAMPLES / f"{name}.toml")
    spec = apply_overrides(spec, [f"training.max_steps={steps}", "training.epochs=1000", "training.checkpoint_every=0"])
    assert spec.optimizer.name == "adam" and not spec.optimizer.options.get("weight_decay")
    dataset = load_data(spec.data, spec.seed)
    pooled = {"cpu": ([], []), "wall": ([], [])}
    per_run, sums, match, max_dw = [], [0.0, 0.0], True, 0.0
    load = os.getloadavg()[0]
    for rep in range(reps + 1):  # rep 0 warms up (allocator, caches) and is not counted
        r = run_pair(spec, dataset, device, runs_dir)
        if rep == 0:
            continue
        for kind in pooled:
            ours, plain = r[kind]
            pooled[kind][0].extend(ours[2:])
            pooled[kind][1].extend(plain[2:])
        ours, plain = r["cpu"]
        per_run.append(median_ratio(ours[2:], plain[2:]))
        for i, (o, p) in enumerate(zip(ours, plain)):
            if i >= 2 and i not in r["epoch_ends"]:
                sums[0] += o
                sums[1] += p
        assert r["plain_steps"] == steps, r["plain_steps"]
        match &= abs(r["loss_ours"] - r["loss_plain"]) <= 1e-6 * max(1.0, abs(r["loss_plain"]))
        lo, lp, max_dw = r["loss_ours"], r["loss_plain"], max(max_dw, r["max_weight_diff"])
    cpu, wall = pooled["cpu"], pooled["wall"]
    return {"case": name, "steps": steps, "reps": reps, "ours_ms": statistics.median(cpu[0]) * 1e3,
            "plain_ms": statistics.median(cpu[1]) * 1e3, "ratio": median_ratio(*cpu), "wall_ratio": median_ratio(*wall),
            "run_range": (min(per_run), max(per_run)), "amortized": sums[0] / sums[1],
            "target": TARGETS[name], "losses_match": match and max_dw == 0.0, "final_loss_ours": lo, "final_loss_plain": lp,
            "max_weight_diff": max_dw, "load": (load, os.getloadavg()[0])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=None,
                        help=f"runs per case, after one warm-up run (default: {REPS})")
    parser.add_argument("--steps-big", type=int, default=20, help="steps per run for seed_bigmodel")
    parser.add_argument("--steps-small", type=int, default=300, help="steps per run for digits_mlp")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--cases", nargs="*", default=list(TARGETS))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 avoids thread-pool spin noise on a shared machine; 0 = torch default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs", flush=True)
    ok = True
    with tempfile.TemporaryDirectory(prefix="netwright-overhead-") as tmp:
        for name in args.cases:
            steps = args.steps_big if name == "seed_bigmodel" else args.steps_small
            r = bench_case(name, steps, args.reps or REPS[name], args.device, Path(tmp))
            verdict = "OK" if r["ratio"] <= r["target"] else "OVER TARGET"
            ok &= r["ratio"] <= r["target"] and r["losses_match"]
            lo, hi = r["run_range"]
            print(f"{name:<14} median step (CPU time) ours {r['ours_ms']:.3f} ms / plain {r['plain_ms']:.3f} ms: ratio "
                  f"{r['ratio']:.3f} over {r['reps']} runs x {r['steps'] - 3} interleaved steps (per run {lo:.3f}-{hi:.3f}; "
                  f"amortized {r['amortized']:.3f}; wall clock {r['wall_ratio']:.3f}) target <= {r['target']}: {verdict}; final losses "
                  f"{'match' if r['losses_match'] else 'DIFFER'} ({r['final_loss_ours']:.6f} vs {r['final_loss_plain']:.6f}, "
                  f"max weight diff {r['max_weight_diff']:.2g}); load average {r['load'][0]:.1f} -> {r['load'][1]:.1f}",
                  flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
