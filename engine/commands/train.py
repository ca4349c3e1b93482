"""`train SPEC.toml [--set key=value ...] [--runs-dir DIR] [--resume RUN_DIR]`: train headless.

Progress goes to stderr; the last line of stdout is one JSON object (run_id, run_dir, status,
epochs, steps, metrics, wall_seconds, training_seconds, samples_per_second, message; built by
engine.runs.run_summary). Exit code 0 when the run completed (or was stopped on request), 1 when
it failed, 2 for a bad spec, data or arguments, or a run directory another process owns.
SIGTERM or Ctrl-C stops gracefully (finish the step, checkpoint, status "stopped").
The command owns the run directory (engine.runs.lock) from before its first write to its end;
a parallel spec runs the worker in this process, which keeps that ownership.
"""
from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
import time
from pathlib import Path

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
    since = time.time()
    try:
        run_dir, spec, resume = _prepare(args)
    except SpecError as err:
        return invalid(err, "cannot train")
    from engine.runs import release

    try:
        return train_run(run_dir, spec, resume=resume, quiet=args.quiet, since=since)
    finally:
        release(run_dir)  # (a process that trains in-process more than once must not keep it)


def _prepare(args: argparse.Namespace):
    """(run directory, its validated spec, resume?): the run is owned by this process before
    anything is written into it (a new one is created for a spec file)."""
    from engine.runs import RunDir, claim, release
    from engine.session import check_spec
    from engine.spec import apply_overrides

    if args.resume and args.spec:
        raise SpecError([Problem("SPEC", "give either a spec file or --resume RUN_DIR, not both")])
    if not args.resume and not args.spec:
        raise SpecError([Problem("SPEC", "missing: give a spec file (e.g. engine/resources/examples/digits_mlp.toml) "
                                         "or --resume RUN_DIR")])
    target = Path(args.resume or args.spec)
    if args.resume or target.is_dir():  # resume, or a run directory prepared by the app: train it in place
        run_dir = RunDir.open(target)
        claim(run_dir, "train")
        try:
            spec = run_dir.load_spec()
            if args.overrides:
                spec = apply_overrides(spec, args.overrides)
            check_spec(spec)
        except SpecError:
            release(run_dir)
            raise
        if args.overrides:
            run_dir.save_spec(spec)
            if args.resume:
                run_dir.log(f"resumed with overrides: {' '.join(args.overrides)}")
        return run_dir, spec, bool(args.resume)
    spec = load_with_overrides(args.spec, args.overrides)
    check_spec(spec)
    from engine.paths import default_runs_dir

    run_dir = RunDir.create(args.runs_dir or default_runs_dir(), spec)
    claim(run_dir, "train")
    return run_dir, spec, False


def train_run(run_dir, spec=None, *, resume: bool = False, quiet: bool = False, since: float | None = None) -> int:
    """Train an existing run directory (owned by this process) here, parallel specs through the
    worker in this process; print the JSON summary and return the exit code."""
    from engine.runs import begin_session, end_session, run_summary
    from engine.runs.session import result_fields
    from engine.session import run_training
    from engine.stopsignals import GracefulStop

    from engine.parallel.strategy import strategy_of

    spec = spec or run_dir.load_spec()
    if spec.launcher.remote:
        return _submit(run_dir, spec, resume=resume, quiet=quiet)
    if spec.parallel.processes > 1 or spec.parallel.nnodes > 1 or strategy_of(spec).multi_rank:
        return _train_parallel(run_dir, spec, resume=resume, quiet=quiet, since=since)
    progress = () if quiet else (_progress(),)
    if not quiet:
        print(f"run directory: {run_dir.path}", file=sys.stderr)
    begin_session(run_dir, since=since, strategy=spec.parallel.strategy, processes=1)
    reporters: list = []

    def on_stop(signum: int) -> None:
        if signum == signal.SIGINT:
            print("\nstopping after this step (Ctrl-C again to interrupt)", file=sys.stderr)
        for reporter in reporters or [None]:
            reporter.request_stop() if reporter is not None else reporters.append(_EarlyStop())

    def on_reporter(reporter) -> None:  # a stop asked for while starting up reaches the reporter
        if any(isinstance(r, _EarlyStop) for r in reporters):
            reporter.request_stop()
        reporters[:] = [reporter]

    def interrupt(signum, frame) -> None:
        raise KeyboardInterrupt

    try:
        with GracefulStop(on_stop, on_repeat=interrupt, escalate=(signal.SIGINT,)):
            result = run_training(run_dir, resume=resume, observers=progress, on_reporter=on_reporter, spec=spec)
    except SpecError as err:
        print_problems(err.problems, header="cannot train:")
        end_session(run_dir, "failed", message=str(err))
        print_json(run_summary(run_dir, status="failed", message=str(err)))
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        end_session(run_dir, "stopped", message="interrupted mid-step")
        print_json(run_summary(run_dir, status="stopped", message="interrupted mid-step"))
        return 130
    except Exception as err:  # reported to the run's log with the traceback already
        print(f"training failed: {type(err).__name__}: {err} (traceback in {run_dir.log_path})", file=sys.stderr)
        end_session(run_dir, "failed", message=f"{type(err).__name__}: {err}")
        print_json(run_summary(run_dir, status="failed", message=f"{type(err).__name__}: {err}"))
        return 1
    outcome = dataclasses.asdict(result)
    end_session(run_dir, result.status, **result_fields(outcome))
    print_json(run_summary(run_dir, outcome))
    return 1 if result.status == "failed" else 0


def _submit(run_dir, spec, *, resume: bool, quiet: bool) -> int:
    """`train` for a spec whose [launcher] is a scheduler (slurm, ray): submit the job and return;
    the job's worker owns the run (so this process lets go of it first). The JSON summary carries
    the job id; `runs`, `stop` and the app's Monitor follow the job from here."""
    from engine.launchers import LaunchError, launcher_of
    from engine.runs import release, run_summary

    launcher = launcher_of(spec)
    release(run_dir)  # the job's worker takes the run directory's lock when it starts
    try:
        submission = launcher.submit(run_dir, spec, resume=resume)
    except LaunchError as err:
        print_problems(err.problems, header=f"cannot submit to {launcher.label}:")
        return 2
    if not quiet:
        print(f"run directory: {run_dir.path}\nsubmitted to {launcher.label} as job {submission.job_id}"
              + (f" (script: {submission.script})" if submission.script else "")
              + f" — follow it with `netwright runs` or the app's Monitor; stop it with `netwright stop {run_dir.path}`",
              file=sys.stderr)
    job = launcher.job_state(run_dir)
    print_json({**run_summary(run_dir), "launcher": launcher.name, "job_id": submission.job_id,
                "job_state": job.describe() if job else None})
    return 0


class _EarlyStop:
    """A stop signal that came before the run's reporter existed."""

    def request_stop(self) -> None:
        pass


def _progress():
    from engine.commands._progress import Progress

    return Progress(sys.stderr)


def _train_parallel(run_dir, spec, *, resume: bool, quiet: bool, since: float | None) -> int:
    """`train` for a spec with several processes or nodes: this process becomes the run's worker
    (the elastic agent, still the run's owner); progress is tailed from the events log on
    stderr; the JSON summary is the last stdout line. Returns the worker's exit code."""
    from engine.events import EventTail
    from engine.runs import run_summary
    from engine.worker import run_worker

    done = threading.Event()
    thread = None
    if not quiet:
        progress = _progress()
        print(f"run directory: {run_dir.path}", file=sys.stderr)
        tail = EventTail(run_dir.events_path)

        def follow() -> None:
            while True:
                finished = done.wait(0.2)
                for event in tail.read():
                    progress.event(event["type"], **{k: v for k, v in event.items() if k not in ("v", "seq", "time", "type")})
                if finished:
                    return

        thread = threading.Thread(target=follow, name="progress", daemon=True)
        thread.start()
    try:
        code = run_worker(run_dir.path, resume=resume, spec=spec, since=since)
    finally:
        done.set()
        if thread:
            thread.join(5)
            if tail.skipped:
                print(f"warning: skipped {tail.skipped} unreadable line(s) of {run_dir.events_path}", file=sys.stderr)
    print_json(run_summary(run_dir))
    return code
