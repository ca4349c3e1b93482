"""GUI responsiveness during startup: the first seconds after the first paint, while the pages are
built and the Train page computes its plan.

Starts the real window the way `python main.py SPEC.toml` does (app.launch: first paint, then
`_warm_up` imports the page modules and the data engine on threads and builds the other pages one
per event-loop turn), shows the Train page ~1 s after the first paint, and measures how late a
10 ms heartbeat QTimer fires for the first `--seconds` (8) seconds. Prints p50/p99/max delay, the
stalls over 50 ms (when, how long, what was happening: each page build is timed), how long each
page took to build on the GUI thread, and whether torch was ever imported in the GUI process.
Targets: p99 <= 50 ms, max <= 200 ms, torch never imported.

    python benchmarks/startup_latency.py [SPEC.toml] [--seconds 8]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HEARTBEAT_MS = 10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", default=None, help="spec to open (default: engine/resources/examples/digits_mlp.toml)")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds measured after the first paint")
    parser.add_argument("--trace", action="store_true", help="name what the GUI thread was running during each stall "
                        "(a watchdog thread samples its stack every 5 ms)")
    parser.add_argument("--default-gil", action="store_true", help="keep Python's 5 ms GIL switch interval "
                        "(run_app sets app.launch.GIL_SWITCH_INTERVAL_S)")
    parser.add_argument("--train-at", type=float, default=1.0, help="show the Train page this many seconds after the paint")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["NETWRIGHT_RUNS_DIR"] = tempfile.mkdtemp(prefix="nw-startup-")
    t_start = time.perf_counter()

    from PySide6.QtCore import QElapsedTimer, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from app import launch
    from app.main_window import MainWindow
    from app.widgets.theme import apply_theme

    if not args.default_gil:
        launch.tune_gil()  # as run_app does
    spec_path = Path(args.spec) if args.spec else ROOT / "engine" / "resources" / "examples" / "digits_mlp.toml"
    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app)
    window = MainWindow(spec_path=spec_path, background_data_import=True)
    window.ask_unsaved_changes = lambda: "discard"
    window.resize(1280, 800)

    builds: list[tuple[float, float, str]] = []  # (start s after paint, seconds, page)
    marks: list[tuple[float, str]] = []
    original_page = window.page
    clock = QElapsedTimer()
    delays: list[tuple[float, float]] = []  # (s after paint, delay ms)
    torch_seen: list[float] = []
    paint = [0.0]

    def since_paint() -> float:
        return clock.nsecsElapsed() / 1e9

    def timed_page(key):
        new = key not in window._pages
        t = time.perf_counter()
        widget = original_page(key)
        if new:
            builds.append((since_paint(), time.perf_counter() - t, key))
        return widget

    window.page = timed_page
    last = [0]

    def tick() -> None:
        now = clock.nsecsElapsed()
        if last[0]:
            delays.append((now / 1e9, max(0.0, (now - last[0]) / 1e6 - HEARTBEAT_MS)))
        last[0] = now
        if not torch_seen and "torch" in sys.modules:
            torch_seen.append(now / 1e9)

    timer = QTimer(interval=HEARTBEAT_MS)
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(tick)

    def show_train() -> None:
        marks.append((since_paint(), "show Train page"))
        t = time.perf_counter()
        window.show_page("train")
        marks.append((since_paint(), f"Train page shown ({(time.perf_counter() - t) * 1000:.0f} ms)"))

    def after_paint() -> None:
        paint[0] = time.perf_counter() - t_start
        clock.start()
        timer.start()
        launch._warm_up(window)
        QTimer.singleShot(int(args.train_at * 1000), show_train)
        QTimer.singleShot(int(args.seconds * 1000), app.quit)

    samples: list[tuple[float, str]] = []
    if args.trace:
        import threading
        import traceback

        main_id = threading.get_ident()

        def watch() -> None:
            while not stop_watch.is_set():
                time.sleep(0.005)
                if last[0] and clock.nsecsElapsed() - last[0] > 30e6:  # the heartbeat is late
                    frame = sys._current_frames().get(main_id)
                    where = traceback.extract_stack(frame, limit=40) if frame is not None else []
                    mine = [f for f in where if "/site-packages/" not in f.filename] or where
                    top = mine[-1] if mine else None
                    others = [t.name for t in threading.enumerate() if t.ident != main_id and t.name != "stall-watch"]
                    samples.append((since_paint(), f"{Path(top.filename).name}:{top.lineno} {top.name}" if top else "?"
                                    + f" | threads: {','.join(others)}"))

        stop_watch = threading.Event()
        threading.Thread(target=watch, name="stall-watch", daemon=True).start()

    launch.FirstPaint(window, after_paint)
    window.show()
    app.exec()
    timer.stop()
    if args.trace:
        stop_watch.set()
    train = window._pages.get("train")
    plan = getattr(getattr(train, "plan_panel", None), "plan", None) if train is not None else None

    import numpy as np

    d = np.array([x for _, x in delays]) if delays else np.zeros(1)
    p50, p99, worst = float(np.percentile(d, 50)), float(np.percentile(d, 99)), float(d.max())
    print(f"GIL switch interval {sys.getswitchinterval() * 1000:g} ms")
    print(f"first paint {paint[0]:.2f} s after start; measured {args.seconds:g} s after it ({len(delays)} ticks)")
    print(f"heartbeat delay ({HEARTBEAT_MS} ms timer): p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms")
    print("page builds on the GUI thread (s after paint, ms):")
    for at, secs, key in builds:
        print(f"  {at:6.2f}  {secs * 1000:7.1f}  {key}")
    for at, what in marks:
        print(f"  {at:6.2f}  {what}")
    print("stalls over 50 ms (s after paint, ms late):")
    for at, ms in delays:
        if ms > 50:
            print(f"  {at:6.2f}  {ms:7.1f}")
    if samples:
        print("GUI thread while the heartbeat was late (s after paint: where):")
        previous = None
        for at, where in samples:
            if where != previous:
                print(f"  {at:6.2f}  {where}")
            previous = where
    print(f"torch imported in the GUI process: {'at %.2f s' % torch_seen[0] if torch_seen else 'no'}")
    if plan is not None:
        print(f"train plan: {getattr(plan, 'steps_per_epoch', None)} steps/epoch")
    checks = (("p99 <= 50 ms", p99 <= 50), ("max <= 200 ms", worst <= 200), ("torch not imported", not torch_seen))
    for name, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    window.close()
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
