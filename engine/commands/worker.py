"""`worker RUN_DIR|SPEC.toml`: run a node's ranks for a run (what the GUI starts in the background)."""
from __future__ import annotations

import argparse
from pathlib import Path

from engine.commands._common import SPEC_HELP, add_overrides_argument, load_with_overrides

HELP = "Run the ranks of a run directory (or a new run of SPEC.toml) through torch's elastic launcher"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", help=f"a run directory holding spec.toml, or a new run of SPEC ({SPEC_HELP})")
    parser.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    parser.add_argument("--runs-dir", help="where a new run is created when TARGET is a spec file")
    add_overrides_argument(parser)
    parser.add_argument("--processes", type=int, help="processes (ranks) on this node")
    parser.add_argument("--nnodes", type=int, help="number of nodes")
    parser.add_argument("--node-rank", type=int, help="this node's index (0 = the node that reports)")
    parser.add_argument("--rdzv-endpoint", help="host:port of node 0's rendezvous")
    parser.add_argument("--max-restarts", type=int, help="times the elastic agent restarts failed ranks")
    parser.add_argument("--context", default=None, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    import sys
    import time

    from engine.problems import SpecError
    from engine.runs import RunDir, claim, release
    from engine.spec import apply_overrides
    from engine.worker import DEFAULT_CONTEXT, apply_layout, run_worker

    since = time.time()
    target = Path(args.target)
    owned = None
    try:
        if target.is_dir():
            run = RunDir.open(target)
            claim(run, "worker")  # before anything is written into it
            owned = run
            spec = run.load_spec()
            if args.overrides:
                spec = apply_overrides(spec, args.overrides)
        else:
            from engine.paths import default_runs_dir

            spec = load_with_overrides(args.target, args.overrides)
            run = None
        spec = apply_layout(spec, processes=args.processes, nnodes=args.nnodes, node_rank=args.node_rank,
                            rdzv_endpoint=args.rdzv_endpoint, max_restarts=args.max_restarts)
        if run is None:
            run = RunDir.create(args.runs_dir or default_runs_dir(), spec)
            claim(run, "worker")
        else:
            run.save_spec(spec)  # (only when --set or the layout options changed it)
    except SpecError as err:
        if owned is not None:
            release(owned)
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return 2
    print(f"run directory: {run.path}", file=sys.stderr, flush=True)
    try:
        return run_worker(run.path, resume=args.resume, context=args.context or DEFAULT_CONTEXT, since=since)
    finally:
        release(run)
