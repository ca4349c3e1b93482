"""Take a trained model out of Netwright: ONNX, torch.export (.pt2), a plain PyTorch project
(`script`) and a safetensors + spec bundle, each checked against the model that produced it.
Formats are registry entries (engine.export.base.FORMATS); `export_run` is the one entry point."""
from engine.export.base import FORMATS, ExportError, ExportFormat, Verification
from engine.export.core import ExportRecord, export_run, read_records

__all__ = ["FORMATS", "ExportError", "ExportFormat", "ExportRecord", "Verification", "export_run", "read_records"]
