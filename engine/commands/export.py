"""`export RUN_DIR --format F [--out PATH] [--checkpoint latest|best] [--option KEY=VALUE ...]`."""
from __future__ import annotations

import argparse
import sys

from engine.commands._common import invalid, print_json, print_registry

HELP = "Export a trained run: ONNX, torch.export (.pt2), a plain PyTorch project (script) or a weights + spec bundle"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", nargs="?", help="the run directory (see `runs`)")
    parser.add_argument("--format", default="onnx", help="onnx, torch_export, script or bundle (see --list-formats)")
    parser.add_argument("--out", default=None, metavar="PATH",
                        help="file (onnx, torch_export) or folder (script, bundle); default RUN_DIR/exports/FORMAT")
    parser.add_argument("--checkpoint", default="latest", help="latest, best or a folder name under checkpoints/")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a format option, e.g. opset=17, exporter=torchscript, tolerance=1e-5 (repeatable)")
    parser.add_argument("--list-formats", action="store_true", help="list the formats and their options, then exit")


def _list_formats() -> int:
    from engine.export import FORMATS

    return print_registry(FORMATS, 14)


def run(args: argparse.Namespace) -> int:
    if args.list_formats:
        return _list_formats()
    if not args.run_dir:
        print("error: RUN_DIR is required (see `runs` for the list of runs)", file=sys.stderr)
        return 2
    from engine.commands.explain import parse_params
    from engine.export import export_run
    from engine.problems import Problem, SpecError

    try:
        options = parse_params(args.option)
        print(f"exporting {args.run_dir} as {args.format} ...", file=sys.stderr, flush=True)
        record = export_run(args.run_dir, args.format, args.out, checkpoint=args.checkpoint, options=options)
    except ValueError as err:  # SpecError (and ExportError) are ValueErrors
        if not isinstance(err, SpecError):  # a malformed --option
            err = SpecError([Problem("--option", str(err))])
        return invalid(err, "cannot export")
    print(record.summary())
    for note in record.notes:
        print(f"  note: {note}")
    print_json({"status": "exported" if record.passed else "mismatch", **record.__dict__})
    if not record.passed:
        print(f"error: the export differs from the PyTorch model by {record.max_abs_diff:.3g}, more than the tolerance "
              f"{record.tolerance:g}", file=sys.stderr)
        return 1
    return 0
