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
