"""DataPreview: what the data looks like — an image grid with labels (and the same images after
one random draw of the training augmentation), a table of rows with the class balance (and a
scatter for 2-D points), or text: a snippet with its vocabulary, labelled texts, and the tokens as
the tokenizer split them — plus the split sizes and batch size. It shows a busy state while
loading and problems in red."""
from __future__ import annotations

import html
from typing import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar, QScrollArea, QSizePolicy, QStackedWidget,
    QTableWidget, QTableWidgetItem, QTextBrowser, QVBoxLayout, QWidget,
)

from app.widgets.data_views import ClassBalance, ImageGrid, PointPlot
from app.widgets.layer_card import shape_text
from engine.problems import Problem


def _section(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("sectionTitle")
    return label


class DataPreview(QFrame):
    """objectName `dataPreview`. Call `show_busy()`, then `show_preview(p, batch_size)` or
    `show_problems(problems)`; `mode()` says which view is shown ("image", "table", "text", ...)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("dataPreview")
        column = QVBoxLayout(self)
        column.setContentsMargins(14, 10, 14, 12)
        column.setSpacing(8)
        self.headline = QLabel("No preview yet")
        self.headline.setObjectName("pageTitle")
        self.facts = QLabel()
        self.facts.setObjectName("previewFacts")
        self.facts.setWordWrap(True)
        self.splits = QLabel()
        self.splits.setObjectName("splitSizes")
        self.splits.setWordWrap(True)
        self.busy = QProgressBar()
        self.busy.setObjectName("previewBusy")
        self.busy.setRange(0, 0)
        self.busy.setMaximumHeight(6)
        self.busy.setTextVisible(False)
        self.busy.hide()
        self.error = QLabel()
        self.error.setObjectName("errorText")
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.hide()
        self.notes = QLabel()
        self.notes.setObjectName("hint")
        self.notes.setWordWrap(True)
        self.notes.hide()
        for widget in (self.headline, self.facts, self.splits, self.busy, self.error, self.notes):
            column.addWidget(widget)
        self.views = QStackedWidget()
        column.addWidget(self.views, 1)

        # image view
        self.image_grid = ImageGrid()
        self.image_balance = ClassBalance()
        self.augmented_title = _section("After training augmentation (one random draw; new each epoch)")
        self.augmented_grid = ImageGrid()
        self.augmented_grid.setObjectName("augmentedGrid")
        self._image_page = self._scroll_page(_section("Samples"), self.image_grid, self.augmented_title,
                                             self.augmented_grid, _section("Class balance"), self.image_balance)
        # table view (tabular and points)
        self.table = QTableWidget()
        self.table.setObjectName("previewTable")
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        self.table.setAlternatingRowColors(True)
        self.table_balance = ClassBalance()
        self.points = PointPlot()
        self.columns_note = QLabel()
        self.columns_note.setObjectName("hint")
        self._lower = lower = QWidget()
        lower_row = QHBoxLayout(lower)
        lower_row.setContentsMargins(0, 0, 0, 0)
        balance_box = QVBoxLayout()
        balance_box.addWidget(_section("Class balance"))
        balance_box.addWidget(self.table_balance)
        balance_box.addStretch(1)
        lower_row.addLayout(balance_box, 1)
        lower_row.addWidget(self.points, 1)
        self._table_page = self._scroll_page(_section("Rows (training split, original units)"), self.table,
                                             self.columns_note, lower)
        # text view
        self.text = QPlainTextEdit()
        self.text.setObjectName("previewText")
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.vocab = QLabel()
        self.vocab.setObjectName("vocabLabel")
        self.vocab.setWordWrap(True)
        self.tokens = QTextBrowser()
        self.tokens.setObjectName("previewTokens")
        self.tokens_title = _section("Tokens, as the tokenizer splits them")
        self.text_title = _section("Text (start)")
        self._text_page = QWidget()
        text_column = QVBoxLayout(self._text_page)
        text_column.setContentsMargins(0, 0, 0, 0)
        text_column.addWidget(self.text_title)
        text_column.addWidget(self.text, 1)
        text_column.addWidget(self.tokens_title)
        text_column.addWidget(self.tokens, 1)
        text_column.addWidget(self.vocab)
        self._empty_page = QWidget()
        for page in (self._empty_page, self._image_page, self._table_page, self._text_page):
            self.views.addWidget(page)
        self._mode = "empty"

    @staticmethod
    def _scroll_page(*widgets: QWidget) -> QScrollArea:
        body = QWidget()
        column = QVBoxLayout(body)
        column.setContentsMargins(0, 0, 6, 0)
        column.setSpacing(6)
        for widget in widgets:
            column.addWidget(widget)
        column.addStretch(1)
        area = QScrollArea()
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setWidget(body)
        return area

    def mode(self) -> str:
        return self._mode

    # -- states ------------------------------------------------------------------------
    def show_busy(self, text: str = "Loading the data…") -> None:
        self.busy.show()
        self.notes.hide()
        if self._mode == "empty":
            self.headline.setText(text)

    def show_problems(self, problems: Sequence[Problem]) -> None:
        """Show why the data cannot be previewed (each problem names its field)."""
        self.busy.hide()
        self._mode = "error"
        self.headline.setText("The data cannot be loaded")
        self.error.setText("\n".join(f"• {p}" for p in problems))
        self.error.show()
        self.facts.setText("Fix the options marked in red on the left; the preview follows at once.")
        self.splits.clear()
        self.splits.hide()
        self.notes.hide()
        self.views.setCurrentWidget(self._empty_page)

    def show_preview(self, preview, batch_size: int) -> None:
        """Show an `engine.data.preview.Preview`."""
        self.busy.hide()
        self.error.hide()
        self.splits.show()
        info = preview.info
        self.headline.setText(f"{info.kind.capitalize()} data · {info.task.replace('_', ' ')}")
        classes = (f"{info.num_classes} classes" if info.task == "classification" else
                   f"vocabulary of {info.num_classes}" if info.task == "language_modeling" else
                   f"{info.num_classes} target{'s' if info.num_classes != 1 else ''}")
        self.facts.setText(f"Input per sample: {shape_text(tuple(info.input_shape))} ({info.input_dtype}) · {classes}")
        self.set_batch_size(preview, batch_size)
        self.notes.setText("\n".join(f"Note: {n}" for n in preview.notes))
        self.notes.setVisible(bool(preview.notes))
        if info.kind == "image":
            self._mode = "image"
            self.image_grid.set_images(preview.images, preview.labels)
            self.augmented_grid.set_images(preview.augmented, preview.labels[:len(preview.augmented)])
            self.augmented_title.setVisible(bool(preview.augmented))
            self.augmented_grid.setVisible(bool(preview.augmented))
            self.image_balance.set_counts(preview.class_counts)
            self.views.setCurrentWidget(self._image_page)
        elif info.kind == "text":
            self._mode = "text"
            self._show_text(preview)
            self.views.setCurrentWidget(self._text_page)
        else:
            self._mode = "table"
            self._fill_table(preview)
            self.table_balance.set_counts(preview.class_counts)
            self.points.setVisible(preview.points is not None)
            self.points.set_points(preview.points, preview.point_labels)
            self._lower.setMinimumHeight(self._lower.sizeHint().height())
            self.views.setCurrentWidget(self._table_page)
        self._preview = preview

    def _show_text(self, preview) -> None:
        """A text snippet (language modelling) or labelled samples (classification), with the
        tokens as the tokenizer split them when it is not splitting characters."""
        classify = bool(preview.samples)
        self.text_title.setText("Samples (training split)" if classify else "Text (start)")
        self.text.setPlainText("\n".join(f"[{label}]  {text}" for label, text in zip(preview.labels, preview.samples))
                               if classify else preview.text)
        self.tokens.setHtml(token_html(preview.tokens, preview.labels if classify else ()))
        self.tokens_title.setVisible(bool(preview.tokens))
        self.tokens.setVisible(bool(preview.tokens))
        characters = all(len(v) <= 1 for v in preview.vocab)
        if characters:
            shown = "".join(preview.vocab).replace("\n", "⏎").replace(" ", "␣")
            self.vocab.setText(f"Vocabulary: {preview.vocab_size} characters — {shown[:160]}")
        else:
            shown = " ".join(preview.vocab[:40])
            self.vocab.setText(f"Vocabulary: {preview.vocab_size:,} tokens — {shown[:200]} …")

    def set_batch_size(self, preview, batch_size: int) -> None:
        steps = -(-preview.train_size // max(1, batch_size)) if preview.train_size else 0
        self.splits.setText(f"Train {preview.train_size:,} · Validation {preview.val_size:,} samples · "
                            f"batch size {batch_size:,} → {steps:,} steps per epoch")

    def _fill_table(self, preview) -> None:
        target = "target" if preview.target_range is not None else "label"
        headers = list(preview.columns) + [target]
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setRowCount(len(preview.rows))
        self.table.setHorizontalHeaderLabels(headers)
        for r, row in enumerate(preview.rows):
            for c, value in enumerate(row):
                item = QTableWidgetItem(f"{value:.4g}")
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
            label = preview.labels[r] if r < len(preview.labels) else ""
            item = QTableWidgetItem(str(label))
            font = item.font()
            font.setBold(True)
            item.setFont(font)
            self.table.setItem(r, len(row), item)
        self.table.resizeColumnsToContents()
        notes = []
        if preview.hidden_columns:
            notes.append(f"{preview.hidden_columns} more feature columns not shown")
        if preview.target_range is not None:
            low, high = preview.target_range
            notes.append(f"target ranges from {low:.4g} to {high:.4g}")
        self.columns_note.setText(" · ".join(notes))
        self.columns_note.setVisible(bool(notes))
        rows_height = sum(self.table.rowHeight(r) for r in range(min(self.table.rowCount(), 10)))
        scroll = self.table.horizontalScrollBar().sizeHint().height()
        self.table.setFixedHeight(self.table.horizontalHeader().sizeHint().height() + rows_height + scroll + 6)
        self.table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)


#: alternating token backgrounds, so where one token ends and the next begins is visible
TOKEN_COLORS = ("#dbe8f7", "#f7e6cf")


def token_html(rows: Sequence[Sequence[str]], labels: Sequence[str] = ()) -> str:
    """Each row of tokens as spans on alternating backgrounds (a label in front when given)."""
    lines = []
    for r, tokens in enumerate(rows):
        spans = " ".join(f'<span style="background-color: {TOKEN_COLORS[i % 2]}; color: #111;">'
                         f"{html.escape(token).replace(' ', '␣')}</span>" for i, token in enumerate(tokens))
        label = f"<b>{html.escape(labels[r])}</b>&nbsp;&nbsp;" if r < len(labels) else ""
        lines.append(label + spans)
    return f'<div style="font-family: monospace; line-height: 160%;">{"<br>".join(lines)}</div>'
