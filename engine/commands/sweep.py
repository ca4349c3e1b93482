"""`sweep SPEC.toml [--trials N] [--parallel K]` / `sweep --resume SWEEP_DIR`: search hyper-parameters.

SPEC is a spec file with a [sweep] section, or a sweep file naming its `base` spec (see
engine/sweep/config.py). Every trial is an ordinary run directory under SWEEP_DIR/trials/; the
Optuna study lives in SWEEP_DIR/study.db, so `--resume` continues a stopped or crashed sweep
(trials that were running are marked failed and retried once). `stop SWEEP_DIR` stops it.

A progress line per finished trial and, at the end, a table of the best trials go to stderr;
the last line of stdout is one JSON object (sweep_dir, status, metric, direction, best trial
with its params and value, and the completed / pruned / failed / invalid counts).
Exit code 0 when the sweep ran (completed or stopped), 1 when no trial completed, 2 for a bad
sweep spec or arguments.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from engine.commands._common import SPEC_HELP, invalid, print_json, print_problems, spec_file
from engine.problems import Problem, SpecError

HELP = "Search hyper-parameters: run many trials of a spec (in parallel, with early stopping of bad ones)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?", metavar="SPEC", help=f"{SPEC_HELP}, with a [sweep] section; or a sweep file "
                                                                "whose `base` names the spec")
    parser.add_argument("--resume", metavar="SWEEP_DIR", help="continue a stopped or crashed sweep")
    parser.add_argument("--trials", type=int, metavar="N", help="the trial budget (overrides sweep.trials)")
    parser.add_argument("--parallel", type=int, metavar="K", help="trials at once (overrides sweep.concurrency)")
    parser.add_argument("--minutes", type=float, metavar="M", help="start no new trial after M minutes (sweep.minutes)")
    parser.add_argument("--sweeps-dir", metavar="DIR", help="where the sweep directory is created "
                                                            "(default: the runs folder's sweeps/)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def run(args: argparse.Namespace) -> int:
    try:
        sweep_dir, sweep = _prepare(args)
    except SpecError as err:
        return invalid(err, "cannot sweep")
    return run_sweep(sweep_dir, sweep, quiet=args.quiet)


def _prepare(args: argparse.Namespace):
    from engine.sweep.config import load_sweep, validate_sweep
    from engine.sweep.sweepdir import SweepDir

    if args.resume and args.spec:
        raise SpecError([Problem("SPEC", "give either a sweep spec or --resume SWEEP_DIR, not both")])
    for name in ("trials", "parallel"):
        value = getattr(args, name)
        if value is not None and value < (0 if name == "trials" else 1):
            raise SpecError([Problem(f"--{name}", f"must be at least {0 if name == 'trials' else 1}, got {value}")])
    if args.minutes is not None and args.minutes < 0:
        raise SpecError([Problem("--minutes", f"must be at least 0, got {args.minutes}")])
    if args.resume:
        sweep_dir = SweepDir.open(args.resume)
        sweep = sweep_dir.load_spec()
    elif args.spec:
        sweep = load_sweep(spec_file(args.spec))
        sweep_dir = None
    else:
        raise SpecError([Problem("SPEC", "missing: give a sweep spec (a spec file with a [sweep] section) "
                                         "or --resume SWEEP_DIR")])
    sweep = sweep.with_options(trials=args.trials, concurrency=args.parallel, minutes=args.minutes)
    problems = validate_sweep(sweep)
    if problems:
        raise SpecError(problems)
    if sweep_dir is None:
        from engine.paths import default_runs_dir

        sweep_dir = SweepDir.create(Path(args.sweeps_dir) if args.sweeps_dir else default_runs_dir() / "sweeps", sweep)
    else:
        sweep_dir.save_spec(sweep)
    return sweep_dir, sweep


def run_sweep(sweep_dir, sweep, *, quiet: bool = False) -> int:
    """Run the sweep in this process; progress on stderr, the JSON summary on stdout."""
    from engine.sweep.driver import SweepDriver, oversubscribed

    say = (lambda line: None) if quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    say(f"sweep directory: {sweep_dir.path}")
    warning = oversubscribed(sweep.concurrency, sweep.base.parallel.processes)
    if warning:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    stop = threading.Event()
    previous = _install_signals(stop, say)
    try:
        result = SweepDriver(sweep_dir, sweep, say=say, stop_event=stop).run()
    except SpecError as err:
        print_problems(err.problems, header="cannot sweep:")
        print_json({"sweep_dir": str(sweep_dir.path), "status": "failed", "problems": [str(p) for p in err.problems]})
        return 2
    finally:
        for sig, handler in previous:
            signal.signal(sig, handler)
    if not quiet:
        print(best_table(result), file=sys.stderr, flush=True)
    print_json(summary(sweep_dir, result))
    return 0 if result.counts["completed"] or result.status == "stopped" else 1


def summary(sweep_dir, result) -> dict:
    """The JSON line: best trial, counts and where everything is."""
    best = result.best
    return {"sweep_dir": str(sweep_dir.path), "status": result.status, "metric": result.metric,
            "direction": result.direction,
            "best": None if best is None else {"trial": best.number, "value": best.value, "params": dict(best.params),
                                               "run_dir": str(sweep_dir.path / best.run)},
            "best_params": dict(best.params) if best else {}, "best_value": best.value if best else None,
            "trials": len(result.rows), **{k: v for k, v in result.counts.items() if k != "running"}}


def best_table(result, n: int = 5) -> str:
    """The best trials as a text table (best first)."""
    from engine.sweep.study import best_rows

    rows = best_rows(result.rows, result.direction, n)
    if not rows:
        return "no trial completed"
    names = list(rows[0].params)
    header = ["trial", result.metric, *names]
    body = [[str(r.number), f"{r.value:.4g}", *(_cell(r.params.get(k)) for k in names)] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(header, *body)]
    lines = [f"best {len(rows)} of {len(result.rows)} trials ({result.direction} {result.metric}):",
             "  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in body]
    return "\n".join(lines)


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _install_signals(stop: threading.Event, say) -> list:
    """SIGTERM and the first Ctrl-C stop the sweep gracefully (running trials checkpoint)."""
    if threading.current_thread() is not threading.main_thread():
        return []

    def on_signal(signum, frame):
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        say("stopping the sweep (Ctrl-C again to interrupt)")
        stop.set()

    return [(sig, signal.signal(sig, on_signal)) for sig in (signal.SIGTERM, signal.SIGINT)]
