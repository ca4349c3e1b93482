"""Folders the user chose (runs folder, explain output): create them or say exactly what is wrong."""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from engine.problems import Problem, SpecError


def _file_above(path: Path) -> Path | None:
    """The nearest existing ancestor of `path` that is a file, not a folder (None if none)."""
    for parent in path.parents:
        if parent.exists():
            return parent if not parent.is_dir() else None
    return None


def folder_problem(path: Path, what: str, hint: str, err: OSError | None = None) -> Problem:
    """A Problem naming `path` (`what`: e.g. "runs folder") and what is wrong with it."""
    if path.exists() and not path.is_dir():
        return Problem(str(path), f"the {what} is a file, not a folder — {hint}")
    above = _file_above(path)
    if above is not None:
        return Problem(str(path), f"the {what} is under {above}, which is a file, not a folder — {hint}")
    if err is not None and err.errno in (errno.ENOSPC, errno.EDQUOT):
        return Problem(str(path), f"no space left for the {what} — free some space or {hint}")
    if err is not None and err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return Problem(str(path), f"the {what} is not writable ({err.strerror}) — {hint}")
    reason = err.strerror if err is not None and err.strerror else (str(err) if err else "cannot be used")
    return Problem(str(path), f"the {what} cannot be created or written ({reason}) — {hint}")


def ensure_folder(path: str | Path, what: str, hint: str) -> Path:
    """Create `path` (and parents) if needed and check it is a writable folder; SpecError naming
    the folder and what to do otherwise."""
    path = Path(path).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SpecError([folder_problem(path, what, hint, err)]) from None
    if not path.is_dir():
        raise SpecError([folder_problem(path, what, hint)])
    if not os.access(path, os.W_OK | os.X_OK):
        try:  # the real reason (read-only file system, permissions)
            tempfile.TemporaryFile(dir=path).close()
        except OSError as err:
            raise SpecError([folder_problem(path, what, hint, err)]) from None
    return path


RUNS_HINT = "choose another runs folder (--runs-dir DIR, or the NETWRIGHT_RUNS_DIR environment variable)"
