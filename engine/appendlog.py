"""Append-only line files (events.jsonl, log.txt) that survive a crash mid-write.

A process killed while appending leaves a last line without its newline. Whoever opens the
file for appending next cuts that partial line off first (:func:`open_append`), so its own
first line is never glued onto the dead writer's half line. Readers only ever take complete
lines (:class:`LineTail`) and count the complete lines they could not use.
"""
from __future__ import annotations

import os
from pathlib import Path

def repair_tail(fd: int) -> int:
    """Truncate a partial last line (no trailing newline) of the file open as `fd`.
    Returns the number of bytes removed (0 when the file ends with a newline or is empty)."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return 0
    chunk = 1 << 16
    end = size
    while end > 0:
        start = max(0, end - chunk)
        data = os.pread(fd, end - start, start)
        cut = data.rfind(b"\n")
        if cut >= 0:
            keep = start + cut + 1
            os.ftruncate(fd, keep)
            return size - keep
        end = start
    os.ftruncate(fd, 0)
    return size


def open_append(path: str | Path) -> int:
    """An O_APPEND file descriptor for `path` (created if missing) whose file ends on a complete
    line: a partial last line left by a crashed writer is removed first."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        repair_tail(fd)
    except OSError:
        os.close(fd)
        raise
    return fd


def write_all(fd: int, data: bytes, *, fault: str | None = None) -> None:
    """Write every byte of `data` to `fd` (os.write may write less than asked). `fault`: an
    engine.faults point armed by the fault suite, which fires after half of `data` is written."""
    if fault is not None:
        _half_then_fault(fd, data, fault)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _half_then_fault(fd: int, data: bytes, point: str) -> None:
    from engine import faults

    if faults._faults == [] or not faults.enabled(point):
        return
    armed = faults.armed(point)
    if armed is not None:
        os.write(fd, data[: max(1, len(data) // 2)])
        faults.fire(armed)


def append_text(path: str | Path, text: str) -> None:
    """Append `text` to a line file (a line ending is added), repairing a partial last line first."""
    path = Path(path)
    fd = open_append(path)
    try:
        write_all(fd, (text if text.endswith("\n") else text + "\n").encode("utf-8"))
    finally:
        os.close(fd)


class LineTail:
    """Incremental reader of a line file: :meth:`read` returns the complete lines added since the
    last call (a partial last line waits for its newline). `skipped` counts complete lines a
    caller rejected through :meth:`skip`."""

    def __init__(self, path: str | Path, offset: int = 0, *, chunk: int | None = None):
        self.path = Path(path)
        self.offset = offset
        self.chunk = chunk
        self.skipped = 0

    def read(self) -> list[bytes]:
        try:
            with open(self.path, "rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                if size < self.offset:  # truncated behind us (a partial line was repaired)
                    self.offset = size
                fh.seek(self.offset)
                data = fh.read() if self.chunk is None else fh.read(self.chunk)
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        return [line for line in data[: end + 1].split(b"\n")[:-1] if line.strip()]

    def skip(self, count: int = 1) -> None:
        self.skipped += count
