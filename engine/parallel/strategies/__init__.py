"""The built-in parallel strategies, one class per module. Importing this package imports every
module in it, which registers their classes in STRATEGIES (engine.spec): a new strategy is one
file here. The GUI lists them in registration order: the classic ones first, then the rest by name."""
from __future__ import annotations

import importlib
import pkgutil

from engine.spec import STRATEGIES

_FIRST = ("single", "ddp", "fsdp", "tensor", "pipeline")
_found = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
for _name in [*(n for n in _FIRST if n in _found), *(n for n in _found if n not in _FIRST)]:
    importlib.import_module(f"{__name__}.{_name}")

__all__ = ["STRATEGIES"]
