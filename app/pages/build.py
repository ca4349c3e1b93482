"""The Build page: the model builder (palette, layer stack, property editor, summary bar).

Every action here is one undoable `SpecDocument.edit`; the page redraws from the document's
spec and cached shape report after every change (its own edits, undo/redo, data changes).
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFrame, QHBoxLayout, QLabel, QMenu, QSplitter, QToolButton, QVBoxLayout, QWidget,
)

from app import commands as ops
from app.services.window_services import services_of
from app.widgets.layer_palette import LayerPalette
from app.widgets.layer_stack import LayerStack, is_composite
from app.widgets.property_editor import PropertyEditor
from app.widgets.summary_bar import SummaryBar
from app.widgets.theme import icon
from engine.paths import EXAMPLES

Path = tuple[int, ...]
_INDEX = re.compile(r"layers\[(\d+)\]")
#: the model templates offered on the page (all in engine/resources/examples)
TEMPLATES = (("digits_mlp", "MLP (digits)"), ("digits_cnn", "CNN (digits)"), ("resnet_mini", "ResNet-mini"),
             ("tiny_gpt", "Tiny GPT (text)"), ("seed_bigmodel", "Big model 1000-10000-1000-10"),
             ("wine_mlp", "MLP (wine, tabular)"), ("moons_mlp", "MLP (moons, 2-D points)"))


def problem_location(path: str) -> tuple[Path, str]:
    """'model.layers[2].layers[0].kernel_size' -> ((2, 0), 'kernel_size'); non-layer paths -> ((), '')."""
    if not path.startswith("model.layers["):
        return (), ""
    indices = tuple(int(i) for i in _INDEX.findall(path))
    tail = path[path.rfind("]") + 1:].lstrip(".")
    return indices, ("" if tail in ("", "type") else tail)


class BuildPage(QWidget):
    def __init__(self, window: Any, services: Any = None):
        super().__init__()
        from engine.layers import LAYERS

        self.main_window = window
        self.document = window.document
        self.problems = (services or services_of(window, self)).problems
        self.layer_palette = LayerPalette(LAYERS)
        self.stack = LayerStack()
        self.editor = PropertyEditor()
        self.summary = SummaryBar()

        root = QVBoxLayout(self)
        root.setContentsMargins(16, 12, 16, 12)
        root.setSpacing(10)
        root.addLayout(self._header())
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self._panel("Layers", self.layer_palette))
        splitter.addWidget(self._panel("Model", self.stack, self._stack_tools()))
        splitter.addWidget(self._panel("Properties", self.editor))
        splitter.setSizes([220, 620, 340])
        splitter.setStretchFactor(1, 1)
        root.addWidget(splitter, 1)
        root.addWidget(self.summary)

        self.layer_palette.addRequested.connect(self.add_layer)
        self.stack.selectionChanged.connect(self._selection_changed)
        self.stack.addTypeRequested.connect(self._insert_type)
        self.stack.moveRequested.connect(self.move_layer)
        self.stack.fixRequested.connect(self.apply_fix)
        self.stack.deleteRequested.connect(self.delete_layer)
        self.stack.duplicateRequested.connect(self.duplicate_layer)
        self.stack.toggleRequested.connect(self.toggle_layer)
        self.stack.moveByRequested.connect(self.move_by)
        self.stack.addInsideRequested.connect(self._add_inside)
        self.stack.optionsRequested.connect(self.set_options)
        self.editor.optionChanged.connect(self.set_option)
        self.editor.nameChanged.connect(self._rename)
        self.editor.enabledChanged.connect(self._set_enabled)
        self.editor.kindChanged.connect(self.change_kind)
        self.summary.problemClicked.connect(self.select_first_problem)
        self.document.specChanged.connect(self.refresh)
        self.document.reportReady.connect(self.refresh)
        if self.problems is not None:
            self.problems.changed.connect(self._show_summary)
        find = QAction(self)
        find.setShortcut(QKeySequence.StandardKey.Find)
        find.triggered.connect(lambda: (self.layer_palette.search.setFocus(), self.layer_palette.search.selectAll()))
        self.addAction(find)
        self.refresh()

    # -- layout pieces -----------------------------------------------------------------
    def _header(self) -> QHBoxLayout:
        row = QHBoxLayout()
        title = QLabel("Build the model")
        title.setObjectName("pageTitle")
        self.subtitle = QLabel()
        self.subtitle.setObjectName("pageSubtitle")
        templates = QToolButton()
        templates.setObjectName("templatesButton")
        templates.setText("Start from a template")
        templates.setIcon(icon("template"))
        templates.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        templates.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(templates)
        for stem, title_text in TEMPLATES:
            if (EXAMPLES / f"{stem}.toml").exists():
                menu.addAction(title_text, lambda s=stem: self.main_window.new_from_template(s))
        templates.setMenu(menu)
        row.addWidget(title)
        row.addSpacing(10)
        row.addWidget(self.subtitle, 1)
        row.addWidget(templates)
        return row

    def _panel(self, title: str, body: QWidget, tools: QWidget | None = None) -> QFrame:
        frame = QFrame()
        frame.setObjectName("panel")
        column = QVBoxLayout(frame)
        column.setContentsMargins(1, 8, 1, 1)
        column.setSpacing(4)
        head = QHBoxLayout()
        head.setContentsMargins(10, 0, 8, 0)
        label = QLabel(title)
        label.setObjectName("sectionTitle")
        head.addWidget(label)
        head.addStretch(1)
        if tools is not None:
            head.addWidget(tools)
        column.addLayout(head)
        if isinstance(body, LayerPalette):
            body.layout().setContentsMargins(8, 0, 8, 8)
        column.addWidget(body, 1)
        return frame

    def _stack_tools(self) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(2)
        self.tool_buttons: dict[str, QToolButton] = {}
        for name, tip, slot in (
            ("up", "Move up (Alt+Up)", lambda p: self.move_by(p, -1)),
            ("down", "Move down (Alt+Down)", lambda p: self.move_by(p, 1)),
            ("duplicate", "Duplicate (Ctrl+D)", self.duplicate_layer),
            ("disable", "Enable / disable (Ctrl+E)", self.toggle_layer),
            ("delete", "Delete (Del)", self.delete_layer),
        ):
            button = QToolButton()
            button.setObjectName(f"{name}LayerButton")
            button.setIcon(icon(name, size=18))
            button.setIconSize(QSize(18, 18))
            button.setAutoRaise(True)
            button.setToolTip(tip)
            button.clicked.connect(lambda _=False, s=slot: self._on_selected(s))
            row.addWidget(button)
            self.tool_buttons[name] = button
        return box

    def _on_selected(self, slot) -> None:
        path = self.stack.selected_path()
        if path is not None:
            slot(path)

    # -- redraw ------------------------------------------------------------------------
    def refresh(self, *_args) -> None:
        """Redraw everything from the document (cheap: shape inference is pure and cached)."""
        spec = self.document.spec
        report = self.document.report()
        problems = self.document.model_problems()
        selected = self.stack.selected_path()
        self.stack.set_model(spec.model.layers, report, self.document.pending())
        if selected is not None and ops.exists(spec.model.layers, selected):
            self.stack.select(selected)
        info = self.document.data_info()
        if self.document.data_pending():
            where = f"data: {spec.data.source} (loading…)"
        elif info is None:
            where = f"data: {spec.data.source} (has a problem — see the Data page)"
        else:
            where = f"data: {spec.data.source}"
        self.subtitle.setText(f"{spec.name}  ·  {where}")
        self._show_summary()
        fits = [p for p in problems if p not in report.problems]
        self.stack.set_output_problem(fits[0].message if fits else "")
        for name, button in self.tool_buttons.items():
            button.setEnabled(self.stack.selected_path() is not None)
        self._show_selected()

    def _selection_changed(self, _path) -> None:
        for button in self.tool_buttons.values():
            button.setEnabled(self.stack.selected_path() is not None)
        self._show_selected()

    def _show_selected(self) -> None:
        path = self.stack.selected_path()
        layers = self.document.spec.model.layers
        if path is None or not ops.exists(layers, path):
            self.editor.show_layer(None, None, None)
            return
        report = self.document.report()
        rows = {r.index: r for r in report.rows}
        problems: dict[str, str] = {}
        for problem in report.problems:
            where, field = problem_location(problem.path)
            if where == path:
                problems.setdefault(field, problem.message)
        self.editor.show_layer(path, ops.layer_at(layers, path), rows.get(path), problems)

    def _show_summary(self) -> None:
        """The model's figures and problems, and the count of the other sections' problems (from
        the window's one problems list), so this page never says "No problems" while another has one."""
        model = self.document.model_problems()
        others = [p for p in (self.problems.problems() if self.problems is not None else ())
                  if not p.path.startswith("model")]
        self.summary.update_from(self.document.report(), model, self.document.pending(), others)

    def focus_problem(self, path: str) -> None:
        """Select the layer a problem names (the window's problems list sends here)."""
        where, _ = problem_location(path)
        if where and ops.exists(self.document.spec.model.layers, where):
            self.stack.select(where)
            self.stack.setFocus()

    def select_first_problem(self) -> None:
        model = self.document.model_problems()
        if not model and self.problems is not None and self.problems.problems():
            self.main_window.show_problem(self.problems.problems()[0].path)
            return
        for problem in model:
            where, _ = problem_location(problem.path)
            if where and ops.exists(self.document.spec.model.layers, where):
                self.stack.select(where)
                self.stack.setFocus()
                return

    # -- edits (each one undoable) ---------------------------------------------------------------
    def _commit(self, layers, text: str, select: Path | None = None, merge_key=None) -> None:
        self.document.edit(self.document.spec.with_layers(layers), text, merge_key)
        if select is not None:
            self.stack.select(select)

    def _target(self) -> tuple[Path, int]:
        """Where a palette add goes: inside a selected block, else after the selected layer, else at the end."""
        layers = self.document.spec.model.layers
        path = self.stack.selected_path()
        if path is None or not ops.exists(layers, path):
            return (), len(layers)
        layer = ops.layer_at(layers, path)
        if is_composite(layer.type):
            return path, len(layer.layers)
        return path[:-1], path[-1] + 1

    def add_layer(self, type_name: str) -> Path:
        """Add a `type_name` layer where :meth:`_target` says; returns its path."""
        parent, index = self._target()
        return self._insert_type(type_name, parent, index)

    def _add_inside(self, path: Path) -> None:
        kind = self.layer_palette.current_kind()
        if kind:
            block = ops.layer_at(self.document.spec.model.layers, path)
            self._insert_type(kind, path, len(block.layers))

    def _insert_type(self, type_name: str, parent: Path, index: int) -> Path:
        from engine.layers import LAYERS

        params = LAYERS.get(type_name).params if type_name in LAYERS else ()
        layers = ops.insert(self.document.spec.model.layers, tuple(parent), index, ops.new_layer(type_name, params))
        siblings = len(ops.layer_at(layers, parent).layers) if parent else len(layers)
        path = tuple(parent) + (max(0, min(index, siblings - 1)),)
        where = f" inside {ops.layer_at(layers, parent).type}" if parent else ""
        self._commit(layers, f"Add {type_name}{where}", path)
        self.main_window.statusBar().showMessage(f"Added {type_name}{where}", 3000)
        return path

    def move_layer(self, source: Path, parent: Path, index: int) -> None:
        try:
            layers, new_path = ops.move(self.document.spec.model.layers, tuple(source), tuple(parent), index)
        except ValueError as err:
            self.main_window.statusBar().showMessage(str(err), 4000)
            return
        self._commit(layers, f"Move {ops.layer_at(layers, new_path).type}", new_path)

    def move_by(self, path: Path, delta: int) -> None:
        layers = self.document.spec.model.layers
        siblings = len(ops.layer_at(layers, path[:-1]).layers) if len(path) > 1 else len(layers)
        target = path[-1] + delta
        if not 0 <= target < siblings:
            return
        self.move_layer(path, path[:-1], target + (1 if delta > 0 else 0))

    def delete_layer(self, path: Path) -> None:
        layers = self.document.spec.model.layers
        kind = ops.layer_at(layers, path).type
        new = ops.remove(layers, path)
        siblings = len(ops.layer_at(new, path[:-1]).layers) if len(path) > 1 else len(new)
        select = path[:-1] + (min(path[-1], siblings - 1),) if siblings else (path[:-1] or None)
        self._commit(new, f"Delete {kind}", select)

    def duplicate_layer(self, path: Path) -> None:
        layers, new_path = ops.duplicate(self.document.spec.model.layers, path)
        self._commit(layers, f"Duplicate {ops.layer_at(layers, new_path).type}", new_path)

    def toggle_layer(self, path: Path) -> None:
        layer = ops.layer_at(self.document.spec.model.layers, path)
        self._set_enabled(path, not layer.enabled)

    def _set_enabled(self, path: Path, on: bool) -> None:
        layer = ops.layer_at(self.document.spec.model.layers, path)
        if layer.enabled == on:
            return
        new = ops.replace(self.document.spec.model.layers, path, dataclasses.replace(layer, enabled=on))
        self._commit(new, f"{'Enable' if on else 'Disable'} {layer.type}", path)

    def _rename(self, path: Path, name: str) -> None:
        layer = ops.layer_at(self.document.spec.model.layers, path)
        if layer.name != name:
            new = ops.replace(self.document.spec.model.layers, path, dataclasses.replace(layer, name=name))
            self._commit(new, f"Rename {layer.type}", path)

    def change_kind(self, path: Path, kind: str) -> None:
        """Turn the layer at `path` into a `kind` layer, keeping the options that kind also has."""
        from engine.layers import LAYERS

        layer = ops.layer_at(self.document.spec.model.layers, path)
        params = LAYERS.get(kind).params
        fresh = ops.new_layer(kind, params)
        names = {p.name for p in params}
        kept = {k: v for k, v in layer.params.items() if k in names}
        new = dataclasses.replace(layer, type=kind, params={**fresh.params, **kept},
                                  layers=layer.layers if is_composite(kind) else ())
        self._commit(ops.replace(self.document.spec.model.layers, path, new), f"Change {layer.type} to {kind}", path)

    def set_option(self, path: Path, name: str, value: Any) -> None:
        layer = ops.layer_at(self.document.spec.model.layers, path)
        layers = ops.set_option(self.document.spec.model.layers, path, name, value)
        self._commit(layers, f"Set {layer.type}.{name} = {value}", path, merge_key=("option", path, name))

    def set_options(self, path: Path, change: dict) -> None:
        """Set several options of the layer at `path` in one undoable edit (a card's freeze controls)."""
        layer = ops.layer_at(self.document.spec.model.layers, path)
        text = ", ".join(f"{k} = {v}" for k, v in change.items())
        self._commit(ops.set_options(self.document.spec.model.layers, path, change), f"Set {layer.type} {text}", path)

    def apply_fix(self, path: Path) -> None:
        """Apply the report's one-click fix for the layer at `path` (insert a layer before it)."""
        row = {r.index: r for r in self.document.report().rows}.get(tuple(path))
        if row is None or row.fix is None:
            return
        layers = ops.insert(self.document.spec.model.layers, path[:-1], path[-1], row.fix.insert)
        self._commit(layers, f"Fix: {row.fix.description}", path[:-1] + (path[-1] + 1,))
        self.main_window.statusBar().showMessage(f"Fixed: {row.fix.description}", 4000)

    def on_shown(self) -> None:
        self.stack.setFocus()

