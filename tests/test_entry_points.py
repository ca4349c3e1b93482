"""The `netwright` console script is `python main.py` (main.py itself is not installed), and `python main.py SPEC.toml` opens the GUI
on that file (without importing torch before the first paint)."""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "engine" / "resources" / "examples" / "wine_mlp.toml"


def test_console_script_runs_what_main_py_runs(capsys):
    with open(ROOT / "pyproject.toml", "rb") as fh:
        scripts = tomllib.load(fh)["project"]["scripts"]
    assert scripts == {"netwright": "netwright:main"}
    module, _, attr = scripts["netwright"].partition(":")
    entry = getattr(importlib.import_module(module), attr)
    # a console script calls the entry with no arguments and exits with what it returns
    old_argv = sys.argv
    sys.argv = ["netwright", "validate", str(EXAMPLE)]
    try:
        code = entry()
    finally:
        sys.argv = old_argv
    assert code == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["valid"] is True


def test_main_py_with_a_spec_file_opens_it_in_the_gui(tmp_path):
    """`python main.py SPEC.toml` routes to the GUI (not the CLI) and the window holds that spec."""
    code = textwrap.dedent(f"""
        import sys
        sys.argv = [{str(ROOT / "main.py")!r}, {str(EXAMPLE)!r}]
        sys.path.insert(0, {str(ROOT)!r})
        import main
        code = main.main()
        from PySide6.QtWidgets import QApplication
        windows = [w for w in QApplication.topLevelWidgets() if type(w).__name__ == "MainWindow"]
        print("RESULT", code, len(windows), windows[0].document.spec.name, windows[0].document.path.name)
    """)
    env = dict(os.environ, NETWRIGHT_STARTUP_PROBE="1", QT_QPA_PLATFORM="offscreen",
               NETWRIGHT_RUNS_DIR=str(tmp_path / "runs"))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    probe = json.loads(next(line for line in lines if line.startswith("{")))
    assert probe["torch_loaded"] is False
    assert lines[-1].split() == ["RESULT", "0", "1", "wine_mlp", "wine_mlp.toml"]


def test_requires_python_covers_the_standard_library_the_code_uses():
    """tomllib (engine/spec.py reads every spec with it) is in the standard library from 3.11."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        spec = tomllib.load(fh)["project"]["requires-python"]
    assert spec.startswith(">="), spec
    minimum = tuple(int(part) for part in spec[2:].split(",")[0].strip().split("."))
    sources = [*(ROOT / "engine").rglob("*.py"), *(ROOT / "app").rglob("*.py"), ROOT / "main.py"]
    users = [p.relative_to(ROOT).as_posix() for p in sources
             if "import tomllib" in p.read_text(encoding="utf-8")]
    if users:
        assert minimum >= (3, 11), f"{', '.join(users)} import tomllib (Python 3.11+) but requires-python is {spec}"
