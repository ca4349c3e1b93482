"""The explain worker's request handling (in-process) and the process itself (slow)."""
from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

from engine.interpret import methods as methods_module
from engine.interpret.loading import load_trained
from engine.interpret.protocol import dumps, loads, param_from_dict, param_to_dict
from engine.interpret.server import Session, answer, info, serve
from tests.engine.interpret_runs import make_run


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("server_runs"), "wine_mlp", steps=30)
    return Session(load_trained(run), io.BytesIO())


def test_protocol_round_trip_keeps_arrays_exact():
    msg = {"id": 3, "a": np.arange(6, dtype=np.float32).reshape(2, 3), "nested": [{"b": np.int64(4)}], "s": "x"}
    back = loads(dumps(msg))
    np.testing.assert_array_equal(back["a"], msg["a"])
    assert back["a"].dtype == np.float32 and back["nested"][0]["b"] == 4 and back["s"] == "x"
    from engine.interpret.methods import METHODS
    for p in METHODS.get("Occlusion").params:
        assert param_from_dict(param_to_dict(p)) == p


def test_info_lists_methods_with_schemas(session):
    data = info(session)
    assert data["kind"] == "tabular" and data["feature_names"][0] == "alcohol"
    names = [m["name"] for m in data["methods"]]
    assert "LayerGradCam" not in names and "IntegratedGradients" in names
    assert data["splits"]["val"] == len(session.trained.data.x_val)


def test_explain_reply_equals_explain_sample(session):
    from engine.interpret.core import explain_sample

    reply = answer(session, 5, "explain", {"index": 2, "method": "IntegratedGradients", "params": {"steps": 16}})
    assert reply["ok"] and reply["id"] == 5
    x, y = session.trained.split("val")
    direct = explain_sample(session.ctx, x[2], "IntegratedGradients", {"steps": 16}, true_label=int(y[2]))
    np.testing.assert_array_equal(reply["result"]["values"], direct.values)
    progress = [loads(line) for line in session.out.getvalue().splitlines()]
    assert progress and all(m["id"] == 0 or "progress" in m for m in progress)


def test_failures_are_replies_and_the_worker_keeps_serving(session, monkeypatch):
    bad = answer(session, 1, "explain", {"index": 9999, "method": "Saliency"})
    assert not bad["ok"] and bad["problems"][0]["path"] == "index"
    assert answer(session, 2, "frobnicate", {})["error"].startswith("unknown request")

    def boom(ctx, x, target, params):
        raise RuntimeError("captum exploded")

    entry = methods_module.METHODS.get("Saliency")
    monkeypatch.setitem(methods_module.METHODS._entries, "Saliency", type(entry)(**{**entry.__dict__, "obj": boom}))
    crashed = answer(session, 3, "explain", {"index": 0, "method": "Saliency"})
    assert crashed == {"id": 3, "ok": False, "error": "RuntimeError: captum exploded"}
    assert answer(session, 4, "explain", {"index": 0, "method": "InputXGradient"})["ok"]


def test_serve_reads_lines_until_quit(session):
    session.out = io.BytesIO()
    stream = io.BytesIO(dumps({"id": 7, "op": "ping"}) + b"not json\n" + dumps({"id": 8, "op": "quit"})
                        + dumps({"id": 9, "op": "ping"}))
    serve(session, stream)
    replies = [loads(line) for line in session.out.getvalue().splitlines()]
    assert [r["id"] for r in replies] == [7, -1]
    assert "unreadable request" in replies[1]["error"]


@pytest.mark.slow
def test_worker_process_reports_a_missing_checkpoint(tmp_path):
    from engine.paths import EXAMPLES
    from engine.runs import RunDir
    from engine.spec import load_spec

    run = RunDir.create(tmp_path, load_spec(EXAMPLES / "wine_mlp.toml"))
    proc = subprocess.run([sys.executable, "-m", "engine.interpret.server", str(run.path)], capture_output=True,
                          timeout=120, input=b"")
    assert proc.returncode == 2
    first = loads(proc.stdout.splitlines()[0])
    assert not first["ok"] and "no complete checkpoint" in first["problems"][0]["message"]
