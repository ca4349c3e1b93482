"""The one SIGTERM/SIGINT handler of a training process: the first signal asks for a graceful
stop (finish the step, checkpoint, status "stopped"); a repeated signal in `escalate` ends the
run now through `on_repeat`.

Used by the CLI's single-process `train` (stop = the reporter's request_stop; a second Ctrl-C
interrupts) and by the worker (stop = a control request its rank 0 reads; a second signal
terminates the ranks). Ranks under Slurm take SIGTERM from their parent only
(`obey_sigterm_from_parent_only`)."""
from __future__ import annotations

import os
import signal
import threading
from typing import Any, Callable, Iterable

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class GracefulStop:
    """``with GracefulStop(on_stop, on_repeat=..., escalate=(SIGINT,)):`` installs the handler for
    SIGTERM and SIGINT (main thread only; elsewhere it does nothing) and restores the previous
    handlers on exit. `count` is how many stop signals arrived."""

    def __init__(self, on_stop: Callable[[int], None], *, on_repeat: Callable[[int, Any], None] | None = None,
                 escalate: Iterable[int] = STOP_SIGNALS):
        self.on_stop = on_stop
        self.on_repeat = on_repeat
        self.escalate = set(escalate)
        self.count = 0
        self._previous: list[tuple[int, Any]] = []

    def __call__(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count > 1 and signum in self.escalate and self.on_repeat is not None:
            self.on_repeat(signum, frame)
            return
        self.on_stop(signum)

    def install(self) -> "GracefulStop":
        if threading.current_thread() is threading.main_thread():
            self._previous = [(sig, signal.signal(sig, self)) for sig in STOP_SIGNALS]
        return self

    def restore(self) -> None:
        for sig, handler in self._previous:
            signal.signal(sig, handler)
        self._previous = []

    def __enter__(self) -> "GracefulStop":
        return self.install()

    def __exit__(self, *exc: Any) -> None:
        self.restore()


def obey_sigterm_from_parent_only() -> threading.Thread:
    """In a rank under Slurm: SIGTERM ends this process only when its parent (the elastic agent in
    the worker, tearing the ranks down) sends it. Slurm's SIGTERM to every process of the job
    (scancel, preemption, the time limit) is ignored here: the worker stops all ranks gracefully.

    SIGTERM stays ignored and is blocked in the calling (main) thread, so threads started later
    block it too; a daemon thread takes each one with its sender (sigwaitinfo). A thread that was
    already running does not block it, and a SIGTERM it receives is ignored, as before. Returns
    the thread."""
    parent = os.getppid()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})

    def wait() -> None:
        while True:
            info = signal.sigwaitinfo({signal.SIGTERM})
            if info.si_pid == parent:  # what SIGTERM's default action does: end now, no clean-up
                os._exit(128 + signal.SIGTERM)

    thread = threading.Thread(target=wait, name="sigterm-from-parent", daemon=True)
    thread.start()
    return thread
