"""What the code reads at run time ships inside the packages, so a built wheel carries it."""
from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from engine.paths import CORPUS, EXAMPLES, package_dir

ROOT = Path(__file__).resolve().parent.parent


def _package_data() -> dict[str, list[str]]:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["tool"]["setuptools"]["package-data"]


def test_resources_are_read_from_inside_the_packages():
    assert EXAMPLES.is_relative_to(ROOT / "engine") and CORPUS.is_relative_to(ROOT / "engine")
    assert sorted(p.stem for p in EXAMPLES.glob("*.toml"))
    assert list(CORPUS.glob("*.txt"))
    from app.resources import ICONS, STYLES

    assert (STYLES / "app.qss").is_file() and (ICONS / "app.svg").is_file()
    assert not (ROOT / "resources").exists(), "run-time files belong in engine/resources or app/resources"


def test_package_data_globs_cover_every_resource_file():
    """A file added to a resources folder but not matched here would be missing from the wheel."""
    data = _package_data()
    for package, globs in data.items():
        folder = package_dir(package)
        files = [p.relative_to(folder).as_posix() for p in folder.rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".py"]
        assert files, package
        missed = [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)]
        assert not missed, f"{package}: {missed} would not be in the wheel; add them to package-data"


def test_one_console_script_and_no_bare_top_level_module():
    """`netwright` is the only script; main.py (a checkout shim) is not installed as a module."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        config = tomllib.load(fh)
    assert config["project"]["scripts"] == {"netwright": "netwright:main"}
    setuptools = config["tool"]["setuptools"]
    assert "py-modules" not in setuptools
    assert set(setuptools["packages"]["find"]["include"]) == {"netwright*", "engine*", "app*"}
    shim = (ROOT / "main.py").read_text(encoding="utf-8")
    assert "from netwright import main" in shim and len([l for l in shim.splitlines() if l.strip()]) <= 4
