"""`export_run(run_dir, format)`: load a trained run, write one format, check it, record it.

Every export is recorded in the run directory's `export.json` (RunDir.export_record) ({"exports": [record, ...]}, one
record per output path, newest last): format, file, tolerance, max difference, seconds, how it
was checked. The Runs page and `runs` list them from there.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from engine.atomic import atomic_write_text
from engine.export.base import CHECK_SAMPLES, FORMATS, ExportError, ExportFormat, ExportJob
from engine.export.probe import holds_quantized
from engine.folders import ensure_folder
from engine.problems import Problem, SpecError
from engine.runs import RunDir, owned
from engine.runs import read_exports as read_records  # the records are the run directory's: one reader


@dataclass(frozen=True)
class ExportRecord:
    """One export as written to export.json (and printed by the CLI)."""

    format: str
    file: str
    checkpoint: str
    tolerance: float | None
    max_abs_diff: float | None
    passed: bool
    samples: int
    method: str
    seconds: float
    options: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    created: float = 0.0

    def summary(self) -> str:
        """One line: what was written and how it was checked."""
        if self.max_abs_diff is None:
            check = self.method
        else:
            verdict = "within" if self.passed else "ABOVE"
            check = (f"max abs diff {self.max_abs_diff:.3g} on {self.samples} validation samples, {verdict} tolerance "
                     f"{self.tolerance:g} ({self.method})")
        return f"{self.format}: {self.file} — {check}; {self.seconds:.1f} s"


#: formats that write the weights as plain tensors (a torchao-quantized run cannot be written by them)
PLAIN_TENSOR_FORMATS = ("script", "bundle")


def resolve_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The format's options with defaults filled in; SpecError naming `export.<option>` if bad."""
    resolved, problems = FORMATS.check(name, options, "format")
    if problems:
        raise SpecError([Problem(p.path.replace("format.", "export.", 1), p.message) for p in problems])
    return resolved


def export_run(run_dir: str | Path, format: str, out: str | Path | None = None, *, checkpoint: str = "latest",
               options: Mapping[str, Any] | None = None) -> ExportRecord:
    """Export a trained run in `format` to `out` (default RUN_DIR/exports/<format>[.suffix]), check
    it against the PyTorch model on validation samples and record it in RUN_DIR/export.json.
    Raises SpecError/ExportError naming the field, file or layer (RunBusy while another process owns
    the run); a check over tolerance is not an error (the record says `passed: false`, the CLI exits 1)."""
    if format not in FORMATS:
        raise SpecError([Problem("--format", FORMATS.unknown_message(format) + f" (known: {', '.join(FORMATS.names())})")])
    fmt = FORMATS.get(format).obj()
    opts = resolve_options(format, options or {})
    owner = RunDir.open(run_dir)
    with owned(owner, "export"):  # export.json (and the default exports/ folder) are writes into the run
        return _export(owner.path, fmt, opts, out, checkpoint)


def _export(run_dir: Path, fmt: "ExportFormat", opts: dict[str, Any], out: str | Path | None,
            checkpoint: str) -> ExportRecord:
    import torch

    from engine.trained import load_run_model

    format = fmt.name
    start = time.perf_counter()
    run = load_run_model(run_dir, checkpoint, purpose="exporting")
    if format in PLAIN_TENSOR_FORMATS and holds_quantized(run.model):
        raise ExportError(str(run.run_dir), f"holds quantized weights (a compressed run, torchao tensors) that {format} "
                                            "cannot write as plain tensors — export it as torch_export (or onnx where "
                                            "it converts), or export the run before quantization")
    target = Path(out).expanduser().resolve() if out else fmt.default_out(run)
    if target.exists() and target.is_dir() != (not fmt.suffix):
        kind = "a folder" if target.is_dir() else "a file"
        raise ExportError(str(target), f"is {kind}; {format} writes {'a folder' if not fmt.suffix else 'a file'} — "
                                       "choose another --out")
    ensure_folder(target.parent if fmt.suffix else target, "export folder", "choose another --out")
    x = torch.as_tensor(run.data.x_val[:CHECK_SAMPLES] if len(run.data.x_val) else run.data.x_train[:CHECK_SAMPLES])
    if len(x) < 2:
        x = torch.cat([x, x])  # two samples: a batch dimension the exporters cannot specialise to 1
    job = ExportJob(run, target, opts, x, checkpoint)
    try:
        check = fmt.write(job)
    except OSError as err:  # a full disk, a file vanishing under us: name the output
        raise ExportError(str(getattr(err, "filename", None) or target),
                          f"cannot be written ({err.strerror or err}) — choose another --out or free some space") from None
    record = ExportRecord(format, str(target), run.checkpoint.name, check.tolerance, check.max_abs_diff, check.passed,
                          check.samples, check.method, round(time.perf_counter() - start, 3), opts, check.notes,
                          time.time())
    add_record(run.run_dir, record)
    from engine.tracking.mlflow_writer import log_export

    log_export(run.run_dir, target, format)  # the run is tracked in MLflow: the export joins it there
    return record


def add_record(run_dir: Path, record: ExportRecord) -> None:
    """Add (or replace, for the same output path) a record in RUN_DIR/export.json, atomically."""
    records = [r for r in read_records(run_dir) if r.get("file") != record.file]
    records.append(asdict(record))
    atomic_write_text(RunDir(run_dir).export_record, json.dumps({"exports": records}, indent=2) + "\n")
