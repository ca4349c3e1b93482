"""The export-format contract and registry.

A format is a class with a schema (its options, `Param`s) registered in FORMATS, like layers and
attribution methods: a new format is one file, and the CLI and the Export dialog list it without
code of their own. `ExportFormat.write(job)` writes the file (or folder) and returns the check it
did against the PyTorch model (`Verification`); `engine.export.core.export_run` does the rest
(loading the run, timing, `export.json`, the listing in the run directory).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Sequence

from engine.problems import Problem, SpecError
from engine.registry import Param, Registry

if TYPE_CHECKING:  # pragma: no cover
    from engine.trained import RunModel

#: format name (the CLI's --format) -> ExportFormat subclass; registered by engine.export.formats
FORMATS: Registry[type["ExportFormat"]] = Registry("export format", load="engine.export.formats")

#: the validation samples every export is checked on (the first of the validation split)
CHECK_SAMPLES = 64


def tolerance(default: float) -> Param:
    """The `tolerance` option every checked format has."""
    return Param("tolerance", "float", default, "Largest allowed absolute difference from PyTorch", min=0.0)


class ExportError(SpecError):
    """An export that cannot be done; its problem names the layer (or file) and why."""

    def __init__(self, where: str, message: str):
        super().__init__([Problem(where, message)])


@dataclass(frozen=True)
class Verification:
    """How an export was checked: the largest absolute difference between its outputs and the
    PyTorch model's on `samples` validation samples, against `tolerance`; `method` says which
    exporter/runtime was used (e.g. "dynamo exporter, onnxruntime 1.20")."""

    max_abs_diff: float | None
    tolerance: float | None
    samples: int
    method: str
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.max_abs_diff is None or (self.tolerance is not None and self.max_abs_diff <= self.tolerance)


@dataclass(frozen=True, eq=False)
class ExportJob:
    """What a format gets: the loaded run (model in eval mode, data, spec), where to write, the
    resolved options, example inputs from the validation split and the checkpoint's name."""

    run: "RunModel"
    out: Path
    options: Mapping[str, Any]
    inputs: Any  # torch.Tensor: the first CHECK_SAMPLES validation samples
    checkpoint: str = "latest"
    extra: Mapping[str, Any] = field(default_factory=dict)


class ExportFormat:
    """One way out. Subclasses set `name`, `description`, `suffix` ("" for a folder), `params`
    (their options) and implement :meth:`write`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    suffix: ClassVar[str] = ""
    params: ClassVar[Sequence[Param]] = ()

    def write(self, job: ExportJob) -> Verification:  # pragma: no cover - abstract
        raise NotImplementedError

    def default_out(self, run: "RunModel") -> Path:
        """Where the export goes when --out is not given: RUN_DIR/exports/<spec name><suffix>
        (a folder format: RUN_DIR/exports/<spec name>-<format>)."""
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", run.spec.name).strip("._-") or "model"
        from engine.runs import RunDir

        return RunDir(run.run_dir).exports / (f"{stem}{self.suffix}" if self.suffix else f"{stem}-{self.name}")


def register(cls: type[ExportFormat]) -> type[ExportFormat]:
    """Class decorator adding a format to FORMATS under its `name`."""
    FORMATS.add(cls.name, cls, params=tuple(cls.params), description=cls.description, suffix=cls.suffix)
    return cls


def max_abs_diff(expected: Any, actual: Any) -> float:
    """The largest absolute difference of two array-likes (numpy or torch), as a float."""
    import numpy as np

    a = np.asarray(expected.detach().cpu().numpy() if hasattr(expected, "detach") else expected, dtype=np.float64)
    b = np.asarray(actual.detach().cpu().numpy() if hasattr(actual, "detach") else actual, dtype=np.float64)
    if a.shape != b.shape:
        raise ExportError("output", f"the exported model returns shape {tuple(b.shape)}, PyTorch {tuple(a.shape)}")
    return float(np.max(np.abs(a - b))) if a.size else 0.0
