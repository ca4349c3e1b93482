"""The Sweeps page's parameter table: one row per swept option, picked from the spec's schema
(every option a sweep can vary, shown by its label and dotted path), with its distribution:
a log range, a linear range (with an optional step) or a list of values.

`table()` gives the ``[sweep.params]`` table exactly as the TOML holds it, so the engine's
parser and validation name any problem; `set_table()` shows one."""
from __future__ import annotations

import tomllib
from typing import Any, Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QComboBox, QHeaderView, QLineEdit, QTableWidget

from engine.registry import Param
from engine.sweep.space import NAMED_KINDS, named_choices

KINDS = (("log range", "log"), ("range", "range"), ("values", "values"))
COLUMNS = ("Option", "Distribution", "Low", "High", "Step or values")


class SweepParamsTable(QTableWidget):
    """Rows of (option, distribution, low, high, step/values); `changed` on every edit."""

    changed = Signal()

    def __init__(self, parent: Any = None):
        super().__init__(0, len(COLUMNS), parent)
        self.setObjectName("sweepParams")
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().hide()
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column, width in ((1, 96), (2, 64), (3, 64), (4, 84)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
            self.setColumnWidth(column, width)
        self.offer: list[tuple[str, Param, Any]] = []  # (path, schema, current value)

    # ------------------------------------------------------------------ the offer
    def set_spec(self, spec: Any) -> None:
        """Offer the options of `spec` (kept rows keep their choice)."""
        from engine.spec import ExperimentSpec
        from engine.sweep.space import sweepable

        doc = spec.to_dict() if isinstance(spec, ExperimentSpec) else {}
        self.offer = [(path, param, _value_at(doc, path, param)) for path, param in sweepable(spec)]
        for row in range(self.rowCount()):
            combo: QComboBox = self.cellWidget(row, 0)
            current = combo.currentData()
            self._fill(combo, current)

    def _fill(self, combo: QComboBox, current: str | None) -> None:
        combo.blockSignals(True)
        combo.clear()
        for path, param, _ in self.offer:
            combo.addItem(path, path)
            combo.setItemData(combo.count() - 1, f"{param.label}: {param.help}", Qt.ItemDataRole.ToolTipRole)
        index = combo.findData(current) if current else -1
        if index < 0 and current:
            combo.addItem(current, current)  # a path this spec does not have: validation names it
            index = combo.count() - 1
        combo.setCurrentIndex(max(0, index))
        combo.blockSignals(False)

    # ------------------------------------------------------------------ rows
    def add_row(self, path: str | None = None, raw: Mapping[str, Any] | None = None) -> int:
        """Add a row for `path` (default: the first option not swept yet), pre-filled from the
        option's current value unless `raw` (its TOML table) is given."""
        taken = set(self.table())
        if path is None:
            path = next((p for p, _, _ in self.offer if p not in taken), self.offer[0][0] if self.offer else "")
        row = self.rowCount()
        self.insertRow(row)
        combo = QComboBox(objectName="sweepOption")
        self._fill(combo, path)
        kind = QComboBox(objectName="sweepKind")
        for text, key in KINDS:
            kind.addItem(text, key)
        self.setCellWidget(row, 0, combo)
        self.setCellWidget(row, 1, kind)
        for column, name in ((2, "sweepLow"), (3, "sweepHigh"), (4, "sweepStep")):
            edit = QLineEdit(objectName=name)
            edit.textEdited.connect(lambda *_: self.changed.emit())
            self.setCellWidget(row, column, edit)
        combo.currentIndexChanged.connect(lambda *_, c=combo: self._prefill(self._row_of(c), None))
        kind.currentIndexChanged.connect(lambda *_: self.changed.emit())
        self._prefill(row, raw)
        return row

    def _row_of(self, widget: Any) -> int:
        for row in range(self.rowCount()):
            if self.cellWidget(row, 0) is widget:
                return row
        return -1

    def remove_selected(self) -> None:
        for row in sorted({i.row() for i in self.selectedIndexes()}, reverse=True):
            self.removeRow(row)
        self.changed.emit()

    def _prefill(self, row: int, raw: Mapping[str, Any] | None) -> None:
        if row < 0:
            return
        path = self.cellWidget(row, 0).currentData()
        param, value = next(((p, v) for q, p, v in self.offer if q == path), (None, None))
        raw = dict(raw) if raw is not None else _default_range(path, param, value)
        kind = "values" if "values" in raw else ("log" if raw.get("log") else "range")
        self.cellWidget(row, 1).setCurrentIndex([k for _, k in KINDS].index(kind))
        low, high = raw.get("low", ""), raw.get("high", "")
        self.cellWidget(row, 2).setText(_text(low))
        self.cellWidget(row, 3).setText(_text(high))
        extra = ", ".join(_text(v) for v in raw.get("values", [])) if kind == "values" else _text(raw.get("step", ""))
        self.cellWidget(row, 4).setText(extra)
        self.changed.emit()

    # ------------------------------------------------------------------ the table
    def table(self) -> dict[str, dict[str, Any]]:
        """The [sweep.params] table as the TOML holds it."""
        out: dict[str, dict[str, Any]] = {}
        for row in range(self.rowCount()):
            path = self.cellWidget(row, 0).currentData()
            kind = self.cellWidget(row, 1).currentData()
            low, high, extra = (self.cellWidget(row, c).text().strip() for c in (2, 3, 4))
            if kind == "values":
                out[path] = {"values": [_literal(v.strip()) for v in extra.split(",") if v.strip()]}
                continue
            entry: dict[str, Any] = {"low": _literal(low), "high": _literal(high)}
            if kind == "log":
                entry["log"] = True
            elif extra:
                entry["step"] = _literal(extra)
            out[path] = entry
        return out

    def set_table(self, table: Mapping[str, Mapping[str, Any]]) -> None:
        self.setRowCount(0)
        for path, raw in table.items():
            self.add_row(path, raw)


def _value_at(doc: Mapping[str, Any], path: str, param: Param) -> Any:
    """The spec's current value at a dotted path (the default when the TOML leaves it out)."""
    import re

    node: Any = doc
    for part in path.split("."):
        m = re.match(r"^(\w+)\[(\d+)\]$", part)
        try:
            node = node[m.group(1)][int(m.group(2))] if m else node[part]
        except (KeyError, IndexError, TypeError):
            return None if param.required else param.default
    return node


def _default_range(path: str, param: Param | None, value: Any) -> dict[str, Any]:
    """A sensible first distribution for an option: around its current value."""
    if param is None:
        return {"low": "", "high": ""}
    if path in NAMED_KINDS:
        names = named_choices(path)
        return {"values": [value, *[n for n in names if n != value][:1]] if value in names else names[:2]}
    if param.kind == "choice":
        return {"values": list(param.choices)}
    if param.kind == "bool":
        return {"values": [True, False]}
    if param.kind == "float":
        base = float(value) if isinstance(value, (int, float)) and value else 0.01
        if param.min is not None and param.min >= 0 and base > 0:
            return {"low": _round(base / 10), "high": _round(min(base * 10, param.max or math_inf())), "log": True}
        return {"low": _round(base / 2), "high": _round(base * 2)}
    base = int(value) if isinstance(value, int) and value else 8
    return {"low": max(int(param.min or 1), base // 2), "high": base * 2, "step": max(1, base // 4)}


def math_inf() -> float:
    return float("inf")


def _round(x: float) -> float:
    return float(f"{x:.3g}")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _literal(text: str) -> Any:
    """A number, true/false or a quoted string as TOML reads it; anything else as written."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
