"""Trainer overhead: our training loop against a plain hand-written PyTorch loop.

For each case (the seed_bigmodel and digits_mlp examples) both loops train the same model (same
initial weights), on the same data, in the same batch order, for the same number of steps, in
this one process, alternating which goes first. Ours runs with its real reporter: events
written to a run directory at the default metrics cadence (`training.log_every`), status
file, control polling. Prints the ratio of median step times (ours / plain; the median over alternating pairs
of runs, so the load of other processes on a shared machine cancels out; the pooled ratio of
all steps is printed beside it) and whether the final losses (and weights) match.

    python benchmarks/overhead.py [--reps 5] [--steps-big 40] [--steps-small 400] [--device cpu]

Targets: ratio <= 1.03 for seed_bigmodel, <= 1.05 for digits_mlp.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from engine.data import load_data  # noqa: E402
from engine.model import build_model  # noqa: E402
from engine.paths import EXAMPLES  # noqa: E402
from engine.reporting import RunReporter  # noqa: E402
from engine.runs import RunDir  # noqa: E402
from engine.spec import apply_overrides, load_spec  # noqa: E402
from engine.trainer import train  # noqa: E402

TARGETS = {"seed_bigmodel": 1.03, "digits_mlp": 1.05}


class TimingReporter(RunReporter):
    """The real run reporter, plus a timestamp at every control poll (once per optimizer step)."""

    def __init__(self, run: RunDir):
        super().__init__(run)
        self.stamps: list[float] = []
        self.last_loss: float | None = None
        self.windows: list[int] = [0]  # steps at which metric events closed a window

    def control(self) -> str:
        self.stamps.append(time.perf_counter())
        return super().control()

    def event(self, type: str, **fields) -> None:
        super().event(type, **fields)
        if type == "metric":
            self.last_loss = fields["train_loss"]
            self.windows.append(fields["step"])


def fresh_model(spec, info, device):
    torch.manual_seed(spec.seed)
    return build_model(spec, info.input_shape, info.input_dtype, num_classes=info.num_classes).to(device)


def run_ours(spec, dataset, device, runs_dir: Path):
    model = fresh_model(spec, dataset.info, device)
    run = RunDir.create(runs_dir, spec)
    reporter = TimingReporter(run)
    from engine.rank import LocalContext

    try:
        result = train(spec, dataset, model, reporter, run=run, ctx=LocalContext(device=device))
    finally:
        reporter.close()
    assert result.status == "completed", result
    times = [b - a for a, b in zip(reporter.stamps, reporter.stamps[1:])]
    return times, reporter.last_loss, model, (reporter.windows[-2], reporter.windows[-1])


def run_plain(spec, dataset, device, steps: int):
    """What a person writes by hand: tensors on the device, a seeded permutation per epoch,
    index slicing, zero_grad / forward / loss / backward / step."""
    model = fresh_model(spec, dataset.info, device)
    x = torch.as_tensor(dataset.x_train).to(device)
    y = torch.as_tensor(dataset.y_train).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=spec.optimizer.options["lr"])
    bs, seed = spec.data.batch_size, spec.seed
    times, losses, step, epoch = [], [], 0, 0
    last = time.perf_counter()
    while step < steps:
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        for start in range(0, len(x), bs):
            idx = order[start:start + bs]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
            now = time.perf_counter()
            times.append(now - last)
            last = now
            step += 1
            if step >= steps:
                break
        epoch += 1
    return times[1:], torch.stack(losses).tolist(), model


def bench_case(name: str, steps: int, reps: int, device: str, runs_dir: Path) -> dict:
    spec = load_spec(EXAMPLES / f"{name}.toml")
    spec = apply_overrides(spec, [f"training.max_steps={steps}", "training.epochs=1000", "training.checkpoint_every=0"])
    assert spec.optimizer.name == "adam" and not spec.optimizer.options.get("weight_decay")
    dataset = load_data(spec.data, spec.seed)
    ours_t, plain_t, pairs, match, max_dw = [], [], [], True, 0.0
    for rep in range(reps + 1):  # rep 0 warms up (allocator, caches) and is not counted
        order = ("ours", "plain") if rep % 2 == 0 else ("plain", "ours")
        results = {}
        for which in order:
            if which == "ours":
                results[which] = run_ours(spec, dataset, device, runs_dir)
            else:
                results[which] = run_plain(spec, dataset, device, steps)
        if rep == 0:
            continue
        ours_t += results["ours"][0][2:]
        plain_t += results["plain"][0][2:]
        pairs.append(statistics.median(results["ours"][0][2:]) / statistics.median(results["plain"][0][2:]))
        first, last = results["ours"][3]  # the steps our final metric event averaged
        lo, lp = results["ours"][1], statistics.fmean(results["plain"][1][first:last])
        match &= abs(lo - lp) <= 1e-6 * max(1.0, abs(lp))
        for (k, a), b in zip(results["ours"][2].state_dict().items(), results["plain"][2].state_dict().values()):
            max_dw = max(max_dw, (a.float() - b.float()).abs().max().item())
    mo, mp = statistics.median(ours_t), statistics.median(plain_t)
    # the ratio: median over the alternating pairs of (median step ours / median step plain); each
    # pair ran back to back, so load from other processes on a shared machine cancels out
    return {"case": name, "steps": steps, "reps": reps, "ours_ms": mo * 1e3, "plain_ms": mp * 1e3,
            "ratio": statistics.median(pairs), "pooled_ratio": mo / mp,
            "target": TARGETS[name], "losses_match": match, "final_loss_ours": lo, "final_loss_plain": lp,
            "max_weight_diff": max_dw}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=12, help="alternating repetitions per case (after one warm-up)")
    parser.add_argument("--steps-big", type=int, default=20, help="steps per run for seed_bigmodel")
    parser.add_argument("--steps-small", type=int, default=150, help="steps per run for digits_mlp")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--cases", nargs="*", default=list(TARGETS))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 avoids thread-pool spin noise on a shared machine; 0 = torch default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} threads", flush=True)
    ok = True
    with tempfile.TemporaryDirectory(prefix="netwright-overhead-") as tmp:
        for name in args.cases:
            steps = args.steps_big if name == "seed_bigmodel" else args.steps_small
            r = bench_case(name, steps, args.reps, args.device, Path(tmp))
            verdict = "OK" if r["ratio"] <= r["target"] else "OVER TARGET"
            ok &= r["ratio"] <= r["target"] and r["losses_match"]
            print(f"{name:<14} median step ours {r['ours_ms']:.3f} ms / plain {r['plain_ms']:.3f} ms; ratio ours/plain "
                  f"{r['ratio']:.3f} (median of {r['reps']} alternating pairs; pooled {r['pooled_ratio']:.3f}) "
                  f"target <= {r['target']}: {verdict}; final losses "
                  f"{'match' if r['losses_match'] else 'DIFFER'} ({r['final_loss_ours']:.6f} vs {r['final_loss_plain']:.6f}, "
                  f"max weight diff {r['max_weight_diff']:.2g})", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
