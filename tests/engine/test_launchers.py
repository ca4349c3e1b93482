"""The launcher registry and the [launcher] section of the spec (no cluster needed)."""
from __future__ import annotations

import pytest

from engine.launchers import LAUNCHERS, JobState, Launcher, launcher_of, register
from engine.registry import Param
from engine.spec import ExperimentSpec, apply_overrides
from engine.validation import validate

BASE = """
name = "l"
[data]
source = "random"
[model]
layers = [{type = "Linear", out_features = 2}]
"""


def _problems(spec, prefix="launcher"):
    return [p for p in validate(spec) if p.path.startswith(prefix)]


def test_default_is_local_and_not_written():
    spec = ExperimentSpec.from_toml(BASE)
    assert spec.launcher.kind == "local"
    assert "[launcher]" not in spec.to_toml()  # files from before launchers stay as they were
    assert not launcher_of(spec).scheduled
    assert "engine worker /runs/x" in launcher_of(spec).script("/runs/x", spec)


def test_local_slurm_ray_registered_in_order():
    assert LAUNCHERS.names()[:1] == ["local"]
    assert LAUNCHERS.get("local").extra["label"] == "This machine"


def test_kind_and_options_round_trip():
    class Toy(Launcher):
        name, label, description = "toy", "Toy", "a test launcher"
        params = (Param("queue", "str", "default", "queue name"), Param("nodes_max", "int", 4, "cap", min=1))

    register(Toy)
    try:
        spec = ExperimentSpec.from_toml(BASE + '\n[launcher]\nkind = "toy"\nqueue = "fast"\n')
        assert spec.launcher.options == {"queue": "fast"}
        again = ExperimentSpec.from_toml(spec.to_toml())
        assert again.launcher == spec.launcher
        assert launcher_of(spec).queue == "fast" and launcher_of(spec).nodes_max == 4
        assert _problems(spec) == []
        # --set is typed by the kind's schema
        spec = apply_overrides(spec, ["launcher.nodes_max=2", "launcher.queue=7"])
        assert spec.launcher.options == {"queue": "7", "nodes_max": 2}
        bad = apply_overrides(spec, ["launcher.nodes_max=0", "launcher.qeue=x"])
        found = {p.path: p.message for p in _problems(bad)}
        assert "at least 1" in found["launcher.nodes_max"]
        assert "did you mean 'queue'" in found["launcher.qeue"]
    finally:
        LAUNCHERS.remove("toy")


def test_unknown_kind_is_named_with_a_suggestion():
    spec = ExperimentSpec.from_toml(BASE + '\n[launcher]\nkind = "slrum"\n')
    (problem,) = _problems(spec)
    assert problem.path == "launcher.kind" and "local" in problem.message


def test_job_state_describe():
    assert JobState("7", "PENDING", reason="Resources").describe() == "job 7 PENDING (Resources)"
    assert JobState("7", "RUNNING", nodes="n1").describe() == "job 7 RUNNING on n1"
    assert JobState("7", "FAILED", exit_code="3", message="x").describe() == "job 7 FAILED (exit 3): x"
    assert JobState("7", "TIMEOUT").final and not JobState("7", "PENDING").final
