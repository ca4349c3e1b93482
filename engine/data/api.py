"""The public data functions: describe_data, load_data, check_data.

Sources only produce raw samples; this module resolves options, caches loads, splits with
the seed and normalizes with statistics of the training split."""
from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from typing import Any, Mapping

import numpy as np

from engine.data.base import DATA_SOURCES, DataInfo, Dataset, Raw, Source
from engine.data.splits import apply_norm, channel_stats, feature_stats, split_indices
from engine.problems import Problem, SpecError

_CACHE_SIZE = 4
_cache: "OrderedDict[tuple, Raw]" = OrderedDict()
_cache_lock = threading.Lock()


def resolve(data) -> tuple[Source, dict[str, Any]]:
    """The source and its options with defaults filled in; SpecError for an unknown source
    or bad options (each problem names its `data.<option>` path)."""
    if not isinstance(data.source, str):
        raise SpecError([Problem("data.source", f"expects a data-source name, got {data.source!r}")])
    if data.source not in DATA_SOURCES:
        raise SpecError([Problem("data.source", DATA_SOURCES.unknown_message(data.source))])
    fixed = [f.name for f in dataclasses.fields(data) if f.name != "options"]
    options, problems = DATA_SOURCES.check(data.source, data.options, "data", siblings=fixed)
    if problems:
        raise SpecError(problems)
    return DATA_SOURCES.get(data.source).obj, options


def describe_data(data) -> DataInfo:
    """What `data` (a DataSpec) will produce: input shape and dtype, task, classes, names.
    Cheap: reads at most a CSV, a folder listing or a text file (cached by file identity).
    Raises SpecError naming the offending field (``data.path``, ``data.target``, ...)."""
    source, options = resolve(data)
    try:
        return source.describe(options)
    except OSError as err:
        raise _os_problem(err) from None


def check_data(spec) -> list[Problem]:
    """Problems with the [data] section of an ExperimentSpec: option schema, then the source's
    own checks (missing file, unknown target column, empty folder, ...)."""
    try:
        describe_data(spec.data)
    except SpecError as err:
        return list(err.problems)
    return []


def load_raw(data, seed: int) -> Raw:
    """Every sample of `data` before splitting (cached: the last few loads are kept)."""
    source, options = resolve(data)
    try:
        key = (data.source, _freeze(options), int(seed), source.key(options))
        with _cache_lock:
            if key in _cache:
                _cache.move_to_end(key)
                return _cache[key]
        raw = source.load(options, int(seed))
    except OSError as err:
        raise _os_problem(err) from None
    with _cache_lock:
        _cache[key] = raw
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return raw


def clear_cache() -> None:
    """Forget cached loads (tests, or after the user edits files in place)."""
    with _cache_lock:
        _cache.clear()


def load_data(data, seed: int) -> Dataset:
    """Load, split (seeded, stratified for classification) and normalize `data` (a DataSpec).

    The same seed always gives the same split; normalization statistics come from the
    training split only and are kept in ``Dataset.norm``. Returned arrays are fresh copies
    the caller may modify. Raises SpecError for unusable data."""
    raw = load_raw(data, seed)
    n = len(raw.x)
    if n < 2:
        raise SpecError([Problem("data", f"has only {n} sample(s) — at least 2 are needed to train and validate")])
    stratify = raw.stratify and raw.info.task == "classification"
    train, val = split_indices(n, float(data.val_fraction), seed, raw.y if stratify else None)
    x_train, x_val = raw.x[train], raw.x[val]
    norm = None
    if raw.normalize != "none":
        norm = _NORMS[raw.normalize](raw, x_train)
        x_train, x_val = apply_norm(x_train, norm), apply_norm(x_val, norm)
    return Dataset(
        info=raw.info, x_train=x_train, y_train=raw.y[train], x_val=x_val, y_val=raw.y[val],
        notes=raw.notes, vocab=raw.vocab, norm=norm, pad_id=raw.pad_id, decoder=raw.decoder, augment=raw.augment,
    )


#: Raw.normalize -> the (mean, std) applied to x: statistics of the training split, or fixed values
_NORMS = {
    "standardize": lambda raw, x_train: feature_stats(x_train),
    "image": lambda raw, x_train: channel_stats(x_train),
    "fixed": lambda raw, x_train: raw.fixed_norm,
}


def _os_problem(err: OSError) -> SpecError:
    """A file-system error (permission denied, vanished file, ...) as a problem on data.path."""
    where = f" {err.filename}" if err.filename else ""
    return SpecError([Problem("data.path", f"cannot read{where}: {err.strerror or err} — check the path and its "
                                           "permissions")])


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def class_counts(y: np.ndarray, names: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """(class name, count) for every class, in class order."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=len(names))
    return tuple((name, int(c)) for name, c in zip(names, counts))
