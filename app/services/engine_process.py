"""A QProcess for `python -m engine ...` (or another engine module) from this checkout: the project
root first on PYTHONPATH and as the working directory, the rest of the environment inherited."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def engine_process(parent: QObject) -> QProcess:
    """A new, unstarted QProcess owned by `parent` that imports this checkout's engine."""
    proc = QProcess(parent)
    env = QProcessEnvironment.systemEnvironment()
    paths = [str(PROJECT_ROOT)] + ([env.value("PYTHONPATH")] if env.contains("PYTHONPATH") else [])
    env.insert("PYTHONPATH", os.pathsep.join(paths))
    proc.setProcessEnvironment(env)
    proc.setWorkingDirectory(str(PROJECT_ROOT))
    return proc
