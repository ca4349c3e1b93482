"""The command line: `models`, pretrained options through --set, and the fine-tuning templates (the text
template's training is covered by continuing from the shipped run it made; tests/engine text tests fine-tune a
tiny BERT on a CSV)."""
from __future__ import annotations

import json
from pathlib import Path

from tests.engine.pretrained.tiny import need_pretrained_extra

need_pretrained_extra()

from engine.cli import main  # noqa: E402
from engine.paths import EXAMPLES  # noqa: E402
from engine.spec import apply_overrides, load_spec  # noqa: E402
from engine.validation import validate  # noqa: E402


def test_models_lists_sources_and_shows_a_models_parts(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("torchvision", "timm", "huggingface")) and "resnet18" in out
    assert main(["models", "--source", "torchvision"]) == 0
    assert "mobilenet_v3_small" in capsys.readouterr().out.split()
    assert main(["models", "--show", "resnet18", "--input", "3,32,32"]) == 0
    out = capsys.readouterr().out
    assert "output (512,), 11,176,512 parameters" in out and "layer4" in out and "(512, 1, 1)" in out


def test_models_names_a_wrong_source_or_model(capsys):
    assert main(["models", "--source", "torchvisoin"]) == 2
    assert "did you mean 'torchvision'" in capsys.readouterr().err
    assert main(["models", "--show", "resnet19"]) == 2
    assert "did you mean" in capsys.readouterr().err


def test_pretrained_options_through_set_are_typed_and_checked():
    spec = load_spec(EXAMPLES / "finetune_resnet18.toml")
    assert spec.model.layers[0].params["freeze"] == "all"
    up_to = apply_overrides(spec, ["model.layers[0].freeze=up_to", "model.layers[0].freeze_until=layer3",
                                   "model.layers[0].lr_multiplier=0.1"])
    assert up_to.model.layers[0].params["lr_multiplier"] == 0.1 and validate(up_to) == []
    bad = apply_overrides(spec, ["model.layers[0].freeze=some"])
    assert any(p.path == "model.layers[0].freeze" and "none, all, up_to" in p.message for p in validate(bad))
    # the template's folders sit beside it (resolved against the spec file, like data.path)
    text = load_spec(EXAMPLES / "finetune_text.toml")
    assert text.model.layers[0].params["model"] == text.data.options["tokenizer"] == str(EXAMPLES.parent / "models" / "tiny-bert")


def test_continue_from_a_run_template_starts_where_the_shipped_run_ended(capsys):
    code = main(["train", "continue_from_run", "--set", "training.max_steps=3", "--quiet"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and summary["status"] == "completed"
    assert summary["metrics"]["val_accuracy"] >= 0.9  # the source run's weights, not fresh ones
    events = [json.loads(line) for line in (Path(summary["run_dir"]) / "events.jsonl").read_text().splitlines()]
    report = next(e["pretrained"] for e in events if "pretrained" in e)
    assert report["prefix"] == "pretrained_1.net." and report["new"] == [] and report["skipped"] == []
