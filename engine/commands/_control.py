"""Shared body of the `stop`, `pause` and `resume` commands: a request in the run directory."""
from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the run directory (see `runs`)")


def send(args: argparse.Namespace, action: str) -> int:
    """Write the request; exit 2 for a missing run, 1 when the run is not active."""
    from engine.problems import SpecError
    from engine.runs import ACTIVE, RunDir, effective_status, request_control

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
