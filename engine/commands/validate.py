"""`validate SPEC.toml [--set key=value ...]`: the layer table and every problem; exit 2 if any."""
from __future__ import annotations

import argparse
import sys

from engine.commands._common import SPEC_HELP, add_overrides_argument, invalid, load_with_overrides, print_json, print_problems
from engine.problems import SpecError

HELP = "Check a spec: print the layer table (name, output shape, parameters) and every problem"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help=SPEC_HELP)
    add_overrides_argument(parser, "training.epochs=3")


def run(args: argparse.Namespace) -> int:
    from engine.validation import validate  # numpy: the CLI starts (and --help answers) without it

    try:
        spec = load_with_overrides(args.spec, args.overrides)
    except SpecError as err:
        return invalid(err, f"cannot read {args.spec}")
    info = _describe(spec)
    params = None
    if info is not None:
        from engine.shapes import infer_model  # loaded when this command runs, like validate

        report = infer_model(spec.model.layers, tuple(info.input_shape), info.input_dtype, info.num_classes)
        params = report.total_params
        print(f"data: {spec.data.source} — input {tuple(info.input_shape)} {info.input_dtype}, {info.task.replace('_', ' ')}, "
              f"{info.num_classes} {'targets' if info.task == 'regression' else 'classes'}")
        print(report.table())
    problems = validate(spec)
    if problems:
        print_problems(problems, header=f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {args.spec}:")
    else:
        print("no problems", file=sys.stderr)
    print_json({"spec": args.spec, "valid": not problems, "params": params, "problems": [str(p) for p in problems]})
    return 2 if problems else 0


def _describe(spec):
    from engine.data import describe_data  # numpy, scikit-learn: only when this command runs

    try:
        return describe_data(spec.data)
    except SpecError:
        return None  # validate() lists the data problem
