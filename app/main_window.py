"""MainWindow: a sidebar of pages (app.pages.base.PAGES), menus, status bar, the one
SpecDocument and the window-owned services (the RunService) every page receives.

Pages are built lazily (the first time they are shown or asked for with :meth:`MainWindow.page`),
so the window paints quickly and nothing heavy is imported before the first paint.
"""
from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Callable, Sequence

from PySide6.QtCore import QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QButtonGroup, QFileDialog, QFrame, QHBoxLayout, QLabel, QMainWindow, QMessageBox, QSizePolicy,
    QStackedWidget, QToolButton, QVBoxLayout, QWidget,
)

from app.document import DEFAULT_TEMPLATE, SpecDocument
from app.pages.base import PAGES, PageSpec, PlaceholderPage, object_name
from app.services import gui_thread_gc
from app.services.window_services import WindowServices
from app.widgets.problems_button import ProblemsButton
from app.widgets.theme import icon
from engine.paths import EXAMPLES, default_runs_dir
from engine.problems import SpecError

APP_NAME = "Netwright"
MAX_RECENT = 8

SHORTCUTS_HELP = """
<table cellspacing="6">
<tr><td><b>Ctrl+N</b></td><td>New experiment from the default template</td></tr>
<tr><td><b>Ctrl+O</b></td><td>Open a spec (.toml)</td></tr>
<tr><td><b>Ctrl+S</b> / <b>Ctrl+Shift+S</b></td><td>Save / Save As</td></tr>
<tr><td><b>Ctrl+Z</b> / <b>Ctrl+Shift+Z</b></td><td>Undo / Redo (every edit is undoable)</td></tr>
<tr><td><b>Ctrl+1 … Ctrl+8</b></td><td>Go to Build, Data, Train, Monitor, Explain, Runs, Sweeps, Compress</td></tr>
<tr><td colspan="2"><br><b>Build page</b></td></tr>
<tr><td><b>Enter</b> (in the palette)</td><td>Add the highlighted layer after the selected one</td></tr>
<tr><td><b>Ctrl+F</b></td><td>Search the layer palette</td></tr>
<tr><td><b>Delete</b></td><td>Delete the selected layer</td></tr>
<tr><td><b>Ctrl+D</b></td><td>Duplicate the selected layer</td></tr>
<tr><td><b>Ctrl+E</b></td><td>Enable / disable the selected layer</td></tr>
<tr><td><b>Alt+Up</b> / <b>Alt+Down</b></td><td>Move the selected layer up / down</td></tr>
<tr><td><b>Up</b> / <b>Down</b></td><td>Select the previous / next layer</td></tr>
</table>
"""


class MainWindow(QMainWindow):
    """The Netwright window. `document` holds the experiment; `services` the run service; the
    sidebar shows `pages` (default: app.pages.base.PAGES)."""

    def __init__(self, spec_path: str | Path | None = None, runs_dir: str | Path | None = None,
                 parent: QWidget | None = None, *, background_data_import: bool = False,
                 pages: Sequence[PageSpec] = PAGES):
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self._gc_hold = gui_thread_gc.hold(self)  # before any pool thread starts (see app.services.gui_thread_gc)
        self.runs_dir: Path = Path(runs_dir) if runs_dir is not None else default_runs_dir()
        self.document = SpecDocument(parent=self)
        if background_data_import:  # the launcher: paint first, load numpy/scikit-learn meanwhile
            self.document.defer_data_engine()
        self.settings = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, APP_NAME, "netwright")
        self.services = WindowServices.create(self.runs_dir, self, self.document)
        self._specs: list[PageSpec] = list(pages)
        self._pages: dict[str, QWidget] = {}
        self._slots: dict[str, QWidget] = {}
        self._buttons: dict[str, QToolButton] = {}
        self._current_key = ""

        self.setWindowIcon(icon("app", "#3b82f6", 64))
        self.resize(1280, 800)
        self.setMinimumSize(960, 600)
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self._build_ui()
        self._build_menus()
        self.document.dirtyChanged.connect(self._update_title)
        self.document.pathChanged.connect(self._update_title)
        self.document.specChanged.connect(self._update_title)

        startup_error: SpecError | None = None
        try:
            if spec_path is not None:
                self.document.load(spec_path)
                self._remember_recent(Path(spec_path))
            else:
                self.document.load_template(DEFAULT_TEMPLATE)
        except SpecError as err:
            startup_error = err
            self.document.load_template(DEFAULT_TEMPLATE)
        self._update_title()
        self.show_page(self._specs[0].key)
        if startup_error is not None:
            QTimer.singleShot(0, lambda: self.report_error("Could not open the spec", startup_error))

    # -- layout ------------------------------------------------------------------------
    def _build_ui(self) -> None:
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        sidebar = QFrame()
        sidebar.setObjectName("sidebar")
        sidebar.setFixedWidth(92)
        column = QVBoxLayout(sidebar)
        column.setContentsMargins(0, 4, 0, 8)
        column.setSpacing(2)
        mark = QLabel(APP_NAME)
        mark.setObjectName("appMark")
        mark.setAlignment(Qt.AlignmentFlag.AlignCenter)
        column.addWidget(mark)
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        self._stack = QStackedWidget()
        self._stack.setObjectName("pageStack")
        for number, spec in enumerate(self._specs, start=1):
            button = QToolButton()
            button.setObjectName(object_name(spec.key))
            button.setText(spec.title)
            button.setIcon(icon(spec.icon))
            button.setIconSize(QSize(24, 24))
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            button.setCheckable(True)
            button.setAutoRaise(True)
            button.setFixedHeight(62)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            tip = spec.description or spec.title
            button.setToolTip(f"{tip} (Ctrl+{number})" if number <= 9 else tip)
            button.clicked.connect(lambda _=False, key=spec.key: self.show_page(key))
            self._group.addButton(button)
            self._buttons[spec.key] = button
            column.addWidget(button)
            slot = QWidget()
            slot.setLayout(QVBoxLayout())
            slot.layout().setContentsMargins(0, 0, 0, 0)
            self._slots[spec.key] = slot
            self._stack.addWidget(slot)
        column.addStretch(1)
        row.addWidget(sidebar)
        row.addWidget(self._stack, 1)
        self.setCentralWidget(central)
        self.statusBar().setSizeGripEnabled(True)
        self.problems_button = ProblemsButton()
        self.problems_button.problemChosen.connect(self.show_problem)
        self.problems_button.fixChosen.connect(self.document.apply_fix)
        self.statusBar().addPermanentWidget(self.problems_button)
        checker = self.services.problems
        checker.changed.connect(lambda: self.problems_button.show_problems(checker.by_section(), checker.pending))

    def _action(self, text: str, slot: Callable, shortcut: QKeySequence | str | None = None,
                tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(lambda _=False: slot())
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self._action("&New", lambda: self.new_from_template(DEFAULT_TEMPLATE),
                                         QKeySequence.StandardKey.New, "New experiment (digits CNN)"))
        templates = file_menu.addMenu("New from &Template")
        templates.setObjectName("templatesMenu")
        for path in sorted(EXAMPLES.glob("*.toml")):
            templates.addAction(self._action(_template_title(path.stem),
                                             lambda name=path.stem: self.new_from_template(name)))
        file_menu.addAction(self._action("&Open…", self.open_dialog, QKeySequence.StandardKey.Open))
        self._recent_menu = file_menu.addMenu("Open &Recent")
        self._recent_menu.aboutToShow.connect(self._fill_recent)
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Save", self.save, QKeySequence.StandardKey.Save))
        file_menu.addAction(self._action("Save &As…", self.save_as, QKeySequence("Ctrl+Shift+S")))
        file_menu.addSeparator()
        quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        file_menu.addAction(quit_action)

        edit_menu = bar.addMenu("&Edit")
        self.undo_action = self.document.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = self.document.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence.StandardKey.Redo])
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)

        view_menu = bar.addMenu("&View")
        for number, spec in enumerate(self._specs, start=1):
            shortcut = QKeySequence(f"Ctrl+{number}") if number <= 9 else None
            view_menu.addAction(self._action(spec.title, lambda key=spec.key: self.show_page(key), shortcut))

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self._action("&Keyboard Shortcuts", self.show_shortcuts, "F1"))
        about = self._action(f"&About {APP_NAME}", self.show_about)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        help_menu.addAction(about)

    # -- pages -------------------------------------------------------------------------
    def page_keys(self) -> list[str]:
        """The page keys in sidebar order."""
        return [spec.key for spec in self._specs]

    def page(self, key: str) -> QWidget:
        """The page widget for `key`, built on first use. Raises KeyError for an unknown key."""
        if key not in self._slots:
            raise KeyError(f"no page {key!r} (pages: {', '.join(self.page_keys())})")
        if key not in self._pages:
            spec = next(s for s in self._specs if s.key == key)
            try:
                widget = spec.build(self, self.services)
            except Exception:  # a broken page shows its error instead of taking the window down
                detail = traceback.format_exc(limit=4)
                print(detail, file=sys.stderr)
                widget = PlaceholderPage(spec.title, f"The {spec.title} page could not be built.", detail)
            widget.setProperty("pageKey", key)
            self._pages[key] = widget
            self._slots[key].layout().addWidget(widget)
        return self._pages[key]

    def show_page(self, key: str) -> QWidget:
        """Make `key` the visible page (building it if needed) and call its `on_shown()` hook."""
        widget = self.page(key)
        self._stack.setCurrentWidget(self._slots[key])
        self._buttons[key].setChecked(True)
        self._current_key = key
        hook = getattr(widget, "on_shown", None)
        if callable(hook):
            hook()
        return widget

    def show_problem(self, path: str) -> None:
        """Go to the page that edits the field `path` names and put the focus there."""
        from app.services.problem_checker import page_of
        from engine.problems import Problem

        widget = self.show_page(page_of(Problem(path, "")))
        hook = getattr(widget, "focus_problem", None)
        if callable(hook):
            hook(path)

    def page_modules(self) -> list[str]:
        """The modules of the pages not built yet (the launcher imports them on a thread)."""
        return [s.module for s in self._specs if s.module and s.key not in self._pages]

    def current_page_key(self) -> str:
        return self._current_key

    def create_all_pages(self) -> None:
        """Build every page now (the launcher calls this after the first paint)."""
        for key in self.page_keys():
            self.page(key)

    # -- title, messages ------------------------------------------------------------------
    def _update_title(self, *_args) -> None:
        mark = "*" if self.document.dirty else ""
        where = f" — {self.document.path.name}" if self.document.path else ""
        self.setWindowTitle(f"{self.document.display_name()}{mark}{where} — {APP_NAME}")

    def report_error(self, title: str, error: SpecError | str) -> None:
        """Show a user error without blocking (a window-modal message box)."""
        text = str(error) if not isinstance(error, SpecError) else "\n".join(f"• {p}" for p in error.problems)
        box = QMessageBox(QMessageBox.Icon.Warning, title, title, QMessageBox.StandardButton.Ok, self)
        box.setInformativeText(text)
        box.setObjectName("errorBox")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.statusBar().showMessage(f"{title}: {text.splitlines()[0] if text else ''}", 8000)

    def show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}", (
            f"<h3>{APP_NAME}</h3><p>A desktop workbench for PyTorch: build a model by clicking, "
            "train it on one CPU or many GPUs, watch it live, and explain its predictions.</p>"
            "<p>Every experiment is a TOML spec; the file the app saves is the file "
            "<code>netwright train SPEC.toml</code> runs.</p>"))

    def show_shortcuts(self) -> None:
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts", SHORTCUTS_HELP,
                          QMessageBox.StandardButton.Close, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # -- files -------------------------------------------------------------------------
    def new_from_template(self, name: str) -> bool:
        """Replace the experiment with engine/resources/examples/<name>.toml (asks about unsaved changes)."""
        if not self.maybe_keep_changes():
            return False
        self.document.load_template(name)
        self.statusBar().showMessage(f"New experiment from template {_template_title(name)}", 5000)
        return True

    def open_path(self, path: str | Path) -> bool:
        """Open a spec file (asks about unsaved changes). Unreadable files show their problem."""
        if not self.maybe_keep_changes():
            return False
        try:
            self.document.load(path)
        except SpecError as err:
            self.report_error("Could not open the spec", err)
            return False
        self._remember_recent(Path(path))
        # model and data problems are pure and cached; the full validate() also probes devices
        count = len(self.document.model_problems()) + len(self.document.data_problems())
        note = f" — {count} problem{'s' if count != 1 else ''} to fix" if count else ""
        self.statusBar().showMessage(f"Opened {path}{note}", 8000)
        return True

    def open_dialog(self) -> bool:
        path = self.ask_open_path()
        return self.open_path(path) if path else False

    def save(self) -> bool:
        """Save to the current file, or ask where (Save As) if there is none."""
        if self.document.path is None:
            return self.save_as()
        return self._save_to(self.document.path)

    def save_as(self) -> bool:
        path = self.ask_save_path()
        return self._save_to(path) if path else False

    def _save_to(self, path: Path) -> bool:
        if path.suffix != ".toml":
            path = path.with_suffix(".toml")
        try:
            self.document.save(path)
        except SpecError as err:
            self.report_error("Could not save", err)
            return False
        self._remember_recent(path)
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    # Dialog hooks: tests replace these to bypass the native dialogs.
    def ask_open_path(self) -> Path | None:
        """Ask for a spec file to open (a file dialog)."""
        start = str(self.document.path.parent if self.document.path else EXAMPLES)
        name, _ = QFileDialog.getOpenFileName(self, "Open experiment", start, "Experiment spec (*.toml);;All files (*)")
        return Path(name) if name else None

    def ask_save_path(self) -> Path | None:
        """Ask where to save the spec (a file dialog)."""
        start = str(self.document.path or Path.home() / f"{self.document.display_name()}.toml")
        name, _ = QFileDialog.getSaveFileName(self, "Save experiment", start, "Experiment spec (*.toml)")
        return Path(name) if name else None

    def ask_unsaved_changes(self) -> str:
        """Ask what to do with unsaved changes: 'save', 'discard' or 'cancel'."""
        answer = QMessageBox.question(
            self, "Unsaved changes",
            f"“{self.document.display_name()}” has unsaved changes. Save them first?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save)
        return {QMessageBox.StandardButton.Save: "save",
                QMessageBox.StandardButton.Discard: "discard"}.get(answer, "cancel")

    def maybe_keep_changes(self) -> bool:
        """True if it is fine to replace the document (it is clean, saved, or the user discards)."""
        if not self.document.dirty:
            return True
        answer = self.ask_unsaved_changes()
        if answer == "save":
            return self.save()
        return answer == "discard"

    # -- recent files --------------------------------------------------------------------
    def recent_files(self) -> list[Path]:
        value = self.settings.value("recentFiles", [])
        items = [value] if isinstance(value, str) else list(value or [])
        return [Path(p) for p in items if p]

    def _remember_recent(self, path: Path) -> None:
        path = path.resolve()
        items = [p for p in self.recent_files() if p != path]
        self.settings.setValue("recentFiles", [str(p) for p in ([path] + items)[:MAX_RECENT]])

    def _fill_recent(self) -> None:
        self._recent_menu.clear()
        files = self.recent_files()
        for path in files:
            action = self._recent_menu.addAction(path.name, lambda p=path: self.open_path(p))
            action.setStatusTip(str(path))
            action.setEnabled(path.exists())
        if not files:
            self._recent_menu.addAction("No recent files").setEnabled(False)

    # -- closing -----------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt name)
        for widget in self._pages.values():
            hook = getattr(widget, "can_close", None)
            if callable(hook) and not hook():
                event.ignore()
                return
        if not self.maybe_keep_changes():
            event.ignore()
            return
        self.settings.setValue("geometry", self.saveGeometry())
        event.accept()
        gui_thread_gc.release(self._gc_hold)


def _template_title(stem: str) -> str:
    """digits_cnn -> 'Digits CNN'."""
    words = {"cnn": "CNN", "mlp": "MLP", "gpt": "GPT", "resnet": "ResNet"}
    return " ".join(words.get(w, w.capitalize()) for w in stem.split("_"))


def main() -> int:  # pragma: no cover - convenience for `python -m app.main_window`
    from app.launch import run_app

    return run_app(sys.argv[1:])
