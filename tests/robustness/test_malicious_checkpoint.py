"""A `state.pt` carrying a pickled object whose `__reduce__` would run code is refused, never
executed: `torch.load(weights_only=True)` with no fallback (DESIGN.md), for a raw pickle and for
torch's zip format, directly and through `train --resume`."""
from __future__ import annotations

import json
import pickle

import pytest
import torch

from engine.checkpoint import CheckpointError, load_state, save_checkpoint


class Evil:
    """Unpickling this creates a file (a stand-in for any command)."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def _state_file(tmp_path, fmt: str):
    folder = save_checkpoint(tmp_path / "checkpoints", {"w": torch.zeros(2)}, {"step": 1}, step=1)
    path = folder / "state.pt"
    payload = {"step": 1, "rng": Evil(tmp_path / "PWNED")}
    if fmt == "pickle":
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path)
    return path


@pytest.mark.parametrize("fmt", ["pickle", "torch-zip"])
def test_malicious_state_is_refused_and_never_runs(tmp_path, fmt):
    path = _state_file(tmp_path, fmt)
    with pytest.raises(CheckpointError) as err:
        load_state(path)
    assert str(path) in str(err.value)
    assert not (tmp_path / "PWNED").exists()


def test_malicious_state_through_train_resume(tmp_path, capsys):
    from engine.cli import main
    from tests.robustness.corpus import GOOD

    spec = tmp_path / "good.toml"
    spec.write_text(GOOD)
    assert main(["train", str(spec), "--runs-dir", str(tmp_path / "runs"), "--quiet"]) == 0
    run = next((tmp_path / "runs").iterdir())
    folder = sorted((run / "checkpoints").glob("step-*"))[-1]
    (folder / "state.pt").write_bytes(pickle.dumps({"step": 1, "x": Evil(tmp_path / "PWNED")}))
    status = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps({**status, "status": "stopped"}))
    capsys.readouterr()
    code = main(["train", "--resume", str(run), "--quiet", "--set", "training.epochs=2"])
    err = capsys.readouterr().err
    assert code == 2 and str(folder / "state.pt") in err and "Traceback" not in err
    assert not (tmp_path / "PWNED").exists()
