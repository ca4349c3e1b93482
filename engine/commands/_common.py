"""Helpers shared by the training commands (not a command: the name starts with '_')."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from engine.problems import Problem, SpecError


def add_overrides_argument(parser: argparse.ArgumentParser, example: str = "training.epochs=3") -> None:
    """The repeatable ``--set KEY=VALUE`` option (read back as ``args.overrides``)."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help=f"override a spec value by its dotted path, e.g. --set {example} (repeatable)")


def print_problems(problems: Sequence[Problem], *, header: str = "") -> None:
    """Problems on stderr, one per line."""
    if header:
        print(header, file=sys.stderr)
    for problem in problems:
        print(f"  problem: {problem}", file=sys.stderr)
        if problem.fix:
            print(f"      fix: {' '.join(f'--set {a}' for a in problem.fix)}", file=sys.stderr)


def print_json(obj: Any) -> None:
    """The command's result as the last line of stdout."""
    sys.stdout.flush()
    print(json.dumps(obj, default=str), flush=True)


def print_registry(registry: Any, width: int, extra: Any = None) -> int:
    """List a registry for a `--list-...` option: each entry's name and description, an optional
    `extra(entry)` line, then its options with default, choices and help. Returns exit code 0."""
    for entry in registry:
        print(f"{entry.name:{width}s} {entry.description}")
        if extra is not None:
            print(f"{'':{width}s} {extra(entry)}")
        for p in entry.params:
            choices = f" ({'|'.join(p.choices)})" if p.choices else ""
            print(f"{'':{width + 2}s}{p.name} = {p.default!r}{choices}: {p.help}")
    return 0


SPEC_HELP = "experiment spec: a .toml file, or the name of a shipped example (see `examples`)"


def spec_file(arg: str) -> Path:
    """The file a SPEC argument names: an existing path wins, else a shipped example's name;
    SpecError naming the folder searched when it is neither."""
    from engine.paths import spec_argument

    path = spec_argument(arg)
    if not path.exists():
        folder = path.absolute().parent
        raise SpecError([Problem(str(arg), f"file not found (looked in {folder}), and no example of that name — "
                                           "`netwright examples` lists the examples")])
    return path


def load_with_overrides(path: str, assignments: Sequence[str]):
    """Load a spec (a file or an example name) and apply --set overrides (SpecError on failure)."""
    from engine.spec import apply_overrides, load_spec, resolve_data_path

    spec = load_spec(spec_file(path))  # a relative data.path in the file: against the file's folder
    spec = apply_overrides(spec, assignments) if assignments else spec
    return resolve_data_path(spec, Path.cwd())  # one given with --set: against the current folder


def invalid(err: SpecError, what: str) -> int:
    """Report a bad spec/argument: problems on stderr, a JSON line on stdout, exit code 2."""
    print_problems(err.problems, header=f"{what}:")
    print_json({"status": "invalid", "problems": [str(p) for p in err.problems]})
    return 2
