"""The built-in parallel strategies, one class per module; importing this package registers them
in STRATEGIES (engine.spec), in the order the GUI lists them."""
from __future__ import annotations

from engine.parallel.strategies import single, ddp, fsdp, tensor, pipeline  # noqa: F401  (registration order)
from engine.spec import STRATEGIES

__all__ = ["STRATEGIES"]
