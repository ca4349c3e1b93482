"""PropertyEditor: the selected layer's options, generated from its registry schema.

There is no hand-written form per layer kind: the editor shows the kind's description, a name
field, an enabled switch, and a :class:`SchemaForm` for `entry.params`. Problems whose path
points at one option (`model.layers[3].kernel_size`) are shown under that field.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QFrame, QLabel, QLineEdit, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from app.widgets.layer_card import count_text, shape_text
from app.widgets.schema_form import SchemaForm
from engine.spec import LayerSpec

Path = tuple[int, ...]


class PropertyEditor(QScrollArea):
    """Emits optionChanged(path, name, value), nameChanged(path, text), enabledChanged(path, bool)."""

    optionChanged = Signal(object, str, object)
    nameChanged = Signal(object, str)
    enabledChanged = Signal(object, bool)
    kindChanged = Signal(object, str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("propertyEditor")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        self._column = QVBoxLayout(body)
        self._column.setContentsMargins(12, 10, 12, 12)
        self._column.setSpacing(6)
        self.title = QLabel("No layer selected")
        self.title.setObjectName("pageTitle")
        self.description = QLabel("Select a layer in the stack to edit its options, or add one from the palette.")
        self.description.setObjectName("hint")
        self.description.setWordWrap(True)
        self.shapes = QLabel()
        self.shapes.setObjectName("hint")
        self.shapes.setWordWrap(True)
        self.kind_combo = QComboBox()
        self.kind_combo.setObjectName("layerKind")
        self.kind_combo.setToolTip("Change the layer's kind (options the new kind also has are kept)")
        self.kind_combo.currentIndexChanged.connect(self._kind_chosen)
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("layerName")
        self.name_edit.setPlaceholderText("optional name (label in logs and Explain)")
        self.name_edit.editingFinished.connect(self._name_finished)
        self.enabled_box = QCheckBox("Enabled")
        self.enabled_box.setObjectName("layerEnabled")
        self.enabled_box.setToolTip("A disabled layer stays in the spec but is left out of the model (Ctrl+E)")
        self.enabled_box.toggled.connect(self._enabled_toggled)
        self.problem = QLabel()
        self.problem.setObjectName("fieldProblem")
        self.problem.setWordWrap(True)
        self.options_title = QLabel("Options")
        self.options_title.setObjectName("sectionTitle")
        self.form = SchemaForm()
        self.form.valueChanged.connect(self._option_changed)
        self.no_options = QLabel("This layer has no options.")
        self.no_options.setObjectName("hint")
        for widget in (self.title, self.description, self.shapes, self.problem, self.kind_combo, self.name_edit,
                       self.enabled_box, self.options_title, self.form, self.no_options):
            widget.setSizePolicy(QSizePolicy.Policy.Ignored, widget.sizePolicy().verticalPolicy())
            self._column.addWidget(widget)
        self._column.addStretch(1)
        self.setWidget(body)
        self._path: Path | None = None
        self._type: str | None = None
        self._unknown_kind = ""
        self._silent = False
        self.show_layer(None, None, None)

    @property
    def path(self) -> Path | None:
        return self._path

    def show_layer(self, path: Path | None, layer: LayerSpec | None, row, problems: dict[str, str] | None = None) -> None:
        """Show `layer` (at `path`, with its report `row`); None clears the editor. The form is
        rebuilt only when the selected layer or its kind changes, so editing keeps focus."""
        self._silent = True
        try:
            self._show(path, layer, row, problems or {})
        finally:
            self._silent = False

    def _show(self, path, layer, row, problems: dict[str, str]) -> None:
        editing = layer is not None
        for widget in (self.kind_combo, self.name_edit, self.enabled_box, self.options_title, self.form, self.shapes):
            widget.setVisible(editing)
        if not editing:
            self._path = self._type = None
            self.title.setText("No layer selected")
            self.description.setText("Select a layer in the stack to edit its options, or add one from the palette.")
            self.problem.hide()
            self.no_options.hide()
            return
        from engine.layers import LAYERS

        known = layer.type in LAYERS
        entry = LAYERS.get(layer.type) if known else None
        if path != self._path or layer.type != self._type:
            self.form.set_params(entry.params if entry else (), {})
        self._path, self._type = path, layer.type
        self.title.setText(layer.type + (f" — {layer.name}" if layer.name else ""))
        self._fill_kinds(LAYERS, layer.type)
        self.description.setText(entry.description if entry else "Unknown layer kind: choose one from the palette.")
        if row is not None:
            inner = f" (block output {shape_text(row.inner_shape)})" if getattr(row, "inner_shape", None) else ""
            self.shapes.setText(f"In {shape_text(row.in_shape)} → out {shape_text(row.out_shape)}{inner} · "
                                f"{count_text(row.params)}")
        else:
            self.shapes.setText("")
        if self.name_edit.text() != layer.name:
            self.name_edit.setText(layer.name)
        self.enabled_box.setChecked(layer.enabled)
        self.form.set_values(dict(layer.params))
        self.form.set_problems(problems)
        self.no_options.setVisible(entry is not None and not entry.params)
        self.options_title.setVisible(bool(entry and entry.params))
        general = problems.get("", "")
        self.problem.setText(general)
        self.problem.setVisible(bool(general))

    def _fill_kinds(self, layers, current: str) -> None:
        unknown = "" if current in layers else current
        if self.kind_combo.count() == 0 or unknown != self._unknown_kind:
            self._unknown_kind = unknown
            self.kind_combo.clear()
            if current not in layers:
                self.kind_combo.addItem(f"{current} (unknown — choose a kind)", "?" + current)
            for group, entries in layers.groups().items():
                for entry in entries:
                    self.kind_combo.addItem(f"{entry.name}   ·   {group}", entry.name)
        index = self.kind_combo.findData(current)
        self.kind_combo.setCurrentIndex(index if index >= 0 else 0)

    def _kind_chosen(self, index: int) -> None:
        kind = self.kind_combo.itemData(index)
        if not self._silent and self._path is not None and kind and not kind.startswith("?") and kind != self._type:
            self.kindChanged.emit(self._path, kind)

    def _option_changed(self, name: str, value: Any) -> None:
        if not self._silent and self._path is not None:
            self.optionChanged.emit(self._path, name, value)

    def _name_finished(self) -> None:
        if not self._silent and self._path is not None:
            self.nameChanged.emit(self._path, self.name_edit.text().strip())

    def _enabled_toggled(self, on: bool) -> None:
        if not self._silent and self._path is not None:
            self.enabledChanged.emit(self._path, on)
