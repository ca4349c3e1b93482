"""Tiny hand-built models shared by the interpret tests (no training, no run directory)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from engine.interpret.context import Explainable


class TinyLM(nn.Module):
    """Embedding -> running sum -> linear head: output (batch, time, vocab) like the trainer's LMs."""

    def __init__(self, vocab: int = 12, dim: int = 6):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.head = nn.Linear(dim, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.embedding(x)).cumsum(1))


def image_ctx(seed: int = 0) -> tuple[Explainable, np.ndarray]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 16, 10))
    x = np.random.default_rng(seed).random((40, 1, 8, 8), dtype=np.float32)
    return Explainable.from_model(model, kind="image", input_shape=(1, 8, 8), num_classes=10, train_inputs=x), x


def tabular_ctx(seed: int = 0) -> tuple[Explainable, np.ndarray]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))
    x = np.random.default_rng(seed).standard_normal((40, 5)).astype(np.float32)
    names = ("alcohol", "ash", "hue", "proline", "color")
    return Explainable.from_model(model, kind="tabular", input_shape=(5,), num_classes=3, train_inputs=x,
                                  feature_names=names, class_names=("a", "b", "c")), x


def text_ctx(seed: int = 0) -> tuple[Explainable, np.ndarray]:
    torch.manual_seed(seed)
    ids = np.random.default_rng(seed).integers(0, 12, (40, 7)).astype(np.int64)
    vocab = tuple("abcdefghijk ")
    return Explainable.from_model(TinyLM(), kind="text", input_shape=(7,), input_dtype="int64", num_classes=12,
                                  task="language_modeling", train_inputs=ids, vocab=vocab, class_names=vocab), ids


def trained_digits_cnn(epochs: int = 3):
    """A small CNN trained for a few epochs on the built-in digits (about a second on 1 core).
    Returns (trained Explainable, the dataset, the untrained Explainable)."""
    from engine.data import load_data
    from engine.spec import DataSpec

    data = load_data(DataSpec(source="digits"), seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 16, 10))
    import copy
    untrained = copy.deepcopy(model)
    x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(epochs):
        for i in range(0, len(x), 64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[i:i + 64]), y[i:i + 64]).backward()
            opt.step()
    kw = dict(kind="image", input_shape=(1, 8, 8), num_classes=10, train_inputs=data.x_train,
              class_names=data.info.class_names)
    return Explainable.from_model(model, **kw), data, Explainable.from_model(untrained, **kw)
