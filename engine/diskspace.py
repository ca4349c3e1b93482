"""Running out of disk space: recognise it and say where and how much room a run needs."""
from __future__ import annotations

import errno
import math
from pathlib import Path

from engine.runs import RunDir

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(err: BaseException) -> bool:
    """True for "No space left on device" and "Disk quota exceeded"."""
    return isinstance(err, OSError) and err.errno in DISK_FULL


def folder_bytes(path: str | Path) -> int:
    """Total size of the files under `path` (0 when missing)."""
    total = 0
    for file in Path(path).rglob("*"):
        try:
            if file.is_file():
                total += file.stat().st_size
        except OSError:
            continue
    return total


def space_needed(run_dir: str | Path) -> int:
    """Bytes a run needs to go on: room for one more checkpoint (the size of its latest one)
    plus 1 MB for events, status and logs."""
    from engine.checkpoint import latest_checkpoint

    folder = latest_checkpoint(RunDir(Path(run_dir)).checkpoints)
    return (folder_bytes(folder) if folder is not None else 0) + 1_000_000


def disk_full_message(folder: str | Path, needed: int) -> str:
    """'no space left on FOLDER (about N MB needed) — what to do'."""
    mb = max(1, math.ceil(needed / 1_000_000))
    return (f"no space left on {folder} (about {mb} MB needed) — free some space there (or move the runs "
            "folder: --runs-dir / NETWRIGHT_RUNS_DIR), then resume the run")
