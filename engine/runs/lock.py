"""One owner per run directory: an OS lock (``flock``) on RUN_DIR/owner.lock.

The owner (the CLI's `train`, the worker, or a command writing into the run such as `explain`)
takes the lock before it writes anything and holds it for as long as it lives; the kernel
releases it when the process ends, however it ends (SIGKILL, power loss of a local disk), so
there is no stale pid to guess about. A second would-be owner is refused with :class:`RunBusy`
(a SpecError: exit code 2) naming the owner's pid and host, which the owner records in the
lock file. Ownership is per process and re-entrant: the CLI that owns a run can run the worker
in-process (parallel `train`), which takes the same lock again. Ranks started by the worker do
not lock: the worker owns the run for them.

Readers ask :func:`lock_state` (held / free / never locked); probing uses a shared lock for a
moment, so an owner racing a probe retries for a short while instead of failing.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from engine.problems import Problem, SpecError

LOCK_NAME = "owner.lock"
#: how long a would-be owner retries when the lock is busy (a reader's probe holds it for microseconds)
ACQUIRE_RETRY_S = 0.5

_held: dict[str, list[int]] = {}  # resolved lock path -> [fd, depth]
_guard = threading.Lock()


class RunBusy(SpecError):
    """The run directory is owned by another live process; `owner` is what it recorded."""

    def __init__(self, run_path: Path, owner: dict[str, Any]):
        self.owner = owner
        who = f"process {owner.get('pid', '?')} on host {owner.get('host', '?')}"
        doing = f" ({owner['purpose']})" if owner.get("purpose") else ""
        super().__init__([Problem(str(run_path), f"is in use by {who}{doing} — stop it first (`stop {run_path}`) "
                                                 "or wait for it to end; only one process may own a run directory")])


def _lock_path(run: Any) -> Path:
    path = Path(getattr(run, "path", run))
    return path / LOCK_NAME


def read_owner(run: Any) -> dict[str, Any]:
    """What the last owner recorded in the lock file: {pid, host, purpose, since} ({} if none)."""
    try:
        data = json.loads(_lock_path(run).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def owns(run: Any) -> bool:
    """Whether this process owns the run directory."""
    return str(_lock_path(run).resolve()) in _held


def acquire(run: Any, purpose: str = "train", *, retry_s: float = ACQUIRE_RETRY_S) -> None:
    """Own the run directory for the life of this process (re-entrant; pair with :func:`release`
    or use :func:`owned`). Raises RunBusy naming the owner when another process holds it."""
    path = _lock_path(run)
    key = str(path.resolve())
    with _guard:
        if key in _held:
            _held[key][1] += 1
            return
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + retry_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    os.close(fd)
                    raise
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise RunBusy(path.parent, read_owner(run)) from None
                time.sleep(0.02)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "purpose": purpose, "since": round(time.time(), 3)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        _held[key] = [fd, 1]


def release(run: Any) -> None:
    """Undo one :func:`acquire` of this process; the last one gives the lock up."""
    key = str(_lock_path(run).resolve())
    with _guard:
        entry = _held.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del _held[key]
            os.close(entry[0])  # closing the only descriptor releases the flock


@contextlib.contextmanager
def owned(run: Any, purpose: str = "write") -> Iterator[None]:
    """``with owned(run, "explain"):`` — own the run directory while writing into it."""
    acquire(run, purpose)
    try:
        yield
    finally:
        release(run)


def lock_state(run: Any) -> str:
    """"held" (a live process owns the run), "free" (locked before, owner gone) or "never"
    (no owner ever locked it: a run written by an older version or by hand)."""
    path = _lock_path(run)
    if owns(run):
        return "held"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return "never"
    except OSError:
        return "free"
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return "held"
    finally:
        os.close(fd)  # also drops the probe's shared lock
    return "free"
