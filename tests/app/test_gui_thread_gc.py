"""While a main window is open, garbage cycles holding Qt objects are collected on the GUI thread,
never on a pool thread (where the Qt destructor and the GIL deadlocked the window in CI)."""
from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QObject

from app.services import gui_thread_gc


class _Holder:
    pass


def _qt_object_in_a_cycle(record: list[str]) -> None:
    """A QObject reachable only through a reference cycle; its destruction records the thread."""
    holder = _Holder()
    obj = QObject()
    obj.destroyed.connect(lambda *_: record.append(threading.current_thread().name))
    holder.obj, holder.me = obj, holder


def _allocate_in_a_thread(keep: list) -> None:
    """Allocate well past the collector's threshold on another thread, as a pool thread does
    (into `keep`, and far past it: the count is allocations minus deallocations, and the GUI
    freeing a closed window's objects takes it down again)."""
    def churn() -> None:
        for _ in range(50 * gc.get_threshold()[0]):
            keep.append([])

    thread = threading.Thread(target=churn, name="pool-like")
    thread.start()
    thread.join()


def test_an_open_window_keeps_collection_on_the_gui_thread(qtbot, main_window):
    assert gui_thread_gc.holding() and not gc.isenabled()
    record: list[str] = []
    _qt_object_in_a_cycle(record)
    kept: list = []
    _allocate_in_a_thread(kept)
    assert record == []  # the other thread did not collect it ...
    qtbot.waitUntil(lambda: bool(record), timeout=5_000)  # ... the GUI thread's timer did
    assert record == [threading.main_thread().name]


def test_closing_a_window_ends_its_hold(qtbot, main_window):
    token = main_window._gc_hold
    assert token in gui_thread_gc._holders
    main_window.close()
    assert token not in gui_thread_gc._holders


def test_the_last_release_restores_automatic_collection(qtbot, monkeypatch):
    monkeypatch.setattr(gui_thread_gc, "_holders", set())  # this test's holds only (Qt tests hold one)
    monkeypatch.setattr(gui_thread_gc, "_state", {})
    gc.enable()
    try:
        first_window, second_window = QObject(), QObject()
        first, _ = gui_thread_gc.hold(first_window), gui_thread_gc.hold(second_window)
        assert not gc.isenabled()
        gui_thread_gc.release(first)
        assert gui_thread_gc.holding() and not gc.isenabled()
        record: list[str] = []
        _qt_object_in_a_cycle(record)
        del second_window  # destroyed: its hold ends with it, the last one
        assert not gui_thread_gc.holding() and gc.isenabled()
        assert record == [threading.main_thread().name]  # the closing collection took it, on the GUI thread
    finally:
        gc.disable()  # as the autouse fixture's hold left it


def test_collect_due_follows_the_collectors_thresholds(qtbot, main_window):
    gc.collect()
    assert gui_thread_gc.collect_due() == 0  # nothing allocated since: nothing due
    record: list[str] = []
    _qt_object_in_a_cycle(record)
    kept: list = []
    _allocate_in_a_thread(kept)
    assert gui_thread_gc.collect_due() >= 2 and record == [threading.main_thread().name]
