"""Shared body of the `stop`, `pause` and `resume` commands: a request in the run directory."""
from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the run directory (see `runs`), or for stop a sweep directory")


def configure_stop(parser: argparse.ArgumentParser) -> None:
    configure(parser)
    parser.add_argument("--cancel", action="store_true",
                        help="a run submitted to a cluster: also ask the scheduler to end its job (scancel, ray job stop) "
                             "— for a job that does not answer the stop request")


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
    if action == "stop" and (getattr(args, "cancel", False) or status == "created"):
        cancelled = _cancel_job(run)
        if cancelled is not None:
            return cancelled
    if status not in ACTIVE:
        print(f"{run.path}: the run is {status}, not running — nothing to {action}", file=sys.stderr)
        return 1
    request_control(run, action)
    print(f"{action} requested for {run.id} (it takes effect after the current step)", file=sys.stderr)
    return 0


def _cancel_job(run) -> int | None:
    """Ask the scheduler to end the run's job; None when the run has no job (local)."""
    from engine.launchers import launcher_for_run
    from engine.runs import load_status

    if not load_status(run).job_id:
        return None
    launcher = launcher_for_run(run)
    job = launcher.job_state(run)
    if job is not None and job.final:
        print(f"{run.path}: {job.describe()} — nothing to cancel", file=sys.stderr)
        return 1
    if not launcher.cancel(run):
        print(f"{run.path}: {launcher.label} did not accept the cancel of job {load_status(run).job_id}"
              + (f" ({job.describe()})" if job else ""), file=sys.stderr)
        return 1
    print(f"asked {launcher.label} to end job {load_status(run).job_id} of {run.id} (the ranks get SIGTERM: they "
          "checkpoint and stop if they still answer)", file=sys.stderr)
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
