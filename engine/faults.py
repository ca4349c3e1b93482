"""Named fault points: a test hook that kills or breaks a process at a chosen moment.

Production code calls :func:`fault_point` at a few named places; it does nothing unless the
environment variable ``NETWRIGHT_FAULT`` names that point (read once per process)::

    NETWRIGHT_FAULT="POINT[#N]:ACTION[@WHO]"      several, separated by commas

- POINT: one of :data:`POINTS`; ``#N`` fires at the N-th time the point is reached (default 1).
- ACTION: ``kill`` (SIGKILL this process), ``exit`` (``os._exit(3)``, no cleanup), ``raise``
  (RuntimeError), ``enospc`` (OSError "No space left on device"), ``hang`` (sleep for an hour).
- WHO: ``main`` (a single-process `train`), ``worker`` (the elastic agent process), ``rankK``
  (global rank K of a parallel job); default: any process that reaches the point.

The fault suite (tests/robustness/test_faults.py, benchmarks/faults.py) drives it.
"""
from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass

ENV = "NETWRIGHT_FAULT"

#: where the hook is checked, in the order a job reaches them
POINTS = (
    "before_first_step",   # trainer: set up, about to run step 1
    "mid_step",            # trainer: after backward, before the optimizer step
    "mid_checkpoint",      # checkpoint: weights written, training state not yet
    "mid_event_write",     # events: half of a batch of lines written
    "final_eval",          # trainer: the last validation, before it runs
    "final_checkpoint",    # trainer: after the last step, before its checkpoint
    "after_final_status",  # trainer: the final status event written
    "teardown",            # rank: before the process group is destroyed
    "worker_exit",         # worker: the job ended, the final status written, before exiting
)
ACTIONS = ("kill", "exit", "raise", "enospc", "hang")


@dataclass(frozen=True)
class Fault:
    point: str
    action: str
    nth: int = 1
    who: str = ""


_role = "main"
_faults: list[Fault] | None = None
_counts: dict[str, int] = {}


def parse(text: str) -> list[Fault]:
    """The faults a NETWRIGHT_FAULT value names (ValueError naming the bad part)."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        where, _, rest = part.partition(":")
        action, _, who = rest.partition("@")
        point, _, nth = where.partition("#")
        if point not in POINTS:
            raise ValueError(f"{ENV}: unknown fault point {point!r} in {part!r}; points: {', '.join(POINTS)}")
        if action not in ACTIONS:
            raise ValueError(f"{ENV}: unknown action {action!r} in {part!r}; actions: {', '.join(ACTIONS)}")
        out.append(Fault(point, action, int(nth or 1), who))
    return out


def set_role(role: str) -> None:
    """Name this process for ``@WHO`` filters ("worker"; ranks are found from $RANK)."""
    global _role
    _role = role


def role() -> str:
    if _role == "main" and "TORCHELASTIC_RUN_ID" in os.environ and "RANK" in os.environ:
        return f"rank{os.environ['RANK']}"
    return _role


def _active() -> list[Fault]:
    global _faults
    if _faults is None:
        text = os.environ.get(ENV, "")
        _faults = parse(text) if text else []
    return _faults


def armed(point: str) -> Fault | None:
    """The fault that fires now at `point` in this process (counts the visit), or None."""
    faults = _active()
    if not faults:
        return None
    hits = [f for f in faults if f.point == point and (not f.who or f.who == role())]
    if not hits:
        return None
    _counts[point] = count = _counts.get(point, 0) + 1
    return next((f for f in hits if f.nth == count), None)


def fire(fault: Fault) -> None:
    """Carry out `fault`'s action."""
    if fault.action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)
    elif fault.action == "exit":
        os._exit(3)
    elif fault.action == "raise":
        raise RuntimeError(f"injected fault at {fault.point} ({role()})")
    elif fault.action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC) + f" (injected at {fault.point})")
    elif fault.action == "hang":
        time.sleep(3600)


def fault_point(point: str) -> None:
    """Fire the fault armed for `point`, if any (a no-op unless NETWRIGHT_FAULT is set)."""
    if _faults == []:  # the common case: one comparison
        return
    fault = armed(point)
    if fault is not None:
        fire(fault)


def enabled(point: str) -> bool:
    """Whether any fault names `point` (for hot loops: check once, then call fault_point)."""
    return any(f.point == point for f in _active())
