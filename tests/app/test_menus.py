"""Menus the GUI issue asks for: File (New from template, Open…, Save, Save As…, Recent, Quit),
Edit (Undo, Redo), Help (About, keyboard shortcuts), with the standard shortcuts; every template
opens; Open Recent lists and reopens a file."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QKeySequence

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "engine" / "resources" / "examples"


def _menus(window) -> dict[str, list]:
    """Top-level menu title (without '&') -> its actions."""
    return {action.text().replace("&", ""): action.menu().actions()
            for action in window.menuBar().actions() if action.menu() is not None}


def _by_text(actions) -> dict:
    return {a.text().replace("&", ""): a for a in actions if not a.isSeparator()}


def _keys(action) -> set[str]:
    return {s.toString(QKeySequence.SequenceFormat.PortableText) for s in action.shortcuts()}


def test_menus_and_standard_shortcuts(main_window):
    menus = _menus(main_window)
    assert {"File", "Edit", "Help"} <= set(menus)
    file_menu = _by_text(menus["File"])
    for text in ("New", "New from Template", "Open…", "Open Recent", "Save", "Save As…", "Quit"):
        assert text in file_menu, (text, list(file_menu))
    assert "Ctrl+N" in _keys(file_menu["New"])
    assert "Ctrl+O" in _keys(file_menu["Open…"])
    assert "Ctrl+S" in _keys(file_menu["Save"])
    edit_menu = _by_text(menus["Edit"])
    undo = next(a for t, a in edit_menu.items() if t.startswith("Undo"))
    redo = next(a for t, a in edit_menu.items() if t.startswith("Redo"))
    assert "Ctrl+Z" in _keys(undo)
    assert "Ctrl+Shift+Z" in _keys(redo)
    help_menu = _by_text(menus["Help"])
    assert any(t.startswith("About") for t in help_menu)
    assert "Keyboard Shortcuts" in help_menu


def test_every_template_opens_as_a_clean_experiment(main_window):
    templates = _by_text(_by_text(_menus(main_window)["File"])["New from Template"].menu().actions())
    # the five the issue names: MLP, CNN, ResNet-mini, tiny GPT, the 1000-10000-1000-10 big model
    for title in ("Digits MLP", "Digits CNN", "Resnet Mini", "Tiny GPT", "Seed Bigmodel"):
        assert title.lower() in {t.lower() for t in templates}, (title, list(templates))
    assert len(templates) == len(list(EXAMPLES.glob("*.toml")))
    for title, action in templates.items():
        action.trigger()
        doc = main_window.document
        stem = title.lower().replace(" ", "_")
        assert doc.spec.name == stem, title
        assert not doc.dirty and doc.path is None
        assert doc.model_problems() == [], (title, doc.model_problems())


def test_open_recent_lists_and_reopens_a_file(main_window, tmp_path):
    file_menu = _by_text(_menus(main_window)["File"])
    recent = file_menu["Open Recent"].menu()
    main_window._fill_recent()
    assert [a.text() for a in recent.actions()] == ["No recent files"]
    target = tmp_path / "mine.toml"
    target.write_text((EXAMPLES / "moons_mlp.toml").read_text(encoding="utf-8"), encoding="utf-8")
    assert main_window.open_path(target)
    main_window.new_from_template("digits_cnn")
    recent.aboutToShow.emit()
    entries = [a for a in recent.actions() if a.text() == "mine.toml"]
    assert len(entries) == 1 and entries[0].isEnabled()
    entries[0].trigger()
    assert main_window.document.spec.name == "moons_mlp"
    assert main_window.document.path.resolve() == target.resolve()
