"""Data-source types: what a source reports (DataInfo), what loading returns (Dataset), and
the registry every source is added to (DATA_SOURCES).

A source is a pair of plain functions over its resolved options (defaults filled in):
``describe(options) -> DataInfo`` (cheap; reads a header or lists a folder at most) and
``load(options, seed) -> Raw`` (all samples, before the split). Splitting, normalization
and caching are shared and live in :mod:`engine.data.api`. Nothing here imports torch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from engine.problems import Problem, SpecError
from engine.registry import Registry

TASKS = ("classification", "regression", "language_modeling")
KINDS = ("image", "tabular", "points", "text")


@dataclass(frozen=True)
class DataInfo:
    """What a data source produces, known before loading it.

    `num_classes` is the number of classes (classification), the vocabulary size (language
    modelling) or the number of regression targets. `class_names` holds the class labels
    (the vocabulary's characters for text); `feature_names` the tabular/points columns;
    `vocab_size` the number of token ids of text data (0 otherwise)."""

    input_shape: tuple[int, ...]
    input_dtype: str
    task: str
    num_classes: int
    class_names: tuple[str, ...] = ()
    feature_names: tuple[str, ...] = ()
    kind: str = "tabular"
    vocab_size: int = 0

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"DataInfo.task must be one of {TASKS}, got {self.task!r}")
        if self.kind not in KINDS:
            raise ValueError(f"DataInfo.kind must be one of {KINDS}, got {self.kind!r}")
        if self.input_dtype not in ("float32", "int64"):
            raise ValueError(f"DataInfo.input_dtype must be float32 or int64, got {self.input_dtype!r}")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded, split and normalized data set (numpy arrays; the trainer wraps them in tensors).

    x: float32 features (int64 token ids for text). y: int64 class labels, float32 regression
    targets of shape (N, targets), or int64 next-token ids of shape (N, T).
    `norm` is (mean, std) computed on the training split and already applied to x, shaped to
    broadcast over one sample — (C, 1, 1) for images, (F,) for tabular — or None (text).
    `notes` tell the user what was done to the data (rows dropped, task chosen, ...).
    Tokenized text: `pad_id` is the padding id (a model's attention mask is ``x != pad_id``;
    None = no padding) and `decoder` turns ids back into text. Images: `augment` is the
    random transform applied to each training batch (engine.data.augment; None = none)."""

    info: DataInfo
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    notes: tuple[str, ...] = ()
    vocab: tuple[str, ...] = ()
    norm: tuple[np.ndarray, np.ndarray] | None = None
    pad_id: int | None = None
    decoder: Callable[[Sequence[int]], str] | None = None
    augment: Any = None

    @property
    def train_size(self) -> int:
        return int(len(self.x_train))

    @property
    def val_size(self) -> int:
        return int(len(self.x_val))

    def unnormalize(self, x: np.ndarray) -> np.ndarray:
        """Undo the normalization of samples `x` (batch or single sample): for display,
        images come back in [0, 1] and tabular features in their original units."""
        if self.norm is None:
            return np.asarray(x)
        mean, std = self.norm
        return np.asarray(x, dtype=np.float32) * std + mean

    def decode(self, tokens: np.ndarray) -> str:
        """Token ids back to text (text sources only)."""
        if not self.vocab:
            raise ValueError("decode() needs a text data set (this one has no vocabulary)")
        if self.decoder is not None:
            return self.decoder(np.asarray(tokens).ravel())
        return "".join(self.vocab[int(t)] for t in np.asarray(tokens).ravel())


@dataclass(frozen=True, eq=False)
class Raw:
    """What a source's `load` returns: every sample before the split.

    `normalize` says how load_data normalizes x with training-split statistics:
    "standardize" (per feature), "image" (per channel; x must already be in [0, 1]), "fixed"
    (images, with the given `fixed_norm` (mean, std) per channel, e.g. ImageNet's) or "none"."""

    info: DataInfo
    x: np.ndarray
    y: np.ndarray
    normalize: str = "standardize"
    notes: tuple[str, ...] = ()
    vocab: tuple[str, ...] = ()
    stratify: bool = True
    fixed_norm: tuple[np.ndarray, np.ndarray] | None = None
    pad_id: int | None = None
    decoder: Callable[[Sequence[int]], str] | None = None
    augment: Any = None


Describe = Callable[[Mapping[str, Any]], DataInfo]
Load = Callable[[Mapping[str, Any], int], Raw]


@dataclass(frozen=True)
class Source:
    """A registered data source: its two functions; `key` adds file identity (path, mtime)
    to the cache key of sources that read files, so an edited file is read again."""

    describe: Describe
    load: Load
    key: Callable[[Mapping[str, Any]], tuple] = field(default=lambda options: ())


#: name (the TOML `[data] source` value) -> Source; entry.params is the source's option schema.
DATA_SOURCES: Registry[Source] = Registry("data source")


def fail(path: str, message: str) -> SpecError:
    """A SpecError with one problem at `data.<path>` (or `data` when path is empty)."""
    return SpecError([Problem(f"data.{path}" if path else "data", message)])


def existing_path(options: Mapping[str, Any], *, folder: bool, what: str) -> Path:
    """The `path` option as an existing file (or folder); SpecError naming data.path if not."""
    raw = str(options.get("path", "")).strip()
    if not raw:
        raise fail("path", f"is empty — choose {what}")
    path = Path(raw).expanduser()
    if not path.exists():
        kind = "folder" if folder else "file"
        where = "" if path.is_absolute() else f" (looked in {Path.cwd()})"
        raise fail("path", f"{kind} not found: {path}{where} — choose {what}")
    if folder and not path.is_dir():
        raise fail("path", f"{path} is a file, not a folder — choose {what}")
    if not folder and path.is_dir():
        raise fail("path", f"{path} is a folder, not a file — choose {what}")
    return path


def file_key(path: Path) -> tuple:
    """Identity of a file's current contents for caching: (path, size, mtime)."""
    try:
        stat = path.stat()
    except OSError:
        return (str(path),)
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
