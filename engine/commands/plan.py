"""`plan SPEC.toml [--set key=value ...]`: the parallel layout, per-device memory estimate,
pipeline stages and bubble, the command for every node, and the spec's problems."""
from __future__ import annotations

import argparse
import sys

from engine.commands._common import SPEC_HELP, add_overrides_argument, invalid, load_with_overrides, print_problems
from engine.problems import SpecError

HELP = "Show how a spec trains in parallel: layout, memory per device, stages, per-node commands, problems"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help=SPEC_HELP)
    add_overrides_argument(parser, "parallel.processes=2")


def run(args: argparse.Namespace) -> int:
    from engine.parallel.summary import plan_summary  # numpy: the CLI starts (and --help answers) without it
    from engine.validation import validate  # numpy: likewise

    try:
        spec = load_with_overrides(args.spec, args.overrides)
    except SpecError as err:
        return invalid(err, "cannot plan")
    summary = plan_summary(spec, args.spec, args.overrides, problems=validate(spec))
    for line in summary.lines():
        print(line)
    sys.stdout.flush()
    if summary.problems:  # the plan lists them too; stderr says why the exit code is 2
        print_problems(summary.problems, header=f"{args.spec}: {len(summary.problems)} problem(s):")
    return 2 if summary.problems else 0
