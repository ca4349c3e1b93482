"""The Data page: choose a data source, set its options (a form generated from its schema, with
file pickers), and preview the data. Loading happens on a worker thread; edits are undoable and
re-run the model's shape inference, since the input shape comes from the data."""
from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox, QFrame, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSplitter, QVBoxLayout, QWidget,
)

from app.services.preview_loader import PreviewLoader
from app.widgets.data_preview import DataPreview
from app.widgets.schema_form import SchemaForm
from engine.problems import Problem
from engine.spec import DataSpec, section_params

PREVIEW_DELAY_MS = 120  # coalesce quick edits (typing a number) into one load
_GROUP_ORDER = ("Built-in", "Generated", "Files")
LABEL_WIDTH = 96  # both forms share one label column


class DataPage(QWidget):
    def __init__(self, window: Any, services: Any = None):
        super().__init__()
        from engine.data import DATA_SOURCES

        self.main_window = window
        self.document = window.document
        self.sources = DATA_SOURCES
        self.loader = PreviewLoader(self)
        self.loader.loaded.connect(self._loaded)
        self.loader.failed.connect(self._failed)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self._start_preview)
        self._previewed: tuple[DataSpec, int] | None = None
        self._last_preview = None

        root = QVBoxLayout(self)
        root.setContentsMargins(16, 12, 16, 12)
        root.setSpacing(10)
        title = QLabel("Data")
        title.setObjectName("pageTitle")
        self.subtitle = QLabel("Where the samples come from; the model's input shape follows from it.")
        self.subtitle.setObjectName("pageSubtitle")
        head = QHBoxLayout()
        head.addWidget(title)
        head.addSpacing(10)
        head.addWidget(self.subtitle, 1)
        root.addLayout(head)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self._options_panel())
        self.preview = DataPreview()
        splitter.addWidget(self.preview)
        splitter.setSizes([380, 800])
        splitter.setStretchFactor(1, 1)
        root.addWidget(splitter, 1)
        self.document.specChanged.connect(self.refresh)
        self.checker = getattr(services, "problems", None)
        if self.checker is not None:
            self.checker.changed.connect(self._show_fixes)
        self.refresh()

    def _options_panel(self) -> QWidget:
        frame = QFrame()
        frame.setObjectName("panel")
        frame.setMinimumWidth(340)
        outer = QVBoxLayout(frame)
        outer.setContentsMargins(1, 1, 1, 1)
        area = QScrollArea()
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        column = QVBoxLayout(body)
        column.setContentsMargins(14, 10, 14, 14)
        column.setSpacing(8)
        column.addWidget(self._section("Source"))
        self.combo = QComboBox()
        self.combo.setObjectName("dataSourceCombo")
        groups: dict[str, list] = {}
        for entry in self.sources:
            groups.setdefault(entry.group or "Other", []).append(entry)
        order = [g for g in _GROUP_ORDER if g in groups] + sorted(g for g in groups if g not in _GROUP_ORDER)
        for group in order:
            if self.combo.count():
                self.combo.insertSeparator(self.combo.count())
            self._add_heading(group)
            for entry in groups[group]:
                self.combo.addItem(entry.name, entry.name)
                self.combo.setItemData(self.combo.count() - 1, f"{group}: {entry.description}", Qt.ItemDataRole.ToolTipRole)
        self.combo.currentIndexChanged.connect(self._source_chosen)
        column.addWidget(self.combo)
        self.source_help = QLabel()
        self.source_help.setObjectName("hint")
        self.source_help.setWordWrap(True)
        column.addWidget(self.source_help)
        self.options_title = self._section("Options")
        column.addWidget(self.options_title)
        self.options_form = SchemaForm(label_width=LABEL_WIDTH)
        self.options_form.setObjectName("dataOptions")
        self.options_form.valueChanged.connect(self._option_changed)
        column.addWidget(self.options_form)
        column.addWidget(self._section("Batching and split"))
        fixed = tuple(p for p in section_params(DataSpec) if p.name != "source")
        self.batch_form = SchemaForm(fixed, label_width=LABEL_WIDTH)
        self.batch_form.setObjectName("dataBatching")
        self.batch_form.valueChanged.connect(self._fixed_changed)
        column.addWidget(self.batch_form)
        self.problems_label = QLabel()
        self.problems_label.setObjectName("dataProblems")
        self.problems_label.setWordWrap(True)
        self.problems_label.hide()
        column.addWidget(self.problems_label)
        self.fixes = QFrame()
        self.fixes.setObjectName("dataFixes")
        self.fixes_layout = QVBoxLayout(self.fixes)
        self.fixes_layout.setContentsMargins(0, 4, 0, 0)
        self.fixes_layout.setSpacing(6)
        self.fixes.hide()
        column.addWidget(self.fixes)
        column.addStretch(1)
        area.setWidget(body)
        outer.addWidget(area)
        return frame

    @staticmethod
    def _section(text: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName("sectionTitle")
        return label

    # -- redraw ------------------------------------------------------------------------
    def refresh(self, *_args) -> None:
        """Show the document's data section; schedule a preview when the data changed."""
        if self.document.data_pending():  # refreshed again when the data engine has loaded
            self.preview.show_busy("Loading the data engine…")
            return
        data = self.document.spec.data
        index = self.combo.findData(data.source)
        self.combo.blockSignals(True)
        self.combo.setCurrentIndex(index)
        self.combo.blockSignals(False)
        known = data.source in self.sources
        entry = self.sources.get(data.source) if known else None
        self.source_help.setText(entry.description if entry else
                                 f"Unknown data source {data.source!r} — choose one from the list.")
        params = entry.params if entry else ()
        if self.options_form.params != params:
            self.options_form.set_params(params, {})
        self.options_form.set_values(dict(data.options))
        self.options_title.setVisible(bool(params))
        self.options_form.setVisible(bool(params))
        self.batch_form.set_values({"batch_size": data.batch_size, "val_fraction": data.val_fraction})
        problems = self.data_problems()
        by_field: dict[str, str] = {}
        for problem in problems:
            by_field.setdefault(problem.path.partition(".")[2].partition(".")[0], problem.message)
        self.options_form.set_problems(by_field)
        self.batch_form.set_problems(by_field)
        fields = {p.name for p in params} | {p.name for p in self.batch_form.params}
        general = [p for p in problems if p.path.partition(".")[2].partition(".")[0] not in fields]
        self.problems_label.setText("\n".join(f"• {p}" for p in general))
        self.problems_label.setVisible(bool(general))
        if problems:
            self._timer.stop()
            self._previewed = None
            self.preview.show_problems(problems)
            return
        key = (data, self.document.spec.seed)
        if self._previewed is not None and self._previewed[0] == data and self._previewed[1] == key[1]:
            return
        if self._last_preview is not None and self._previewed is not None and _same_but_batch(self._previewed[0], data):
            self._previewed = key
            self.preview.set_batch_size(self._last_preview, data.batch_size)
            return
        self.preview.show_busy()
        self._timer.start()

    def _show_fixes(self) -> None:
        """Problems the data options can fix (e.g. adapting images to a pretrained model), each with
        its message and a button applying the fix as one undoable edit."""
        while self.fixes_layout.count():
            item = self.fixes_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().setParent(None)
        fixable = [p for p in self.checker.problems() if any(a.startswith("data.") for a in p.fix)]
        if fixable:
            self.fixes_layout.addWidget(self._section("Fit the data to the model"))
        for problem in fixable:
            text = QLabel(f"• {problem.message}")
            text.setObjectName("hint")
            text.setWordWrap(True)
            button = QPushButton("Apply: " + ", ".join(a.removeprefix("data.") for a in problem.fix))
            button.setObjectName("applyFix")
            button.setToolTip("Set " + ", ".join(problem.fix) + " (undoable)")
            button.clicked.connect(lambda _=False, p=problem: self.document.apply_fix(p))
            self.fixes_layout.addWidget(text)
            self.fixes_layout.addWidget(button, 0, Qt.AlignmentFlag.AlignLeft)
        self.fixes.setVisible(bool(fixable))

    def fix_buttons(self) -> list[QPushButton]:
        """The "Apply" buttons shown (tests)."""
        return [w for w in self.fixes.findChildren(QPushButton) if w.objectName() == "applyFix"]

    def focus_problem(self, path: str) -> None:
        """Put the focus on the field a data problem names (the window's problems list sends here)."""
        field = path.partition(".")[2].partition(".")[0].split("[")[0]
        for form in (self.options_form, self.batch_form):
            try:
                form.editor(field).setFocus()
                return
            except KeyError:
                continue
        self.combo.setFocus()

    def data_problems(self) -> list[Problem]:
        """The data section's problems (options schema + describe_data), cached by the document."""
        return self.document.data_problems()

    def _start_preview(self) -> None:
        data, seed = self.document.spec.data, self.document.spec.seed
        self._previewed = (data, seed)
        self.loader.request(data, seed)

    def _loaded(self, preview) -> None:
        self._last_preview = preview
        self.preview.show_preview(preview, self.document.spec.data.batch_size)

    def _failed(self, problems) -> None:
        self._previewed = None
        self.preview.show_problems(problems)

    def preview_pending(self) -> bool:
        """True while a preview is scheduled or loading (tests wait on this)."""
        return self._timer.isActive() or self.loader.busy

    # -- edits (undoable) --------------------------------------------------------------
    def _add_heading(self, group: str) -> None:
        """A heading row of the source list (Built-in, Generated, Files): shown, never chosen."""
        self.combo.addItem(group)
        item = self.combo.model().item(self.combo.count() - 1)
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        font = item.font()
        font.setBold(True)
        item.setFont(font)
        item.setAccessibleText(f"{group} data sources")

    def headings(self) -> list[str]:
        """The headings of the source list, in order."""
        model = self.combo.model()
        return [model.item(i).text() for i in range(self.combo.count())
                if model.item(i) is not None and model.item(i).flags() == Qt.ItemFlag.NoItemFlags and model.item(i).text()]

    def _edit_data(self, data: DataSpec, text: str, merge_key=None) -> None:
        self.document.edit(dataclasses.replace(self.document.spec, data=data), text, merge_key)

    def _source_chosen(self, index: int) -> None:
        name = self.combo.itemData(index)
        if name and name != self.document.spec.data.source:
            self.set_source(name)

    def set_source(self, name: str) -> None:
        """Switch to data source `name` (its options start from their defaults)."""
        data = dataclasses.replace(self.document.spec.data, source=name, options={})
        self._edit_data(data, f"Data source: {name}")
        self.main_window.statusBar().showMessage(f"Data source: {name}", 3000)

    def _option_changed(self, name: str, value: Any) -> None:
        data = self.document.spec.data
        options = dict(data.options)
        options[name] = value
        self._edit_data(dataclasses.replace(data, options=options), f"Set data.{name} = {value}", ("data", name))

    def _fixed_changed(self, name: str, value: Any) -> None:
        data = dataclasses.replace(self.document.spec.data, **{name: value})
        self._edit_data(data, f"Set data.{name} = {value}", ("data", name))

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.loader.wait(5000)
        super().closeEvent(event)


def _same_but_batch(a: DataSpec, b: DataSpec) -> bool:
    return dataclasses.replace(a, batch_size=b.batch_size) == b

