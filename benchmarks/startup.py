"""Time to first paint of `python main.py` beside a bare PySide6 window, as a ratio.

Both are started as fresh processes (with Python's byte-code cache, as an installed app runs), alternating, N times each; each child prints the wall-clock
time of its first paint and the parent subtracts the time it started the process. The app
reports through its startup probe (NETWRIGHT_STARTUP_PROBE=1), which also says whether torch
was imported before that paint (it must not be). Target: first paint within 1.5 s.

    python benchmarks/startup.py [--runs 5] [--platform offscreen|xcb]
    xvfb-run -s "-screen 0 1280x800x24" python benchmarks/startup.py --platform xcb
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 1.5

BARE = r"""
import json, sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

class Probe(QObject):
    def eventFilter(self, watched, event):
        if event.type() == QEvent.Type.Paint and not getattr(self, "done", False):
            self.done = True
            QTimer.singleShot(0, lambda: (print(json.dumps({"paint_time": time.time(),
                                          "torch_loaded": "torch" in sys.modules}), flush=True), app.quit()))
        return False

app = QApplication([])
window = QMainWindow()
window.resize(1280, 800)
probe = Probe()
window.installEventFilter(probe)
window.show()
app.exec()
"""


def first_paint(command: list[str], env: dict[str, str]) -> tuple[float, bool]:
    """Seconds from process start to its first paint, and whether torch was loaded by then."""
    start = time.time()
    out = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise SystemExit(f"{command[:2]} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    return probe["paint_time"] - start, bool(probe["torch_loaded"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--platform", default=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as runs:
        env = dict(os.environ, QT_QPA_PLATFORM=args.platform, NETWRIGHT_STARTUP_PROBE="1",
                   NETWRIGHT_RUNS_DIR=runs)
        # measure as installed apps run: with byte-code caches (the warm-up runs write them)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        ours, bare, torch_seen = [], [], False
        first_paint([sys.executable, "-c", BARE], env)  # warm the file cache for both
        first_paint([sys.executable, str(ROOT / "main.py")], env)
        for _ in range(args.runs):
            bare.append(first_paint([sys.executable, "-c", BARE], env)[0])
            seconds, torch_loaded = first_paint([sys.executable, str(ROOT / "main.py")], env)
            ours.append(seconds)
            torch_seen |= torch_loaded
    ours_med, bare_med = statistics.median(ours), statistics.median(bare)
    print(f"platform: {args.platform}, {args.runs} runs each, alternating (median)")
    print(f"bare PySide6 window : {bare_med:.3f} s  (min {min(bare):.3f})")
    print(f"netwright main.py   : {ours_med:.3f} s  (min {min(ours):.3f})")
    print(f"ratio ours/bare     : {ours_med / bare_med:.2f}")
    print(f"torch imported before first paint: {'YES (bug)' if torch_seen else 'no'}")
    verdict = "ok" if ours_med <= TARGET_S and not torch_seen else "MISSED"
    print(f"target first paint <= {TARGET_S} s: {verdict}")
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
