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

from engine.checkpoint import checkpoint_folder  # noqa: F401  (re-exported: explain names it)
from engine.interpret.context import Explainable
from engine.trained import load_run_model
from engine.problems import Problem, SpecError

SPLITS = ("val", "train")


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


def load_trained(run_dir: str | Path, checkpoint: str = "latest", *, device: str = "cpu") -> Trained:
    """Load a trained run: model with the checkpoint's weights (eval mode), spec and data.

    Raises SpecError with a problem naming the folder or file when the run, its checkpoint or
    its data cannot be used."""
    loaded = load_run_model(run_dir, checkpoint, device=device)
    model, data, spec, folder = loaded.model, loaded.data, loaded.spec, loaded.checkpoint
    info = data.info
    ctx = Explainable.from_model(
        model, kind=info.kind, input_shape=info.input_shape, num_classes=info.num_classes,
        input_dtype=info.input_dtype, class_names=info.class_names, feature_names=info.feature_names,
        vocab=data.vocab, task=info.task, train_inputs=data.x_train, norm=data.norm, pad_id=data.pad_id)
    return Trained(loaded.run_dir, spec, data, folder, ctx)

