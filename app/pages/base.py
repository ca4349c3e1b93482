"""Page discovery: every module `app/pages/<key>.py` defines `PAGE = PageSpec(...)`.

There is no central list of pages to edit: the window finds each module of this package,
reads its `PAGE` (from the source when written with literal values, so the module is imported
only when its page is first shown), and orders the pages by `order`. The well-known pages that have no module
yet (or whose module fails to import) get an empty-state placeholder, so the sidebar is
always complete.
"""
from __future__ import annotations

import ast
import importlib
import pkgutil
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


@dataclass(frozen=True)
class PageSpec:
    """One page of the main window. `factory(window)` builds the page widget (called lazily,
    the first time the page is shown or asked for); `icon` names app/resources/icons/<icon>.svg."""

    key: str
    title: str
    order: int
    icon: str
    factory: Callable[[QWidget], QWidget]
    description: str = ""
    error: str = field(default="", compare=False)
    module: str = field(default="", compare=False)  # set by discovery: the module to import


#: The pages the window always shows, with what they will offer (used for placeholders).
WELL_KNOWN: tuple[tuple[str, str, int, str], ...] = (
    ("build", "Build", 10, "Assemble the model layer by layer."),
    ("data", "Data", 20, "Choose the data and preview it."),
    ("train", "Train", 30, "Pick optimizer, schedule, regularization and parallelism, then train."),
    ("monitor", "Monitor", 40, "Watch loss, accuracy and system load live."),
    ("explain", "Explain", 50, "See why the trained model predicts what it does."),
    ("runs", "Runs", 60, "Browse, compare and reopen past runs."),
)


def object_name(key: str) -> str:
    """The sidebar button's objectName for a page key: build -> pageBuild."""
    return "page" + key[:1].upper() + key[1:]


class PlaceholderPage(QWidget):
    """A clear empty state for a page that is not available (yet)."""

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


def placeholder_spec(key: str, title: str, order: int, description: str, error: str = "") -> PageSpec:
    """A PageSpec whose page is an empty state (the page's module is missing or broken)."""
    if error:
        text = f"The {title} page could not be loaded."
    else:
        text = f"{description}\nThis page is not available in this version yet."

    def factory(window: QWidget) -> QWidget:
        return PlaceholderPage(title, text, error)

    return PageSpec(key, title, order, key, factory, description, error)


def _static_page(path: Path) -> dict | None:
    """The literal keyword arguments of `PAGE = PageSpec(...)` in a module's source, read without
    importing it (so discovery costs no imports); None if PAGE is not written that way."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "PAGE" for t in node.targets)
                and isinstance(node.value, ast.Call)):
            fields = {}
            for keyword in node.value.keywords:
                if keyword.arg in ("key", "title", "order", "icon", "description"):
                    try:
                        fields[keyword.arg] = ast.literal_eval(keyword.value)
                    except ValueError:
                        return None
            return fields if {"key", "title", "order"} <= set(fields) else None
    return None


def _lazy_factory(module_name: str) -> Callable[[QWidget], QWidget]:
    """A factory that imports the page module on first use and calls its PAGE.factory."""

    def factory(window: QWidget) -> QWidget:
        page = importlib.import_module(module_name).PAGE
        return page.factory(window)

    return factory


def discover_pages(package: str = "app.pages") -> list[PageSpec]:
    """Find every module of `package` that defines `PAGE`, fill the well-known keys that are
    missing with placeholders, and return the pages sorted by `order`.

    A module whose `PAGE = PageSpec(key=..., title=..., order=..., icon=...)` is written with
    literal values is read from its source and imported only when its page is first built, so
    startup pays for no page's imports; other modules are imported here. A module that fails
    to import becomes a placeholder showing the error instead of taking the window down."""
    pkg = importlib.import_module(package)
    found: dict[str, PageSpec] = {}
    broken: dict[str, str] = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        module_name = f"{package}.{info.name}"
        static = _static_page(Path(info.module_finder.path) / f"{info.name}.py")
        if static is not None:
            static.setdefault("icon", static["key"])
            found[static["key"]] = PageSpec(factory=_lazy_factory(module_name), module=module_name, **static)
            continue
        try:
            module = importlib.import_module(module_name)
        except Exception:  # a half-written page must not stop the app
            broken[info.name] = traceback.format_exc(limit=3)
            continue
        page = getattr(module, "PAGE", None)
        if isinstance(page, PageSpec):
            found[page.key] = page
    for key, title, order, description in WELL_KNOWN:
        if key not in found:
            found[key] = placeholder_spec(key, title, order, description, broken.get(key, ""))
    return sorted(found.values(), key=lambda p: (p.order, p.key))
