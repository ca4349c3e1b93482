"""Weights for a pretrained model from a file or from another Netwright run, matched by name and shape.

- :func:`read_state_dict` reads a ``.safetensors`` file, or a ``.pth``/``.pt``/``.bin`` state dict
  with ``torch.load(weights_only=True)`` (no fallback: a pickled object that is not a state dict is
  refused, never executed).
- :func:`run_weights_file` finds another run's ``best`` or ``latest`` checkpoint
  (``RUN/checkpoints/<pointer>/model.safetensors``).
- :func:`load_matching` loads a state dict into a module: keys are matched by name (after the
  prefix the source model had, e.g. ``pretrained_1.net.`` in a run or ``module.`` from DDP, is
  found and stripped) and shape, and a :class:`LoadReport` says what was loaded, skipped (in the
  file, not in the model) and newly initialised (in the model, not in the file). A tensor whose
  shape differs is refused with the layer names and both shapes (a different architecture), except
  inside `replaceable` prefixes (a classifier head resized to the data's classes), where it is new.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from engine.pretrained.errors import PretrainedError

#: the checkpoint pointers of a run directory (engine.runs.rundir names them too; this floor is below it)
CHECKPOINT_POINTERS = ("best", "latest")
WEIGHTS_FILE = "model.safetensors"
TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
#: prefixes wrappers add to every key (DDP, torch.compile)
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_matching` did: tensor names loaded, skipped (in the file only) and newly
    initialised (in the model only), with the source it read and the prefix it stripped."""

    source: str
    loaded: tuple[str, ...]
    skipped: tuple[str, ...]
    new: tuple[str, ...]
    prefix: str = ""

    def summary(self) -> str:
        """One line: "loaded 122 tensors, skipped 2 (fc.weight, fc.bias), newly initialised 0"."""
        return (f"loaded {len(self.loaded)} tensors from {self.source}, skipped {len(self.skipped)}"
                f"{_some(self.skipped)}, newly initialised {len(self.new)}{_some(self.new)}")

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "prefix": self.prefix, "loaded": list(self.loaded),
                "skipped": list(self.skipped), "new": list(self.new)}


def _some(names: Sequence[str], shown: int = 4) -> str:
    if not names:
        return ""
    more = f", +{len(names) - shown} more" if len(names) > shown else ""
    return f" ({', '.join(names[:shown])}{more})"


def read_state_dict(path: str | Path) -> dict[str, Any]:
    """The tensors of a weights file (see the module docstring). PretrainedError names the file."""
    import torch  # torch only when weights are read

    path = Path(path).expanduser()
    if not path.is_file():
        where = "is a folder — name the weights file inside it" if path.is_dir() else "does not exist — check the path"
        raise PretrainedError(f"weights file {path} {where}", "weights_path")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError  # with torch, only when weights are read
        from safetensors.torch import load_file  # (imports torch)

        try:
            return dict(load_file(str(path)))
        except (SafetensorError, OSError, ValueError) as err:
            raise PretrainedError(f"weights file {path} is not a readable safetensors file ({err}) — "
                                  "save it again with safetensors.torch.save_file", "weights_path") from None
    if path.suffix not in TORCH_SUFFIXES:
        raise PretrainedError(f"weights file {path} has suffix {path.suffix or '(none)'} — use a .safetensors "
                              f"file or a torch state dict ({', '.join(TORCH_SUFFIXES)})", "weights_path")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001  (an unpickler refusal, a truncated zip, ...: all mean "not usable")
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PretrainedError(f"weights file {path} cannot be read as a state dict with weights_only=True "
                              f"({first}) — save the model's state_dict() (not the whole model), or convert "
                              "it to .safetensors", "weights_path") from None
    for key in ("state_dict", "model_state_dict", "model"):  # common training-script checkpoints
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise PretrainedError(f"weights file {path} holds a {type(obj).__name__}, not a state dict of tensors — "
                              "save model.state_dict() instead", "weights_path")
    return dict(obj)


def run_weights_file(run_dir: str | Path, checkpoint: str = "best") -> Path:
    """The weights file of another run's `checkpoint` ("best" or "latest"; "best" falls back to
    "latest" for a run that kept no best). PretrainedError names the folder and what to do."""
    run = Path(run_dir).expanduser()
    folder = run / "checkpoints"
    if not (run / "spec.toml").is_file():
        raise PretrainedError(f"{run} is not a Netwright run directory (no spec.toml) — point weights_path at a "
                              "run folder (netwright runs lists them)", "weights_path")
    order = (checkpoint, "latest") if checkpoint == "best" else (checkpoint,)
    for pointer in order:
        target = _pointed(folder, pointer)
        if target is not None:
            return target
    raise PretrainedError(f"run {run} has no {checkpoint} checkpoint yet (nothing in {folder}) — train it first, "
                          "or choose another run", "weights_path")


def _pointed(folder: Path, pointer: str) -> Path | None:
    try:
        name = (folder / pointer).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        return None
    weights = folder / name / WEIGHTS_FILE
    return weights if weights.is_file() else None


def find_prefix(file_keys: Iterable[str], model_keys: Iterable[str]) -> str:
    """The prefix to strip from the file's keys so most of them name the model's tensors
    ("" when they already do; ``pretrained_1.net.`` for a run whose model held this one)."""
    model = set(model_keys)
    votes: Counter[str] = Counter()
    by_tail: dict[str, list[str]] = {}
    for key in model:
        by_tail.setdefault(key.rsplit(".", 1)[-1], []).append(key)
    for key in file_keys:
        if key in model:
            votes[""] += 1
            continue
        for candidate in by_tail.get(key.rsplit(".", 1)[-1], ()):
            if key.endswith("." + candidate):
                votes[key[: len(key) - len(candidate)]] += 1
    if not votes:
        return ""
    best, count = votes.most_common(1)[0]
    return best if count > votes.get("", 0) else ""


def load_matching(module: Any, state: Mapping[str, Any], source: str, *,
                  replaceable: Sequence[str] = ()) -> LoadReport:
    """Load `state` into `module` by name and shape (see the module docstring); returns the report.
    PretrainedError when nothing matches or a shape differs outside `replaceable` prefixes."""
    import torch  # torch only when weights are loaded

    own = module.state_dict()
    state = {_unwrap(k): v for k, v in state.items()}
    prefix = find_prefix(state, own)
    mapped = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    skipped = sorted(k for k in state if not k.startswith(prefix) or k[len(prefix):] not in own)
    mismatched, new, take = [], [], {}
    for name, tensor in own.items():
        value = mapped.get(name)
        if value is None:
            new.append(name)
        elif tuple(value.shape) != tuple(tensor.shape):
            if any(name == p or name.startswith(p + ".") for p in replaceable):
                new.append(name)
            else:
                mismatched.append(f"{name} {tuple(value.shape)} in the file, {tuple(tensor.shape)} in the model")
        else:
            take[name] = value
    if mismatched:
        raise PretrainedError(f"the weights in {source} are for a different architecture: {len(mismatched)} "
                              f"tensor(s) differ in shape — {'; '.join(mismatched[:5])}"
                              f"{'; ...' if len(mismatched) > 5 else ''} — choose the model they were saved from, "
                              "or weights = \"random\"", "weights_path")
    if not take:
        raise PretrainedError(f"none of the {len(state)} tensors in {source} fit this model (the file has "
                              f"{_some(sorted(state))[2:-1] or 'no tensors'}; the model expects "
                              f"{_some(sorted(own))[2:-1]}) — choose the model they were saved from", "weights_path")
    with torch.no_grad():
        for name, value in take.items():
            own[name].copy_(value.to(own[name].dtype))
    return LoadReport(source, tuple(sorted(take)), tuple(skipped), tuple(sorted(new)), prefix)


def _unwrap(key: str) -> str:
    for prefix in _WRAPPER_PREFIXES:
        while key.startswith(prefix):
            key = key[len(prefix):]
    return key
