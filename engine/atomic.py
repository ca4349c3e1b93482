"""Atomic file writes: temp file in the same folder, fsync, os.replace."""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes, *, in_place_if_full: bool = False) -> None:
    """Write `data` to `path` so that readers see either the old or the new file, never a part.

    `in_place_if_full`: when the disk is full (no room for the temp file), overwrite the
    existing file in place instead (for small files that must record the failure: status.json)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        _atomic(path, data)
    except OSError as err:
        if not (in_place_if_full and err.errno in (errno.ENOSPC, errno.EDQUOT) and path.is_file()):
            raise
        with open(path, "r+b") as fh:  # reuses the file's blocks: no new space needed for a small file
            fh.write(data)
            fh.truncate(len(data))
            fh.flush()
            os.fsync(fh.fileno())


def _atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: Path, text: str, *, in_place_if_full: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), in_place_if_full=in_place_if_full)
