"""README.md stays true: its spec reference is the generated one, and its commands exist."""
from __future__ import annotations

from pathlib import Path

from engine.cli import command_modules
from engine.reference import MARK_END, MARK_START, readme_block

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_spec_reference_is_up_to_date():
    text = README.read_text(encoding="utf-8")
    start, end = text.index(MARK_START), text.index(MARK_END) + len(MARK_END)
    assert text[start:end] == readme_block(), "regenerate with: python main.py reference --readme"


def test_readme_names_every_command():
    text = README.read_text(encoding="utf-8")
    missing = [name for name in command_modules() if f"`{name}" not in text]
    assert not missing, f"README.md does not document: {missing}"


def test_readme_links_resolve():
    import re

    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(((?:docs|engine|app)/[^)#]+)", text)
    assert targets
    missing = [t for t in targets if not (README.parent / t).exists()]
    assert not missing, missing


def test_readme_lists_the_debian_packages_the_doctor_knows():
    """The README's apt line is the doctor's list of what Qt's window needs."""
    from engine.system_check import DEBIAN_GUI_PACKAGES

    text = README.read_text(encoding="utf-8")
    assert f"sudo apt-get install -y {' '.join(DEBIAN_GUI_PACKAGES)}" in text
