"""Data sources: a registry of built-in, generated and file-based data sets.

Public interface (import from ``engine.data``):

- ``DATA_SOURCES``: Registry of sources; entry name = the TOML ``[data] source`` value,
  entry.params = that source's own options, entry.group = "Built-in" / "Generated" / "Files".
- ``describe_data(DataSpec) -> DataInfo``: shapes, task and names, cheaply.
- ``load_data(DataSpec, seed) -> Dataset``: split and normalized numpy arrays.
- ``check_data(ExperimentSpec) -> list[Problem]``: used by ``engine.validation.validate``.
- ``preview(DataSpec, seed, n=16) -> Preview``: what the GUI's Data page shows.

Importing this package does not import torch (scikit-learn and Pillow load lazily).
"""
from engine.data.base import DATA_SOURCES, DataInfo, Dataset, Raw, Source
from engine.data import builtin as _builtin  # noqa: F401  (registers sources)
from engine.data import generated as _generated  # noqa: F401
from engine.data import csv_source as _csv_source  # noqa: F401
from engine.data import image_folder as _image_folder  # noqa: F401
from engine.data import text as _text  # noqa: F401
from engine.data import text_classes as _text_classes  # noqa: F401
from engine.data.api import check_data, clear_cache, describe_data, load_data
from engine.data.preview import Preview, preview

__all__ = [
    "DATA_SOURCES", "DataInfo", "Dataset", "Raw", "Source",
    "Preview", "check_data", "clear_cache", "describe_data", "load_data", "preview",
]
