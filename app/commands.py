"""Pure edits of the layer tree, used by the Build page to make undoable document edits.

A layer is addressed by its index path: `(3,)` is `model.layers[3]`, `(2, 0)` is
`model.layers[2].layers[0]` (inside a composite block). Every function returns new tuples of
frozen `LayerSpec`s and never mutates its input, so undo can restore the exact old spec.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

from engine.registry import Param
from engine.spec import ExperimentSpec, LayerSpec

Path = tuple[int, ...]
Layers = tuple[LayerSpec, ...]

#: value given to a required int option when a layer is dropped in (the user then edits it)
STARTER_INT = 32


def layer_at(layers: Sequence[LayerSpec], path: Path) -> LayerSpec:
    """The layer at `path`; IndexError if there is none."""
    if not path:
        raise IndexError("empty layer path")
    layer = layers[path[0]]
    for i in path[1:]:
        layer = layer.layers[i]
    return layer


def exists(layers: Sequence[LayerSpec], path: Path) -> bool:
    try:
        layer_at(layers, path)
    except IndexError:
        return False
    return bool(path) and min(path) >= 0


def _update_children(layers: Sequence[LayerSpec], parent: Path, change) -> Layers:
    """Apply `change(children) -> children` to the list that holds the children of `parent`."""
    if not parent:
        return tuple(change(tuple(layers)))
    head, rest = parent[0], parent[1:]
    holder = layers[head]
    new_holder = dataclasses.replace(holder, layers=_update_children(holder.layers, rest, change))
    return tuple(layers[:head]) + (new_holder,) + tuple(layers[head + 1:])


def insert(layers: Sequence[LayerSpec], parent: Path, index: int, layer: LayerSpec) -> Layers:
    """Insert `layer` into the children of `parent` (() = top level) at `index` (clamped)."""
    def change(children: Layers) -> Layers:
        at = max(0, min(index, len(children)))
        return children[:at] + (layer,) + children[at:]
    return _update_children(layers, parent, change)


def remove(layers: Sequence[LayerSpec], path: Path) -> Layers:
    return _update_children(layers, path[:-1], lambda c: c[:path[-1]] + c[path[-1] + 1:])


def replace(layers: Sequence[LayerSpec], path: Path, layer: LayerSpec) -> Layers:
    return _update_children(layers, path[:-1], lambda c: c[:path[-1]] + (layer,) + c[path[-1] + 1:])


def move(layers: Sequence[LayerSpec], source: Path, parent: Path, index: int) -> tuple[Layers, Path]:
    """Move the layer at `source` to position `index` among the children of `parent`
    (`index` counted before the removal). Returns the new layers and the moved layer's path.
    Moving a block into itself is refused with ValueError."""
    if parent[:len(source)] == source:
        raise ValueError("a block cannot be moved into itself")
    layer = layer_at(layers, source)
    if source[:-1] == parent and index > source[-1]:
        index -= 1
    # removing `source` shifts a parent path that runs through a later sibling
    adjusted = list(parent)
    depth = len(source) - 1
    if len(parent) > depth and parent[:depth] == source[:depth] and parent[depth] > source[depth]:
        adjusted[depth] -= 1
    parent = tuple(adjusted)
    removed = remove(layers, source)
    siblings = len(layer_at(removed, parent).layers) if parent else len(removed)
    index = max(0, min(index, siblings))
    return insert(removed, parent, index, layer), parent + (index,)


def duplicate(layers: Sequence[LayerSpec], path: Path) -> tuple[Layers, Path]:
    """Insert a copy right after the layer; returns the copy's path."""
    copy = layer_at(layers, path)
    new_path = path[:-1] + (path[-1] + 1,)
    return insert(layers, path[:-1], path[-1] + 1, copy), new_path


def set_option(layers: Sequence[LayerSpec], path: Path, name: str, value: Any) -> Layers:
    return set_options(layers, path, {name: value})


def set_options(layers: Sequence[LayerSpec], path: Path, change: Mapping[str, Any]) -> Layers:
    """The layers with the options `change` set on the layer at `path`."""
    layer = layer_at(layers, path)
    return replace(layers, path, dataclasses.replace(layer, params={**layer.params, **change}))


def new_layer(type_name: str, params: Sequence[Param]) -> LayerSpec:
    """A fresh layer of `type_name`: defaults stay implicit; a required int option gets a
    starter value (e.g. Linear out_features = 32) so the stack keeps working; other required
    options are left for the user (their problem shows at once)."""
    options: dict[str, Any] = {}
    for param in params:
        if param.required and param.kind == "int":
            low = int(param.min) if param.min is not None else 1
            high = int(param.max) if param.max is not None else STARTER_INT
            options[param.name] = max(low, min(STARTER_INT, high))
    return LayerSpec(type=type_name, params=options)


def with_layers(spec: ExperimentSpec, layers: Sequence[LayerSpec]) -> ExperimentSpec:
    return spec.with_layers(tuple(layers))


def to_path_text(path: Path) -> str:
    """(2, 0) -> 'model.layers[2].layers[0]' (the spec's field path)."""
    return "model" + "".join(f".layers[{i}]" for i in path)
