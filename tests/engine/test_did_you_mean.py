"""A misspelt key in an option section ([data]) is suggested by its dotted path, whether it is
close to one of the section's own keys (batch_size) or to an option of the chosen source."""
from __future__ import annotations

from engine.spec import ExperimentSpec
from engine.validation import validate

LAYERS = [{"type": "Flatten"}, {"type": "Linear", "out_features": 10}]


def _problems(data: dict) -> list[str]:
    spec = ExperimentSpec.from_dict({"name": "x", "data": data, "model": {"layers": LAYERS}})
    return [str(p) for p in validate(spec)]


def test_batchsize_suggests_data_batch_size():
    problems = _problems({"source": "digits", "batchsize": 32})
    assert len(problems) == 1
    assert problems[0].startswith("data.batchsize:")
    assert "did you mean 'data.batch_size'?" in problems[0]


def test_a_misspelt_section_key_and_a_misspelt_source_option_are_both_suggested():
    problems = _problems({"source": "random", "val_fracton": 0.1, "sampels": 64})
    text = "\n".join(problems)
    assert "data.val_fracton" in text and "did you mean 'data.val_fraction'?" in text
    assert "data.sampels" in text and "did you mean 'samples'?" in text


def test_an_unrelated_key_gets_no_suggestion():
    problems = _problems({"source": "digits", "zzzz": 1})
    assert len(problems) == 1 and "did you mean" not in problems[0]
