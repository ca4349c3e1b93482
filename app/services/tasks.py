"""Run a plain function off the GUI thread and get its result back as a queued Qt signal.

Used for work that may take longer than ~50 ms (listing runs, reading a finished run's whole
events log, preparing the training plan). Results of a superseded call are dropped: each
`BackgroundCall` delivers only the newest result.
"""
from __future__ import annotations

import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot


class _Signals(QObject):
    done = Signal(int, object, str)


class _Task(QRunnable):
    def __init__(self, ticket: int, fn: Callable[..., Any], args: tuple, signals: _Signals):
        super().__init__()
        self.ticket, self.fn, self.args, self.signals = ticket, fn, args, signals

    def run(self) -> None:  # pool thread
        try:
            result, error = self.fn(*self.args), ""
        except Exception as err:  # reported to the caller, never raised into Qt
            result, error = None, f"{err}\n{traceback.format_exc(limit=4)}"
        try:
            self.signals.done.emit(self.ticket, result, error)
        except RuntimeError:  # "Signal source has been deleted": the app closed meanwhile, nobody waits
            pass


class BackgroundCall(QObject):
    """`call(fn, *args)` runs fn on a private pool thread; `finished(result)` or `failed(message)`
    arrive on the GUI thread, for the latest call only."""

    finished = Signal(object)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _Signals()
        self._signals.done.connect(self._on_done)
        self._ticket = 0
        self.pending = False

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        self._ticket += 1
        self.pending = True
        self._pool.start(_Task(self._ticket, fn, args, self._signals))

    def wait(self, msecs: int = 10_000) -> bool:
        return self._pool.waitForDone(msecs)

    @Slot(int, object, str)
    def _on_done(self, ticket: int, result: Any, error: str) -> None:
        if ticket != self._ticket:
            return
        self.pending = False
        if error:
            self.failed.emit(error)
        else:
            self.finished.emit(result)
