"""A whole app session under test (window open, an edit, a saved file in Open Recent, close) writes
its settings into the session's sandboxed home (tests/conftest.py), never the real one."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import REAL_HOME, SANDBOX

ROOT = Path(__file__).resolve().parent.parent


def _real_netwright_folders() -> list[Path]:
    home = Path(REAL_HOME["HOME"] or Path.home())
    config = Path(REAL_HOME["XDG_CONFIG_HOME"] or home / ".config")
    data = Path(REAL_HOME["XDG_DATA_HOME"] or home / ".local" / "share")
    cache = Path(REAL_HOME["XDG_CACHE_HOME"] or home / ".cache")
    folders = [config / "Netwright", data / "netwright", cache / "netwright"]
    if REAL_HOME["NETWRIGHT_RUNS_DIR"]:
        folders.append(Path(REAL_HOME["NETWRIGHT_RUNS_DIR"]))
    return folders


def _snapshot(folders: list[Path]) -> dict[str, tuple]:
    """Every file under the folders with its size and modification time (absent folders: none)."""
    out: dict[str, tuple] = {}
    for folder in folders:
        out[str(folder)] = (folder.exists(),)
        for dirpath, _dirs, files in os.walk(folder):
            for name in files:
                path = Path(dirpath, name)
                try:
                    stat = path.stat()
                except OSError:
                    continue
                out[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return out


def test_the_session_home_is_a_sandbox():
    assert Path(os.environ["HOME"]).is_relative_to(SANDBOX)
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "NETWRIGHT_RUNS_DIR"):
        assert Path(os.environ[name]).is_relative_to(SANDBOX) or name == "NETWRIGHT_RUNS_DIR", name
    assert Path.home().is_relative_to(SANDBOX)


def test_a_full_app_session_leaves_the_real_home_untouched(tmp_path):
    script = textwrap.dedent(f"""
        import dataclasses, sys
        from pathlib import Path
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from app.main_window import MainWindow
        window = MainWindow()
        window.show()
        for _ in range(20):
            app.processEvents()
        spec = window.document.spec
        window.document.edit(dataclasses.replace(spec, name="edited_in_session"), "rename")
        assert window._save_to(Path({str(tmp_path / "session.toml")!r}))
        assert window.recent_files()[0].name == "session.toml"
        window.close()
        window.settings.sync()
        print("SETTINGS", window.settings.fileName())
    """)
    before = _snapshot(_real_netwright_folders())
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=180, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr[-3000:]
    settings = Path(done.stdout.split("SETTINGS", 1)[1].strip())
    assert settings.is_relative_to(SANDBOX), settings
    text = settings.read_text(encoding="utf-8")
    assert "session.toml" in text and "geometry" in text  # the session did write its settings...
    assert _snapshot(_real_netwright_folders()) == before  # ...and not into the real home
