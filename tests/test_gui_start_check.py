"""When the window cannot open (missing Qt libraries, no display), `netwright` says so and points to
`netwright doctor` with exit code 3 — instead of Qt aborting the process."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from netwright.gui import CANNOT_START, cannot_start, start_gui

ROOT = Path(__file__).resolve().parent.parent


def test_no_display_is_reported_not_aborted(tmp_path):
    """xcb without $DISPLAY: on a machine lacking xcb libraries they are named, else the display is."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(QT_QPA_PLATFORM="xcb", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, str(ROOT / "main.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == CANNOT_START, (done.returncode, done.stderr[-2000:])
    assert "Netwright cannot open its window on this machine" in done.stderr
    assert "netwright doctor" in done.stderr
    assert ("$DISPLAY is not set" in done.stderr) or ("missing shared libraries" in done.stderr)
    assert "Traceback" not in done.stderr


def test_blockers_stop_the_start_before_qt_loads(monkeypatch, capsys):
    from engine import system_check
    from engine.system_check import Check

    blocker = Check("Qt platform plugin 'xcb'", False, "missing shared libraries: libxcb-icccm.so.4",
                    ("libxcb-icccm.so.4",), ("libxcb-icccm4",), "sudo apt-get install -y libxcb-icccm4")
    monkeypatch.setattr(system_check, "gui_blockers", lambda: [blocker])
    assert start_gui([]) == CANNOT_START
    err = capsys.readouterr().err
    assert "libxcb-icccm.so.4" in err and "fix: sudo apt-get install -y libxcb-icccm4" in err
    assert "netwright doctor" in err


def test_cannot_start_lists_each_fix_once(capsys):
    assert cannot_start(["a", "b"], ["fix it", "fix it", ""]) == CANNOT_START
    assert capsys.readouterr().err.count("fix: fix it") == 1


def test_ctrl_c_closes_the_app_quietly(tmp_path):
    """Ctrl-C in the terminal closes the window (nothing unsaved: no question) and exits 130."""
    import signal
    import textwrap

    script = textwrap.dedent("""
        import signal, sys
        from PySide6.QtCore import QTimer
        from PySide6.QtWidgets import QApplication
        app = QApplication([])

        def ready():  # once the app's own Ctrl-C handler is in place
            if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
                print("ready", flush=True)
                timer.stop()
        timer = QTimer()
        timer.timeout.connect(ready)
        timer.start(50)
        from netwright import main
        sys.exit(main([]))
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
