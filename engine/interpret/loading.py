"""Open a trained run for explanation: `load_trained(run_dir)`.

Weights come from the run's safetensors checkpoint (never a pickle); the architecture is rebuilt
from the run's `spec.toml` and the data from its data source with the run's seed, so the
validation split is the one the model was validated on.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.interpret.context import Explainable
from engine.problems import Problem, SpecError

SPLITS = ("val", "train")
_PREFIXES = ("module.", "_orig_mod.")


@dataclass(frozen=True, eq=False)
class Trained:
    """A trained run, ready to explain: the run folder, its spec, the data set, the checkpoint
    folder the weights came from, and the Explainable (model + data description)."""

    run_dir: Path
    spec: Any
    data: Any
    checkpoint: Path
    explainable: Explainable

    @property
    def model(self):
        return self.explainable.model

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, labels) of the "val" or "train" split."""
        if name not in SPLITS:
            raise SpecError([Problem("split", f"unknown split {name!r}; use val or train")])
        return (self.data.x_val, self.data.y_val) if name == "val" else (self.data.x_train, self.data.y_train)

    def display(self, x: np.ndarray) -> np.ndarray:
        """A sample in display units (un-normalized: images in [0, 1], features in their units)."""
        return self.data.unnormalize(x) if self.data.norm is not None else np.asarray(x)


def checkpoint_folder(run_dir: Path, which: str = "latest") -> Path:
    """The checkpoint folder `which` names: "latest", "best" (when the run keeps one) or a
    folder name such as "step-000000120". SpecError naming the path if it is missing."""
    from engine.checkpoint import BEST, LATEST, WEIGHTS, best_checkpoint, latest_checkpoint

    root = run_dir / "checkpoints"
    if which in ("latest", "last"):
        folder = latest_checkpoint(root)
        if folder is None:
            raise SpecError([Problem(str(root / LATEST), "the run has no complete checkpoint yet — train it "
                                                         "(at least one epoch) before explaining it")])
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


def load_trained(run_dir: str | Path, checkpoint: str = "latest", *, device: str = "cpu") -> Trained:
    """Load a trained run: model with the checkpoint's weights (eval mode), spec and data.

    Raises SpecError with a problem naming the folder or file when the run, its checkpoint or
    its data cannot be used."""
    import torch

    from engine.checkpoint import load_weights
    from engine.data import load_data
    from engine.model import build_model
    from engine.runs import RunDir

    run = RunDir.open(run_dir)
    spec = run.load_spec()
    folder = checkpoint_folder(run.path, checkpoint)
    data = load_data(spec.data, spec.seed)
    info = data.info
    model = build_model(spec, info.input_shape, info.input_dtype, info.num_classes)
    state = {_strip(k): v for k, v in load_weights(folder / "model.safetensors").items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise SpecError([Problem(str(folder / "model.safetensors"), f"does not fit the model in spec.toml ({first}) — "
                                                                    "was spec.toml edited after training?")]) from None
    model.to(torch.device(device))
    ctx = Explainable.from_model(
        model, kind=info.kind, input_shape=info.input_shape, num_classes=info.num_classes,
        input_dtype=info.input_dtype, class_names=info.class_names, feature_names=info.feature_names,
        vocab=data.vocab, task=info.task, train_inputs=data.x_train, norm=data.norm)
    return Trained(run.path, spec, data, folder, ctx)


def _strip(key: str) -> str:
    for prefix in _PREFIXES:
        while key.startswith(prefix):
            key = key[len(prefix):]
    return key
