"""PreviewLoader: runs `engine.data.preview` on a worker thread and reports back by signal.

Loading data can take well over 50 ms (scikit-learn import, reading a CSV or an image folder),
so the Data page never calls it on the GUI thread. Each request gets an id; only the answer to
the latest request is delivered, so fast edits never show a stale preview.
"""
from __future__ import annotations

import itertools
import traceback

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from engine.problems import Problem, SpecError


class _Relay(QObject):
    done = Signal(int, object, object)  # request id, preview or None, problems or None


class _Job(QRunnable):
    def __init__(self, request: int, data, seed: int, n: int, relay: _Relay):
        super().__init__()
        self.request, self.data, self.seed, self.n, self.relay = request, data, seed, n, relay
        self.setAutoDelete(True)

    def run(self) -> None:
        try:
            from engine.data.preview import preview

            result = preview(self.data, self.seed, self.n)
        except SpecError as err:
            self.relay.done.emit(self.request, None, list(err.problems))
        except Exception as err:  # a bug or an unexpected file: a message, never a crash
            detail = traceback.format_exception_only(type(err), err)[-1].strip()
            self.relay.done.emit(self.request, None, [Problem("data", f"could not be loaded: {detail}")])
        else:
            self.relay.done.emit(self.request, result, None)


class PreviewLoader(QObject):
    """`request(data, seed)` starts a load; emits `loaded(preview)` or `failed(problems)` for the
    latest request only. `busy` tells whether a request is outstanding."""

    loaded = Signal(object)
    failed = Signal(object)
    started = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._relay = _Relay(self)
        self._relay.done.connect(self._done)
        self._ids = itertools.count(1)
        self._latest = 0
        self.busy = False

    def request(self, data, seed: int, n: int = 16) -> int:
        self._latest = next(self._ids)
        self.busy = True
        self.started.emit()
        self._pool.start(_Job(self._latest, data, seed, n, self._relay))
        return self._latest

    def _done(self, request: int, result, problems) -> None:
        if request != self._latest:
            return
        self.busy = False
        if problems is not None:
            self.failed.emit(problems)
        else:
            self.loaded.emit(result)

    def wait(self, msecs: int = 30000) -> bool:
        """Block until running loads finish (used when closing)."""
        return self._pool.waitForDone(msecs)
