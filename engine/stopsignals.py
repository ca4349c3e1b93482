"""The one SIGTERM/SIGINT handler of a training process: the first signal asks for a graceful
stop (finish the step, checkpoint, status "stopped"); a repeated signal in `escalate` ends the
run now through `on_repeat`.

Used by the CLI's single-process `train` (stop = the reporter's request_stop; a second Ctrl-C
interrupts) and by the worker (stop = a control request its rank 0 reads; a second signal
terminates the ranks)."""
from __future__ import annotations

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
