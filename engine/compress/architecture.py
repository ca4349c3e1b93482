"""The spec of a model whose layers a structured prune shrank: walk the spec's layers beside the
built model's modules (engine.model names one child per enabled layer; a Residual's layers are in
its `body`) and write each Conv/Linear layer's new width back into the spec."""
from __future__ import annotations

from typing import Any, Iterator

#: spec layer type -> (spec option, module attribute) of the width a structured prune changes
WIDTHS = {"Conv1d": ("out_channels", "out_channels"), "Conv2d": ("out_channels", "out_channels"),
          "Linear": ("out_features", "out_features")}


def walk(layers: list[dict[str, Any]], module: Any, path: str = "model.layers") -> Iterator[tuple[str, dict, Any]]:
    """(spec path, layer dict, module) for every enabled layer, nested layers included."""
    children = list(module.children())
    enabled = [(i, layer) for i, layer in enumerate(layers) if layer.get("enabled", True)]
    for (index, layer), child in zip(enabled, children):
        where = f"{path}[{index}]"
        yield where, layer, child
        if layer.get("layers"):
            body = getattr(child, "body", child)
            yield from walk(layer["layers"], body, f"{where}.layers")


def prunable(spec: Any, model: Any) -> list[tuple[str, Any]]:
    """(spec path, module) of each Conv/Linear layer, in model order."""
    doc = spec.to_dict()
    return [(where, module) for where, layer, module in walk(doc["model"]["layers"], model) if layer["type"] in WIDTHS]


def shrunk_spec(spec: Any, model: Any, num_classes: int | None) -> Any:
    """`spec` with every Conv/Linear width set from the (pruned) model; an output layer whose
    width is inferred from the data (0) stays 0 while it still has the data's classes."""
    from engine.spec import ExperimentSpec

    doc = spec.to_dict()
    for _where, layer, module in walk(doc["model"]["layers"], model):
        if layer["type"] not in WIDTHS:
            continue
        option, attribute = WIDTHS[layer["type"]]
        width = int(getattr(module, attribute))
        if layer.get(option, None) == 0 and width == num_classes:
            continue
        layer[option] = width
    return ExperimentSpec.from_dict(doc)
