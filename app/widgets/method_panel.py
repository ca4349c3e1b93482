"""MethodPanel: pick an attribution method, its parameters (a form built from the method's
schema as the worker reports it for this model) and the target class."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from app.widgets.schema_form import SchemaForm
from engine.interpret.protocol import param_from_dict


class MethodPanel(QWidget):
    """`set_methods(info)` fills it from the worker's info; `method()`, `params()`, `target()`."""

    methodChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._methods: dict[str, dict[str, Any]] = {}
        self._values: dict[str, dict[str, Any]] = {}  # edited values per method, kept while switching
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QFormLayout()
        self.combo = QComboBox()
        self.combo.setObjectName("explainMethod")
        self.combo.currentTextChanged.connect(self._method_changed)
        self.target = QComboBox()
        self.target.setObjectName("explainTarget")
        self.target.setToolTip("Which output to explain: the predicted class, the true class, or any class")
        top.addRow("Method", self.combo)
        top.addRow("Target", self.target)
        layout.addLayout(top)
        self.description = QLabel("")
        self.description.setObjectName("hint")
        self.description.setWordWrap(True)
        layout.addWidget(self.description)
        self.form = SchemaForm(show_help=False, wrap_labels=True)
        self.form.valueChanged.connect(self._edited)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        holder = QWidget()
        holder_layout = QVBoxLayout(holder)
        holder_layout.setContentsMargins(0, 4, 4, 0)
        holder_layout.addWidget(self.form)
        holder_layout.addStretch(1)
        scroll.setWidget(holder)
        layout.addWidget(scroll, 1)

    def set_methods(self, info: dict[str, Any]) -> None:
        current = self.combo.currentText()
        self._methods = {m["name"]: m for m in info.get("methods", [])}
        self.combo.blockSignals(True)
        self.combo.clear()
        for name, m in self._methods.items():
            self.combo.addItem(name)
            self.combo.setItemData(self.combo.count() - 1, m["description"], 3)  # Qt.ToolTipRole
        self.combo.blockSignals(False)
        self.target.clear()
        self.target.addItem("predicted class", "predicted")
        if info.get("task") != "regression":
            self.target.addItem("true class", "true")
        for i, name in enumerate(info.get("class_names") or []):
            self.target.addItem(f"class {i}: {name!r}" if info.get("kind") == "text" else f"class {i}: {name}", i)
        self.set_method(current if current in self._methods else next(iter(self._methods), ""))

    def set_method(self, name: str) -> None:
        if self.combo.currentText() == name:
            self._method_changed(name)
        else:
            self.combo.setCurrentText(name)

    def _method_changed(self, name: str) -> None:
        m = self._methods.get(name)
        if not m:
            return
        self.description.setText(m["description"])
        for child in self.form.findChildren(QWidget):  # old editors are deleted later; hide them now
            child.hide()
        self.form.set_params([param_from_dict(p) for p in m["params"]], self._values.get(name, {}))
        self.form.set_problems({})
        self.methodChanged.emit(name)

    def _edited(self, key: str, value: Any) -> None:
        self._values.setdefault(self.method(), {})[key] = value
        self.form.set_problems({})

    def method(self) -> str:
        return self.combo.currentText()

    def methods(self) -> list[str]:
        return list(self._methods)

    def signed(self, name: str | None = None) -> bool:
        return bool(self._methods.get(name or self.method(), {}).get("signed", True))

    def params(self) -> dict[str, Any]:
        """The parameters that differ from the defaults (the worker fills in the rest)."""
        defaults = {p["name"]: p["default"] for p in self._methods.get(self.method(), {}).get("params", [])}
        return {k: v for k, v in self.form.values().items() if v != defaults.get(k)}

    def set_param(self, name: str, value: Any) -> None:
        """Set a field as if the user typed it (tests, presets)."""
        self._values.setdefault(self.method(), {})[name] = value
        self.form.set_values({**self.form.values(), **self._values[self.method()]})

    def target_value(self) -> Any:
        return self.target.currentData()

    def show_problems(self, message: str) -> bool:
        """Show `params.<name>: ...` lines under their fields; True if any matched."""
        found = {}
        for line in message.splitlines():
            path, _, text = line.partition(": ")
            if path.startswith("params."):
                found[path[len("params."):]] = text
        self.form.set_problems(found)
        return bool(found)
