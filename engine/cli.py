"""`python main.py <command>` / `netwright <command>`: argparse subcommands mirroring the GUI."""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from types import ModuleType
from typing import Sequence

import engine.commands as _commands

#: the main help's examples (tests/test_cli_help_examples.py runs every one of them)
EPILOG = """examples:
  netwright                          start the desktop app
  netwright digits_mlp.toml          start the app with a spec file open
  netwright examples                 list the shipped example specs
  netwright validate digits_mlp      check an example (or any spec file)
  netwright train digits_mlp --set training.epochs=1
  netwright runs | head              the run history
  netwright doctor                   check Qt's system libraries, torch and the runs folder"""


def command_modules() -> dict[str, ModuleType]:
    """Every command module in engine/commands, by command name (module name, '_' -> '-')."""
    out = {}
    for info in sorted(pkgutil.iter_modules(_commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"engine.commands.{info.name}")
        out[info.name.replace("_", "-")] = module
    return out


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, ModuleType]]:
    parser = argparse.ArgumentParser(prog="netwright", description="Netwright: a workbench for PyTorch. "
                                     "Without a command, starts the desktop app.",
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = command_modules()
    for name, module in modules.items():
        module.configure(sub.add_parser(name, help=module.HELP, description=module.HELP))
    return parser, modules


#: exit codes of an interrupted command (128 + SIGINT, as a shell reports it) and of one whose
#: reader went away mid-output (`netwright runs | head`: not an error, the reader chose to stop;
#: a command that finished before its last output could be flushed keeps its own code)
EXIT_INTERRUPTED = 130
EXIT_PIPE_CLOSED = 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the command; returns the exit code. A closed output pipe and
    Ctrl-C end the command quietly (no traceback)."""
    try:
        code = _run(argv)
    except BrokenPipeError:
        return pipe_closed()
    except KeyboardInterrupt:
        return interrupted()
    try:
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
    except BrokenPipeError:
        pipe_closed()
    return code


def pipe_closed() -> int:
    """Our reader is gone: send what is still buffered, and any later output, to /dev/null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError):  # a replaced stream (tests) has no file descriptor
            pass
    os.close(devnull)
    return EXIT_PIPE_CLOSED


def interrupted() -> int:
    """Ctrl-C outside a command's own handling: one line on stderr, exit 130."""
    try:
        print("interrupted", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass
    return EXIT_INTERRUPTED


def _run(argv: Sequence[str] | None) -> int:
    parser, modules = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad arguments, 0 on --help
        return int(exc.code or 0)
    if not args.command:
        parser.print_help()
        return 2
    return int(modules[args.command].run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
