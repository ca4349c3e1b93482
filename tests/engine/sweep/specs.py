"""Small sweep specs for the tests: digits, a tiny MLP, a few steps per trial, no TensorBoard."""
from __future__ import annotations

from pathlib import Path

BASE = """name = "digits_sweep"
seed = 0

[data]
source = "digits"
batch_size = 64
val_fraction = 0.2

[model]
layers = [
  {{type = "Flatten"}},
  {{type = "Linear", out_features = 32}},
  {{type = "ReLU"}},
  {{type = "Linear", out_features = 0}},
]

[optimizer]
name = "adam"
lr = 0.003

[training]
epochs = {epochs}
max_steps = {max_steps}
log_every = 5
checkpoint_every = 0

[tracking]
tensorboard = false  # its import costs a trial ~2 s of CPU; the sweep tests do not read it
"""


def write_sweep(folder: Path, sweep: str, *, epochs: int = 2, max_steps: int = 0, name: str = "sweep.toml") -> Path:
    """A spec file with the given [sweep] section (TOML text) under `folder`."""
    path = folder / name
    path.write_text(BASE.format(epochs=epochs, max_steps=max_steps) + "\n" + sweep.strip() + "\n", encoding="utf-8")
    return path
