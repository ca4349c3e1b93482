"""Seeded train/validation splits and normalization statistics from the training split."""
from __future__ import annotations

import numpy as np

#: salt so the split's random stream differs from the one generating synthetic data
_SPLIT_SALT = 0x5EED_5A17


def split_indices(
    n: int, val_fraction: float, seed: int, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) index arrays for `n` samples, reproducible for a given seed.

    With `labels` the split is stratified: each class contributes about `val_fraction` of its
    samples to validation. A positive `val_fraction` always gives at least one validation and
    one training sample (when n >= 2). Both arrays are shuffled."""
    rng = np.random.default_rng([_SPLIT_SALT, int(seed) & 0xFFFFFFFF])
    if val_fraction <= 0 or n < 2:
        return rng.permutation(n), np.empty(0, dtype=np.int64)
    if labels is not None:
        val_parts = []
        for cls in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == cls))
            val_parts.append(members[: int(round(len(members) * val_fraction))])
        val = np.concatenate(val_parts) if val_parts else np.empty(0, dtype=np.int64)
    else:
        val = rng.permutation(n)[: int(round(n * val_fraction))]
    mask = np.zeros(n, dtype=bool)
    mask[val] = True
    if not mask.any():
        mask[rng.integers(n)] = True
    if mask.all():
        mask[rng.integers(n)] = False
    train = rng.permutation(np.flatnonzero(~mask))
    val = rng.permutation(np.flatnonzero(mask))
    return train.astype(np.int64), val.astype(np.int64)


def feature_stats(x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std over the training rows, shape (F,...) like one sample.
    Constant features get std 1 so they map to 0 instead of dividing by zero."""
    mean = x_train.mean(axis=0, dtype=np.float64)
    std = x_train.std(axis=0, dtype=np.float64)
    return _finish(mean, std)


def channel_stats(x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of images (N, C, H, W), shaped (C, 1, 1)."""
    axes = (0, 2, 3)
    mean = x_train.mean(axis=axes, dtype=np.float64).reshape(-1, 1, 1)
    std = x_train.std(axis=axes, dtype=np.float64).reshape(-1, 1, 1)
    return _finish(mean, std)


def _finish(mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    std = np.where(std < 1e-8, 1.0, std)
    return mean.astype(np.float32), std.astype(np.float32)


def apply_norm(x: np.ndarray, stats: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """(x - mean) / std as a new float32 array."""
    mean, std = stats
    return ((x - mean) / std).astype(np.float32)
