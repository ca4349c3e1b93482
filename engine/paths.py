"""Where things live on disk: the default runs directory and the bundled resources."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Example:
    """A shipped example spec: its name (the file's stem), the first comment line, the file."""

    name: str
    description: str
    path: Path


def examples() -> list[Example]:
    """Every example spec in engine/resources/examples, by name."""
    out = []
    for path in sorted(EXAMPLES.glob("*.toml")):
        first = path.read_text(encoding="utf-8").lstrip().splitlines()[:1]
        description = first[0].lstrip("#").strip() if first and first[0].startswith("#") else ""
        out.append(Example(path.stem, description, path))
    return out


def spec_argument(arg: str | Path) -> Path:
    """A SPEC given on the command line: an existing file (or folder) wins; else a bare example
    name (`digits_mlp` or `digits_mlp.toml`) is that example; else the path as given."""
    path = Path(arg).expanduser()
    if path.exists():
        return path
    text = str(arg)
    if path.name == text:  # no folder part: may be an example name
        stem = text[:-5] if text.endswith(".toml") else text
        example = EXAMPLES / f"{stem}.toml"
        if example.is_file():
            return example
    return path


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
