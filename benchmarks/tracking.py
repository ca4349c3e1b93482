"""Tracking overhead: a run with the TensorBoard writer on against the same run with it off.

Both train the same example through the one entry point (engine.session.run_training: the real
reporter, events, status, checkpoints) for the same steps, alternating which goes first, in this
one process. Prints the ratio of the median step times (on / off; from the runs' own metric
events, `step_time`) per pair and their median: the writers sit off the step's path, so the ratio
should be 1 within noise.

    python benchmarks/tracking.py [--pairs 5] [--steps 200] [--example digits_mlp] [--threads 1]

One intra-op thread by default: on a machine shared with other work, torch's spinning OpenMP
threads make step times swing by 100x from run to run, which hides everything else.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.paths import EXAMPLES  # noqa: E402
from engine.runs import RunDir, read_events  # noqa: E402
from engine.session import run_training  # noqa: E402
from engine.spec import apply_overrides, load_spec  # noqa: E402


def median_step(root: Path, example: str, steps: int, tensorboard: bool) -> float:
    spec = apply_overrides(load_spec(EXAMPLES / f"{example}.toml"), [
        "training.epochs=1000", f"training.max_steps={steps}", "training.log_every=10",
        f"tracking.tensorboard={'true' if tensorboard else 'false'}"])
    run = RunDir.create(root, spec)
    run_training(run)
    events, _ = read_events(run.events_path)
    return statistics.median(e["step_time"] for e in events if e["type"] == "metric")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--example", default="digits_mlp")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        median_step(Path(tmp), args.example, 20, True)  # warm up (imports, data cache)
        for pair in range(args.pairs):
            order = (True, False) if pair % 2 == 0 else (False, True)
            times = {on: median_step(Path(tmp), args.example, args.steps, on) for on in order}
            ratios.append(times[True] / times[False])
            print(f"pair {pair + 1}: step {times[True] * 1e3:.3f} ms with TensorBoard, {times[False] * 1e3:.3f} ms "
                  f"without, ratio {ratios[-1]:.3f}")
    print(f"{args.example}: tracking on / off, median step time ratio {statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f}, {args.pairs} pairs of {args.steps} steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
