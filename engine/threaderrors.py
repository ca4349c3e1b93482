"""Uncaught errors of background threads (ours or a library's, e.g. TensorBoard's writer thread):
one line on stderr and the traceback in the run's log.txt — never a raw traceback on the console."""
from __future__ import annotations

import sys
import threading
import traceback
from typing import Any

_installed: list[Any] = []


def route_to_run_log(run: Any) -> None:
    """Send uncaught thread exceptions of this process to `run`'s log (idempotent per process;
    the latest run wins)."""
    _installed[:] = [run]
    if getattr(threading.excepthook, "_netwright", False):
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "a background thread"
        text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
        where = ""
        for target in _installed:
            try:
                target.log(f"WARNING: thread {name} stopped:\n{text.rstrip()}")
                where = f" (details in {target.log_path})"
            except OSError:  # e.g. the disk is full
                pass
        print(f"warning: background thread {name} stopped: {args.exc_type.__name__}: {args.exc_value}{where}",
              file=sys.stderr, flush=True)

    hook._netwright = True  # type: ignore[attr-defined]
    threading.excepthook = hook
