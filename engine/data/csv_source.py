"""CSV files: a header row, numeric feature columns and one target column.

Features are standardized (train-split statistics, by load_data). String class labels map to
indices in sorted order; a numeric target with many distinct (or non-integer) values is a
regression target unless `task` says otherwise. Rows with a missing value are dropped and
counted in the notes. The parse is cached by file identity, so describe then load reads once."""
from __future__ import annotations

import csv
import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from engine.data.base import DATA_SOURCES, DataInfo, Raw, Source, existing_path, fail, file_key
from engine.problems import did_you_mean
from engine.registry import Param

#: cell values (lower-cased, stripped) read as "missing"
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
#: a numeric target with at most this many distinct integer values is read as class labels
MAX_INTEGER_CLASSES = 100
#: a numeric target with at most this many distinct values of any kind is read as class labels
MAX_FLOAT_CLASSES = 10
#: a one-hot encoded (categorical) column may have at most this many distinct values
MAX_CATEGORIES = 256
_WHAT = "an existing CSV file with a header row"


@dataclass(frozen=True, eq=False)
class _Parsed:
    info: DataInfo
    x: np.ndarray
    y: np.ndarray
    notes: tuple[str, ...]


def _options_key(options: Mapping[str, Any]) -> tuple:
    path = existing_path(options, folder=False, what=_WHAT)
    return (file_key(path), str(path), options["target"], options["task"], options["ignore_columns"],
            options["categorical"])


def _parsed(options: Mapping[str, Any]) -> _Parsed:
    return _parse(*_options_key(options))


@functools.lru_cache(maxsize=4)
def _parse(_identity: tuple, path_str: str, target: str, task: str, ignore: str, categorical: str) -> _Parsed:
    path = Path(path_str)
    header, lines, columns = _read(path)
    target = target.strip() or header[-1]
    if target not in header:
        raise fail("target", f"column {target!r} is not in {path} (columns: {', '.join(header)})"
                             f"{did_you_mean(target, header)}")
    ignored = _column_list(ignore, "ignore_columns", header, path)
    encoded = _column_list(categorical, "categorical", header, path)
    if target in encoded:
        raise fail("categorical", f"{target!r} is the target: its values become the classes already — "
                                  "remove it from data.categorical")
    features = [c for c in header if c != target and c not in ignored]
    if not features:
        raise fail("target", f"{path} has no feature columns besides the target {target!r} — "
                             "add columns (or ignore fewer with data.ignore_columns)")
    blocks = {c: (_Categorical.parse(columns[header.index(c)], c) if c in encoded
                  else _Column.parse(columns[header.index(c)])) for c in (*features, target)}
    gaps = np.logical_or.reduce([block.missing for block in blocks.values()])
    if gaps.all():
        worst = max(blocks, key=lambda c: int(blocks[c].missing.sum()))
        raise fail("path", f"every row of {path} has a missing value ({len(lines)} rows; column {worst!r} is "
                           f"empty in {int(blocks[worst].missing.sum())}) — fill the gaps or list mostly-empty "
                           "columns in data.ignore_columns")
    keep = ~gaps
    x = np.concatenate([blocks[c].features(c, lines, path)[keep] for c in features], axis=1).astype(np.float32)
    names = tuple(name for c in features for name in blocks[c].names(c))
    label = blocks[target]
    if label.bad.any():  # text labels
        numbers, cells = None, np.asarray([c.strip() for c in columns[header.index(target)]])[keep]
    else:
        numbers, cells = label.features(target, lines, path)[keep, 0], None
    info, y, task_note = _target(numbers, cells, lines[keep], target, task, names, path)
    notes = [task_note]
    if gaps.any():
        notes.append(f"dropped {int(gaps.sum())} of {len(lines)} rows with missing values "
                     f"(first at line {lines[np.argmax(gaps)]})")
    if ignored:
        notes.append(f"ignored columns: {', '.join(ignored)}")
    for c in (c for c in features if c in encoded):
        notes.append(f"one-hot encoded {c!r} into {len(blocks[c].levels)} columns")
    return _Parsed(info, x, y, tuple(notes))


def _column_list(text: str, option: str, header: list[str], path: Path) -> list[str]:
    """A comma-separated list of column names; each must be in the header."""
    names = [c.strip() for c in text.split(",") if c.strip()]
    for column in names:
        if column not in header:
            raise fail(option, f"column {column!r} is not in {path} (columns: {', '.join(header)})"
                               f"{did_you_mean(column, header)}")
    return names


def _read(path: Path) -> tuple[list[str], np.ndarray, list[tuple[str, ...]]]:
    """(header, line number of each data row, the cells of each column)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise fail("path", f"{path} is not UTF-8 text (byte {err.start}) — save it as UTF-8 CSV") from None
    except OSError as err:
        raise fail("path", f"cannot read {path}: {err.strerror or err}") from None
    if not text.strip():
        raise fail("path", f"{path} is empty — it needs a header row and data rows")
    try:
        dialect: Any = csv.Sniffer().sniff(text[:65536].split("\n", 20)[0], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(text.splitlines(), dialect)
    header = [h.strip() for h in next(reader)]
    for i, name in enumerate(header):
        if not name:
            raise fail("path", f"column {i + 1} of {path} has no name in the header row — name every column")
        if header.index(name) != i:
            raise fail("path", f"column name {name!r} appears twice in the header of {path} — rename one")
    if '"' in text:  # quoted cells may span lines: ask the reader for each row's line
        rows, numbers = [], []
        for row in reader:
            rows.append(row)
            numbers.append(reader.line_num)
        lines = np.asarray(numbers, dtype=np.int64)
    else:  # one row per line: read at C speed
        rows = list(reader)
        lines = np.arange(2, len(rows) + 2)
    widths = np.fromiter(map(len, rows), np.int64, count=len(rows))
    blank = widths == 0
    for i in np.flatnonzero(widths == 1):
        blank[i] = not rows[i][0].strip()
    wrong = (widths != len(header)) & ~blank
    if wrong.any():
        i = int(np.argmax(wrong))
        raise fail("path", f"line {lines[i]} of {path} has {widths[i]} fields but the header has "
                           f"{len(header)} — fix that row")
    if blank.any():
        rows = [row for row, skip in zip(rows, blank) if not skip]
        lines = lines[~blank]
    if not rows:
        raise fail("path", f"{path} has a header but no data rows")
    return header, np.asarray(lines), list(zip(*rows))


@dataclass(frozen=True, eq=False)
class _Column:
    """One column read as numbers: `values` (NaN where not a number), `missing` (empty, NA, nan,
    ...) and `bad` (text that is neither a number nor a missing marker)."""

    cells: tuple[str, ...]
    values: np.ndarray
    missing: np.ndarray
    bad: np.ndarray

    @classmethod
    def parse(cls, cells: tuple[str, ...]) -> "_Column":
        n = len(cells)
        try:  # fast path: every cell is a number ("nan" counts as missing)
            values = np.fromiter(map(float, cells), np.float64, count=n)
            return cls(cells, values, np.isnan(values), np.zeros(n, dtype=bool))
        except ValueError:
            pass
        values, missing, bad = np.full(n, np.nan), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        for i, cell in enumerate(cells):
            try:
                values[i] = float(cell)
            except ValueError:
                if cell.strip().lower() in MISSING:
                    missing[i] = True
                else:
                    bad[i] = True
        return cls(cells, values, missing | (np.isnan(values) & ~bad), bad)

    def features(self, column: str, lines: np.ndarray, path: Path) -> np.ndarray:
        """The values as a feature column; SpecError naming the column and line of a text or
        infinite cell."""
        if self.bad.any():
            i = int(np.argmax(self.bad))
            raise fail("path", f"column {column!r} has text {self.cells[i].strip()!r} at line {lines[i]} of {path} — "
                               "feature columns must be numbers: fix the value, list the column in "
                               "data.categorical to one-hot encode it, or in data.ignore_columns to leave it out")
        infinite = np.isinf(self.values)
        if infinite.any():
            i = int(np.argmax(infinite))
            raise fail("path", f"column {column!r} has {self.cells[i].strip()!r} at line {lines[i]} of {path} — use "
                               "a finite number, or leave the cell empty (rows with empty cells are dropped)")
        return self.values[:, None]

    def names(self, column: str) -> tuple[str, ...]:
        return (column,)


@dataclass(frozen=True, eq=False)
class _Categorical:
    """A text column one-hot encoded: one 0/1 feature per distinct value (sorted)."""

    codes: np.ndarray  # index into levels, -1 where missing
    levels: tuple[str, ...]
    missing: np.ndarray

    @classmethod
    def parse(cls, cells: tuple[str, ...], column: str) -> "_Categorical":
        stripped = [cell.strip() for cell in cells]
        missing = np.fromiter((v.lower() in MISSING for v in stripped), bool, count=len(stripped))
        levels = tuple(sorted({v for v, gap in zip(stripped, missing) if not gap}))
        if len(levels) > MAX_CATEGORIES:
            raise fail("categorical", f"column {column!r} has {len(levels)} distinct values; one-hot encoding "
                                      f"allows at most {MAX_CATEGORIES} — leave it out with data.ignore_columns")
        index = {v: i for i, v in enumerate(levels)}
        codes = np.fromiter((index.get(v, -1) for v in stripped), np.int64, count=len(stripped))
        return cls(codes, levels, missing)

    def features(self, column: str, lines: np.ndarray, path: Path) -> np.ndarray:
        return (self.codes[:, None] == np.arange(len(self.levels))).astype(np.float64)

    def names(self, column: str) -> tuple[str, ...]:
        return tuple(f"{column}={level}" for level in self.levels)


def _target(numbers: np.ndarray | None, cells: np.ndarray | None, lines: np.ndarray, target: str, task: str,
            features: tuple[str, ...], path: Path):
    """(info, y, note) for the target column: `numbers` when every kept cell is a number,
    else the stripped text `cells`."""
    if task == "regression" and numbers is None:
        i = next(i for i, cell in enumerate(cells) if _float(str(cell)) is None)
        raise fail("task", f"regression needs a numeric target, but column {target!r} has {str(cells[i])!r} at "
                           f"line {lines[i]} of {path} — choose task = \"classification\" or another target")
    values = numbers if numbers is not None else cells
    distinct, y = np.unique(values, return_inverse=True)
    if task == "auto":
        if numbers is None:
            task, why = "classification", "text labels"
        elif np.all(distinct == np.round(distinct)) and len(distinct) <= MAX_INTEGER_CLASSES:
            task, why = "classification", f"{len(distinct)} distinct integer values"
        elif len(distinct) <= MAX_FLOAT_CLASSES:
            task, why = "classification", f"only {len(distinct)} distinct values"
        else:
            task, why = "regression", f"{len(distinct)} distinct numeric values"
        note = f"target {target!r}: {task} ({why}) — set data.task to change"
    else:
        note = f"target {target!r}: {task} (set by data.task)"
    if task == "regression":
        targets = numbers.astype(np.float32).reshape(-1, 1)
        return DataInfo((len(features),), "float32", "regression", 1, (), features, "tabular"), targets, note
    if len(distinct) < 2:
        raise fail("target", f"column {target!r} of {path} has only one value ({_label_name(distinct[0])!r}) — "
                             "a classifier needs at least 2 classes")
    names = tuple(_label_name(v) for v in distinct)
    return (DataInfo((len(features),), "float32", "classification", len(names), names, features, "tabular"),
            y.astype(np.int64).ravel(), note)


def _label_name(value: Any) -> str:
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _float(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _describe(options: Mapping[str, Any]) -> DataInfo:
    return _parsed(options).info


def _load(options: Mapping[str, Any], seed: int) -> Raw:
    parsed = _parsed(options)
    return Raw(parsed.info, parsed.x, parsed.y, normalize="standardize", notes=parsed.notes)


DATA_SOURCES.add(
    "csv", Source(_describe, _load, key=_options_key),
    params=(
        Param("path", "path", help="The CSV file: a header row, then one sample per row"),
        Param("target", "str", "", "Name of the label column (empty = the last column)"),
        Param("task", "choice", "auto", "auto: text or few distinct values = classification, otherwise regression",
              choices=("auto", "classification", "regression")),
        Param("ignore_columns", "str", "", "Comma-separated columns to leave out (ids, free text, ...)"),
        Param("categorical", "str", "", "Comma-separated text columns to one-hot encode (one 0/1 feature per value)"),
    ),
    group="Files",
    description="Your own table: numeric feature columns (standardized) and a target column; "
                "rows with missing values are dropped.",
)
