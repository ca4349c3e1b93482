"""Checkpoints: weights as safetensors, training state in a `weights_only`-loadable file.

    checkpoints/
      step-000000120/
        model.safetensors   the model's full (unsharded) state dict
        state.pt            optimizer, scheduler, scaler, RNG and progress state; only tensors,
                            numbers, strings, lists and dicts, so torch.load(weights_only=True) reads it
      latest                the name of the newest complete checkpoint folder (written last)
      best-000000080/       weights of the epoch with the best watched validation metric
        model.safetensors   (regularization.early_stopping_metric: val_loss and val_error lower,
        best.json           val_accuracy higher); best.json: {"step", "epoch", "metric", "value"}
      best                  the name of the current best folder (written last)

Every file is written atomically (temp file in the same folder, fsync, rename), and `latest` is
updated only after both files are in place, so a crash mid-save leaves the previous checkpoint
as the latest. Older checkpoints beyond `keep` are removed. The best checkpoint works the same
way through its own pointer `best`; the keep rule never touches it (only the previous best
folder is removed once the new one is complete).
"""
from __future__ import annotations

import io
import json
import random
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from engine.atomic import atomic_write_bytes, atomic_write_text
from engine.faults import fault_point
from engine.problems import Problem, SpecError
from engine.runs.rundir import BEST, LATEST, RunDir

if TYPE_CHECKING:  # pragma: no cover
    import torch

WEIGHTS = "model.safetensors"
STATE = "state.pt"
BEST_INFO = "best.json"


class CheckpointError(SpecError):
    """A checkpoint that is missing, incomplete or corrupt; the problem names the file."""


def _fail(path: Path, what: str) -> CheckpointError:
    return CheckpointError([Problem(str(path), what)])


def save_checkpoint(directory: str | Path, model_state: Mapping[str, "torch.Tensor"], train_state: Mapping[str, Any],
                    *, step: int, keep: int = 2) -> Path:
    """Write `model_state` and `train_state` as checkpoint `step-<step>` under `directory`, point
    `latest` at it and prune older ones (keeping `keep`). Returns the checkpoint folder."""
    import torch
    from safetensors.torch import save as st_save

    directory = Path(directory)
    folder = directory / f"step-{step:09d}"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(folder / WEIGHTS, st_save(_unshared(model_state)))
    fault_point("mid_checkpoint")
    buf = io.BytesIO()
    torch.save(dict(train_state), buf)
    atomic_write_bytes(folder / STATE, buf.getvalue())
    atomic_write_text(directory / LATEST, folder.name + "\n")
    old = sorted(p for p in directory.glob("step-*") if p.is_dir() and p != folder)
    for stale in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(stale, ignore_errors=True)
    return folder


def save_best(directory: str | Path, model_state: Mapping[str, "torch.Tensor"], *, step: int, epoch: int,
              metric: str, value: float) -> Path:
    """Write `model_state` as the run's best checkpoint `best-<step>` under `directory` (weights,
    then best.json), point `best` at it, then remove the previous best folder. Returns the folder."""
    from safetensors.torch import save as st_save

    directory = Path(directory)
    folder = directory / f"best-{step:09d}"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(folder / WEIGHTS, st_save(_unshared(model_state)))
    info = {"step": int(step), "epoch": int(epoch), "metric": metric, "value": float(value)}
    atomic_write_text(folder / BEST_INFO, json.dumps(info) + "\n")
    atomic_write_text(directory / BEST, folder.name + "\n")
    for stale in directory.glob("best-*"):
        if stale.is_dir() and stale != folder:
            shutil.rmtree(stale, ignore_errors=True)
    return folder


def best_checkpoint(directory: str | Path) -> Path | None:
    """The best checkpoint folder under `directory` (a run's checkpoints/) — complete, with its
    weights — or None when the run keeps none."""
    directory = Path(directory)
    try:
        name = (directory / BEST).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    folder = directory / name
    return folder if name and (folder / WEIGHTS).is_file() else None


def best_info(folder: str | Path) -> dict[str, Any]:
    """best.json of a best checkpoint folder ({} when missing or unreadable)."""
    try:
        info = json.loads((Path(folder) / BEST_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _unshared(state: Mapping[str, "torch.Tensor"]) -> dict[str, "torch.Tensor"]:
    """CPU, contiguous tensors; tensors sharing memory (tied weights) are copied so safetensors accepts them."""
    out, seen = {}, set()
    for key, tensor in state.items():
        t = tensor.detach()
        t = t.cpu() if t.device.type != "cpu" else t
        ptr = (t.untyped_storage().data_ptr(), t.storage_offset()) if t.numel() else None
        if ptr in seen or not t.is_contiguous() or (ptr is None):
            t = t.contiguous().clone()
        if ptr is not None:
            seen.add(ptr)
        out[key] = t
    return out


def _pointer(directory: Path, name: str) -> str | None:
    """The folder name a pointer file (`latest`, `best`) holds; None when the file is missing."""
    try:
        raw = (directory / name).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        raise _fail(directory / name, f"cannot be read ({err.strerror or err}) — check its permissions") from None
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return "\ufffd"  # not text: reported as a garbage pointer by the caller


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The newest complete checkpoint folder under `directory` (a run's checkpoints/), or None."""
    directory = Path(directory)
    try:
        name = _pointer(directory, LATEST)
    except CheckpointError:
        return None
    if not name or not _FOLDER_NAME.fullmatch(name):
        return None
    folder = directory / name
    return folder if folder.is_dir() else None


def resume_point(directory: str | Path) -> Path | None:
    """The checkpoint folder a resume continues from: None when the run has none yet (it was
    stopped or killed before its first checkpoint: a resume starts from step 0); CheckpointError
    naming the file when the `latest` pointer is unreadable, garbage or names a missing folder."""
    directory = Path(directory)
    name = _pointer(directory, LATEST)
    folders = sorted(p.name for p in directory.glob("step-*") if p.is_dir()) if directory.is_dir() else []
    complete = [f for f in folders if (directory / f / WEIGHTS).is_file() and (directory / f / STATE).is_file()]
    if name is None:
        if complete:
            raise _fail(directory / LATEST, f"is missing although {', '.join(complete)} exist — write the name of the "
                                            "newest one into it, or start a new run")
        return None
    there = f" (checkpoint folders there: {', '.join(folders)})" if folders else " (there are no checkpoint folders)"
    if not name or not _FOLDER_NAME.fullmatch(name):
        shown = (name[:40] + "...") if len(name) > 40 else name
        raise _fail(directory / LATEST, f"is garbage: it holds {shown!r}, not a checkpoint folder name like "
                                        f"'step-000000120'{there} — write the newest folder's name into it, or start a new run")
    folder = directory / name
    if not folder.is_dir():
        raise _fail(directory / LATEST, f"names {name!r}, which does not exist{there} — write the newest folder's "
                                        "name into it, or start a new run")
    return folder


_FOLDER_NAME = re.compile(r"step-\d{9,}")


def weights_path(run_dir: str | Path) -> Path | None:
    """The latest `model.safetensors` of a run (for loading a trained model), or None."""
    folder = latest_checkpoint(RunDir(Path(run_dir)).checkpoints)
    return folder / WEIGHTS if folder is not None and (folder / WEIGHTS).is_file() else None


def checkpoint_folder(run_dir: Path, which: str = "latest", purpose: str = "explaining") -> Path:
    """The checkpoint folder `which` names: "latest", "best" (when the run keeps one) or a
    folder name such as "step-000000120". SpecError naming the path if it is missing
    (`purpose`, e.g. "exporting", completes "train it before ... it")."""
    root = RunDir(Path(run_dir)).checkpoints
    if which in ("latest", "last"):
        folder = latest_checkpoint(root)
        if folder is None:
            raise SpecError([Problem(str(root / LATEST), "the run has no complete checkpoint yet — train it "
                                                         f"(at least one epoch) before {purpose} it")])
    elif which == "best":
        folder = best_checkpoint(root)
        if folder is None:
            raise SpecError([Problem(str(root / BEST), f"run {run_dir.name} keeps no best checkpoint (one is saved "
                                                       "when the watched validation metric improves after an epoch; "
                                                       "runs without validation data or trained by an older version "
                                                       "have none) — use latest")])
    else:
        folder = root / which
        if not folder.is_dir():
            found = sorted(p.name for p in root.glob("step-*")) if root.is_dir() else []
            raise SpecError([Problem(str(folder), f"checkpoint not found (available: {', '.join(found) or 'none'}, "
                                                  "or latest)")])
    if not (folder / WEIGHTS).is_file():
        raise SpecError([Problem(str(folder / WEIGHTS), "checkpoint weights are missing")])
    return folder


def load_weights(path: str | Path) -> dict[str, "torch.Tensor"]:
    """A state dict from a safetensors file; CheckpointError naming the file if it cannot be read."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise _fail(path, "checkpoint weights are missing — the run has no complete checkpoint to load")
    try:
        return load_file(str(path))
    except Exception as err:
        raise _fail(path, f"is corrupt or incomplete ({type(err).__name__}: {err}) — "
                          "start a new run or delete this checkpoint folder to fall back to an older one") from None


def load_state(path: str | Path) -> dict[str, Any]:
    """The training state (torch.load with weights_only=True, no fallback)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise _fail(path, "checkpoint state is missing — the run has no complete checkpoint to resume")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise _fail(path, f"is corrupt or incomplete ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}) — "
                          "start a new run or delete this checkpoint folder to fall back to an older one") from None
    if not isinstance(state, dict):
        raise _fail(path, "does not hold a training state (expected a dict)")
    return state


def load_checkpoint(folder: str | Path) -> tuple[dict[str, "torch.Tensor"], dict[str, Any]]:
    """(model state, training state) of one checkpoint folder."""
    folder = Path(folder)
    return load_weights(folder / WEIGHTS), load_state(folder / STATE)


def load_latest(run_dir: str | Path) -> tuple[Path, dict[str, "torch.Tensor"], dict[str, Any]]:
    """The latest checkpoint of a run: (folder, model state, training state); CheckpointError
    naming the file when there is none or it cannot be used."""
    directory = RunDir(Path(run_dir)).checkpoints
    folder = resume_point(directory)
    if folder is None:
        raise _fail(directory / LATEST, "no checkpoint to resume from — the run stopped before its first checkpoint "
                                        "(`train --resume` starts it from step 0)")
    return (folder, *load_checkpoint(folder))


def check_optimizer_state(optimizer: Any) -> None:
    """ValueError naming the parameter when a loaded optimizer state does not fit its parameter
    (a `state.pt` from another model: torch only notices at the first step)."""
    index = 0
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                shape = getattr(value, "shape", None)
                if shape is not None and len(shape) > 0 and tuple(shape) != tuple(param.shape):
                    raise ValueError(f"optimizer state {key!r} of parameter {index} has shape {tuple(shape)}, "
                                     f"the model's parameter has {tuple(param.shape)}")
            index += 1


# ----------------------------------------------------------------------------- RNG state

def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU and CUDA) random states as tensors, lists and numbers."""
    import numpy as np
    import torch

    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    import numpy as np
    import torch

    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
