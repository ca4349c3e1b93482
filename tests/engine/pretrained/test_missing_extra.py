"""Without the pretrained extra, a spec with a Pretrained layer gets a named problem, never a traceback."""
from __future__ import annotations

import sys

from engine.cli import main
from engine.pretrained import anatomy, hf, sources


def _no_torchvision():
    raise ImportError("torchvision is not installed — pip install 'netwright[pretrained]'")


def _validate(example: str, capsys) -> tuple[int, str]:
    """`validate EXAMPLE` with the anatomy cache cleared before and after: (exit code, stdout)."""
    anatomy._cached.cache_clear()
    try:
        code = main(["validate", example])
    finally:
        anatomy._cached.cache_clear()
    return code, capsys.readouterr().out


def test_validate_without_torchvision_names_the_extra(monkeypatch, capsys):
    monkeypatch.setattr(sources, "ensure_torchvision", _no_torchvision)
    code, out = _validate("finetune_resnet18", capsys)
    assert code != 0
    assert "model.layers[0]" in out and "pip install 'netwright[pretrained]'" in out, out


def test_validate_without_transformers_or_torchvision_names_the_extra(monkeypatch, capsys):
    """A Hugging Face layer needs transformers only (torchvision is imported first only when it is
    installed): with neither, the problem names the extra, and no ImportError escapes."""
    monkeypatch.setitem(sys.modules, "transformers", None)  # not installed: importing it fails
    monkeypatch.setattr(hf, "ensure_torchvision", _no_torchvision)
    monkeypatch.setattr(hf, "torchvision_installed", lambda: False)
    code, out = _validate("finetune_text", capsys)
    assert code != 0
    assert "model.layers[0]" in out and "transformers is not installed" in out and "netwright[pretrained]" in out, out
