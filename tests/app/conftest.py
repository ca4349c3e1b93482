"""Shared GUI test setup: settings in a temporary folder, the app style, and a `main_window`
fixture whose close never waits on an unsaved-changes dialog."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path):
    """Recent files and other QSettings go to a temporary folder, never the user's."""
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    yield


@pytest.fixture(scope="session")
def styled_app(qapp):
    from app.widgets.theme import apply_theme

    apply_theme(qapp)
    return qapp


@pytest.fixture
def main_window(qtbot, styled_app, tmp_path):
    """A shown MainWindow on the default experiment (digits CNN) with its own runs folder."""
    from app.main_window import MainWindow

    window = MainWindow(runs_dir=tmp_path / "runs")
    window.ask_unsaved_changes = lambda: "discard"
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    data = window._pages.get("data")
    if data is not None:
        data.loader.wait(10000)


@pytest.fixture
def window(main_window):
    """`main_window` at 1280x800; a run still active when it closes is stopped, not kept."""
    main_window.resize(1280, 800)
    main_window.page("monitor").ask_close_action = lambda: "stop"
    return main_window
