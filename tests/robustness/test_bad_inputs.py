"""Every bad input of the corpus (tests/robustness/corpus.py) gets a named message on stderr,
the documented exit code and no traceback — run in-process through `engine.cli.main`; a few
through a real subprocess (the installed entry point)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from tests.robustness.corpus import CASES, GOOD, Case

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One small completed run (copied for every case that damages it)."""
    import contextlib
    import io

    root = tmp_path_factory.mktemp("trained")
    spec = root / "good.toml"
    spec.write_text(GOOD)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["train", str(spec), "--runs-dir", str(root / "runs"), "--quiet",
                     "--set", "training.checkpoint_every=1"]) == 0
    return next((root / "runs").iterdir())


def _prepare(case: Case, ws: Path, trained: Path, monkeypatch) -> list[str]:
    (ws / "good.toml").write_text(GOOD)
    if case.needs_run or "{ws}/run" in " ".join(case.argv):
        shutil.copytree(trained, ws / "run")
    if case.setup is not None:
        case.setup(ws)
    for key, value in case.env:
        monkeypatch.setenv(key, value.format(ws=ws))
    return [a.format(ws=ws, good=ws / "good.toml", run=ws / "run") for a in case.argv]


def test_the_corpus_is_big_enough():
    assert len(CASES) >= 150, len(CASES)
    assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_named(case: Case, tmp_path, trained, monkeypatch, capsys):
    argv = _prepare(case, tmp_path, trained, monkeypatch)
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err + out, f"{argv}\n{err}"
    assert code == case.code, f"exit {code}, expected {case.code}: {argv}\nstderr: {err}\nstdout: {out[-500:]}"
    for name in case.names:
        assert name.format(ws=tmp_path) in err, f"stderr does not name {name!r}: {argv}\n{err}"
    assert not (tmp_path / "PWNED").exists(), "a pickled object in state.pt was executed"


SUBPROCESS_CASES = ["runs-dir-env-under-file", "resume-state-malicious", "spec-file-train-binary", "csv-ragged-train",
                    "explain-out-under-file", "unknown-command"]


@pytest.mark.slow
@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_bad_input_through_the_entry_point(case_id, tmp_path, trained, monkeypatch):
    """The same answers from a real process (`python -m engine ...`): exit code, named stderr, no traceback."""
    import os

    case = next(c for c in CASES if c.id == case_id)
    argv = _prepare(case, tmp_path, trained, monkeypatch)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "engine", *argv], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == case.code, proc.stderr
    for name in case.names:
        assert name in proc.stderr, proc.stderr
    assert not (tmp_path / "PWNED").exists()
