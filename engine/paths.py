"""Where things live on disk: the default runs directory and the bundled resources."""
from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path


def package_dir(package: str) -> Path:
    """The folder of an installed package's data files (`importlib.resources`), as a real path.

    Netwright is installed as plain files (a checkout, an editable install or an unpacked wheel), so the
    package's files are a folder on disk; a zipped install would need extraction and is refused."""
    root = resources.files(package)
    if not isinstance(root, Path):
        raise RuntimeError(f"{package} is not installed as files on disk ({root!r}); "
                           "reinstall Netwright with pip (not from a zip archive)")
    return root


#: example specs and the built-in text corpus, shipped inside the engine package
RESOURCES = package_dir("engine.resources")
EXAMPLES = RESOURCES / "examples"
CORPUS = RESOURCES / "corpus"
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
