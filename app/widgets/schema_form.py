"""SchemaForm: an options form generated from `engine.registry.Param` schemas.

One editor per parameter kind, chosen from the :data:`EDITORS` registry (int -> spin box with
the schema's range, float -> number box, bool -> check box, choice -> combo box, path -> line
edit with a Browse button, ints -> comma-separated list, str -> line edit). Each field shows its
help text under it and, when set with :meth:`SchemaForm.set_problems`, its problem in red.

    form = SchemaForm(section_params(TrainingSpec), {"epochs": 5})
    form.valueChanged.connect(lambda name, value: ...)   # only for user edits
    form.set_values(new_values)                          # silent update from the document
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel, QLineEdit,
    QSizePolicy, QSpinBox, QToolButton, QWidget,
)

from app.widgets.theme import icon
from engine.registry import Param

_INT_LIMIT = 2**31 - 1


class _WheelGuard(QObject):
    """Spin and combo boxes ignore the mouse wheel unless focused, so scrolling a long form
    never changes a value by accident."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget) and not watched.hasFocus():
            event.ignore()
            return True
        return False


_WHEEL_GUARD = _WheelGuard()


def _guard(box: QWidget) -> QWidget:
    box.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    box.installEventFilter(_WHEEL_GUARD)
    return box


class ParamEditor(QWidget):
    """Base editor: `changed(value)` is emitted for user edits only; `set_value` is silent."""

    changed = Signal(object)

    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(parent)
        self.param = param
        self._silent = False
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)

    def _emit(self, value: Any) -> None:
        if not self._silent:
            self.changed.emit(value)

    def set_value(self, value: Any) -> None:
        self._silent = True
        try:
            self._show(value)
        finally:
            self._silent = False

    def _show(self, value: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def value(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


class IntEditor(ParamEditor):
    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.box = _guard(QSpinBox())
        low = int(param.min) if param.min is not None else -_INT_LIMIT
        high = int(param.max) if param.max is not None else _INT_LIMIT
        self.box.setRange(max(low, -_INT_LIMIT), min(high, _INT_LIMIT))
        self.box.setKeyboardTracking(False)
        self.box.setAccelerated(True)
        self.box.setMinimumWidth(110)
        self.box.valueChanged.connect(self._emit)
        self.layout().addWidget(self.box)
        self.layout().addStretch(1)
        self.setFocusProxy(self.box)

    def _show(self, value: Any) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            self.box.setValue(value)

    def value(self) -> int:
        return self.box.value()


class _NumberBox(QDoubleSpinBox):
    """A double spin box that shows numbers compactly (0.002, 1e-05) instead of fixed decimals."""

    def textFromValue(self, value: float) -> str:  # noqa: N802 (Qt name)
        return f"{value:.6g}"

    def valueFromText(self, text: str) -> float:  # noqa: N802 (Qt name)
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        from PySide6.QtGui import QValidator

        stripped = text.strip()
        if stripped in ("", "-", ".", "-.") or stripped.lower().endswith(("e", "e-", "e+")):
            return QValidator.State.Intermediate, text, pos
        try:
            number = float(stripped)
        except ValueError:
            return QValidator.State.Invalid, text, pos
        if self.minimum() <= number <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        return QValidator.State.Intermediate, text, pos


class FloatEditor(ParamEditor):
    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.box = _guard(_NumberBox())
        self.box.setDecimals(12)
        self.box.setRange(param.min if param.min is not None else -1e12, param.max if param.max is not None else 1e12)
        self.box.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        self.box.setKeyboardTracking(False)
        self.box.setMinimumWidth(110)
        self.box.valueChanged.connect(self._emit)
        self.layout().addWidget(self.box)
        self.layout().addStretch(1)
        self.setFocusProxy(self.box)

    def _show(self, value: Any) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self.box.setValue(float(value))

    def value(self) -> float:
        return self.box.value()


class BoolEditor(ParamEditor):
    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.box = QCheckBox()
        self.box.toggled.connect(self._emit)
        self.layout().addWidget(self.box)
        self.layout().addStretch(1)
        self.setFocusProxy(self.box)

    def _show(self, value: Any) -> None:
        if isinstance(value, bool):
            self.box.setChecked(value)

    def value(self) -> bool:
        return self.box.isChecked()


class ChoiceEditor(ParamEditor):
    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.box = _guard(QComboBox())
        self.box.addItems(list(param.choices))
        # as wide as the form allows, never wider (a long choice such as "gausslegendre" is not clipped)
        self.box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.box.setMinimumContentsLength(min(8, max((len(c) for c in param.choices), default=6)))
        self.box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.box.currentTextChanged.connect(self._emit)
        self.layout().addWidget(self.box)
        self.layout().addStretch(1)
        self.setFocusProxy(self.box)

    def _show(self, value: Any) -> None:
        index = self.box.findText(str(value))
        if index >= 0:
            self.box.setCurrentIndex(index)

    def value(self) -> str:
        return self.box.currentText()


class StrEditor(ParamEditor):
    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.edit = QLineEdit()
        self.edit.setClearButtonEnabled(True)
        self._last: Any = None
        self.edit.editingFinished.connect(self._finished)
        self.layout().addWidget(self.edit, 1)
        self.setFocusProxy(self.edit)

    def _parse(self, text: str) -> Any:
        return text

    def _format(self, value: Any) -> str:
        return "" if value is None else str(value)

    def _finished(self) -> None:
        value = self._parse(self.edit.text())
        if value is not None and value != self._last:
            self._last = value
            self._emit(value)

    def _show(self, value: Any) -> None:
        self._last = value
        self.edit.setText(self._format(value))

    def value(self) -> Any:
        return self._parse(self.edit.text())


class IntsEditor(StrEditor):
    """A list of integers typed as `3, 32, 32`; text that is not such a list is not applied
    and the field turns red until fixed."""

    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.edit.setPlaceholderText("e.g. 3, 32, 32")
        self.edit.textChanged.connect(lambda text: self.edit.setProperty("invalid", self._parse(text) is None))

    def _parse(self, text: str) -> list[int] | None:
        parts = [p for p in text.replace("[", " ").replace("]", " ").replace(",", " ").split()]
        try:
            return [int(p) for p in parts]
        except ValueError:
            return None

    def _format(self, value: Any) -> str:
        if isinstance(value, (list, tuple)):
            return ", ".join(str(v) for v in value)
        return "" if value is None else str(value)


class PathEditor(StrEditor):
    """A path with a Browse button: a folder chooser when the help mentions a folder/directory,
    else a file chooser."""

    def __init__(self, param: Param, parent: QWidget | None = None):
        super().__init__(param, parent)
        self.wants_folder = any(w in f"{param.name} {param.help}".lower() for w in ("folder", "directory"))
        self.edit.setPlaceholderText("choose a folder…" if self.wants_folder else "choose a file…")
        self.browse_button = QToolButton()
        self.browse_button.setObjectName("browseButton")
        self.browse_button.setIcon(icon("folder"))
        self.browse_button.setToolTip("Browse…")
        self.browse_button.clicked.connect(self.browse)
        self.layout().addWidget(self.browse_button)

    def ask_path(self) -> str:
        """Open the file/folder dialog; returns '' when cancelled (tests replace this)."""
        start = self.edit.text() or ""
        if self.wants_folder:
            return QFileDialog.getExistingDirectory(self, self.param.label, start)
        name, _ = QFileDialog.getOpenFileName(self, self.param.label, start)
        return name

    def browse(self) -> None:
        chosen = self.ask_path()
        if chosen:
            self.edit.setText(chosen)
            self._finished()


#: parameter kind -> editor class (a registry, so a new kind needs one entry here)
EDITORS: dict[str, Callable[[Param], ParamEditor]] = {
    "int": IntEditor, "float": FloatEditor, "bool": BoolEditor, "choice": ChoiceEditor,
    "str": StrEditor, "path": PathEditor, "ints": IntsEditor,
}


class SchemaForm(QWidget):
    """A form for `params` showing `values` (missing ones show their defaults).
    Emits `valueChanged(name, value)` when the user edits a field."""

    valueChanged = Signal(str, object)

    def __init__(self, params: Sequence[Param] = (), values: Mapping[str, Any] | None = None,
                 parent: QWidget | None = None, *, show_help: bool = True, label_width: int = 0,
                 wrap_labels: bool = False):
        super().__init__(parent)
        self.setObjectName("schemaForm")
        self._show_help = show_help
        self._label_width = label_width
        self._wrap_labels = wrap_labels  # a narrow panel: long labels take two lines instead of clipping the fields
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(10)
        self._grid.setVerticalSpacing(2)
        self._grid.setColumnStretch(1, 1)
        self._editors: dict[str, ParamEditor] = {}
        self._problems: dict[str, QLabel] = {}
        self._labels: dict[str, QLabel] = {}
        self._params: tuple[Param, ...] = ()
        self.set_params(params, values or {})

    @property
    def params(self) -> tuple[Param, ...]:
        return self._params

    def set_params(self, params: Sequence[Param], values: Mapping[str, Any] | None = None) -> None:
        """Rebuild the form for a new schema."""
        while self._grid.count():
            item = self._grid.takeAt(0)
            if item.widget() is not None:
                item.widget().hide()  # gone at once, even before the deferred delete runs
                item.widget().deleteLater()
        self._editors.clear()
        self._problems.clear()
        self._labels.clear()
        self._params = tuple(params)
        row = 0
        for param in self._params:
            label = QLabel(param.label + ("" if not param.required else " *"))
            label.setObjectName("fieldLabel")
            label.setMinimumWidth(self._label_width)
            label.setWordWrap(self._wrap_labels)
            label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            label.setToolTip(f"{param.name}: {param.help}" if param.help else param.name)
            editor = EDITORS[param.kind](param)
            editor.setObjectName(f"field_{param.name}")
            editor.setToolTip(param.help)
            editor.changed.connect(lambda value, name=param.name: self.valueChanged.emit(name, value))
            label.setBuddy(editor)
            self._grid.addWidget(label, row, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self._grid.addWidget(editor, row, 1)
            row += 1
            if self._show_help and param.help:
                help_label = QLabel(param.help)
                help_label.setObjectName("fieldHelp")
                help_label.setWordWrap(True)
                help_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
                self._grid.addWidget(help_label, row, 1)
                row += 1
            problem = QLabel()
            problem.setObjectName("fieldProblem")
            problem.setWordWrap(True)
            problem.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            problem.hide()
            self._grid.addWidget(problem, row, 1)
            row += 1
            self._grid.setRowMinimumHeight(row, 6)
            row += 1
            self._editors[param.name] = editor
            self._problems[param.name] = problem
            self._labels[param.name] = label
        self.set_values(values or {})

    def set_values(self, values: Mapping[str, Any]) -> None:
        """Show `values` (defaults for missing keys) without emitting valueChanged."""
        for param in self._params:
            value = values.get(param.name, None if param.required else param.default)
            if value is not None:
                self._editors[param.name].set_value(value)

    def values(self) -> dict[str, Any]:
        """The value currently shown in every field."""
        return {name: editor.value() for name, editor in self._editors.items()}

    def labels(self) -> dict[str, str]:
        """The label shown beside each field, by option name."""
        return {name: label.text() for name, label in self._labels.items()}

    def editor(self, name: str) -> ParamEditor:
        return self._editors[name]

    def problem(self, name: str) -> str:
        """The problem shown under field `name` ("" when none)."""
        label = self._problems[name]
        return label.text() if not label.isHidden() else ""

    def clear_problem(self, name: str) -> None:
        """Hide the problem under field `name` (the user just edited it)."""
        if name in self._problems:
            self._problems[name].clear()
            self._problems[name].hide()

    def set_problems(self, problems: Mapping[str, str]) -> None:
        """Show a red message under each named field; fields not named are cleared."""
        for name, label in self._problems.items():
            message = problems.get(name, "")
            label.setText(message)
            label.setVisible(bool(message))
