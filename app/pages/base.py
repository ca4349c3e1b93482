"""The window's pages, listed explicitly: each `PageSpec` names its class as ``module:Class``,
imported the first time the page is shown or asked for (so startup pays for no page's imports).

Every page class is built as ``Class(window, services)``: the window (document, status bar,
`show_page`) and the window-owned services (:class:`app.services.window_services.WindowServices`:
the `RunService`). A page that fails to import or build becomes an empty state showing the
error instead of taking the window down.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


@dataclass(frozen=True)
class PageSpec:
    """One page of the main window: its key, sidebar title, ``module:Class`` target, icon name
    (app/resources/icons/<icon>.svg) and a one-line description (the sidebar tooltip)."""

    key: str
    title: str
    target: str
    icon: str = ""
    description: str = ""

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    def build(self, window: Any, services: Any) -> QWidget:
        """Import the page's module and build the page (raises what the import or build raises)."""
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)(window, services)


#: The pages in sidebar order (Ctrl+1 … Ctrl+8).
PAGES: tuple[PageSpec, ...] = (
    PageSpec("build", "Build", "app.pages.build:BuildPage", "build", "Assemble the model layer by layer."),
    PageSpec("data", "Data", "app.pages.data:DataPage", "data", "Choose the data and preview it."),
    PageSpec("train", "Train", "app.pages.train:TrainPage", "train",
             "Pick optimizer, schedule, regularization and parallelism, then train."),
    PageSpec("monitor", "Monitor", "app.pages.monitor:MonitorPage", "monitor",
             "Watch loss, accuracy and system load live."),
    PageSpec("explain", "Explain", "app.pages.explain:ExplainPage", "explain",
             "See why the trained model predicts what it does."),
    PageSpec("runs", "Runs", "app.pages.runs:RunsPage", "runs", "Browse, compare and reopen past runs."),
    PageSpec("sweeps", "Sweeps", "app.pages.sweeps:SweepsPage", "sweeps",
             "Search hyper-parameters over many runs, with early stopping of bad trials."),
    PageSpec("compress", "Compress", "app.pages.compress:CompressPage", "compress",
             "Prune, fine-tune and quantize a trained run; compare accuracy against size."),
)


def object_name(key: str) -> str:
    """The sidebar button's objectName for a page key: build -> pageBuild."""
    return "page" + key[:1].upper() + key[1:]


class PlaceholderPage(QWidget):
    """A clear empty state for a page that could not be built."""

    def __init__(self, title: str, text: str, detail: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("placeholderPage")
        self.error = detail
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        heading = QLabel(title)
        heading.setObjectName("placeholderTitle")
        heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        body = QLabel(text)
        body.setObjectName("placeholderText")
        body.setWordWrap(True)
        body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(heading)
        layout.addWidget(body)
        if detail:
            more = QLabel(detail)
            more.setObjectName("placeholderDetail")
            more.setWordWrap(True)
            more.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            more.setAlignment(Qt.AlignmentFlag.AlignCenter)
            layout.addWidget(more)
        layout.addStretch(2)
