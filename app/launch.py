"""Start the desktop app: `run_app(argv)` is what `python main.py [SPEC.toml]` calls.

Nothing heavy (torch) is imported before the window is first painted; the remaining pages
are built right after that paint, one per event-loop turn, so the window stays responsive.

Set NETWRIGHT_STARTUP_PROBE=1 to make the app print one JSON line at its first paint
(`{"paint_time": <time.time()>, "torch_loaded": <bool>, "gil_switch_interval": <s>}`) and quit — benchmarks/startup.py
and the startup test use it.
"""
from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QWidget

PROBE_ENV = "NETWRIGHT_STARTUP_PROBE"
EXIT_INTERRUPTED = 130  #: the app was closed by Ctrl-C in its terminal (128 + SIGINT)
#: how long a thread may hold the GIL before another waiting thread gets it (Python's default is
#: 5 ms). Every Python callback in a paint (event filters, pyqtgraph items) must take the GIL back
#: from a busy background thread (imports, the Train plan), so with the default one repaint of a
#: page can wait 100-300 ms; at 1 ms each wait is shorter (benchmarks/startup_latency.py: the worst
#: startup stall, median over runs, went from ~165 ms to ~125 ms on a loaded 2-core box).
GIL_SWITCH_INTERVAL_S = 0.001


def tune_gil() -> None:
    """Make background threads hand the GIL back to the GUI thread sooner."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


class FirstPaint(QObject):
    """Calls `callback()` once, on the next event-loop turn after `widget`'s first paint."""

    def __init__(self, widget: QWidget, callback):
        super().__init__(widget)
        self._callback = callback
        self._done = False
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if not self._done and event.type() == QEvent.Type.Paint:
            self._done = True
            watched.removeEventFilter(self)
            QTimer.singleShot(0, self._callback)
        return False


def _print_probe(app: QApplication) -> None:
    print(json.dumps({"paint_time": time.time(), "torch_loaded": "torch" in sys.modules,
                      "gil_switch_interval": sys.getswitchinterval()}), flush=True)
    app.quit()


def _import_in_background(modules: Sequence[str]) -> threading.Event:
    """Import `modules` on a thread (page modules pull in pyqtgraph, numpy, ...); the returned
    event is set when done. A module that fails is left for the GUI thread to report."""
    done = threading.Event()

    def load() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # the page factory imports it again and shows the error
                pass
        done.set()

    threading.Thread(target=load, name="netwright-page-import", daemon=True).start()
    return done


def _warm_up(window) -> None:
    """After the first paint: import the data engine and the page modules on threads, then
    build the other pages one per event-loop turn, so the window never waits on an import."""
    window.document.load_data_engine_in_background()
    imported = _import_in_background(window.page_modules())
    pending = [key for key in window.page_keys() if key != window.current_page_key()]

    def step() -> None:
        if not window.isVisible():  # closed (Ctrl-C, the close button) while warming up: build nothing more
            return
        if window.document.data_pending() or not imported.is_set():
            QTimer.singleShot(50, step)
        elif pending:
            window.page(pending.pop(0))
            QTimer.singleShot(0, step)

    QTimer.singleShot(0, step)


class CtrlC(QObject):
    """Ctrl-C in the terminal closes the window as its close button does (asking about unsaved
    changes); a second Ctrl-C quits at once. Qt's event loop runs no Python while idle, so a
    timer lets the interpreter look at pending signals a few times a second."""

    WAKE_MS = 250

    def __init__(self, app: QApplication, window: QWidget):
        super().__init__(app)
        self.count = 0
        self._app, self._window = app, window
        self._timer = QTimer(self)
        self._timer.timeout.connect(lambda: None)
        self._timer.start(self.WAKE_MS)
        signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, _signum, _frame) -> None:
        self.count += 1
        if self.count == 1:
            self._window.close()
        else:
            self._app.quit()


def run_app(argv: Sequence[str]) -> int:
    """Create the QApplication, open the window (with SPEC.toml if given) and run the event loop."""
    from app.main_window import APP_NAME, MainWindow
    from app.widgets.theme import apply_theme, icon

    tune_gil()
    args = list(argv)
    spec_path = Path(args[0]) if args else None
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else APP_NAME])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    apply_theme(app)
    app.setWindowIcon(icon("app", "#3b82f6", 64))
    window = MainWindow(spec_path=spec_path, background_data_import=True)
    probe = os.environ.get(PROBE_ENV) == "1"
    FirstPaint(window, (lambda: _print_probe(app)) if probe else (lambda: _warm_up(window)))
    window.show()
    ctrl_c = CtrlC(app, window) if threading.current_thread() is threading.main_thread() else None
    code = app.exec()
    return EXIT_INTERRUPTED if ctrl_c is not None and ctrl_c.count else code
