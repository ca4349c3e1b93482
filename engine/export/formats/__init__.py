"""The built-in export formats (each module registers one class in engine.export.base.FORMATS)."""
from engine.export.formats import bundle, onnx_format, script, torch_export  # noqa: F401
