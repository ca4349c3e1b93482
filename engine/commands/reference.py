"""`reference`: print the spec-format reference (every section and key, with defaults)."""
from __future__ import annotations

import argparse

HELP = "Print the spec format reference (every section and key, with defaults) as Markdown"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--readme", action="store_true", help="wrap it in the README.md markers")


def run(args: argparse.Namespace) -> int:
    from engine.reference import readme_block, spec_reference  # numpy (engine.data): only when this command runs

    print(readme_block() if args.readme else spec_reference(), end="\n" if args.readme else "")
    return 0
