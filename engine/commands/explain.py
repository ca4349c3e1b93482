"""`explain RUN_DIR --method NAME [--param k=v ...] [--samples N | --index i,j] [--target T] --out DIR`."""
from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from engine.commands._common import print_registry

HELP = "Explain a trained run's predictions with a Captum attribution method (maps as .npy and PNG)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", nargs="?", help="the run directory (see `runs`)")
    parser.add_argument("--method", default="Saliency", help="attribution method, any case, e.g. IntegratedGradients or integrated_gradients (see --list-methods); default Saliency")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a method parameter, e.g. steps=64, baseline=mean, window=[3,3] (repeatable)")
    pick = parser.add_mutually_exclusive_group()
    pick.add_argument("--samples", type=int, default=None, help="explain the first N samples of the split (default 8)")
    pick.add_argument("--index", default=None, help="explain these samples, e.g. 0,5,17")
    parser.add_argument("--split", default="val", choices=("val", "train"), help="which split to take samples from")
    parser.add_argument("--target", default="predicted", help="predicted, true, a class index or a class name")
    parser.add_argument("--checkpoint", default="latest", help="latest, best or a folder name under checkpoints/")
    parser.add_argument("--out", default=None, help="output folder (default RUN_DIR/explain/METHOD)")
    parser.add_argument("--sanity", action="store_true",
                        help="also run the model-randomization sanity check and add it to summary.json")
    parser.add_argument("--list-methods", action="store_true", help="list the methods and their parameters, then exit")


def parse_params(items: list[str]) -> dict[str, Any]:
    """`k=v` strings to a dict; values are read as TOML (numbers, booleans, lists), else strings."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param {item!r}: expected KEY=VALUE, e.g. steps=64")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        out[key.strip()] = value
    return out


def _method_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def method_name(text: str) -> str:
    """The registered method a user typed, in any case and spelling of word breaks
    (`integrated_gradients`, `IntegratedGradients`, `integrated-gradients`); ValueError with a
    suggestion for an unknown one."""
    from engine.interpret.methods import METHODS
    from engine.problems import did_you_mean

    by_key = {_method_key(name): name for name in METHODS.names()}
    found = by_key.get(_method_key(text))
    if found:
        return found
    hint = did_you_mean(_method_key(text), by_key, shown=by_key)
    raise ValueError(f"--method: unknown attribution method {text!r}{hint} (see --list-methods)")


def _parse_index(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise ValueError(f"--index {text!r}: expected sample numbers separated by commas, e.g. 0,5,17") from None


def _list_methods() -> int:
    from engine.interpret.methods import METHODS

    return print_registry(METHODS, 20, lambda entry: "works on: " + ", ".join(entry.extra.get("kinds", ())))


def run(args: argparse.Namespace) -> int:
    if args.list_methods:
        return _list_methods()
    if not args.run_dir:
        print("error: RUN_DIR is required (see `runs` for the list of runs)", file=sys.stderr)
        return 2
    from engine.folders import ensure_folder
    from engine.interpret.core import select_indices
    from engine.interpret.loading import load_trained
    from engine.interpret.methods import check_method
    from engine.interpret.targets import parse_target
    from engine.problems import SpecError
    from engine.runs import RunDir, owned

    try:
        args.method = method_name(args.method)
        params = parse_params(args.param)
        index = _parse_index(args.index)
        trained = load_trained(args.run_dir, args.checkpoint)
        ctx = trained.explainable
        resolved, problems = check_method(args.method, params, ctx)
        if problems:
            raise SpecError(problems)
        choice = parse_target(args.target, ctx.class_names, "--target")
        xs, ys = trained.split(args.split)
        picked = select_indices(len(xs), samples=args.samples, index=index, path_samples="--samples", path_index="--index")
        run = RunDir(Path(trained.run_dir))
        out = Path(args.out) if args.out else run.explain / args.method
    except (SpecError, ValueError) as err:
        for line in str(err).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2
    inside = out.resolve().is_relative_to(run.path.resolve())
    try:  # writing into the run directory: own it first (refused while another process trains it)
        with owned(run, "explain") if inside else contextlib.nullcontext():
            out = ensure_folder(out, "output folder", "choose another folder with --out DIR")
            return _explain_and_write(args, trained, ctx, resolved, choice, xs, ys, picked, out)
    except SpecError as err:
        for line in str(err).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2


def _explain_and_write(args, trained, ctx, resolved, choice, xs, ys, picked, out: Path) -> int:
    from engine.interpret.core import explain_many
    from engine.interpret.output import summary, write_sample, write_summary
    from engine.problems import SpecError

    start = time.perf_counter()
    try:
        attrs = explain_many(ctx, xs[picked], args.method, resolved, choice, labels=ys[picked], indices=picked,
                             progress=_progress_bar(len(picked)))
    except SpecError as err:
        print(f"\nerror: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # a Captum/torch failure on this model: report, do not trace back
        print(f"\nerror: {args.method} failed on this model: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(file=sys.stderr)
    for a in attrs:
        write_sample(out, a, ctx, trained.display(xs[a.index]))
    extra: dict[str, Any] = {}
    if args.sanity:
        from engine.interpret.sanity import randomization_check

        result = randomization_check(ctx, xs[picked], args.method, resolved, choice, labels=ys[picked], cascade=True)
        extra["sanity"] = {"rank_correlations": list(result.correlations), "mean": result.mean,
                           "cascade": [{"layer": n, "mean": c} for n, c in result.cascade], "verdict": result.verdict()}
        print(result.verdict(), file=sys.stderr)
    doc = summary(trained.run_dir, trained.checkpoint, args.split, str(choice), attrs, ctx,
                  time.perf_counter() - start, extra)
    write_summary(out, doc)
    for note in dict.fromkeys(n for a in attrs for n in a.notes):
        print(f"note: {note}", file=sys.stderr)
    print(json.dumps({"out": str(out), "method": args.method, "samples": len(attrs),
                      "seconds_per_sample": doc["seconds_per_sample"],
                      "accuracy": _accuracy(attrs)}))
    return 0


def _accuracy(attrs: list) -> float | None:
    known = [a for a in attrs if a.true_label is not None]
    return round(sum(a.predicted == a.true_label for a in known) / len(known), 4) if known else None


def _progress_bar(total: int):
    last = [-1]

    def show(fraction: float) -> None:
        pct = int(fraction * 100)
        if pct != last[0] and sys.stderr.isatty() or pct in (0, 100) and pct != last[0]:
            last[0] = pct
            bar = "#" * (pct // 4)
            print(f"\rexplaining {total} sample(s) [{bar:<25}] {pct:3d}%", end="", file=sys.stderr, flush=True)

    return show
