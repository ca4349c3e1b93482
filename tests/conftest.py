"""Test setup shared by every test: headless Qt, the gpu marker, a temporary runs directory."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest


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
