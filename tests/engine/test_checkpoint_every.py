"""training.checkpoint_every: a checkpoint every N epochs, and always one at the end; 0 = only at the end."""
from __future__ import annotations

import pytest

from engine.runs import RunDir
from engine.trainer import train
from tests.engine.test_trainer import FakeReporter, make_dataset, make_model, make_spec


@pytest.mark.parametrize("every, epochs, expected", [
    (1, 3, [1, 2, 3]),
    (2, 5, [2, 4, 5]),
    (0, 3, [3]),
])
def test_checkpoint_every_sets_the_cadence(tmp_path, every, epochs, expected):
    spec = make_spec(training={"epochs": epochs, "checkpoint_every": every})
    rep = FakeReporter()
    result = train(spec, make_dataset(), make_model(), rep, run=RunDir.create(tmp_path, spec))
    assert result.status == "completed"
    saved = [e for e in rep.of("checkpoint") if not e.get("best")]
    assert [e["epoch"] for e in saved] == expected
    assert saved[-1]["step"] == result.steps
