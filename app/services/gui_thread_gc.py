"""Python's cyclic garbage collector, run on the GUI thread only while a window is open.

A collection runs in whichever thread happens to allocate past the collector's threshold. When a
pool thread (an event tailer's poll, a background call) collects a cycle holding a Qt object, the
object's C++ destructor runs on that thread: it takes Qt's signal-slot lock, then waits for the
GIL, while the GUI thread holds the GIL and waits for that same lock. Both wait forever (seen in
CI: `QObject::~QObject` in both threads, the window frozen, pytest's timeout unable to fire).

So while a holder (a main window) is open, automatic collection is off and a timer on the GUI
thread collects instead, by the collector's own thresholds (the recipe PyQt's authors give for
the same problem). When the last holder closes, automatic collection is restored, after one full
collection on the GUI thread.
"""
from __future__ import annotations

import gc
import itertools

from PySide6.QtCore import QCoreApplication, QObject, QTimer

#: how often the GUI thread checks whether a collection is due
CHECK_MS = 250

_holders: set[int] = set()  # the tokens of the holds in force
_tokens = itertools.count(1)
_state: dict[str, object] = {}  # "timer": the QTimer; "was_enabled": gc's state before the first hold


def collect_due() -> int:
    """Collect the generations whose allocation counts passed their thresholds (GUI thread);
    returns the number of unreachable objects found."""
    t0, t1, t2 = gc.get_threshold()
    c0, c1, c2 = gc.get_count()
    if c0 <= t0:
        return 0
    generation = 2 if c2 > t2 else 1 if c1 > t1 else 0
    return gc.collect(generation)


def hold(owner: QObject) -> int:
    """Collect on the GUI thread only, until the returned token is released or `owner` is
    destroyed. (A token, not the owner's id: a new window may reuse a closed one's address.)"""
    if not _holders:
        app = QCoreApplication.instance()
        timer = QTimer(app)
        timer.setInterval(CHECK_MS)
        timer.timeout.connect(collect_due)
        timer.start()
        _state.update(timer=timer, was_enabled=gc.isenabled())
        gc.disable()
    token = next(_tokens)
    _holders.add(token)
    owner.destroyed.connect(lambda *_: release(token))
    return token


def release(token: int) -> None:
    """End one hold (idempotent); the last one restores automatic collection."""
    if token not in _holders:
        return
    _holders.discard(token)
    if _holders:
        return
    timer = _state.pop("timer", None)
    if isinstance(timer, QTimer):
        try:
            timer.stop()
            timer.deleteLater()
        except RuntimeError:  # the application (the timer's parent) is already gone: so is the timer
            pass
    if _state.pop("was_enabled", True):
        gc.enable()
    gc.collect()


def holding() -> bool:
    """Whether collection is currently kept on the GUI thread."""
    return bool(_holders)
