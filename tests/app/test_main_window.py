"""Main window: pages and sidebar, title and dirty mark, save/open round trip, the close guard,
error handling for bad files, page discovery, and the torch-free fast startup."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from app.pages.base import PlaceholderPage
from engine.spec import LayerSpec, load_spec

ROOT = Path(__file__).resolve().parents[2]
PAGE_BUTTONS = ("pageBuild", "pageData", "pageTrain", "pageMonitor", "pageExplain", "pageRuns")


def test_default_experiment_and_sidebar(main_window, qtbot):
    assert main_window.document.spec.name == "digits_cnn"
    assert main_window.page_keys()[:2] == ["build", "data"]
    assert set(main_window.page_keys()) >= {"build", "data", "train", "monitor", "explain", "runs"}
    from PySide6.QtWidgets import QToolButton

    for name in PAGE_BUTTONS:
        button = main_window.findChild(QToolButton, name)
        assert button is not None, name
    button = main_window.findChild(QToolButton, "pageData")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert main_window.current_page_key() == "data"
    assert main_window.page("data").isVisible()
    assert button.isChecked()
    with pytest.raises(KeyError, match="no page 'nope'"):
        main_window.page("nope")


def test_every_sidebar_button_shows_its_page(main_window, qtbot):
    from PySide6.QtWidgets import QToolButton

    for name, key in zip(PAGE_BUTTONS, ("build", "data", "train", "monitor", "explain", "runs")):
        qtbot.mouseClick(main_window.findChild(QToolButton, name), Qt.MouseButton.LeftButton)
        assert main_window.current_page_key() == key
        page = main_window.page(key)
        assert page.isVisible() and page.property("pageKey") == key
        if isinstance(page, PlaceholderPage):  # a page not written yet: a clear empty state
            assert key not in ("build", "data") and not page.error, page.error


def test_title_shows_name_and_dirty_mark(main_window):
    doc = main_window.document
    assert main_window.windowTitle().startswith("digits_cnn — ")
    original = doc.spec
    doc.edit(doc.spec.with_layers(doc.spec.model.layers[:-1]), "Remove last")
    assert main_window.windowTitle().startswith("digits_cnn* — ")
    main_window.undo_action.trigger()
    assert doc.spec is original
    assert not doc.dirty and "*" not in main_window.windowTitle()
    main_window.redo_action.trigger()
    assert doc.dirty


def test_save_and_reopen_round_trip(main_window, tmp_path, monkeypatch):
    doc = main_window.document
    layers = doc.spec.model.layers + (LayerSpec("ReLU", enabled=False, name="spare"),)
    doc.edit(doc.spec.with_layers(layers), "Add a disabled layer")
    target = tmp_path / "mine"
    monkeypatch.setattr(main_window, "ask_save_path", lambda: target)
    assert main_window.save()  # no path yet: goes through Save As
    saved = tmp_path / "mine.toml"
    assert saved.exists() and doc.path == saved and not doc.dirty
    assert load_spec(saved) == doc.spec  # the GUI writes the CLI's format
    assert "mine.toml" in main_window.windowTitle()
    spec = doc.spec
    main_window.new_from_template("digits_mlp")
    assert doc.spec.name == "digits_mlp" and doc.path is None
    assert main_window.open_path(saved)
    assert doc.spec == spec and doc.path == saved
    assert main_window.recent_files()[0] == saved.resolve()


def test_close_with_unsaved_changes_asks(main_window, monkeypatch):
    doc = main_window.document
    doc.edit(doc.spec.with_layers(doc.spec.model.layers[:-1]), "edit")
    asked = []
    monkeypatch.setattr(main_window, "ask_unsaved_changes", lambda: asked.append(1) or "cancel")
    assert not main_window.close()
    assert asked and main_window.isVisible()
    monkeypatch.setattr(main_window, "ask_unsaved_changes", lambda: "discard")
    assert main_window.close()


def test_close_asks_pages(main_window, monkeypatch):
    page = main_window.page("build")
    monkeypatch.setattr(page, "can_close", lambda: False, raising=False)
    assert not main_window.close()
    monkeypatch.setattr(page, "can_close", lambda: True, raising=False)
    assert main_window.close()


def test_hand_written_spec_with_problems_opens(main_window, tmp_path, qtbot):
    path = tmp_path / "hand.toml"
    path.write_text(textwrap.dedent("""
        name = "hand"
        [data]
        source = "digits"
        [model]
        layers = [{type = "Conv2", out_channels = 8}, {type = "Flatten"}, {type = "Linear", out_features = 10}]
    """))
    assert main_window.open_path(path)
    build = main_window.show_page("build")
    assert main_window.document.spec.name == "hand"
    assert "1 problem" in build.summary.problems_label.text()
    card = build.stack.card((0,))
    assert card.problem_label is not None and "Conv2d" in card.problem_label.text()  # did you mean
    build.stack.select((0,))
    kinds = build.editor.kind_combo
    assert "unknown" in kinds.currentText()
    kinds.setCurrentIndex(kinds.findData("Conv2d"))  # the user picks the kind they meant
    assert main_window.document.spec.model.layers[0].type == "Conv2d"
    assert main_window.document.spec.model.layers[0].params["out_channels"] == 8  # kept
    assert "No problems" in build.summary.problems_label.text()


def test_unreadable_spec_is_a_message_not_a_crash(main_window, tmp_path, qtbot):
    path = tmp_path / "broken.toml"
    path.write_text("name = \n[[[")
    before = main_window.document.spec
    assert not main_window.open_path(path)
    assert main_window.document.spec is before
    box = main_window.findChild(QMessageBox, "errorBox")
    assert box is not None and "broken.toml" in box.informativeText() and "TOML" in box.informativeText()
    box.close()
    assert not main_window.open_path(tmp_path / "missing.toml")
    assert "not found" in main_window.statusBar().currentMessage()


def test_bad_spec_path_on_start_falls_back_to_default(qtbot, styled_app, tmp_path):
    from app.main_window import MainWindow

    window = MainWindow(spec_path=tmp_path / "nope.toml", runs_dir=tmp_path)
    qtbot.addWidget(window)
    assert window.document.spec.name == "digits_cnn"
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "errorBox") is not None)


def test_pages_are_listed_explicitly_and_a_broken_one_shows_its_error(qtbot, styled_app, tmp_path, monkeypatch):
    from app.main_window import MainWindow
    from app.pages.base import PAGES, PageSpec

    package = tmp_path / "fakepages"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "broken.py").write_text("raise RuntimeError('half written')\n")
    (package / "extra.py").write_text(textwrap.dedent("""
        from PySide6.QtWidgets import QLabel
        class Extra(QLabel):
            def __init__(self, window, services):
                super().__init__(f"runs in {services.runs.runs_dir}")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    pages = (*PAGES, PageSpec("extra", "Extra", "fakepages.extra:Extra"), PageSpec("broken", "Broken", "fakepages.broken:Page"))
    window = MainWindow(runs_dir=tmp_path / "runs", pages=pages)
    qtbot.addWidget(window)
    assert window.page_keys() == ["build", "data", "train", "monitor", "explain", "runs", "sweeps", "compress", "extra",
                                  "broken"]
    assert "fakepages.extra" in window.page_modules()  # imported lazily, on the launcher's thread
    assert "fakepages.extra" not in sys.modules
    assert window.page("extra").text() == f"runs in {tmp_path / 'runs'}"  # built with the window's services
    broken = window.show_page("broken")
    assert isinstance(broken, PlaceholderPage) and "half written" in broken.error


def test_every_page_gets_the_window_run_service(main_window):
    service = main_window.services.runs
    for key in ("train", "monitor", "explain", "runs", "sweeps", "compress"):
        assert main_window.page(key).run_service is service


def test_startup_paints_without_torch(tmp_path):
    """`python main.py` paints its first frame without importing torch (shape inference is pure)."""
    env = dict(os.environ, NETWRIGHT_STARTUP_PROBE="1", QT_QPA_PLATFORM="offscreen",
               NETWRIGHT_RUNS_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, str(ROOT / "main.py")], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe["torch_loaded"] is False  # how fast it paints: benchmarks/startup.py (a ratio)


def test_startup_opens_spec_given_on_the_command_line(tmp_path):
    spec = ROOT / "engine" / "resources" / "examples" / "wine_mlp.toml"
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from PySide6.QtWidgets import QApplication\n"
            "app = QApplication([])\n"
            "from app.main_window import MainWindow\n"
            "w = MainWindow(spec_path=%r); w.show(); app.processEvents()\n"
            "w.show_page('data'); w.open_path(%r); app.processEvents()\n"  # opening counts problems
            "print(w.document.spec.name, 'torch' in sys.modules)\n") % (
                str(ROOT), str(spec), str(spec.with_name("moons_mlp.toml")))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", NETWRIGHT_RUNS_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["moons_mlp", "False"]


def test_data_engine_loads_after_first_paint(tmp_path):
    """The launcher paints before numpy/scikit-learn load; the shapes appear once they have."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from app.main_window import MainWindow
        w = MainWindow(background_data_import=True); w.show(); app.processEvents()
        build = w.page("build")
        print("engine.data" in sys.modules, w.document.data_pending(), "loading" in build.subtitle.text())
        w.document.load_data_engine_in_background()
        deadline = time.time() + 60
        while w.document.data_pending() and time.time() < deadline:
            app.processEvents(); time.sleep(0.01)
        app.processEvents()
        print(w.document.data_pending(), build.summary.values["input"].text(), "torch" in sys.modules)
    """)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", NETWRIGHT_RUNS_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr
    before, after = out.stdout.strip().splitlines()[-2:]
    assert before.split() == ["False", "True", "True"]
    assert after.split() == ["False", "1×8×8", "False"]


def test_file_saved_by_the_gui_validates_with_the_cli(main_window, tmp_path, monkeypatch):
    """The TOML the app writes is the TOML `python main.py validate/train` runs."""
    build = main_window.page("build")
    path = build.add_layer("Dropout")  # after nothing selected: appended at the end
    build.toggle_layer(path)
    target = tmp_path / "from_gui.toml"
    monkeypatch.setattr(main_window, "ask_save_path", lambda: target)
    assert main_window.save_as()
    out = subprocess.run([sys.executable, str(ROOT / "main.py"), "validate", str(target)],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr + out.stdout
    assert json.loads(out.stdout.strip().splitlines()[-1])["valid"] is True


def test_launcher_builds_the_other_pages_after_the_first_paint(main_window, qtbot):
    from app.launch import _warm_up

    assert set(main_window._pages) == {"build"}  # only the visible page was built
    _warm_up(main_window)
    qtbot.waitUntil(lambda: set(main_window._pages) == set(main_window.page_keys()), timeout=30000)
    assert main_window.current_page_key() == "build"


def test_key_widgets_have_stable_object_names(main_window):
    from PySide6.QtWidgets import QWidget

    main_window.page("data")
    for name in ("layerPalette", "layerStack", "propertyEditor", "problemsLabel", "dataSourceCombo",
                 "dataPreview", *PAGE_BUTTONS):
        assert main_window.findChild(QWidget, name) is not None, name
