"""`examples [--paths]`: the example specs shipped with Netwright (name and one-line description).

Any command taking a SPEC accepts an example's bare name (`netwright train digits_mlp`)."""
from __future__ import annotations

import argparse

HELP = "List the example specs shipped with Netwright; use a name wherever a SPEC is asked for"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--paths", action="store_true", help="also print each example's file")


def run(args: argparse.Namespace) -> int:
    from engine.paths import examples

    found = examples()
    width = max((len(e.name) for e in found), default=0)
    for example in found:
        print(f"{example.name:<{width}}  {example.description}")
        if args.paths:
            print(f"{'':<{width}}  {example.path}")
    first = next((e.name for e in found if e.name == "digits_mlp"), found[0].name if found else "")
    print(f"\ntry: netwright validate {first}   |   netwright train {first} --set training.epochs=1"
          if found else "no examples found (reinstall Netwright)")
    return 0 if found else 1
