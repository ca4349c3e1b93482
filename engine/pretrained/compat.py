"""Import torchvision (and what imports it: timm, transformers) beside a CPU-only torch.

The torchvision wheel on PyPI is built against torch's CUDA build; beside the CPU build its C++
extension cannot load, and torchvision 0.28's import then fails on an unconditional fake-kernel
registration (``operator torchvision::nms does not exist``). Everything Netwright uses from it
(model architectures, transforms v2) is pure Python, so :func:`ensure_torchvision` imports it,
and when exactly that failure happens, declares the two operator schemas it registers against
and imports it again. Its C++ operators (nms, roi_align, ...) stay unavailable and say so
themselves (torchvision's own "Couldn't load custom C++ ops" error) if anything calls them.

Call it before importing torchvision, timm or transformers (the loaders in this package do).
"""
from __future__ import annotations

import sys
import threading
from typing import Any

_LOCK = threading.Lock()
_LIBRARY: Any = None  # the torch.library.Library holding the declared schemas (kept alive here)
#: the operators torchvision/_meta_registrations.py registers fake kernels for unconditionally
_SCHEMAS = ("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
            "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")


def ensure_torchvision() -> Any:
    """The torchvision module, imported (see the module docstring). Raises ImportError with the
    install line when it is not installed."""
    global _LIBRARY
    with _LOCK:
        module = sys.modules.get("torchvision")
        if module is not None and hasattr(module, "models"):
            return module
        try:
            import torchvision  # noqa: F401  (the point of this function)
            return torchvision
        except RuntimeError as err:
            if "torchvision::" not in str(err) or "does not exist" not in str(err):
                raise
        except ModuleNotFoundError as err:
            if err.name != "torchvision":
                raise
            raise ImportError("torchvision is not installed — pip install 'netwright[pretrained]'") from None
        import torch  # torch only when a pretrained model or image transform is used

        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]  # the half-imported package from the failed attempt
        if _LIBRARY is None:
            _LIBRARY = torch.library.Library("torchvision", "DEF")
            for schema in _SCHEMAS:
                _LIBRARY.define(schema)
        import torchvision  # the second try, with the schemas declared
        return torchvision
