"""libraries_to_import: which modules inferring a stack's shapes would import first (the GUI
infers such a stack off its thread)."""
from __future__ import annotations

import sys

from engine.layers.pretrained import libraries_to_import
from engine.spec import LayerSpec


def stack(*layers: LayerSpec) -> tuple[LayerSpec, ...]:
    return tuple(layers)


def test_the_model_libraries_of_enabled_pretrained_layers_not_imported_yet(monkeypatch):
    import engine.layers.pretrained as pretrained

    monkeypatch.setattr(pretrained, "_installed", lambda name: True)
    monkeypatch.delitem(sys.modules, "timm", raising=False)
    monkeypatch.delitem(sys.modules, "transformers", raising=False)
    plain = stack(LayerSpec("Flatten"), LayerSpec("Linear", {"out_features": 4}))
    assert libraries_to_import(plain) == ()
    nested = stack(LayerSpec("Residual", layers=(LayerSpec("Pretrained", {"source": "timm", "model": "resnet18"}),)))
    wanted = libraries_to_import(nested)
    assert "timm" in wanted and ("torch" in wanted) == ("torch" not in sys.modules)
    off = stack(LayerSpec("Pretrained", {"source": "huggingface"}, enabled=False))
    assert libraries_to_import(off) == ()  # a disabled layer is not inferred
    assert "transformers" in libraries_to_import(stack(LayerSpec("Pretrained", {"source": "huggingface"})))


def test_a_library_being_imported_or_not_installed(monkeypatch):
    """A module is in sys.modules from the start of its import: until it has finished it still
    counts as to import. One that is not installed is never imported: it does not count."""
    import types

    import engine.layers.pretrained as pretrained

    layer = stack(LayerSpec("Pretrained", {"source": "timm", "model": "resnet18"}))
    half = types.ModuleType("timm")
    half.__spec__ = types.SimpleNamespace(_initializing=True)
    monkeypatch.setitem(sys.modules, "timm", half)
    monkeypatch.setattr(pretrained, "_installed", lambda name: True)
    assert "timm" in libraries_to_import(layer)
    half.__spec__ = types.SimpleNamespace(_initializing=False)
    assert "timm" not in libraries_to_import(layer)
    monkeypatch.delitem(sys.modules, "timm")
    monkeypatch.setattr(pretrained, "_installed", lambda name: name != "timm")
    assert "timm" not in libraries_to_import(layer)


def test_layers_inside_a_disabled_block_are_not_inferred():
    inner = LayerSpec("Pretrained", {"source": "timm", "model": "resnet18"})
    assert libraries_to_import(stack(LayerSpec("Residual", layers=(inner,), enabled=False))) == ()
