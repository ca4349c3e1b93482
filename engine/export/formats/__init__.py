"""The built-in export formats (each module registers one class in engine.export.base.FORMATS);
imported in the order the CLI and the Export dialog list them."""
from engine.export.formats import onnx_format  # noqa: F401, I001  (order = listing order)
from engine.export.formats import torch_export  # noqa: F401
from engine.export.formats import script  # noqa: F401
from engine.export.formats import bundle  # noqa: F401
