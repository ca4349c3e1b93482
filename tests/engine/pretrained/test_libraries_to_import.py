"""libraries_to_import: which modules inferring a stack's shapes would import first (the GUI
infers such a stack off its thread)."""
from __future__ import annotations

import sys

from engine.layers.pretrained import libraries_to_import
from engine.spec import LayerSpec


def stack(*layers: LayerSpec) -> tuple[LayerSpec, ...]:
    return tuple(layers)


def test_the_model_libraries_of_enabled_pretrained_layers_not_imported_yet(monkeypatch):
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
