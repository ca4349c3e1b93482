"""The services a main window owns and hands to every page it builds (pages never reach into
each other for them)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject

from app.services.problem_checker import ProblemChecker
from app.services.run_service import RunService


@dataclass(frozen=True)
class WindowServices:
    """`runs`: start, attach, stop and list the runs of the window's runs folder; `problems`:
    the one problems list of the window's document (None for a page built without a document)."""

    runs: RunService
    problems: ProblemChecker | None = None

    @classmethod
    def create(cls, runs_dir: str | Path, parent: QObject | None = None, document: object = None) -> "WindowServices":
        checker = ProblemChecker(document, parent) if document is not None else None
        return cls(runs=RunService(runs_dir, parent), problems=checker)


def services_of(window: object, parent: QObject) -> WindowServices:
    """The window's services, or a fresh set for a page built on its own (tests, embedding):
    `window` needs only a `runs_dir` then."""
    services = getattr(window, "services", None)
    if isinstance(services, WindowServices):
        return services
    from engine.paths import default_runs_dir

    return WindowServices.create(getattr(window, "runs_dir", None) or default_runs_dir(), parent,
                                 getattr(window, "document", None))
