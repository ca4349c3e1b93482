"""Start the desktop app, or say why it cannot start and point to `netwright doctor`.

Qt aborts the whole process (SIGABRT, after a message that may name the wrong library) when its
platform plugin cannot be loaded or no display answers; so before anything loads Qt, the plugin's
shared libraries are resolved as `ldd` does and the display is tried (engine.system_check)."""
from __future__ import annotations

import re
import sys
from typing import Sequence

CANNOT_START = 3  #: exit code when the window cannot be opened on this machine
_LIBRARY_ERROR = re.compile(r"(\S+\.so[.\d]*): cannot open shared object file")


def cannot_start(reasons: Sequence[str], fixes: Sequence[str] = ()) -> int:
    """Print why the window cannot open and what to do; returns CANNOT_START."""
    print("Netwright cannot open its window on this machine:", file=sys.stderr)
    for reason in reasons:
        print(f"  - {reason}", file=sys.stderr)
    for fix in dict.fromkeys(f for f in fixes if f):
        print(f"  fix: {fix}", file=sys.stderr)
    print("Run `netwright doctor` for the full check. The command line works without a window "
          "(`netwright --help`).", file=sys.stderr)
    return CANNOT_START


def start_gui(argv: Sequence[str]) -> int:
    """Check the window can open, then run the app (app.launch.run_app) and return its exit code."""
    from engine.paths import spec_argument
    from engine.system_check import gui_blockers

    argv = [str(spec_argument(argv[0])), *argv[1:]] if argv else []  # an example's name opens it
    blockers = gui_blockers()
    if blockers:
        return cannot_start([f"{c.name}: {c.detail}" for c in blockers], [c.fix for c in blockers])
    try:
        from app.launch import run_app
    except ImportError as err:  # Qt's own libraries (e.g. libEGL) cannot be loaded
        missing = _LIBRARY_ERROR.search(str(err))
        if missing is None:
            raise
        from engine.system_check import apt_command, debian_packages

        packages, _ = debian_packages([missing.group(1)])
        return cannot_start([f"Qt cannot load {missing.group(1)} ({err})"],
                            [apt_command(packages)] if packages else [])
    return run_app(argv)
