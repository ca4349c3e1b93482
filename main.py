"""Netwright entry point: no arguments (or a .toml file) -> the desktop app; a command -> the CLI."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (len(argv) == 1 and argv[0].endswith(".toml")):
        from app.launch import run_app

        return run_app(argv)
    from engine.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
