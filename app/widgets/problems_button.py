"""ProblemsButton: the spec's one problems list, in the window's status bar on every page — a
count, and a menu of every problem under its section (Model, Data, Training, Parallel, ...);
choosing one goes to the field."""
from __future__ import annotations

from typing import Mapping, Sequence

from PySide6.QtCore import Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QMenu, QToolButton, QWidget

from engine.problems import Problem

MAX_TEXT = 110


def _short(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


class ProblemsButton(QToolButton):
    """`show_problems({section: [Problem]}, pending)`; `problemChosen(path)` when one is picked,
    `fixChosen(problem)` when a problem's fix is (problems with a fix get a "Fix:" entry)."""

    problemChosen = Signal(str)
    fixChosen = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("problemsButton")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setAutoRaise(True)
        self.menu_ = QMenu(self)
        self.menu_.setObjectName("problemsMenu")
        self.setMenu(self.menu_)
        self.sections: dict[str, list[Problem]] = {}
        self.show_problems({}, pending=True)

    def count(self) -> int:
        return sum(len(v) for v in self.sections.values())

    def show_problems(self, sections: Mapping[str, Sequence[Problem]], pending: bool = False) -> None:
        self.sections = {k: list(v) for k, v in sections.items() if v}
        count = self.count()
        if count:
            where = ", ".join(f"{title} {len(items)}" for title, items in self.sections.items())
            self.setText(f"⚠ {count} problem{'s' if count != 1 else ''} ({where})")
            self.setStyleSheet("QToolButton#problemsButton { color: #b02a37; font-weight: 600; }")
        else:
            self.setText("Checking…" if pending else "✓ No problems")
            self.setStyleSheet("QToolButton#problemsButton { color: #2f8f5b; }" if not pending else "")
        self.setToolTip("Every problem of the experiment, by section — choose one to go to its field"
                        if count else "The whole experiment (model, data, training, parallelism) checks out")
        self.menu_.clear()
        bold = QFont()
        bold.setBold(True)
        for title, items in self.sections.items():
            heading = self.menu_.addAction(title)
            heading.setEnabled(False)
            heading.setFont(bold)
            for problem in items:
                action = self.menu_.addAction(_short(f"   {problem}"))
                action.setToolTip(str(problem))
                action.setData(problem.path)
                action.triggered.connect(lambda _=False, path=problem.path: self.problemChosen.emit(path))
                if problem.fix:
                    fix = self.menu_.addAction(_short("      Fix: " + ", ".join(problem.fix)))
                    fix.setToolTip("Apply this fix (undoable)")
                    fix.triggered.connect(lambda _=False, p=problem: self.fixChosen.emit(p))
        if not count:
            self.menu_.addAction("No problems").setEnabled(False)

    def texts(self) -> list[str]:
        """The menu's lines (section headings and problems), for tests."""
        return [a.text().strip() for a in self.menu_.actions()]
