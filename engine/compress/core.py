"""`compress_run(run_dir, steps)`: load a trained run, apply the steps, measure before and after
(in this one process), and write the result as a NEW run directory linked to its source:

    NEW_RUN/
      spec.toml          the source's spec (widths rewritten by a structured prune, `-compressed` name)
      checkpoints/       the compressed weights (safetensors; torchao metadata for quantized ones);
                         a finetune step's own training checkpoints and events too
      compress.json      source, steps, before/after measures and their deltas (RunDir.compress_record)
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from engine.atomic import atomic_write_bytes, atomic_write_text
from engine.compress.base import STEPS, CompressCancelled, CompressError, CompressState, StepRequest, parse_step
from engine.compress.measure import Measures, deltas, measure
from engine.compress.weights import is_quantized, weights_bytes
from engine.problems import SpecError
from engine.runs import RunDir, owned, read_control, release, write_status


@dataclass(frozen=True)
class CompressResult:
    """What `compress_run` wrote: the new run, its source, the steps and the measures."""

    run_dir: Path
    source: Path
    steps: tuple[str, ...]
    before: Measures
    after: Measures
    deltas: Mapping[str, float | None]
    quantized: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), "source": str(self.source), "steps": list(self.steps),
                "before": self.before.to_dict(), "after": self.after.to_dict(), "deltas": dict(self.deltas),
                "quantized": self.quantized, "notes": list(self.notes)}


def read_record(run_dir: str | Path) -> dict[str, Any] | None:
    """A compressed run's compress.json, or None (not a compressed run, or unreadable)."""
    try:
        data = json.loads(RunDir(Path(run_dir)).compress_record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def compress_run(run_dir: str | Path, steps: Sequence[StepRequest | str], *, runs_dir: str | Path | None = None,
                 checkpoint: str = "latest", progress: Callable[[float, str], None] | None = None,
                 timed: bool = True, cancelled: Callable[[], bool] | None = None) -> CompressResult:
    """Compress the trained run `run_dir` with `steps` (StepRequests or `name:key=value` texts) into a
    new run directory under `runs_dir` (default: the source's folder). SpecError naming the step,
    option or layer for a bad request; the source run is only read. `cancelled()` true, or a stop
    request to the new run (`stop NEW_RUN`), ends it between steps and within a fine-tune's steps
    with CompressCancelled, and the new run is removed."""
    from engine.trained import load_run_model

    requests = [parse_step(s, f"--step {i + 1}") if isinstance(s, str) else s for i, s in enumerate(steps)]
    if not requests:
        raise CompressError("--step", f"give at least one step ({', '.join(STEPS.names())})")
    report = progress or (lambda fraction, text: None)
    report(0.0, "loading the source run")
    source = load_run_model(run_dir, checkpoint, purpose="compressing")
    before = measure(source.model, source.spec, source.data, timed=timed)
    spec = dataclasses.replace(source.spec, name=f"{source.spec.name}-compressed")
    run = RunDir.create(Path(runs_dir) if runs_dir else source.run_dir.parent, spec)
    with owned(run, "compress"):
        write_status(run, "running", message="compressing")
        asked = cancelled or (lambda: False)
        state = CompressState(source.model, spec, source.data, run, quantized=_quantized(source), progress=report,
                              cancelled=lambda: asked() or read_control(run) == "stop")
        labels = []
        try:
            for index, request in enumerate(requests):
                state.check_cancelled()
                label = request.label()
                report(index / len(requests), f"step {index + 1}/{len(requests)}: {label}")
                where = f"--step {index + 1} {request.name}"
                try:
                    STEPS.get(request.name).obj().apply(state, request.options, where)
                except ModuleNotFoundError as err:
                    raise _missing_extra(err, where) from None
                labels.append(label)
            state.check_cancelled()
            report(1.0, "measuring the result")
            after = measure(state.model, state.spec, state.data, timed=timed)
        except BaseException as err:
            refused = isinstance(err, SpecError) and not run.events_path.exists()
            if refused or isinstance(err, (CompressCancelled, KeyboardInterrupt)):  # nothing to keep
                release(run)
                shutil.rmtree(run.path, ignore_errors=True)
                raise
            write_status(run, "failed", message=str(err) or type(err).__name__)
            raise
        result = CompressResult(run.path, source.run_dir, tuple(labels), before, after, deltas(before, after),
                                state.quantized, tuple(state.notes))
        _write(run, state, source.checkpoint.name, result, finetuned_last=requests[-1].name == "finetune")
    return result


#: the compress extra's packages: their import name -> their name on PyPI
EXTRA_PACKAGES = {"torchao": "torchao", "torch_pruning": "torch-pruning"}


def _missing_extra(err: ModuleNotFoundError, where: str) -> Exception:
    """A step's missing library as a named problem with the install line (other errors as they are);
    a missing part of an installed one (another version) is named too."""
    name = err.name or ""
    package = EXTRA_PACKAGES.get(name.split(".")[0])
    if package is None:
        return err
    if "." in name:
        return CompressError(where, f"the installed {package} has no {name} (another version than Netwright's) — "
                                    "pip install -U 'netwright[compress]'")
    return CompressError(where, f"needs {package}, which is not installed — pip install 'netwright[compress]'")


def _quantized(source: Any) -> str:
    """The scheme a source run's weights are quantized with ("" for float weights)."""
    if not any(is_quantized(p.detach()) for p in source.model.parameters()):
        return ""
    return (read_record(source.run_dir) or {}).get("quantized") or "quantized"


def _write(run: RunDir, state: CompressState, source_checkpoint: str, result: CompressResult, *,
           finetuned_last: bool) -> None:
    from engine.checkpoint import WEIGHTS, latest_checkpoint

    run.save_spec(state.spec)
    if not finetuned_last:  # the weights changed after any fine-tuning: they become the latest checkpoint
        previous = latest_checkpoint(run.checkpoints)
        step = int(previous.name.split("-")[1]) + 1 if previous is not None else 0
        folder = run.checkpoints / f"step-{step:09d}"
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(folder / WEIGHTS, weights_bytes(state.model.state_dict()))
        atomic_write_text(run.latest_pointer, folder.name + "\n")
        run.best_pointer.unlink(missing_ok=True)  # a fine-tune's best predates the later steps
    record = {**result.to_dict(), "source_checkpoint": source_checkpoint, "created": time.time()}
    atomic_write_text(run.compress_record, json.dumps(record, indent=2) + "\n")
    write_status(run, "completed", force=True, message="compressed: " + " -> ".join(result.steps),
                 metrics={"val_loss": result.after.val_loss, result.after.quality_name: result.after.val_quality})
