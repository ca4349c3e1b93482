"""`doctor [--json] [--runs-dir DIR]`: can this machine run Netwright? Exit 1 when something is missing.

Checks Qt's platform plugin and widgets for missing shared libraries (as `ldd` resolves them), the
display, the torch build and its devices, and write access to the runs folder; prints the exact
`apt-get install` line for the missing libraries."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from engine.commands._common import print_json

HELP = "Check this machine: Qt's system libraries and display, torch and its devices, the runs folder"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", metavar="DIR", help="runs folder to check (default: $NETWRIGHT_RUNS_DIR or the per-user data folder)")
    parser.add_argument("--json", action="store_true", help="print the checks as one JSON object")


def run(args: argparse.Namespace) -> int:
    from engine.paths import default_runs_dir
    from engine.system_check import apt_command, diagnose

    report = diagnose(Path(args.runs_dir) if args.runs_dir else default_runs_dir())
    if args.json:
        print_json({"ok": report.ok, "checks": [dataclasses.asdict(c) for c in report.checks],
                    "apt": apt_command(report.packages) if report.packages else None})
        return 0 if report.ok else 1
    print(f"Netwright {_version()} in {Path(__file__).resolve().parents[2]}, Python {sys.version.split()[0]}")
    for check in report.checks:
        label = "ok" if check.ok else ("MISSING" if check.required else "warning")
        print(f"{label:<8} {check.name}: {check.detail}")
        if not check.ok and check.fix and not check.packages:
            print(f"{'':<8}   fix: {check.fix}")
    if report.packages:
        print("\nInstall the missing system libraries (Debian/Ubuntu):")
        print(f"  {apt_command(report.packages)}")
    print("\nall required checks passed" if report.ok else "\nsomething Netwright needs is missing (see above)")
    return 0 if report.ok else 1


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("netwright")
    except metadata.PackageNotFoundError:
        return "(not installed)"
