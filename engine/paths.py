"""Where things live on disk: the default runs directory and the bundled resources."""
from __future__ import annotations

import os
import sys
from pathlib import Path

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
EXAMPLES = RESOURCES / "examples"
RUNS_DIR_ENV = "NETWRIGHT_RUNS_DIR"


def user_data_dir() -> Path:
    """The per-user data folder (XDG on Linux, Application Support on macOS, APPDATA on Windows)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "netwright"


def default_runs_dir() -> Path:
    """$NETWRIGHT_RUNS_DIR if set, else the runs/ folder in the per-user data folder."""
    env = os.environ.get(RUNS_DIR_ENV)
    return Path(env).expanduser() if env else user_data_dir() / "runs"
