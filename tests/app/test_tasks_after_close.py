"""A background call that finishes after its owner was deleted (the app quit meanwhile, e.g. the
startup probe quitting at the first paint while a validation still runs) ends silently."""
from __future__ import annotations

import shiboken6

from app.services.tasks import BackgroundCall, _Signals, _Task


def test_a_result_for_a_deleted_receiver_is_dropped_quietly(qapp):
    signals = _Signals()
    task = _Task(1, lambda: 42, (), signals)
    shiboken6.delete(signals)
    task.run()  # raised "RuntimeError: Signal source has been deleted" before


def test_a_live_call_still_delivers(qtbot):
    call = BackgroundCall()
    with qtbot.waitSignal(call.finished, timeout=10_000) as blocker:
        call.call(lambda x: x * 2, 21)
    assert blocker.args == [42]
