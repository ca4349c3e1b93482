"""`train SPEC.toml [--set key=value ...] [--runs-dir DIR] [--resume RUN_DIR]`: train headless.

Progress goes to stderr; the last line of stdout is one JSON object (run_id, run_dir, status,
epochs, steps, metrics, wall_seconds, samples_per_second, message). Exit code 0 when the run
completed (or was stopped on request), 1 when it failed, 2 for a bad spec, data or arguments.
SIGTERM or Ctrl-C stops gracefully (finish the step, checkpoint, status "stopped").
"""
from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
from pathlib import Path
from typing import Any

from engine.commands._common import SPEC_HELP, add_overrides_argument, invalid, load_with_overrides, print_json, print_problems
from engine.problems import Problem, SpecError

HELP = "Train a model from a spec file, headless (progress on stderr, a JSON summary on stdout)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?", metavar="SPEC",
                        help=f"{SPEC_HELP}; or a run directory created by the app (holding spec.toml)")
    add_overrides_argument(parser, "training.epochs=3")
    parser.add_argument("--runs-dir", metavar="DIR",
                        help="where runs are stored (default: $NETWRIGHT_RUNS_DIR or the per-user data folder)")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="continue a stopped or crashed run from its last checkpoint (--set may change e.g. training.epochs)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    try:
        run_dir, resume = _prepare(args)
    except SpecError as err:
        return invalid(err, "cannot train")
    return train_run(run_dir, resume=resume, quiet=args.quiet)


def _prepare(args: argparse.Namespace):
    """The run directory to train (created for a spec file) and whether to resume."""
    from engine.runs import RunDir
    from engine.session import check_spec
    from engine.spec import apply_overrides, save_spec

    if args.resume:
        if args.spec:
            raise SpecError([Problem("SPEC", "give either a spec file or --resume RUN_DIR, not both")])
        run_dir = RunDir.open(args.resume)
        _not_running(run_dir)
        if args.overrides:
            spec = apply_overrides(run_dir.load_spec(), args.overrides)
            check_spec(spec)
            save_spec(spec, run_dir.spec_path)
            run_dir.log(f"resumed with overrides: {' '.join(args.overrides)}")
        else:
            check_spec(run_dir.load_spec())
        return run_dir, True
    if not args.spec:
        raise SpecError([Problem("SPEC", "missing: give a spec file (e.g. digits_mlp, or a path to a .toml file) or --resume RUN_DIR")])
    path = Path(args.spec)
    if path.is_dir():  # a run directory prepared by the app: train it in place
        run_dir = RunDir.open(path)
        _not_running(run_dir)
        spec = run_dir.load_spec()
        if args.overrides:
            spec = apply_overrides(spec, args.overrides)
            save_spec(spec, run_dir.spec_path)
        check_spec(spec)
        return run_dir, False
    spec = load_with_overrides(args.spec, args.overrides)
    check_spec(spec)
    from engine.paths import default_runs_dir

    return RunDir.create(args.runs_dir or default_runs_dir(), spec), False


def _not_running(run_dir) -> None:
    """Two processes must never train one run directory at once."""
    from engine.runs import ACTIVE, effective_status, read_status

    status = effective_status(run_dir)
    if status in ACTIVE:
        pid = read_status(run_dir).get("pid")
        raise SpecError([Problem(str(run_dir.path), f"is still {status} (process {pid}) — stop it first "
                                                    f"(`stop {run_dir.path}`), then resume")])


def train_run(run_dir, *, resume: bool = False, quiet: bool = False) -> int:
    """Train an existing run directory in this process (parallel specs go through the launcher),
    print the JSON summary and return the exit code."""
    from engine.commands._progress import Progress
    from engine.session import run_training

    from engine.parallel.strategy import strategy_of

    spec = run_dir.load_spec()
    if spec.parallel.processes > 1 or spec.parallel.nnodes > 1 or strategy_of(spec).multi_rank:
        return _train_parallel(run_dir, resume=resume, quiet=quiet)
    observers = () if quiet else (Progress(sys.stderr),)
    if not quiet:
        print(f"run directory: {run_dir.path}", file=sys.stderr)
    restore = []
    try:
        result = run_training(run_dir, resume=resume, observers=observers,
                              on_reporter=lambda rep: restore.extend(_install_signals(rep)))
    except SpecError as err:
        print_problems(err.problems, header="cannot train:")
        print_json(_summary(run_dir, status="failed", message=str(err)))
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        print_json(_summary(run_dir, status="stopped", message="interrupted mid-step"))
        return 130
    except Exception as err:  # reported to the run's log with the traceback already
        print(f"training failed: {type(err).__name__}: {err} (traceback in {run_dir.log_path})", file=sys.stderr)
        print_json(_summary(run_dir, status="failed", message=f"{type(err).__name__}: {err}"))
        return 1
    finally:
        for sig, handler in restore:
            signal.signal(sig, handler)
    summary = _summary(run_dir, **dataclasses.asdict(result))
    print_json(summary)
    return 1 if result.status == "failed" else 0


def _summary(run_dir, **fields: Any) -> dict[str, Any]:
    out = {"run_id": run_dir.id, "run_dir": str(run_dir.path), "status": fields.get("status"),
           "epochs": fields.get("epochs", 0), "steps": fields.get("steps", 0), "metrics": dict(fields.get("metrics") or {}),
           "wall_seconds": fields.get("wall_seconds", 0.0), "samples_per_second": fields.get("samples_per_second", 0.0)}
    if fields.get("message"):
        out["message"] = fields["message"]
    if fields.get("checkpoint"):
        out["checkpoint"] = fields["checkpoint"]
    return out


def _install_signals(reporter) -> list:
    """SIGTERM and the first Ctrl-C ask for a graceful stop; a second Ctrl-C interrupts."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return []
    previous = []

    def on_term(signum, frame):
        reporter.request_stop()

    def on_int(signum, frame):
        print("\nstopping after this step (Ctrl-C again to interrupt)", file=sys.stderr)
        reporter.request_stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    for sig, handler in ((signal.SIGTERM, on_term), (signal.SIGINT, on_int)):
        previous.append((sig, signal.signal(sig, handler)))
    return previous


def _train_parallel(run_dir, *, resume: bool, quiet: bool) -> int:
    """More than one process: the parallel launcher (engine/launch.py, issue 3) runs the ranks."""
    try:
        from engine.launch import train_parallel  # type: ignore[attr-defined]
    except ImportError:
        err = SpecError([Problem("parallel.processes", "parallel training needs the worker launcher, which is not "
                                                      "installed — set parallel.processes = 1 and parallel.nnodes = 1")])
        print_problems(err.problems, header="cannot train:")
        print_json(_summary(run_dir, status="failed", message=str(err)))
        return 2
    return int(train_parallel(run_dir, resume=resume, quiet=quiet))
