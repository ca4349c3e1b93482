"""Compress a trained run: prune, quantize, fine-tune — each step a registry entry with a schema.

`compress_run(run_dir, steps)` applies the steps to the run's model and writes a NEW run directory
linked to its source (spec.toml, weights, compress.json with the before/after measures)."""
from engine.compress.base import STEPS, CompressCancelled, CompressError, StepRequest, parse_step
from engine.compress.core import CompressResult, compress_run

__all__ = ["STEPS", "CompressCancelled", "CompressError", "StepRequest", "parse_step", "CompressResult", "compress_run"]
