"""The one list of the spec's problems that every page shows (issue 9: pages never disagree).

`ProblemChecker` follows the window's document: after each edit it runs the full
`engine.validation.validate` off the GUI thread (the function `validate`, `plan`, `train` and the
worker use), and merges what the Train page's plan found on top (a data file that fails to load).
Editing a field clears its problem at once: until the new check is back, problems of sections the
edit changed are dropped and the model's and data's problems (pure, cached by the document) are
recomputed on the spot.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Sequence

from PySide6.QtCore import QObject, QTimer, Signal

from app.services.tasks import BackgroundCall
from engine.problems import Problem

#: a problem's section (the head of its path) -> the title pages show it under
SECTION_TITLES = {
    "model": "Model", "data": "Data", "optimizer": "Optimizer", "scheduler": "Schedule",
    "regularization": "Regularization", "training": "Training", "parallel": "Parallel", "": "Spec",
}
#: the page where a section is edited
SECTION_PAGES = {"model": "build", "data": "data"}


def section_of(problem: Problem) -> str:
    """'data.options.path' -> 'data'; 'model.layers[2].kernel_size' -> 'model'; 'seed' -> ''."""
    head = problem.path.split(".", 1)[0].split("[", 1)[0]
    return head if head in SECTION_TITLES else ""


def section_title(problem: Problem) -> str:
    return SECTION_TITLES[section_of(problem)]


def page_of(problem: Problem) -> str:
    """The page whose form edits the problem's field."""
    return SECTION_PAGES.get(section_of(problem), "train")


def _check(spec: Any) -> tuple[Any, list[Problem]]:
    from engine.validation import validate

    return spec, list(validate(spec))


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    seen, out = set(), []
    for problem in problems:
        key = (problem.path, problem.message)
        if key not in seen:
            seen.add(key)
            out.append(problem)
    return out


class ProblemChecker(QObject):
    """`problems()` — the current list; `pending` — a check is under way; `changed()` whenever
    the list may have changed."""

    changed = Signal()

    def __init__(self, document: Any, parent: QObject | None = None, *, delay_ms: int = 150):
        super().__init__(parent)
        self.document = document
        self._spec = document.spec
        self._problems: list[Problem] = []
        self._extra: tuple[Any, list[Problem]] = (None, [])
        self._call = BackgroundCall(self)
        self._call.finished.connect(self._checked)
        self._call.failed.connect(lambda _message: self._settle())
        self._timer = QTimer(self, singleShot=True, interval=delay_ms, timeout=self._start)
        self.pending = True
        document.specChanged.connect(self._spec_changed)
        self._timer.start()

    def problems(self) -> list[Problem]:
        return list(self._problems)

    def by_section(self) -> dict[str, list[Problem]]:
        """Problems grouped by section title, in spec order (Model, Data, ..., Parallel)."""
        out: dict[str, list[Problem]] = {}
        order = list(SECTION_TITLES.values())
        for problem in sorted(self._problems, key=lambda p: order.index(section_title(p))):
            out.setdefault(section_title(problem), []).append(problem)
        return out

    def merge(self, spec: Any, problems: Sequence[Problem]) -> None:
        """Problems another check found for `spec` (the Train page's plan loads the data)."""
        if spec != self.document.spec:
            return
        self._extra = (spec, list(problems))
        self._problems = _unique([*self._problems, *problems])
        self.changed.emit()

    def wait(self, msecs: int = 30_000) -> bool:
        return self._call.wait(msecs)

    # ------------------------------------------------------------------ internals
    def _spec_changed(self, spec: Any) -> None:
        old, self._spec = self._spec, spec
        touched = {f.name for f in dataclasses.fields(spec) if getattr(old, f.name, None) != getattr(spec, f.name)}
        keep = [p for p in self._problems if section_of(p) not in touched and section_of(p) not in ("model", "data")]
        self._problems = _unique([*self.document.model_problems(), *self.document.data_problems(), *keep])
        self.pending = True
        self.changed.emit()
        self._timer.start()

    def _start(self) -> None:
        pending = getattr(self.document, "data_pending", None)
        if callable(pending) and pending():  # the launcher loads the data engine after the first paint;
            return  # the document announces the spec again once it has (and the check runs then)
        self._call.call(_check, self.document.spec)

    def _checked(self, result: tuple[Any, list[Problem]]) -> None:
        spec, problems = result
        if spec != self.document.spec:  # an edit came in meanwhile; its check is on its way
            return
        extra = self._extra[1] if self._extra[0] == spec else []
        self._problems = _unique([*problems, *extra])
        self._settle()

    def _settle(self) -> None:
        self.pending = self._timer.isActive() or self._call.pending
        self.changed.emit()
