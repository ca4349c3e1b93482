"""Layer kinds: the registry `LAYERS` (name = the TOML `type`), with pure shape rules.

Importing this package never imports torch; each kind's builder imports it when called.
Families live in their own modules; importing them registers their kinds.
"""
from __future__ import annotations

from engine.layers.base import GROUPS, LAYERS, Ctx, LayerKind, Out, ShapeError

from engine.layers import (  # noqa: F401,E402  (registration order = palette order)
    dense, conv, norm, activation, recurrent, attention, shape, blocks, pretrained,
)

__all__ = ["LAYERS", "GROUPS", "LayerKind", "Ctx", "Out", "ShapeError"]
