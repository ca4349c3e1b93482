"""LayerCard: one layer of the stack — type, key options, output shape, parameter count, and its
problem in red with a one-click Fix button when the shape inference offers one."""
from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from app.widgets.theme import icon
from engine.spec import LayerSpec

Path = tuple[int, ...]


def shape_text(shape: tuple[int, ...] | None) -> str:
    """(16, 8, 8) -> '16×8×8'; None -> '?'."""
    if shape is None:
        return "?"
    return "×".join(str(d) for d in shape) if shape else "scalar"


def count_text(n: int) -> str:
    """12345 -> '12,345 params'."""
    return f"{n:,} param{'s' if n != 1 else ''}"


def options_text(layer: LayerSpec, resolved: dict[str, Any], max_len: int = 70) -> str:
    """The options the user set, compactly: 'out_channels 16 · kernel_size 3 · padding 1'.
    An option set to 0 that the data resolves shows both (`out_features 0 → 10`)."""
    parts = []
    for name, value in layer.params.items():
        if isinstance(value, (list, tuple)):
            shown = "×".join(str(v) for v in value)
        elif isinstance(value, float):
            shown = f"{value:g}"
        else:
            shown = str(value).lower() if isinstance(value, bool) else str(value)
        final = resolved.get(name)
        if value == 0 and not isinstance(value, bool) and final not in (None, 0, value):
            shown = f"0 → {final} (from data)"
        parts.append(f"{name} {shown}")
    text = " · ".join(parts)
    return text if len(text) <= max_len else text[:max_len - 1] + "…"


class LayerCard(QFrame):
    """A card for the layer at `path`. Signals carry the path; drags are started by the stack."""

    pressed = Signal(object, QPoint)      # path, position in card coordinates
    dragMoved = Signal(object, QPoint)    # path, position while the button is held
    fixClicked = Signal(object)
    collapseToggled = Signal(object)
    contextRequested = Signal(object, QPoint)  # path, global position
    optionsRequested = Signal(object, dict)    # path, options to set in one edit (a Pretrained card's freeze)
    expandToggled = Signal(object, bool)       # path, whether a Pretrained card shows its parts

    def __init__(self, layer: LayerSpec, row, path: Path, *, composite: bool, collapsed: bool,
                 pending: bool = False, expanded: bool = False, parent: QWidget | None = None):
        super().__init__(parent)
        self.path = path
        self.layer = layer
        self.row = row
        self.pending = pending
        self.setObjectName("layerCard")
        self.setProperty("selected", False)
        self.setProperty("composite", composite)
        self.setProperty("enabledLayer", layer.enabled)
        problem = row.problem if row is not None else None
        self.setProperty("problem", problem is not None)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.OpenHandCursor)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(10, 6, 10, 7)
        outer.setSpacing(2)
        head = QHBoxLayout()
        head.setSpacing(8)
        if composite:
            self.collapse_button = QToolButton()
            self.collapse_button.setObjectName("collapseButton")
            self.collapse_button.setAutoRaise(True)
            self.collapse_button.setArrowType(Qt.ArrowType.RightArrow if collapsed else Qt.ArrowType.DownArrow)
            self.collapse_button.setToolTip("Show / hide the block's layers")
            self.collapse_button.clicked.connect(lambda: self.collapseToggled.emit(self.path))
            head.addWidget(self.collapse_button)
        self.index_label = index = QLabel(f"[{path[-1]}]")
        index.setObjectName("cardIndex")
        self.type_label = QLabel(layer.type)
        self.type_label.setObjectName("cardType")
        name = layer.name or (row.label if row is not None else "")
        self.name_label = label = QLabel(name)
        label.setObjectName("cardLabel")
        head.addWidget(index)
        head.addWidget(self.type_label)
        head.addWidget(label)
        head.addStretch(1)
        self.shape_label = QLabel("→ …" if pending and layer.enabled else self._shape_text(layer, row))
        self.shape_label.setObjectName("cardShape")
        self.shape_label.setToolTip("Output shape per sample (no batch dimension)")
        self.shape_label.setMinimumWidth(96)
        self.shape_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.count_label = QLabel(count_text(row.params) if row is not None and not pending else "")
        self.count_label.setObjectName("cardCount")
        self.count_label.setMinimumWidth(104)
        self.count_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        head.addWidget(self.shape_label)
        head.addWidget(self.count_label)
        outer.addLayout(head)

        resolved = dict(row.options) if row is not None else {}
        details = options_text(layer, resolved)
        if composite:
            n = len(layer.layers)
            details = (details + " · " if details else "") + f"{n} layer{'s' if n != 1 else ''} inside"
        if not layer.enabled:
            details = "disabled — left out of the model" + (f" · {details}" if details else "")
        self.params_label = QLabel(details)
        self.params_label.setObjectName("cardParams")
        self.params_label.setVisible(bool(details))
        outer.addWidget(self.params_label)
        self.pretrained = self._pretrained_panel(layer, row, pending, expanded)
        if self.pretrained is not None:
            outer.addWidget(self.pretrained)

        self.problem_label = None
        self.fix_button = None
        if problem is not None:
            line = QHBoxLayout()
            self.problem_label = QLabel(problem.message)
            self.problem_label.setObjectName("cardProblem")
            self.problem_label.setWordWrap(True)
            self.problem_label.setToolTip(str(problem))
            self.problem_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            line.addWidget(self.problem_label, 1)
            fix = getattr(row, "fix", None)
            if fix is not None:
                self.fix_button = QPushButton(icon("fix", "#ffffff", 16), f"Fix: {fix.description}")
                self.fix_button.setObjectName("fixButton")
                self.fix_button.setCursor(Qt.CursorShape.PointingHandCursor)
                self.fix_button.setToolTip(f"Insert {fix.insert.type} before this layer")
                self.fix_button.clicked.connect(lambda: self.fixClicked.emit(self.path))
                line.addWidget(self.fix_button, 0, Qt.AlignmentFlag.AlignTop)
            outer.addLayout(line)

        self.nested_host: QVBoxLayout | None = None
        if composite and not collapsed:
            self.nested_host = QVBoxLayout()
            self.nested_host.setContentsMargins(4, 4, 0, 2)
            outer.addLayout(self.nested_host)
        self.setToolTip(f"{layer.type} at {_path_text(path)} — click to edit, drag to move, right-click for more")

    def _pretrained_panel(self, layer: LayerSpec, row, pending: bool, expanded: bool):
        """Freeze controls and the parts of an inferred Pretrained layer (None for other kinds)."""
        if layer.type != "Pretrained" or pending or not layer.enabled or row is None or row.out_shape is None:
            return None
        from app.widgets.pretrained_panel import PretrainedPanel
        from engine.layers.pretrained import anatomy_of

        panel = PretrainedPanel(dict(row.options), anatomy_of(row.options, row.in_shape, row.in_dtype), expanded)
        panel.optionsRequested.connect(lambda change: self.optionsRequested.emit(self.path, change))
        panel.expandToggled.connect(lambda shown: self.expandToggled.emit(self.path, shown))
        return panel

    def identity(self) -> str:
        """What the card shows apart from its position: equal identities look the same."""
        return identity(self.layer, self.row, self.pending)

    def move_to(self, path: Path, row) -> None:
        """Show the same layer at a new position (its row differs only in path, index and label)."""
        self.path, self.row = path, row
        self.index_label.setText(f"[{path[-1]}]")
        self.name_label.setText(self.layer.name or (row.label if row is not None else ""))
        if self.problem_label is not None and row is not None and row.problem is not None:
            self.problem_label.setToolTip(str(row.problem))
        self.setToolTip(f"{self.layer.type} at {_path_text(path)} — click to edit, drag to move, right-click for more")

    @staticmethod
    def _shape_text(layer: LayerSpec, row) -> str:
        if not layer.enabled:
            return "skipped"
        if row is None or row.out_shape is None:
            return "→ ?"
        return f"→ {shape_text(row.out_shape)}"

    def set_selected(self, selected: bool) -> None:
        if self.property("selected") != selected:
            self.setProperty("selected", selected)
            self.style().unpolish(self)
            self.style().polish(self)

    # -- mouse -----------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt name)
        if event.button() == Qt.MouseButton.LeftButton:
            self.pressed.emit(self.path, event.position().toPoint())
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt name)
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.dragMoved.emit(self.path, event.position().toPoint())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def contextMenuEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.contextRequested.emit(self.path, event.globalPos())
        event.accept()


def identity(layer: LayerSpec, row, pending: bool) -> str:
    """A card's content without its position (path, index and label), as a hashable key for
    reusing cards."""
    if row is not None:
        row = dataclasses.replace(row, path="", index=(), label="", problem=_unplaced(row.problem))
    return repr((layer, row, pending))


def _unplaced(problem):
    return None if problem is None else problem.message


def _path_text(path: Path) -> str:
    return "model" + "".join(f".layers[{i}]" for i in path)
