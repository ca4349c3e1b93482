"""Test setup shared by every test: headless Qt, the gpu marker, and a sandboxed home.

Before anything else is imported, HOME and the XDG folders (settings, data, caches) and the runs
folder point into one temporary folder for the whole session, so no test, and no subprocess a
test starts (they inherit the environment), can write the user's files. The real values are kept
in REAL_HOME for the test that checks a whole app session leaves the real home untouched.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

#: the environment variables that decide where per-user files go
HOME_VARS = ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "NETWRIGHT_RUNS_DIR")
#: their values before the session's sandbox (None: unset)
REAL_HOME = {name: os.environ.get(name) for name in HOME_VARS}
SANDBOX = Path(tempfile.mkdtemp(prefix="netwright-tests-home-"))
os.environ.update({
    "HOME": str(SANDBOX / "home"),
    "XDG_CONFIG_HOME": str(SANDBOX / "config"),
    "XDG_DATA_HOME": str(SANDBOX / "data"),
    "XDG_CACHE_HOME": str(SANDBOX / "cache"),
    "XDG_STATE_HOME": str(SANDBOX / "state"),
    "NETWRIGHT_RUNS_DIR": str(SANDBOX / "runs"),
})
for _name in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
    Path(os.environ[_name]).mkdir(parents=True, exist_ok=True)

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")
# tests never reach the network: pretrained sources read only local files and caches (engine/pretrained/offline.py)
os.environ["NETWRIGHT_OFFLINE"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"

import pytest


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(SANDBOX, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except Exception:  # pragma: no cover
        has_gpu = False
    if has_gpu:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _runs_dir(tmp_path, monkeypatch):
    """Every test gets its own runs directory, so nothing touches the user's."""
    monkeypatch.setenv("NETWRIGHT_RUNS_DIR", str(tmp_path / "runs"))
    yield tmp_path / "runs"


@pytest.fixture(autouse=True)
def _gui_thread_gc(request):
    """Qt tests collect garbage on the GUI thread only, as an open main window does (pages built
    on their own start pool threads too; see app.services.gui_thread_gc)."""
    if not {"qtbot", "qapp"} & set(request.fixturenames):
        yield
        return
    from app.services import gui_thread_gc

    token = gui_thread_gc.hold(request.getfixturevalue("qapp"))
    yield
    gui_thread_gc.release(token)
