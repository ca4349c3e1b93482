"""The default runs directory: $NETWRIGHT_RUNS_DIR, else runs/ in the per-user data folder."""
from __future__ import annotations

import sys

import pytest

from engine.paths import RUNS_DIR_ENV, default_runs_dir, user_data_dir


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the XDG rule is the Linux one")
def test_default_is_the_per_user_data_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(RUNS_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert user_data_dir() == tmp_path / "xdg" / "netwright"
    assert default_runs_dir() == tmp_path / "xdg" / "netwright" / "runs"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_runs_dir() == tmp_path / "home" / ".local" / "share" / "netwright" / "runs"


def test_environment_variable_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path / "mine"))
    assert default_runs_dir() == tmp_path / "mine"
