"""The Train page's "Where" box: where the run's ranks start — one button per launcher in the
LAUNCHERS registry (This machine / Slurm / Ray) and the chosen launcher's options as a schema
form, so a new launcher appears here without GUI code. Edits come out as signals; the page turns
them into undoable spec edits of [launcher]."""
from __future__ import annotations

from typing import Any, Mapping

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QButtonGroup, QFrame, QHBoxLayout, QLabel, QRadioButton, QVBoxLayout, QWidget

from app.widgets.schema_form import SchemaForm


class WhereBox(QFrame):
    """`kindChosen(kind)` when another launcher is picked; `optionChanged(name, value)` when one
    of its options is edited."""

    kindChosen = Signal(str)
    optionChanged = Signal(str, object)

    def __init__(self, parent: QWidget | None = None):
        from engine.spec import LAUNCHERS

        super().__init__(parent)
        self.setObjectName("panel")
        self.registry = LAUNCHERS
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 12)
        layout.addWidget(QLabel("WHERE", objectName="sectionTitle"))
        row = QHBoxLayout()
        row.setSpacing(14)
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        for entry in LAUNCHERS:
            button = QRadioButton(entry.extra.get("label") or entry.name, objectName=f"where_{entry.name}")
            button.setToolTip(entry.description)
            button.toggled.connect(lambda on, kind=entry.name: on and self._chosen(kind))
            self.group.addButton(button)
            self.buttons[entry.name] = button
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)
        self.description = QLabel(objectName="whereDescription")
        self.description.setWordWrap(True)
        layout.addWidget(self.description)
        self.form = SchemaForm(show_help=False)
        self.form.setObjectName("launcherForm")
        self.form.valueChanged.connect(self.optionChanged)
        layout.addWidget(self.form)
        self.kind = ""
        self._syncing = False

    def _chosen(self, kind: str) -> None:
        if not self._syncing and kind != self.kind:
            self.kindChosen.emit(kind)

    def show_launcher(self, kind: str, options: Mapping[str, Any]) -> None:
        """Show `kind` chosen with its `options` (defaults for the rest), emitting nothing."""
        self._syncing = True
        try:
            if kind in self.buttons:
                self.buttons[kind].setChecked(True)
            else:  # an unknown kind in a hand-written file: nothing chosen; the problem names it
                self.group.setExclusive(False)
                for button in self.buttons.values():
                    button.setChecked(False)
                self.group.setExclusive(True)
            params = self.registry.get(kind).params if kind in self.registry else ()
            self.description.setText(self.registry.get(kind).description if kind in self.registry else
                                     f"Unknown launcher {kind!r}: choose one above.")
            if params != self.form.params:
                self.form.set_params(params, options)
            else:
                self.form.set_values(options)
            self.form.setVisible(bool(params))
            self.kind = kind
        finally:
            self._syncing = False
