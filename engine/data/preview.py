"""What the GUI's Data page shows about a data set: samples, a table, class balance, a snippet."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.data.api import class_counts, load_data, load_raw
from engine.data.base import DataInfo, Dataset

#: preview tables show at most this many feature columns (the rest are counted in hidden_columns)
MAX_COLUMNS = 32
#: points kind: at most this many training points for the scatter plot
MAX_POINTS = 1000
SNIPPET_CHARS = 600
#: tokens of a tokenizer's vocabulary listed in a preview
MAX_VOCAB_SHOWN = 400


@dataclass(frozen=True, eq=False)
class Preview:
    """A small, display-ready view of a data set. Fields that do not apply to the data's
    kind are empty (``()``, ``None``, ``""``, ``0``).

    - every kind: `info`, `train_size`, `val_size`, `notes`; `class_counts` = (class name,
      samples) over train + val for classification (empty otherwise).
    - image: `images` = n training samples, float32 (H, W) or (H, W, 3) in [0, 1] (original
      pixels, not normalized); `labels` = their class names.
    - tabular / points: `columns` = feature names (at most MAX_COLUMNS, `hidden_columns` more
      not shown), `rows` = n training rows in original units, `labels` = each row's class name
      or target value; `target_range` = (min, max) of a regression target.
    - points: also `points` (M, 2) and `point_labels` (M,) — up to MAX_POINTS training points in
      original units for a scatter plot.
    - image: also `augmented` = the same training images after one random draw of the training
      augmentation (empty when the data has none), `augment_note` says what it does.
    - text: `text` = the start of the text, `vocab_size`, `vocab` (the sorted characters, or the
      tokenizer's first tokens); `tokens` = the tokens of the shown samples as the tokenizer split
      them (padding left out), one tuple per sample.
    - text classification: `samples` = n training texts (decoded), `labels` their classes.
    """

    info: DataInfo
    train_size: int
    val_size: int
    notes: tuple[str, ...] = ()
    class_counts: tuple[tuple[str, int], ...] = ()
    images: tuple[np.ndarray, ...] = ()
    labels: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    hidden_columns: int = 0
    rows: tuple[tuple[float, ...], ...] = ()
    target_range: tuple[float, float] | None = None
    points: np.ndarray | None = None
    point_labels: np.ndarray | None = None
    text: str = ""
    vocab_size: int = 0
    vocab: tuple[str, ...] = ()
    augmented: tuple[np.ndarray, ...] = ()
    augment_note: str = ""
    tokens: tuple[tuple[str, ...], ...] = ()
    samples: tuple[str, ...] = ()


def preview(data, seed: int, n: int = 16) -> Preview:
    """A Preview of `data` (a DataSpec) split with `seed`, showing `n` training samples.
    Loads the data (cached), so run it off the GUI thread. Raises SpecError like load_data."""
    ds = load_data(data, seed)
    info = ds.info
    fields: dict = dict(info=info, train_size=ds.train_size, val_size=ds.val_size, notes=ds.notes)
    if info.task == "classification":
        fields["class_counts"] = class_counts(np.concatenate([ds.y_train, ds.y_val]), info.class_names)
    n = max(0, min(n, ds.train_size))
    if info.kind == "text":
        fields.update(vocab_size=len(ds.vocab), vocab=ds.vocab[:MAX_VOCAB_SHOWN])
        if info.task == "classification":
            rows = ds.x_train[:n]
            fields.update(samples=tuple(ds.decode(r) for r in rows), labels=_labels(ds, ds.y_train[:n]),
                          tokens=tuple(_tokens(ds, r) for r in rows))
            return Preview(**fields)
        raw = load_raw(data, seed)
        fields.update(text=ds.decode(raw.x[: SNIPPET_CHARS // info.input_shape[0] + 1])[:SNIPPET_CHARS])
        if ds.decoder is not None:  # a tokenizer's tokens: show how it split the start
            fields["tokens"] = (_tokens(ds, raw.x[0]),)
        return Preview(**fields)
    labels = _labels(ds, ds.y_train[:n])
    if info.kind == "image":
        fields.update(images=tuple(_display_image(ds, x) for x in ds.x_train[:n]), labels=labels)
        if ds.augment is not None and n:
            from engine.data.augment import augment_numpy  # torch only when augmentations are previewed

            shown = augment_numpy(ds.augment, ds.x_train[:n], seed)
            fields.update(augmented=tuple(_display_image(ds, x) for x in shown), augment_note=ds.augment.describe())
        return Preview(**fields)
    shown = ds.unnormalize(ds.x_train[:n]).reshape(n, -1)
    names = info.feature_names or tuple(f"x{i}" for i in range(shown.shape[1]))
    fields.update(
        columns=names[:MAX_COLUMNS], hidden_columns=max(0, len(names) - MAX_COLUMNS), labels=labels,
        rows=tuple(tuple(float(f"{v:.6g}") for v in row[:MAX_COLUMNS]) for row in shown),
    )
    if info.task == "regression":
        targets = np.concatenate([ds.y_train, ds.y_val]).ravel()
        fields["target_range"] = (float(targets.min()), float(targets.max()))
    if info.kind == "points":
        m = min(MAX_POINTS, ds.train_size)
        fields.update(points=ds.unnormalize(ds.x_train[:m]), point_labels=ds.y_train[:m].copy())
    return Preview(**fields)


def _tokens(ds: Dataset, ids: np.ndarray) -> tuple[str, ...]:
    """One sample's tokens as the tokenizer wrote them, padding left out."""
    return tuple(ds.vocab[int(i)] for i in np.ravel(ids) if int(i) != ds.pad_id and 0 <= int(i) < len(ds.vocab))


def _labels(ds: Dataset, y: np.ndarray) -> tuple[str, ...]:
    if ds.info.task == "classification":
        return tuple(ds.info.class_names[int(v)] for v in y)
    return tuple(f"{float(v):.4g}" for v in np.asarray(y).reshape(len(y), -1)[:, 0])


def _display_image(ds: Dataset, x: np.ndarray) -> np.ndarray:
    """One normalized (C, H, W) sample back to (H, W) or (H, W, 3) in [0, 1]."""
    image = ds.unnormalize(x)
    if image.shape[0] == 3:
        image = image.transpose(1, 2, 0)
    else:
        image = image[0]
    low, high = float(image.min()), float(image.max())
    if low < -1e-4 or high > 1 + 1e-4:  # not pixel data (e.g. random features): rescale for display
        image = (image - low) / (high - low or 1.0)
    return np.clip(image, 0.0, 1.0).astype(np.float32)
