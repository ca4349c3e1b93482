"""`runs [--runs-dir DIR] [--json]`: the run history with status and final metrics."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from engine.commands._common import print_json
from engine.metrics import format_metrics

HELP = ("List training runs with their status, start time, wall time (start-up included), training time, "
        "strategy and final metrics; a run submitted to a cluster also shows its job's state (PENDING and why, RUNNING, ...)")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", metavar="DIR", help="runs folder (default: $NETWRIGHT_RUNS_DIR or the per-user data folder)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per run instead of a table")


def _metrics(metrics) -> str:
    return format_metrics(metrics, fmt="{name}={value:.4g}")


def _duration(seconds) -> str:
    if seconds is None:
        return "-"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def job_state(path: Path, status: str):
    """The scheduler's state of a run's job (engine.launchers.JobState), asked only while the run
    has not ended on its own (a queued, running, paused or crashed run); None for a local run."""
    from engine.runs import FINAL, load_status

    if status in FINAL or not load_status(path).job_id:
        return None
    from engine.launchers import job_state_of

    return job_state_of(path)


def run(args: argparse.Namespace) -> int:
    from engine.paths import default_runs_dir
    from engine.runs import list_runs, read_exports

    root = Path(args.runs_dir or default_runs_dir()).expanduser()
    if root.exists() and not root.is_dir():
        from engine.folders import RUNS_HINT, folder_problem

        print(f"error: {folder_problem(root, 'runs folder', RUNS_HINT)}", file=sys.stderr)
        return 2
    rows = list_runs(root)
    if args.json:
        for r in rows:
            job = job_state(r.path, r.status)
            print_json({"id": r.id, "run_dir": str(r.path), "name": r.name, "status": r.status, "started": r.started,
                        "duration": r.duration, "wall_seconds": r.wall_seconds, "training_seconds": r.training_seconds,
                        "strategy": r.strategy, "processes": r.processes,
                        "epoch": r.epoch, "step": r.step, "metrics": dict(r.metrics), "message": r.message,
                        "exports": [{k: e.get(k) for k in ("format", "file", "max_abs_diff", "passed")}
                                    for e in read_exports(r.path)],
                        "job": None if job is None else {"id": job.job_id, "state": job.state, "reason": job.reason,
                                                         "nodes": job.nodes, "exit_code": job.exit_code,
                                                         "message": job.message}})
        return 0
    if not rows:
        print(f"no runs in {root}")
        return 0
    print(f"{'run':<44} {'status':<10} {'started':<17} {'wall':>9} {'training':>9} {'strategy':<9} metrics")
    for r in rows:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.started)) if r.started else "-"
        strategy = r.strategy if r.processes <= 1 else f"{r.strategy}x{r.processes}"
        exports = ",".join(r.exports)
        print(f"{r.id:<44} {r.status:<10} {started:<17} {_duration(r.wall_seconds):>9} "
              f"{_duration(r.training_seconds):>9} {strategy:<9} {_metrics(r.metrics)}"
              + (f"  exports={exports}" if exports else ""))
        job = job_state(r.path, r.status)
        if job is not None:
            print(f"{'':<44} {job.describe()}")
    print(f"{len(rows)} run{'s' if len(rows) != 1 else ''} in {root}")
    return 0
