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


def launcher_lines(spec) -> list[str]:
    """What the spec's launcher submits (its script or command), as a new run would get it."""
    from engine.launchers import launcher_of, planned_script  # only for a cluster launcher's plan
    from engine.paths import default_runs_dir  # likewise

    launcher = launcher_of(spec)
    return [f"launcher: {launcher.name} — {launcher.description}", "submits (RUN_ID: the new run's folder):",
            *("  " + line for line in planned_script(spec, default_runs_dir()).splitlines())]


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
    if spec.launcher.remote:
        for line in launcher_lines(spec):
            print(line)
    sys.stdout.flush()
    if summary.problems:  # the plan lists them too; stderr says why the exit code is 2
        print_problems(summary.problems, header=f"{args.spec}: {len(summary.problems)} problem(s):")
    return 2 if summary.problems else 0
