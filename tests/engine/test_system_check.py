"""`netwright doctor` and the app's start-up check: missing shared libraries are found as ldd finds
them (here a fake ldd reports what a fresh Debian lacks) and named with the apt-get line."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine import system_check
from engine.cli import main
from engine.system_check import check_qt, check_runs_folder, debian_packages, diagnose, gui_blockers

FRESH_DEBIAN_LDD = """{plugin}:
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => {root}/Qt/lib/libQt6XcbQpa.so.6 (0x00007f5a)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f5a)
\tlibxcb-icccm.so.4 => not found
\tlibEGL.so.1 => not found
\tlibwhatever.so.7 => not found
"""


@pytest.fixture
def fake_pyside(tmp_path) -> Path:
    """A PySide6 folder with QtWidgets and the xcb and offscreen plugins (empty files)."""
    root = tmp_path / "PySide6"
    (root / "Qt" / "plugins" / "platforms").mkdir(parents=True)
    (root / "QtWidgets.abi3.so").write_bytes(b"")
    for name in ("xcb", "offscreen"):
        (root / "Qt" / "plugins" / "platforms" / f"libq{name}.so").write_bytes(b"")
    return root


def fake_ldd(root: Path, text: str = FRESH_DEBIAN_LDD):
    calls = []

    def ldd(paths):
        calls.append([Path(p).name for p in paths])
        return text.format(plugin=paths[-1], root=root)
    ldd.calls = calls
    return ldd


def test_missing_libraries_are_named_with_their_debian_packages(fake_pyside):
    ldd = fake_ldd(fake_pyside)
    check = check_qt({"QT_QPA_PLATFORM": "xcb"}, ldd, root=fake_pyside)
    assert not check.ok and check.required
    assert ldd.calls == [["libqxcb.so"]]
    assert check.missing == ("libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libEGL.so.1", "libwhatever.so.7")
    assert check.packages == ("libxcb-icccm4", "libxcb-keysyms1", "libegl1")
    assert "apt-get install -y libxcb-icccm4 libxcb-keysyms1 libegl1" in check.fix
    assert "libwhatever.so.7" in check.fix  # no known package: named, not dropped


def test_nothing_missing_is_ok(fake_pyside):
    check = check_qt({"QT_QPA_PLATFORM": "offscreen"}, fake_ldd(fake_pyside, "\tlibc.so.6 => /lib/libc.so.6\n"),
                     root=fake_pyside)
    assert check.ok and "libqoffscreen.so" in check.detail


def test_a_missing_plugin_or_pyside_is_reported(fake_pyside, monkeypatch):
    assert "no 'wayland' platform plugin" in check_qt({"QT_QPA_PLATFORM": "wayland"}, fake_ldd(fake_pyside),
                                                      root=fake_pyside).detail
    monkeypatch.setattr(system_check, "pyside_dir", lambda: None)
    check = check_qt({}, fake_ldd(fake_pyside), platform="xcb")
    assert not check.ok and check.detail == "PySide6 is not installed" and "pip install" in check.fix


def test_the_sonames_of_the_readme_packages_map_back():
    assert set(system_check.DEBIAN_GUI_PACKAGES) <= set(system_check.SONAME_PACKAGES.values())
    assert debian_packages(["libxcb-icccm.so.4", "libfoo.so.1"]) == (("libxcb-icccm4",), ("libfoo.so.1",))


def test_display_is_needed_for_xcb_but_not_offscreen(monkeypatch):
    monkeypatch.setattr(system_check, "missing_libraries", lambda paths, ldd=None: ())
    blockers = gui_blockers({"QT_QPA_PLATFORM": "xcb"})
    assert [c.name for c in blockers] == ["display"] and "$DISPLAY is not set" in blockers[0].detail
    assert gui_blockers({"QT_QPA_PLATFORM": "offscreen"}) == []


def test_a_wayland_session_falls_back_to_xcb_as_qt_does(monkeypatch):
    monkeypatch.setattr(system_check, "missing_libraries", lambda paths, ldd=None: ())
    monkeypatch.setattr(system_check, "_x_display_answers", lambda display: True)
    assert system_check.qt_platforms({"XDG_SESSION_TYPE": "wayland"}) == ["wayland", "xcb"]
    assert system_check.qt_platforms({"QT_QPA_PLATFORM": "offscreen:fontengine=freetype;xcb"}) == ["offscreen", "xcb"]
    assert gui_blockers({"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}) == []
    assert gui_blockers({"XDG_SESSION_TYPE": "wayland", "DISPLAY": ":0"}) == []  # XWayland
    both = gui_blockers({"XDG_SESSION_TYPE": "wayland"})
    assert [c.detail for c in both] == ["no Wayland display ($WAYLAND_DISPLAY is not set)",
                                        "no X display ($DISPLAY is not set)"]


def test_an_x_display_that_does_not_answer_is_a_blocker(monkeypatch):
    monkeypatch.setattr(system_check, "missing_libraries", lambda paths, ldd=None: ())
    blockers = gui_blockers({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":4711"})
    assert blockers and "does not answer" in blockers[0].detail


def test_runs_folder_must_be_writable(tmp_path):
    assert check_runs_folder(tmp_path / "new" / "runs").ok
    blocked = tmp_path / "file"
    blocked.write_text("x")
    check = check_runs_folder(blocked / "runs")
    assert not check.ok and "NETWRIGHT_RUNS_DIR" in check.fix


def test_doctor_command_prints_the_apt_line_and_fails(monkeypatch, capsys, tmp_path, fake_pyside):
    monkeypatch.setattr(system_check, "run_ldd", fake_ldd(fake_pyside))
    monkeypatch.setattr(system_check, "pyside_dir", lambda: fake_pyside)
    code = main(["doctor", "--runs-dir", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 1
    assert "MISSING  Qt platform plugin 'offscreen': missing shared libraries: libxcb-icccm.so.4" in out
    assert "apt-get install -y libxcb-icccm4 libxcb-keysyms1 libegl1" in out
    assert f"ok       runs folder: {tmp_path / 'runs'} is writable" in out
    assert "ok       torch: torch " in out
    code = main(["doctor", "--json", "--runs-dir", str(tmp_path / "runs")])
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 1 and report["ok"] is False
    assert report["apt"].endswith("apt-get install -y libxcb-icccm4 libxcb-keysyms1 libegl1")


def test_doctor_passes_when_nothing_is_missing(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(system_check, "run_ldd", lambda paths: "\tlibc.so.6 => /lib/libc.so.6\n")
    assert main(["doctor", "--runs-dir", str(tmp_path / "runs")]) == 0
    assert "all required checks passed" in capsys.readouterr().out


def test_diagnose_checks_xcb_too_when_running_offscreen(tmp_path):
    names = [c.name for c in diagnose(tmp_path, {"QT_QPA_PLATFORM": "offscreen"},
                                      ldd=lambda paths: "").checks]
    assert names[:2] == ["Qt platform plugin 'offscreen'", "Qt platform plugin 'xcb'"]
    assert names[2:] == ["display", "torch", "runs folder"]
    assert os.environ["QT_QPA_PLATFORM"] == "offscreen"
