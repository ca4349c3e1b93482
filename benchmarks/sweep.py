"""Sweep overhead: N trials run by `sweep` against the same N trials run one after another by `train`.

The trials are a grid over the learning rate (so both sides train exactly the same N specs); each
side is timed from the command's start to its exit, both as separate processes, the way a user
runs them. Repetitions alternate which side goes first, so the load of other processes on a shared
machine falls on both. Prints the ratio of wall times (sweep / sequential train) for concurrency 1
(the driver's own overhead: Optuna, SQLite, the per-epoch reports; target <= 1.05) and for
concurrency 2 (trials side by side; below 1 when the machine has the cores).

    python benchmarks/sweep.py [--trials 6] [--epochs 8] [--reps 2] [--parallel 1 2]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.05

BASE = """name = "bench_sweep"
seed = 0

[data]
source = "digits"
batch_size = 32
val_fraction = 0.2

[model]
layers = [
  {{type = "Flatten"}},
  {{type = "Linear", out_features = 128}},
  {{type = "ReLU"}},
  {{type = "Linear", out_features = 0}},
]

[optimizer]
name = "adam"
lr = 0.001

[training]
epochs = {epochs}
log_every = 10
checkpoint_every = 0
"""


def learning_rates(n: int) -> list[float]:
    return [round(1e-4 * (100 ** (i / max(1, n - 1))), 8) for i in range(n)]


def write_specs(folder: Path, trials: int, epochs: int) -> tuple[Path, Path]:
    base = folder / "base.toml"
    base.write_text(BASE.format(epochs=epochs), encoding="utf-8")
    sweep = folder / "sweep.toml"
    values = ", ".join(repr(v) for v in learning_rates(trials))
    sweep.write_text(BASE.format(epochs=epochs) + f'\n[sweep]\nsampler = "grid"\n\n[sweep.params]\n'
                     f'"optimizer.lr" = {{values = [{values}]}}\n', encoding="utf-8")
    return base, sweep


def timed(cmd: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def run_sweep(spec: Path, parallel: int, out: Path) -> float:
    return timed([sys.executable, "-m", "engine", "sweep", str(spec), "--parallel", str(parallel), "--quiet",
                  "--sweeps-dir", str(out)])


def run_sequential(base: Path, trials: int, out: Path) -> float:
    total = 0.0
    for lr in learning_rates(trials):
        total += timed([sys.executable, "-m", "engine", "train", str(base), "--set", f"optimizer.lr={lr}", "--quiet",
                        "--runs-dir", str(out)])
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    print(f"{args.trials} trials of digits (MLP, {args.epochs} epochs) on {os.cpu_count()} CPU cores, {args.reps} rep(s)")
    with tempfile.TemporaryDirectory(prefix="nw-bench-sweep-") as tmp:
        folder = Path(tmp)
        base, spec = write_specs(folder, args.trials, args.epochs)
        for parallel in args.parallel:
            pairs = []
            for rep in range(args.reps):
                first_sweep = rep % 2 == 0
                times = {}
                for side in (("sweep", "train") if first_sweep else ("train", "sweep")):
                    out = folder / f"{side}-{parallel}-{rep}"
                    times[side] = (run_sweep(spec, parallel, out) if side == "sweep"
                                   else run_sequential(base, args.trials, out))
                pairs.append((times["sweep"], times["train"]))
                print(f"  concurrency {parallel}, rep {rep + 1}: sweep {times['sweep']:.1f} s, "
                      f"train one after another {times['train']:.1f} s", flush=True)
            ratio = statistics.median(s / t for s, t in pairs)
            note = f" (target <= {TARGET})" if parallel == 1 else ""
            verdict = (" ok" if ratio <= TARGET else " ABOVE TARGET") if parallel == 1 else ""
            print(f"concurrency {parallel}: sweep / sequential train = {ratio:.3f}{note}{verdict}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
