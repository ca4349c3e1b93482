"""LayerStack: the model as a vertical chain of layer cards, with nested, collapsible blocks.

The stack only displays and reports intentions (signals); the Build page turns them into
undoable document edits. Mouse: click selects, drag reorders (also into and out of blocks),
drops from the palette insert. Keyboard (when the stack has focus): Up/Down select,
Alt+Up/Down move, Delete deletes, Ctrl+D duplicates, Ctrl+E enables/disables.
"""
from __future__ import annotations

import json

from PySide6.QtCore import QMimeData, QPoint, QRect, Qt, Signal
from PySide6.QtGui import QDrag, QKeyEvent, QPainter, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QMenu, QScrollArea, QVBoxLayout, QWidget

from app.widgets.layer_card import LayerCard, identity
from app.widgets.layer_palette import LAYER_TYPE_MIME
from engine.spec import LayerSpec

LAYER_PATH_MIME = "application/x-netwright-layer-path"
Path = tuple[int, ...]


def is_composite(type_name: str) -> bool:
    """Whether a layer kind holds a nested stack (e.g. Residual)."""
    from engine.layers import LAYERS

    return type_name in LAYERS and bool(LAYERS.get(type_name).extra.get("composite"))


class LayerContainer(QWidget):
    """The cards of one level (the top stack, or a block's nested stack); accepts drops and
    draws the insertion line while dragging."""

    def __init__(self, stack: "LayerStack", parent_path: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.stack = stack
        self.parent_path = parent_path
        self.cards: list[LayerCard] = []
        self.setAcceptDrops(True)
        self.setObjectName("nestedStack" if parent_path else "topStack")
        self._column = QVBoxLayout(self)
        self._column.setContentsMargins(8 if parent_path else 0, 2, 0, 2)
        self._column.setSpacing(6)
        self._indicator: int | None = None

    def add_card(self, card: LayerCard) -> None:
        self.cards.append(card)
        self._column.addWidget(card)

    def clear(self) -> None:
        """Take every card and hint out of the layout (cards are kept for reuse or deletion)."""
        while self._column.count():
            widget = self._column.takeAt(0).widget()
            if widget is not None and widget.objectName() == "emptyStack":
                widget.deleteLater()
        self.cards = []

    def replace_card(self, old: LayerCard, new: LayerCard) -> None:
        """Put `new` where `old` is (used to update one card without rebuilding the stack)."""
        self.cards[self.cards.index(old)] = new
        self._column.replaceWidget(old, new)
        old.hide()
        new.show()

    def add_hint(self, text: str) -> None:
        hint = QLabel(text)
        hint.setObjectName("emptyStack")
        hint.setWordWrap(True)
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._column.addWidget(hint)

    def insertion_index(self, y: int) -> int:
        """Where a drop at height `y` (container coordinates) inserts among this level's cards."""
        self._column.activate()  # cards replaced since the last layout pass get their geometry
        for i, card in enumerate(self.cards):
            if y < card.geometry().center().y():
                return i
        return len(self.cards)

    def _accepts(self, mime: QMimeData) -> bool:
        if mime.hasFormat(LAYER_TYPE_MIME):
            return True
        if mime.hasFormat(LAYER_PATH_MIME):
            source = tuple(json.loads(bytes(mime.data(LAYER_PATH_MIME)).decode()))
            return self.parent_path[:len(source)] != source  # not into itself
        return False

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if self._accepts(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if not self._accepts(event.mimeData()):
            event.ignore()
            return
        self._indicator = self.insertion_index(event.position().toPoint().y())
        self.update()
        event.acceptProposedAction()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self._indicator = None
        self.update()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt name)
        index = self.insertion_index(event.position().toPoint().y())
        self._indicator = None
        self.update()
        if self.stack.drop(event.mimeData(), self.parent_path, index):
            event.acceptProposedAction()
        else:
            event.ignore()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().paintEvent(event)
        if self._indicator is None:
            return
        if not self.cards:
            y = 4
        elif self._indicator < len(self.cards):
            y = self.cards[self._indicator].geometry().top() - 3
        else:
            y = self.cards[-1].geometry().bottom() + 3
        painter = QPainter(self)
        painter.fillRect(QRect(0, max(0, y - 1), self.width(), 3), self.palette().color(QPalette.ColorRole.Highlight))
        painter.end()


class LayerStack(QScrollArea):
    """Scrollable stack of LayerCards built from the spec's layers and the shape report."""

    selectionChanged = Signal(object)              # path or None
    addTypeRequested = Signal(str, object, int)    # type, parent path, index
    moveRequested = Signal(object, object, int)    # source path, parent path, index
    fixRequested = Signal(object)                  # path
    deleteRequested = Signal(object)
    duplicateRequested = Signal(object)
    toggleRequested = Signal(object)
    moveByRequested = Signal(object, int)          # path, -1 up / +1 down
    addInsideRequested = Signal(object)            # composite path
    optionsRequested = Signal(object, dict)        # path, options to set in one edit

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("layerStack")
        self.setWidgetResizable(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self._layers: tuple[LayerSpec, ...] = ()
        self._selected: Path | None = None
        self._collapsed: set[Path] = set()
        self._expanded: set[Path] = set()  # Pretrained cards showing their parts
        self._cards: dict[Path, LayerCard] = {}
        self._press: tuple[Path, QPoint] | None = None
        self._content: QWidget | None = None
        self._top: LayerContainer | None = None
        self._report = None
        self._reason = ""  # what pending shapes wait for ("" when they are known)
        self._structure_key: tuple = ()
        self._spare: dict[str, list[LayerCard]] = {}

    # -- building ----------------------------------------------------------------------
    def set_model(self, layers: tuple[LayerSpec, ...], report, pending: str = "") -> None:
        """Show `layers` with rows from `report` (an engine.shapes.ModelReport); `pending`: what
        the shapes still wait for ("loading the data", "loading torch, torchvision"; they and the
        counts show as pending), "" when they are known. When the structure is unchanged (an
        option edit), only the cards whose layer or row changed are rebuilt."""
        rows = {row.index: row for row in report.rows} if report is not None else {}
        if self._expanded or self._collapsed:  # they stay with their layers when layers move
            self._expanded = follow_layers(self._expanded, self._layers, layers)
            self._collapsed = follow_layers(self._collapsed, self._layers, layers)
        structure = self._structure(tuple(layers), ())
        self._reason = pending
        self._layers = tuple(layers)
        self._report = report
        if self._content is not None and structure == self._structure_key and self._update_cards(rows):
            self.input_label.setText(self._input_text(report, pending))
            self.output_label.setText(_io_text("Output", getattr(report, "output_shape", None),
                                               getattr(report, "output_dtype", "")))
            self._mark_selection()
            return
        self._structure_key = structure
        self._rebuild(rows, report, pending)

    @property
    def _pending(self) -> bool:
        return bool(self._reason)

    def _structure(self, layers: tuple[LayerSpec, ...], prefix: Path) -> tuple:
        """The card tree's shape: paths, which are blocks, which blocks are collapsed."""
        out: list = []
        for i, layer in enumerate(layers):
            path = prefix + (i,)
            composite = is_composite(layer.type)
            out.append((path, composite, path in self._collapsed))
            if composite and path not in self._collapsed:
                out.extend(self._structure(layer.layers, path))
        return tuple(out)

    def _update_cards(self, rows) -> bool:
        """Replace the cards whose layer or row changed; False if a block changed (rebuild)."""
        from app.commands import layer_at

        changed = []
        for path, card in self._cards.items():
            layer, row = layer_at(self._layers, path), rows.get(path)
            if card.layer != layer or card.row != row or card.pending != self._pending:
                if card.nested_host is not None or card.property("composite"):
                    return False
                changed.append((path, card, layer, row))
        for path, card, layer, row in changed:
            container = card.parentWidget()
            new = self._make_card(layer, row, path, composite=False)
            container.replace_card(card, new)
            self._cards[path] = new
            card.deleteLater()
        return True

    @staticmethod
    def _input_text(report, pending: str) -> str:
        if pending:
            return f"Input: {pending}…"
        return _io_text("Input", getattr(report, "input_shape", None), getattr(report, "input_dtype", ""))

    def _rebuild(self, rows, report, pending: str) -> None:
        scroll = self.verticalScrollBar().value()
        # plain (non-block) cards that look the same are moved, not rebuilt, and the content
        # widget stays: inserting one layer into a long stack costs one new card
        self._spare: dict[str, list[LayerCard]] = {}
        old_cards = list(self._cards.values())
        for card in old_cards:
            if not card.property("composite"):
                self._spare.setdefault(card.identity(), []).append(card)
        self._cards = {}
        if self._content is None:
            self._build_content()
        self._top.clear()
        self.input_label.setText(self._input_text(report, pending))
        self._fill(self._top, self._layers, (), rows)
        if not self._layers:
            self._top.add_hint("The model is empty.\nDouble-click a layer in the palette, press Enter on it, or drag it here.")
        self.output_label.setText(_io_text("Output", getattr(report, "output_shape", None), getattr(report, "output_dtype", "")))
        kept = set(map(id, self._cards.values()))
        for card in old_cards:
            if id(card) not in kept:
                card.hide()
                card.deleteLater()
        self._spare = {}
        self.verticalScrollBar().setValue(scroll)
        if self._selected is not None and self._selected not in self._cards:
            self._selected = None
            self.selectionChanged.emit(None)
        self._mark_selection()

    def _build_content(self) -> None:
        content = QWidget()
        content.setObjectName("stackContent")
        column = QVBoxLayout(content)
        column.setContentsMargins(12, 10, 12, 12)
        column.setSpacing(6)
        self.input_label = QLabel()
        self.input_label.setObjectName("stackInput")
        column.addWidget(self.input_label)
        self._top = LayerContainer(self, (), content)
        column.addWidget(self._top)
        self.output_label = QLabel()
        self.output_label.setObjectName("stackOutput")
        column.addWidget(self.output_label)
        self.output_problem = QLabel()
        self.output_problem.setObjectName("outputProblem")
        self.output_problem.setWordWrap(True)
        self.output_problem.hide()
        column.addWidget(self.output_problem)
        column.addStretch(1)
        self.setWidget(content)
        self._content = content

    def _make_card(self, layer: LayerSpec, row, path: Path, composite: bool) -> LayerCard:
        card = LayerCard(layer, row, path, composite=composite, collapsed=path in self._collapsed,
                         pending=self._pending, expanded=path in self._expanded)
        card.optionsRequested.connect(self.optionsRequested)
        card.expandToggled.connect(lambda p, shown: (self._expanded.add if shown else self._expanded.discard)(p))
        card.pressed.connect(self._card_pressed)
        card.dragMoved.connect(self._card_drag)
        card.fixClicked.connect(self.fixRequested)
        card.collapseToggled.connect(self.toggle_collapsed)
        card.contextRequested.connect(self._context_menu)
        return card

    def set_output_problem(self, text: str) -> None:
        """Show a problem about the model's output (e.g. it does not fit the task) below the stack."""
        self.output_problem.setText(text)
        self.output_problem.setVisible(bool(text))

    def _fill(self, container: LayerContainer, layers, prefix: Path, rows) -> None:
        for i, layer in enumerate(layers):
            path = prefix + (i,)
            composite = is_composite(layer.type)
            row = rows.get(path)
            spare = [] if composite else self._spare.get(identity(layer, row, self._pending), [])
            if spare:
                card = spare.pop(0)
                card.move_to(path, row)
            else:
                card = self._make_card(layer, row, path, composite)
            container.add_card(card)
            self._cards[path] = card
            if card.nested_host is not None:
                nested = LayerContainer(self, path, card)
                self._fill(nested, layer.layers, path, rows)
                if not layer.layers:
                    nested.add_hint("Empty block: drop layers here, or select the block and add from the palette.")
                card.nested_host.addWidget(nested)

    # -- selection -----------------------------------------------------------------------
    def selected_path(self) -> Path | None:
        return self._selected

    def card(self, path: Path) -> LayerCard:
        return self._cards[tuple(path)]

    def cards(self) -> dict[Path, LayerCard]:
        return dict(self._cards)

    def select(self, path: Path | None) -> None:
        path = tuple(path) if path is not None else None
        if path is not None and path not in self._cards:
            path = None
        changed = path != self._selected
        self._selected = path
        self._mark_selection()
        if path is not None:
            self.ensureWidgetVisible(self._cards[path], 20, 20)
        if changed:
            self.selectionChanged.emit(path)

    def _mark_selection(self) -> None:
        for path, card in self._cards.items():
            card.set_selected(path == self._selected)

    def toggle_collapsed(self, path: Path) -> None:
        self._collapsed ^= {tuple(path)}
        self._structure_key = ()  # force a rebuild
        self.set_model(self._layers, self._report, self._reason)

    def _visible_order(self) -> list[Path]:
        return [p for p in self._cards]  # insertion order = visual top-to-bottom

    # -- mouse: select and drag ----------------------------------------------------------
    def _card_pressed(self, path: Path, pos: QPoint) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        self.select(path)
        self._press = (path, pos)

    def _card_drag(self, path: Path, pos: QPoint) -> None:
        if self._press is None or self._press[0] != path:
            return
        if (pos - self._press[1]).manhattanLength() < QApplication.startDragDistance():
            return
        self._press = None
        mime = QMimeData()
        mime.setData(LAYER_PATH_MIME, json.dumps(list(path)).encode())
        drag = QDrag(self._cards[path])
        drag.setMimeData(mime)
        drag.setPixmap(self._cards[path].grab().scaledToWidth(min(360, self._cards[path].width())))
        drag.setHotSpot(QPoint(20, 12))
        drag.exec(Qt.DropAction.MoveAction)

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        self.select(None)
        super().mousePressEvent(event)

    def drop(self, mime: QMimeData, parent_path: Path, index: int) -> bool:
        """Handle a drop onto the children of `parent_path` at `index`."""
        if mime.hasFormat(LAYER_TYPE_MIME):
            self.addTypeRequested.emit(bytes(mime.data(LAYER_TYPE_MIME)).decode(), parent_path, index)
            return True
        if mime.hasFormat(LAYER_PATH_MIME):
            source = tuple(json.loads(bytes(mime.data(LAYER_PATH_MIME)).decode()))
            if parent_path[:len(source)] == source:
                return False
            self.moveRequested.emit(source, parent_path, index)
            return True
        return False

    # -- keyboard and context menu -------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt name)
        key, mods = event.key(), event.modifiers()
        path = self._selected
        alt = bool(mods & Qt.KeyboardModifier.AltModifier)
        ctrl = bool(mods & Qt.KeyboardModifier.ControlModifier)
        if key in (Qt.Key.Key_Up, Qt.Key.Key_Down) and not alt:
            order = self._visible_order()
            if order:
                if path is None:
                    target = order[0] if key == Qt.Key.Key_Down else order[-1]
                else:
                    i = order.index(path) + (1 if key == Qt.Key.Key_Down else -1)
                    target = order[max(0, min(i, len(order) - 1))]
                self.select(target)
            event.accept()
            return
        if path is not None:
            if key in (Qt.Key.Key_Up, Qt.Key.Key_Down) and alt:
                self.moveByRequested.emit(path, -1 if key == Qt.Key.Key_Up else 1)
            elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
                self.deleteRequested.emit(path)
            elif key == Qt.Key.Key_D and ctrl:
                self.duplicateRequested.emit(path)
            elif key == Qt.Key.Key_E and ctrl:
                self.toggleRequested.emit(path)
            elif key == Qt.Key.Key_Escape:
                self.select(None)
            else:
                super().keyPressEvent(event)
                return
            event.accept()
            return
        super().keyPressEvent(event)

    def _context_menu(self, path: Path, where: QPoint) -> None:
        self.select(path)
        layer = self._cards[path].layer
        menu = QMenu(self)
        menu.addAction("Duplicate\tCtrl+D", lambda: self.duplicateRequested.emit(path))
        menu.addAction(("Disable" if layer.enabled else "Enable") + "\tCtrl+E", lambda: self.toggleRequested.emit(path))
        menu.addSeparator()
        menu.addAction("Move up\tAlt+Up", lambda: self.moveByRequested.emit(path, -1))
        menu.addAction("Move down\tAlt+Down", lambda: self.moveByRequested.emit(path, 1))
        if is_composite(layer.type):
            menu.addSeparator()
            menu.addAction("Add the palette's layer inside", lambda: self.addInsideRequested.emit(path))
        menu.addSeparator()
        menu.addAction("Delete\tDel", lambda: self.deleteRequested.emit(path))
        menu.popup(where)


def _paths(layers, prefix: Path = (), out: dict[int, list[Path]] | None = None) -> dict[int, list[Path]]:
    """id(layer) -> its paths in tree order (a duplicated layer is one object in two places)."""
    out = {} if out is None else out
    for i, layer in enumerate(layers):
        out.setdefault(id(layer), []).append(prefix + (i,))
        _paths(layer.layers, prefix + (i,), out)
    return out


def follow_layers(paths: set[Path], old, new) -> set[Path]:
    """`paths` of the `old` tree, where their layers are in the `new` one: each follows its layer
    object (a move, an insert or deletion before it, undo; an object in several places matches by
    order). A layer replaced by an edit of its own (an option, a toggle: the tree keeps its shape)
    keeps its path; a deleted one is dropped."""
    before, after = _paths(old), _paths(new)
    same_shape = sorted(p for ps in before.values() for p in ps) == sorted(p for ps in after.values() for p in ps)
    where = {path: (key, n) for key, ps in before.items() for n, path in enumerate(ps)}
    out = set()
    for path in paths:
        key, n = where.get(path, (None, 0))
        if key in after and n < len(after[key]):
            out.add(after[key][n])
        elif key is not None and same_shape:
            out.add(path)
    return out


def _io_text(what: str, shape, dtype: str) -> str:
    from app.widgets.layer_card import shape_text

    if shape is None:
        return f"{what}: unknown"
    kind = f"  ·  {dtype}" if dtype and dtype != "float32" else ""
    return f"{what}: {shape_text(tuple(shape))}{kind}"

