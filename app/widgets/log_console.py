"""The run's log: lines of log.txt (which holds every `log` and `error` event as a line), plus a
banner for an error event naming the rank and message, with the traceback one click away."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontDatabase, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget,
)

MAX_LINES = 20_000


def error_title(event: Mapping[str, Any]) -> str:
    """'Rank 1: ValueError: ...' from an error event (rank and message when present)."""
    message = str(event.get("message") or event.get("error") or "the run failed")
    rank = event.get("rank")
    where = "The run" if rank is None else "The worker" if isinstance(rank, int) and rank < 0 else f"Rank {rank}"
    step = event.get("step")
    return f"{where} failed{f' at step {step}' if step is not None else ''}: {message}"


class ErrorBanner(QFrame):
    """A red strip: the error's rank and message, a button to show/hide the traceback."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("errorBanner")
        self.setStyleSheet("#errorBanner { background: #f8d7da; border: 1px solid #d9534f; border-radius: 4px; }"
                           "#errorBanner QLabel { color: #721c24; }")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        row = QHBoxLayout()
        self.label = QLabel(objectName="errorText")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.toggle = QPushButton("Show traceback", objectName="tracebackButton")
        self.toggle.setCheckable(True)
        self.toggle.toggled.connect(self._toggle)
        self.close_button = QPushButton("Dismiss")
        self.close_button.clicked.connect(self.hide)
        row.addWidget(self.label, 1)
        row.addWidget(self.toggle)
        row.addWidget(self.close_button)
        layout.addLayout(row)
        self.traceback = QPlainTextEdit(objectName="tracebackView")
        self.traceback.setReadOnly(True)
        self.traceback.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.traceback.setMinimumHeight(140)
        self.traceback.hide()
        layout.addWidget(self.traceback)
        self.hide()

    def show_error(self, event: Mapping[str, Any]) -> None:
        self.label.setText(error_title(event))
        tb = str(event.get("traceback") or "")
        self.traceback.setPlainText(tb or "No traceback was recorded; see the log below.")
        self.toggle.setChecked(False)
        self.toggle.setVisible(bool(tb))
        self.show()

    def _toggle(self, on: bool) -> None:
        self.traceback.setVisible(on)
        self.toggle.setText("Hide traceback" if on else "Show traceback")


class LogConsole(QWidget):
    """Read-only, bounded log view. `add_lines` for log.txt, `add_events` for log/error events."""

    errorShown = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("logConsole")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.banner = ErrorBanner()
        self.view = QPlainTextEdit(objectName="logView")
        self.view.setReadOnly(True)
        self.view.setMaximumBlockCount(MAX_LINES)
        self.view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.view.setFont(font)
        self.view.setPlaceholderText("The run's log lines and errors appear here.")
        layout.addWidget(self.banner)
        layout.addWidget(self.view, 1)
        self._error_format = QTextCharFormat()
        self._error_format.setForeground(QColor("#c9302c"))
        self.last_error: Mapping[str, Any] | None = None

    def clear(self) -> None:
        self.view.clear()
        self.banner.hide()
        self.last_error = None

    def add_lines(self, lines: Sequence[str]) -> None:
        if lines:
            self._append("\n".join(lines))

    def add_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Error events raise the banner. `log` events are not repeated: the run writes each one to
        log.txt too, which arrives through :meth:`add_lines`."""
        for event in events:
            if event.get("type") == "error":
                self.last_error = event
                self.banner.show_error(event)
                self.errorShown.emit(error_title(event))

    def text(self) -> str:
        return self.view.toPlainText()

    def _append(self, text: str, error: bool = False) -> None:
        bar = self.view.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 2
        cursor = QTextCursor(self.view.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if not self.view.document().isEmpty():
            cursor.insertBlock()
        cursor.insertText(text, self._error_format if error else QTextCharFormat())
        if at_end:
            bar.setValue(bar.maximum())
