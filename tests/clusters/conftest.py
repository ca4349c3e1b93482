"""Fixtures for tests against real cluster software started on this machine."""
from __future__ import annotations

import os

import pytest

from tests.clusters.slurm_cluster import PACKAGES, missing_binaries, start_cluster


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A one-node Slurm cluster (localhost, 2 CPUs) for the session's cluster tests (started by the first); SLURM_CONF points the
    client commands (sbatch, squeue, ...) at it while they run. Skipped when Slurm is not installed."""
    missing = missing_binaries()
    if missing:
        pytest.skip(f"Slurm is not installed (missing {', '.join(missing)}): {PACKAGES}")
    if os.geteuid() != 0:
        pytest.skip("the test Slurm cluster runs its daemons as root")
    cluster = start_cluster(tmp_path_factory.mktemp("slurm"))
    before = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        yield cluster
    finally:
        cluster.stop()
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before


def pytest_collection_modifyitems(items):
    """Under pytest-xdist (`-n 2 --dist loadgroup`, README's test command) every cluster test runs
    in one worker, so one Slurm cluster and one Ray head run at a time on the machine."""
    for item in items:
        if item.nodeid.startswith("tests/clusters/"):
            item.add_marker(pytest.mark.xdist_group("clusters"))
