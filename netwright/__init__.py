"""The `netwright` command: no arguments (or one .toml file) -> the desktop app; a command -> the CLI.

This package is the only place that knows both halves: engine/ never imports app/, so the
dispatcher between them lives here (`python main.py` in a checkout runs the same function)."""
from __future__ import annotations

import sys
from typing import Sequence


def wants_gui(argv: Sequence[str]) -> bool:
    """No arguments, or a single spec file to open, start the desktop app."""
    return not argv or (len(argv) == 1 and argv[0].endswith(".toml"))


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: run the app or an engine command and return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not wants_gui(argv):
        from engine.cli import main as cli_main

        return cli_main(argv)
    try:
        from netwright.gui import start_gui

        return start_gui(argv)
    except KeyboardInterrupt:  # Ctrl-C while the app was still loading
        from engine.cli import interrupted

        return interrupted()
