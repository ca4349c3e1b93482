"""Kill training jobs at random moments and check what survives (issues 16 and 17).

Chains of sessions of one run directory — single-process `train`, and 2-rank DDP jobs started
through `train` or through `worker` (what the app starts) — are killed at named fault points
(before the first step, mid-step, mid-checkpoint, mid-event-write, final evaluation, final
checkpoint, after the final status, process-group teardown, the worker's exit) or by a SIGKILL
of the CLI, the worker or a rank after a random delay; each chain ends with a resume that must
run to completion. Prints one line:

    kills N, corrupt checkpoints 0, unreadable events 0, failed resumes 0, hung jobs 0, orphans 0, wrong status 0

(all but kills must be 0; exit code 1 otherwise, with the problems listed).

    python benchmarks/faults.py [--kills 200] [--seed 0] [--ddp-share 0.35] [--chain 3] [--jobs 1] [--verbose] [--keep DIR]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.robustness.faultlib import run_kills  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200, help="how many sessions to kill (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random draw of faults and delays")
    parser.add_argument("--ddp-share", type=float, default=0.35, help="share of chains that are 2-rank DDP jobs")
    parser.add_argument("--chain", type=int, default=3, help="kills per run directory before its final resume")
    parser.add_argument("--jobs", type=int, default=1, help="chains run at once (each in its own run directory)")
    parser.add_argument("--verbose", action="store_true", help="one line per session")
    parser.add_argument("--keep", metavar="DIR", help="keep the run directories in DIR (default: a temporary folder, removed)")
    args = parser.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="netwright-faults-"))
    root.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    say = (lambda text: print(f"[{time.monotonic() - start:7.1f}s] {text}", flush=True)) if args.verbose else (lambda text: None)
    try:
        totals = run_kills(root, args.kills, seed=args.seed, ddp_share=args.ddp_share, chain=args.chain, jobs=args.jobs, say=say)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    for problem in totals.problems:
        print(f"problem: {problem}")
    print(f"{totals.line()} ({time.monotonic() - start:.0f} s)")
    return 0 if totals.clean else 1


if __name__ == "__main__":
    sys.exit(main())
