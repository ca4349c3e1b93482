"""`compress RUN_DIR --step NAME:KEY=VALUE,... [--step ...] [--runs-dir DIR] [--checkpoint C]`."""
from __future__ import annotations

import argparse
import sys

from engine.commands._common import invalid, print_json, print_registry

EXIT_INTERRUPTED = 130

HELP = "Compress a trained run (prune, fine-tune, quantize) into a new run and print the before/after table"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", nargs="?", help="the trained run directory (see `runs`)")
    parser.add_argument("--step", action="append", default=[], metavar="NAME:KEY=VALUE,...",
                        help="a step, in order (repeatable), e.g. prune:sparsity=0.5,structured=true, "
                             "finetune:epochs=2, quantize:scheme=int8_dynamic (see --list-steps)")
    parser.add_argument("--runs-dir", metavar="DIR", default=None,
                        help="where the new run goes (default: the source run's folder)")
    parser.add_argument("--checkpoint", default="latest", help="latest, best or a folder name under checkpoints/")
    parser.add_argument("--list-steps", action="store_true", help="list the steps and their options, then exit")


def _list_steps() -> int:
    from engine.compress import STEPS

    return print_registry(STEPS, 10)


def table(result) -> str:
    """The before/after table of a CompressResult (one row per measure)."""
    from engine.compress.measure import comparison_rows

    rows = comparison_rows(result.before, result.after, result.deltas)
    width = max(len(r[0]) for r in rows)
    lines = [f"{'':{width}s}  {'source':>12s}  {'compressed':>12s}  {'change':>9s}"]
    lines += [f"{r[0]:{width}s}  {r[1]:>12s}  {r[2]:>12s}  {r[3]:>9s}" for r in rows]
    return "\n".join(lines)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # a second Ctrl-C: stop now (the new run is removed all the same)


def run(args: argparse.Namespace) -> int:
    if args.list_steps:
        return _list_steps()
    if not args.run_dir:
        print("error: RUN_DIR is required (see `runs` for the list of runs)", file=sys.stderr)
        return 2
    import threading

    from engine.compress import CompressCancelled, CompressError, compress_run, parse_step
    from engine.problems import SpecError
    from engine.stopsignals import GracefulStop

    try:
        steps = [parse_step(text, f"--step {i + 1}") for i, text in enumerate(args.step)]
        if not steps:
            raise CompressError("--step", "give at least one step, e.g. --step prune:sparsity=0.5 (see --list-steps)")

        def progress(fraction: float, text: str) -> None:
            print(f"[{fraction:4.0%}] {text}", file=sys.stderr, flush=True)

        stop = threading.Event()
        with GracefulStop(lambda signum: stop.set(), on_repeat=_interrupt):  # Ctrl-C / SIGTERM: cancel
            result = compress_run(args.run_dir, steps, runs_dir=args.runs_dir, checkpoint=args.checkpoint,
                                  progress=progress, cancelled=stop.is_set)
    except SpecError as err:
        return invalid(err, "cannot compress")
    except CompressCancelled:
        print("compression cancelled: no new run was kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"{result.source.name} -> {result.run_dir.name}: " + " -> ".join(result.steps))
    print(table(result))
    for note in result.notes:
        print(f"  note: {note}")
    print_json({"status": "compressed", **result.to_dict()})
    return 0
