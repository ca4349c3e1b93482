"""The layer palette: every layer kind of the registry, grouped, searchable, with help tooltips.

Add a layer by double-click, by Enter, or by dragging it onto the layer stack (the drag
carries the kind's name as :data:`LAYER_TYPE_MIME`).
"""
from __future__ import annotations

from typing import Iterable

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from engine.registry import Entry

LAYER_TYPE_MIME = "application/x-netwright-layer-type"

#: the order groups appear in (groups not listed follow, alphabetically)
GROUP_ORDER = ("Linear", "Convolution", "Pooling", "Normalization", "Regularization", "Activation",
               "Recurrent", "Attention/Transformer", "Shape", "Blocks")
_TYPE_ROLE = Qt.ItemDataRole.UserRole + 1


class _PaletteTree(QTreeWidget):
    """The tree: drags carry the layer type; Enter adds the current kind."""

    activatedType = Signal(str)

    def mimeTypes(self) -> list[str]:  # noqa: N802 (Qt name)
        return [LAYER_TYPE_MIME]

    def mimeData(self, items) -> QMimeData:  # noqa: N802 (Qt name)
        data = QMimeData()
        kinds = [item.data(0, _TYPE_ROLE) for item in items if item.data(0, _TYPE_ROLE)]
        if kinds:
            data.setData(LAYER_TYPE_MIME, kinds[0].encode("utf-8"))
            data.setText(kinds[0])
        return data

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt name)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            kind = self.currentItem().data(0, _TYPE_ROLE) if self.currentItem() else None
            if kind:
                self.activatedType.emit(kind)
                event.accept()
                return
        super().keyPressEvent(event)


class LayerPalette(QWidget):
    """Search box + grouped tree of layer kinds. Emits `addRequested(type_name)`."""

    addRequested = Signal(str)

    def __init__(self, entries: Iterable[Entry], parent: QWidget | None = None):
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setObjectName("paletteSearch")
        self.search.setPlaceholderText("Search layers…  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.tree = _PaletteTree()
        self.tree.setObjectName("layerPalette")
        self.tree.setHeaderHidden(True)
        self.tree.setRootIsDecorated(True)
        self.tree.setIndentation(12)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        self._items: dict[str, QTreeWidgetItem] = {}
        self._fill(list(entries))
        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self._add_first_visible)
        self.tree.itemDoubleClicked.connect(self._double_clicked)
        self.tree.activatedType.connect(self.addRequested)

    def _fill(self, entries: list[Entry]) -> None:
        groups: dict[str, list[Entry]] = {}
        for entry in entries:
            groups.setdefault(entry.group or "Other", []).append(entry)
        order = [g for g in GROUP_ORDER if g in groups] + sorted(g for g in groups if g not in GROUP_ORDER)
        for group in order:
            head = QTreeWidgetItem(self.tree, [group])
            head.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = head.font(0)
            font.setBold(True)
            head.setFont(0, font)
            for entry in groups[group]:
                item = QTreeWidgetItem(head, [entry.name])
                item.setData(0, _TYPE_ROLE, entry.name)
                item.setToolTip(0, _tooltip(entry))
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
                self._items[entry.name] = item
            head.setExpanded(True)

    def kinds(self) -> list[str]:
        return list(self._items)

    def item(self, kind: str) -> QTreeWidgetItem:
        return self._items[kind]

    def visible_kinds(self) -> list[str]:
        return [k for k, item in self._items.items() if not item.isHidden()]

    def filter(self, text: str) -> None:
        """Show the kinds whose name, group or help contains every word of `text`."""
        words = text.lower().split()
        for index in range(self.tree.topLevelItemCount()):
            head = self.tree.topLevelItem(index)
            shown = 0
            for child in range(head.childCount()):
                item = head.child(child)
                haystack = f"{item.text(0)} {head.text(0)} {item.toolTip(0)}".lower()
                visible = all(w in haystack for w in words)
                item.setHidden(not visible)
                shown += visible
            head.setHidden(shown == 0)
        first = self._first_visible()
        if first is not None and words:
            self.tree.setCurrentItem(first)

    def _first_visible(self) -> QTreeWidgetItem | None:
        for kind in self.visible_kinds():
            return self._items[kind]
        return None

    def _add_first_visible(self) -> None:
        current = self.tree.currentItem()
        if current is not None and not current.isHidden() and current.data(0, _TYPE_ROLE):
            self.addRequested.emit(current.data(0, _TYPE_ROLE))
            return
        first = self._first_visible()
        if first is not None:
            self.addRequested.emit(first.data(0, _TYPE_ROLE))

    def _double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        kind = item.data(0, _TYPE_ROLE)
        if kind:
            self.addRequested.emit(kind)

    def current_kind(self) -> str | None:
        item = self.tree.currentItem()
        return item.data(0, _TYPE_ROLE) if item is not None else None


def _tooltip(entry: Entry) -> str:
    lines = [f"<b>{entry.name}</b>", entry.description or ""]
    if entry.params:
        lines.append("<br>".join(
            f"<code>{p.name}</code>{'' if not p.required else ' (required)'}: {p.help}" for p in entry.params))
    lines.append("<i>Double-click, press Enter, or drag onto the stack to add.</i>")
    return "<p>" + "</p><p>".join(line for line in lines if line) + "</p>"
