"""What the attribution methods need to know about a trained model: `Explainable`.

An `Explainable` bundles the model (in eval mode), the kind of data it reads (image, tabular,
points, text), class and feature names, and a few training inputs used for baselines (the
training mean for IntegratedGradients, a reference sample for GradientShap). It is built by
:func:`engine.interpret.loading.load_trained` for a run, or by :meth:`Explainable.from_model`
for a hand-built model (tests, notebooks).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

KINDS = ("image", "tabular", "points", "text")


class LastPosition(nn.Module):
    """Wraps a sequence model whose output is (batch, time, classes): keeps the last position,
    so a language model is explained by the prediction of the character after the window."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.model(x)[:, -1]


@dataclass(frozen=True)
class Explainable:
    """A trained model ready for attribution.

    `model` is the network as trained; `forward` is the module Captum calls (the model itself,
    or :class:`LastPosition` around a sequence model). `reference` holds up to 32 training
    inputs (float32 or int64, shape (n, *input_shape)) from which baselines are made. Text:
    `vocab[id]` is each token as the tokenizer wrote it and `pad_id` the padding id (None = no
    padding): padding is left out of what is shown, and is the text models' "zeros" baseline.
    """

    model: nn.Module
    forward: nn.Module
    kind: str
    input_shape: tuple[int, ...]
    input_dtype: str
    num_classes: int
    class_names: tuple[str, ...] = ()
    feature_names: tuple[str, ...] = ()
    vocab: tuple[str, ...] = ()
    task: str = "classification"
    reference: np.ndarray | None = None
    train_mean: np.ndarray | None = None
    norm: tuple[Any, Any] | None = None
    extra: dict = field(default_factory=dict)
    pad_id: int | None = None

    @classmethod
    def from_model(
        cls, model: nn.Module, *, kind: str, input_shape: Sequence[int], num_classes: int,
        input_dtype: str = "float32", class_names: Sequence[str] = (), feature_names: Sequence[str] = (),
        vocab: Sequence[str] = (), task: str = "classification", train_inputs: np.ndarray | None = None,
        norm: tuple[Any, Any] | None = None, pad_id: int | None = None,
    ) -> "Explainable":
        """Wrap a model. `train_inputs` (optional) supplies the training mean and reference set."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        model.eval()
        forward: nn.Module = LastPosition(model) if task == "language_modeling" else model
        forward.eval()
        reference = mean = None
        if train_inputs is not None and len(train_inputs):
            train_inputs = np.asarray(train_inputs)
            rng = np.random.default_rng(0)
            pick = rng.choice(len(train_inputs), size=min(32, len(train_inputs)), replace=False)
            reference = train_inputs[np.sort(pick)]
            if input_dtype == "float32":
                mean = train_inputs.mean(axis=0).astype(np.float32)
        names = tuple(class_names) or tuple(str(i) for i in range(num_classes))
        return cls(model, forward, kind, tuple(int(s) for s in input_shape), input_dtype, int(num_classes),
                   names, tuple(feature_names), tuple(vocab), task, reference, mean, norm, pad_id=pad_id)

    # -- model structure ----------------------------------------------------------------------
    def named_layers(self) -> list[tuple[str, nn.Module]]:
        """(name, module) of every sub-module, depth first (names as in `model.named_modules()`)."""
        return [(n, m) for n, m in self.model.named_modules() if n]

    def conv_layers(self) -> list[str]:
        """Names of the convolutional layers (LayerGradCam candidates), input to output."""
        return [n for n, m in self.named_layers() if isinstance(m, nn.modules.conv._ConvNd)]

    def layer(self, name: str) -> nn.Module:
        return dict(self.named_layers())[name]

    def embedding_layer(self) -> nn.Module | None:
        """The first nn.Embedding (text models are explained at its output), or None."""
        for _, module in self.named_layers():
            if isinstance(module, nn.Embedding):
                return module
        return None

    @property
    def is_text(self) -> bool:
        return self.input_dtype == "int64"

    def shown_tokens(self, ids: np.ndarray) -> tuple[list[str], np.ndarray]:
        """(tokens as the tokenizer wrote them, positions) of a text sample, padding left out."""
        ids = np.ravel(ids)
        keep = np.flatnonzero(ids != self.pad_id) if self.pad_id is not None else np.arange(len(ids))
        vocab = self.vocab
        return [vocab[int(ids[i])] if 0 <= int(ids[i]) < len(vocab) else "?" for i in keep], keep

    # -- inputs and predictions ------------------------------------------------------------
    def tensor(self, x: np.ndarray) -> torch.Tensor:
        """A batch tensor (1, *input_shape) on the model's device from one sample array."""
        dtype = torch.long if self.is_text else torch.float32
        t = torch.as_tensor(np.asarray(x)).to(dtype)
        if t.dim() == len(self.input_shape):
            t = t.unsqueeze(0)
        return t.to(self.device)

    @property
    def device(self) -> torch.device:
        for p in self.model.parameters():
            return p.device
        return torch.device("cpu")

    @torch.no_grad()
    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Class probabilities (n, num_classes) of a batch of samples (softmax of the outputs)."""
        out = []
        for start in range(0, len(x), batch_size):
            logits = self.forward(self.tensor(x[start:start + batch_size]))
            if self.task == "regression":
                out.append(logits.float().cpu().numpy())
            else:
                out.append(torch.softmax(logits.float(), dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.num_classes), np.float32)


def counting_forward(module: nn.Module, callback: Callable[[int], None]) -> Callable[[], None]:
    """Call `callback(n)` after the n-th forward pass of `module`; returns a remover."""
    calls = [0]

    def hook(_module, _inputs, _output):
        calls[0] += 1
        callback(calls[0])

    handle = module.register_forward_hook(hook)
    return handle.remove


def with_model(ctx: Explainable, model: nn.Module) -> Explainable:
    """The same Explainable around another model of the same architecture."""
    model.eval()
    forward = LastPosition(model) if ctx.task == "language_modeling" else model
    return dataclasses.replace(ctx, model=model, forward=forward.eval())
