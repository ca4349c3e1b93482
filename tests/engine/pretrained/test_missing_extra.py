"""Without the pretrained extra, a spec with a Pretrained layer gets a named problem, never a traceback."""
from __future__ import annotations

import sys

from engine.cli import main
from engine.pretrained import anatomy, sources


def test_validate_without_torchvision_names_the_extra(monkeypatch, capsys):
    def missing():
        raise ImportError("torchvision is not installed — pip install 'netwright[pretrained]'")

    monkeypatch.setattr(sources, "ensure_torchvision", missing)
    anatomy._cached.cache_clear()
    try:
        code = main(["validate", "finetune_resnet18"])
    finally:
        anatomy._cached.cache_clear()
    out = capsys.readouterr().out
    assert code != 0
    assert "model.layers[0]" in out and "pip install 'netwright[pretrained]'" in out, out


def test_validate_without_transformers_or_torchvision_names_the_extra(monkeypatch, capsys):
    """A Hugging Face layer needs transformers only (torchvision is imported first only when it is
    installed): with neither, the problem names the extra, and no ImportError escapes."""
    monkeypatch.setitem(sys.modules, "transformers", None)  # not installed: importing it fails

    def no_torchvision():
        raise ImportError("torchvision is not installed — pip install 'netwright[pretrained]'")

    monkeypatch.setattr("engine.pretrained.hf.ensure_torchvision", no_torchvision)
    anatomy._cached.cache_clear()
    try:
        code = main(["validate", "finetune_text"])
    finally:
        anatomy._cached.cache_clear()
    out = capsys.readouterr().out
    assert code != 0
    assert "model.layers[0]" in out and "transformers is not installed" in out and "netwright[pretrained]" in out, out
