"""Shared body of the `stop`, `pause` and `resume` commands: a request in the run directory."""
from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the run directory (see `runs`), or for stop a sweep directory")


def send(args: argparse.Namespace, action: str) -> int:
    """Write the request; exit 2 for a missing run, 1 when the run is not active."""
    from engine.problems import SpecError
    from engine.runs import ACTIVE, RunDir, effective_status, request_control
    from engine.sweep.sweepdir import SweepDir

    if SweepDir.is_sweep(args.run_dir):
        return _send_sweep(SweepDir.open(args.run_dir), action)
    try:
        run = RunDir.open(args.run_dir)
    except SpecError as err:
        print(err, file=sys.stderr)
        return 2
    status = effective_status(run)
    if status not in ACTIVE:
        print(f"{run.path}: the run is {status}, not running — nothing to {action}", file=sys.stderr)
        return 1
    request_control(run, action)
    print(f"{action} requested for {run.id} (it takes effect after the current step)", file=sys.stderr)
    return 0


def _send_sweep(sweep, action: str) -> int:
    """`stop SWEEP_DIR`: the driver stops its running trials (checkpoints kept) and starts no more."""
    if action != "stop":
        print(f"{sweep.path} is a sweep: it can be stopped (and resumed with `sweep --resume`), not {action}d",
              file=sys.stderr)
        return 2
    status = sweep.effective_status()
    if status != "running":
        print(f"{sweep.path}: the sweep is {status}, not running — nothing to stop", file=sys.stderr)
        return 1
    sweep.request_stop()
    print(f"stop requested for sweep {sweep.id} (running trials finish their step and checkpoint)", file=sys.stderr)
    return 0
