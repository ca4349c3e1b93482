"""How soon the Monitor shows "crashed" after its worker is killed, as a ratio.

The Monitor page runs the stand-in worker (tests/app/fake_worker.py: the real run-directory
protocol, no torch); after it has drawn some points its whole process group gets SIGKILL, and the
time until the page's status says "crashed" is measured with the event loop running. The reference,
measured in the same run, is the event tailer's own poll interval (the tick that reads status):
the ratio says how many ticks detection took. Target (issue 9, formerly a unit-test assert): within
2 s, i.e. <= 20 ticks of 100 ms; the median of N kills is printed.

    QT_QPA_PLATFORM=offscreen python benchmarks/crash_detection.py [--runs 3]
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
FAKE = ROOT / "tests" / "app" / "fake_worker.py"
TARGET_S = 2.0


def wait_until(app, condition, timeout_s: float) -> float:
    """Run the event loop until `condition()`; returns the seconds it took (raises on timeout)."""
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout_s:
            raise SystemExit(f"gave up after {timeout_s} s")
        app.processEvents()
        time.sleep(0.005)
    return time.perf_counter() - start


def one_kill(app, runs_dir: Path) -> tuple[float, float]:
    """(seconds from SIGKILL to "crashed", the tailer's poll interval in seconds)."""
    from app.pages.monitor import MonitorPage
    from engine.spec import ExperimentSpec

    page = MonitorPage(SimpleNamespace(runs_dir=runs_dir))

    def launch(run_dir: Path, resume: bool) -> subprocess.Popen:
        with open(run_dir / "log.txt", "ab") as log:
            return subprocess.Popen([sys.executable, str(FAKE), str(run_dir), "--steps", "100000", "--delay", "0.005"],
                                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
    page.run_service.launcher = launch
    page.resize(1200, 760)
    page.show()
    run_dir = page.start_run(ExperimentSpec(name="crash"))
    series = lambda: page.plots.store().series.get("train_loss")  # noqa: E731
    wait_until(app, lambda: page.status == "running" and series() is not None and len(series()) > 20, 60)
    os.killpg(os.getpgid(page.run_service.worker_pid(run_dir)), signal.SIGKILL)
    seconds = wait_until(app, lambda: page.status == "crashed", 30)
    tick = page.tailer._timer.interval() / 1000
    page._shutdown()
    page.tailer.wait_idle()
    page.system.wait_idle()
    page.close()
    return seconds, tick


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        results = [one_kill(app, Path(tmp) / "runs") for _ in range(args.runs)]
    seconds = statistics.median(s for s, _ in results)
    tick = results[0][1]
    print(f"killed worker -> 'crashed': {seconds / tick:.1f} tailer ticks (median of {args.runs}; "
          f"{seconds:.2f} s, tick {tick * 1000:.0f} ms); target <= {TARGET_S / tick:.0f} ticks "
          f"({TARGET_S:.0f} s): {'ok' if seconds <= TARGET_S else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
