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
_WHAT = "an existing CSV file with a header row"


@dataclass(frozen=True, eq=False)
class _Parsed:
    info: DataInfo
    x: np.ndarray
    y: np.ndarray
    notes: tuple[str, ...]


def _options_key(options: Mapping[str, Any]) -> tuple:
    path = existing_path(options, folder=False, what=_WHAT)
    return (file_key(path), str(path), options["target"], options["task"], options["ignore_columns"])


def _parsed(options: Mapping[str, Any]) -> _Parsed:
    return _parse(*_options_key(options))


@functools.lru_cache(maxsize=4)
def _parse(_identity: tuple, path_str: str, target: str, task: str, ignore: str) -> _Parsed:
    path = Path(path_str)
    header, rows = _read(path)
    target = target.strip() or header[-1]
    if target not in header:
        raise fail("target", f"column {target!r} is not in {path} (columns: {', '.join(header)})"
                             f"{did_you_mean(target, header)}")
    ignored = [c.strip() for c in ignore.split(",") if c.strip()]
    for column in ignored:
        if column not in header:
            raise fail("ignore_columns", f"column {column!r} is not in {path} (columns: {', '.join(header)})"
                                         f"{did_you_mean(column, header)}")
    features = [c for c in header if c != target and c not in ignored]
    if not features:
        raise fail("target", f"{path} has no feature columns besides the target {target!r} — "
                             "add columns (or ignore fewer with data.ignore_columns)")
    used = [header.index(c) for c in features] + [header.index(target)]
    kept, missing_by_column = [], dict.fromkeys(header, 0)
    for line, row in rows:
        gaps = [i for i in used if row[i].strip().lower() in MISSING]
        for i in gaps:
            missing_by_column[header[i]] += 1
        if not gaps:
            kept.append((line, row))
    dropped = len(rows) - len(kept)
    if not kept:
        worst = max(missing_by_column, key=missing_by_column.get)
        raise fail("path", f"every row of {path} has a missing value ({len(rows)} rows; column {worst!r} is "
                           f"empty in {missing_by_column[worst]}) — fill the gaps or list mostly-empty columns "
                           "in data.ignore_columns")
    x = np.empty((len(kept), len(features)), dtype=np.float32)
    for j, column in enumerate(features):
        col = header.index(column)
        for i, (line, row) in enumerate(kept):
            x[i, j] = _number(row[col], column, line, path)
    labels = [(line, row[header.index(target)].strip()) for line, row in kept]
    info, y, task_note = _target(labels, target, task, tuple(features), path)
    notes = [task_note]
    if dropped:
        first = next(line for line, row in rows if any(row[i].strip().lower() in MISSING for i in used))
        notes.append(f"dropped {dropped} of {len(rows)} rows with missing values (first at line {first})")
    if ignored:
        notes.append(f"ignored columns: {', '.join(ignored)}")
    return _Parsed(info, x, y, tuple(notes))


def _read(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
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
    rows = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise fail("path", f"line {reader.line_num} of {path} has {len(row)} fields but the header has "
                               f"{len(header)} — fix that row")
        rows.append((reader.line_num, row))
    if not rows:
        raise fail("path", f"{path} has a header but no data rows")
    return header, rows


def _number(cell: str, column: str, line: int, path: Path) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise fail("path", f"column {column!r} has text {cell.strip()!r} at line {line} of {path} — feature "
                           "columns must be numbers: fix the value, or list the column in data.ignore_columns") from None
    if not math.isfinite(value):
        raise fail("path", f"column {column!r} has {cell.strip()!r} at line {line} of {path} — use a finite number "
                           "or leave the cell empty (rows with empty cells are dropped)")
    return value


def _target(labels: list[tuple[int, str]], target: str, task: str, features: tuple[str, ...], path: Path):
    numbers = _numbers(labels)
    if task == "regression" and numbers is None:
        line, value = next((ln, v) for ln, v in labels if _float(v) is None)
        raise fail("task", f"regression needs a numeric target, but column {target!r} has {value!r} at line {line} "
                           f"of {path} — choose task = \"classification\" or another target")
    distinct = sorted(set(numbers)) if numbers is not None else sorted({v for _, v in labels})
    if task == "auto":
        if numbers is None:
            task, why = "classification", "text labels"
        elif all(float(v).is_integer() for v in distinct) and len(distinct) <= MAX_INTEGER_CLASSES:
            task, why = "classification", f"{len(distinct)} distinct integer values"
        elif len(distinct) <= MAX_FLOAT_CLASSES:
            task, why = "classification", f"only {len(distinct)} distinct values"
        else:
            task, why = "regression", f"{len(distinct)} distinct numeric values"
        note = f"target {target!r}: {task} ({why}) — set data.task to change"
    else:
        note = f"target {target!r}: {task} (set by data.task)"
    if task == "regression":
        y = np.asarray(numbers, dtype=np.float32).reshape(-1, 1)
        return DataInfo((len(features),), "float32", "regression", 1, (), features, "tabular"), y, note
    if len(distinct) < 2:
        raise fail("target", f"column {target!r} of {path} has only one value ({distinct[0]!r}) — a classifier "
                             "needs at least 2 classes")
    index = {v: i for i, v in enumerate(distinct)}
    y = np.asarray([index[v] for v in (numbers if numbers is not None else [v for _, v in labels])], dtype=np.int64)
    names = tuple(_label_name(v) for v in distinct)
    return DataInfo((len(features),), "float32", "classification", len(names), names, features, "tabular"), y, note


def _label_name(value: float | str) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def _float(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _numbers(labels: list[tuple[int, str]]) -> list[float] | None:
    out = []
    for _, value in labels:
        number = _float(value)
        if number is None:
            return None
        out.append(number)
    return out


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
    ),
    group="Files",
    description="Your own table: numeric feature columns (standardized) and a target column; "
                "rows with missing values are dropped.",
)
