"""GUI responsiveness while a real training run streams metrics.

Runs the main window with the Monitor page shown and measures how late a 10 ms heartbeat
QTimer fires, side by side:

1. idle     — the same window with no run;
2. training — a real run (`python -m engine worker`, digits MLP, a metric event every step)
              streaming into the live curves, system panel and log;
3. 1M pts   — the loss curves already hold a million points and 100 new ones arrive every
              100 ms (peak downsampling and clip-to-view keep it smooth).

It also measures the lag from an event being written to events.jsonl (the file's size is
watched every 2 ms by a separate process) to it being plotted. Prints p50/p99/max heartbeat
delay per condition, the ratio to idle, the event-to-plot lag p50/p95/max, and the targets:
p99 delay <= 50 ms, max <= 200 ms, lag p95 <= 250 ms.

    python benchmarks/gui_latency.py [--seconds 10]
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from PySide6.QtCore import QElapsedTimer, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

HEARTBEAT_MS = 10
SIZE_WATCHER = """
import os, sys, time
path, out, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
end, last, rows = time.time() + seconds, -1, []
while time.time() < end:
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        size = 0
    if size != last:
        rows.append(f"{time.time():.6f} {size}")
        last = size
    time.sleep(0.002)
open(out, "w").write("\\n".join(rows))
"""


def pump(app: QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.002)


def heartbeat(app: QApplication, seconds: float, during=None) -> np.ndarray:
    """Delays (ms) of a 10 ms timer over `seconds`; `during()` is called every tick."""
    delays: list[float] = []
    clock = QElapsedTimer()
    timer = QTimer(interval=HEARTBEAT_MS)
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    last = [0]

    def tick() -> None:
        now = clock.nsecsElapsed()
        if last[0]:
            delays.append(max(0.0, (now - last[0]) / 1e6 - HEARTBEAT_MS))
        last[0] = now
        if during is not None:
            during()

    timer.timeout.connect(tick)
    clock.start()
    timer.start()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.0005)
    timer.stop()
    return np.asarray(delays)


def stats(x: np.ndarray) -> tuple[float, float, float]:
    return (float(np.percentile(x, 50)), float(np.percentile(x, 99)), float(x.max())) if len(x) else (0.0, 0.0, 0.0)


def event_offsets(path: Path) -> dict[int, int]:
    """seq -> byte offset just past the event's line."""
    out, offset = {}, 0
    with open(path, "rb") as fh:
        for line in fh:
            offset += len(line)
            try:
                out[json.loads(line)["seq"]] = offset
            except (ValueError, KeyError):
                pass
    return out


def written_times(watch_log: Path) -> tuple[np.ndarray, np.ndarray]:
    rows = [line.split() for line in watch_log.read_text().splitlines() if line.strip()]
    return np.array([float(t) for t, _ in rows]), np.array([int(s) for _, s in rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds measured per condition")
    args = parser.parse_args(argv)
    runs_dir = Path(tempfile.mkdtemp(prefix="nw-latency-"))
    os.environ["NETWRIGHT_RUNS_DIR"] = str(runs_dir)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from app.main_window import MainWindow
    from app.widgets.plot_panel import PlotPanel
    from engine.paths import EXAMPLES
    from engine.spec import load_spec

    window = MainWindow(runs_dir=runs_dir)
    window.ask_unsaved_changes = lambda: "discard"
    window.resize(1280, 800)
    window.show()
    monitor = window.show_page("monitor")
    monitor.ask_close_action = lambda: "stop"
    pump(app, 2.0)

    idle = heartbeat(app, args.seconds)

    # -- a real run streaming a metric event per step ------------------------------------
    spec = load_spec(EXAMPLES / "digits_mlp.toml")
    spec = dataclasses.replace(spec, training=dataclasses.replace(spec.training, epochs=10_000, log_every=1))
    plotted: dict[int, float] = {}
    pending: list[int] = []
    original_add, original_redraw = monitor.plots.add_events, monitor.plots._redraw

    def add_events(events, source="run"):
        pending.extend(e["seq"] for e in events if e.get("type") == "metric")
        original_add(events, source)

    def redraw(*a, **k):
        original_redraw(*a, **k)
        if ("run", "train_loss") not in monitor.plots._dirty:
            now = time.time()
            for seq in pending:
                plotted.setdefault(seq, now)
            pending.clear()

    monitor.plots.add_events, monitor.plots._redraw = add_events, redraw
    monitor.plots._refresh.timeout.disconnect()
    monitor.plots._refresh.timeout.connect(redraw)
    monitor.tailer.events.disconnect(monitor._on_events)

    def on_events(events):
        monitor.plots.add_events(events)
        monitor.console.add_events(events)
        monitor.system_panel.add_events(events)

    monitor.tailer.events.connect(on_events)
    run_dir = monitor.start_run(spec)
    start = time.monotonic()
    while monitor.plots.store().series.get("train_loss") is None or len(monitor.plots.store().series["train_loss"]) < 50:
        app.processEvents()
        time.sleep(0.005)
        if time.monotonic() - start > 180 or monitor.status in ("failed", "crashed"):
            print(f"the run did not start streaming (status {monitor.status!r}); see {run_dir / 'log.txt'}")
            return 1
    watch_log = runs_dir / "sizes.txt"
    watcher = subprocess.Popen([sys.executable, "-c", SIZE_WATCHER, str(run_dir / "events.jsonl"), str(watch_log),
                                str(args.seconds + 1.0)])
    time.sleep(0.05)
    first_seq = max(plotted) if plotted else 0
    training = heartbeat(app, args.seconds)
    measured_until = time.time()
    while watcher.poll() is None:  # keep the window live (and plotting) while the watcher finishes
        app.processEvents()
        time.sleep(0.002)
    streamed = len(monitor.plots.store().series["train_loss"])
    monitor.stop()
    deadline = time.monotonic() + 60
    while monitor.status != "stopped" and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)

    offsets = event_offsets(run_dir / "events.jsonl")
    times, sizes = written_times(watch_log)
    lags = []
    for seq, when in plotted.items():
        if seq <= first_seq or seq not in offsets:
            continue
        i = int(np.searchsorted(sizes, offsets[seq]))
        if i < len(times) and times[i] <= measured_until:
            lags.append((when - times[i]) * 1000.0)
    lags_ms = np.asarray(lags)

    # -- a million points, 100 more every 100 ms --------------------------------------------
    panel = PlotPanel()
    panel.resize(1100, 600)
    panel.show()
    base = [{"type": "metric", "time": 1000.0 + i * 0.01, "step": i, "epoch": i / 1000.0,
             "train_loss": float(np.exp(-i / 2e5)) + 0.01 * (i % 7), "lr": 1e-3, "grad_norm": 1.0,
             "samples_per_second": 900.0} for i in range(1_000_000)]
    panel.add_events(base)
    del base  # the panel keeps numbers, not events; a million live dicts would only time the GC
    gc.collect()
    panel.flush()
    pump(app, 1.0)
    step = [1_000_000]
    last_add = [time.monotonic()]

    def append() -> None:
        if time.monotonic() - last_add[0] >= 0.1:
            last_add[0] = time.monotonic()
            s = step[0]
            panel.add_events([{"type": "metric", "time": 1000.0 + (s + j) * 0.01, "step": s + j, "train_loss": 0.1,
                               "lr": 1e-3, "grad_norm": 1.0, "samples_per_second": 900.0} for j in range(100)])
            step[0] += 100

    million = heartbeat(app, args.seconds, during=append)

    # -- report ---------------------------------------------------------------------------------
    print(f"GUI heartbeat delay ({HEARTBEAT_MS} ms timer, {args.seconds:g} s each; ms)")
    print(f"{'condition':<34}{'p50':>8}{'p99':>8}{'max':>8}{'p99/idle':>10}")
    rows = (("idle window", idle), (f"training run streaming ({streamed} pts)", training),
            ("1M-point curves + live appends", million))
    p99_idle = max(stats(idle)[1], 0.05)
    for name, delays in rows:
        p50, p99, worst = stats(delays)
        print(f"{name:<34}{p50:8.2f}{p99:8.2f}{worst:8.2f}{p99 / p99_idle:10.2f}")
    if len(lags_ms):
        p50, p95, worst = (float(np.percentile(lags_ms, 50)), float(np.percentile(lags_ms, 95)), float(lags_ms.max()))
        print(f"event written -> plotted lag over {len(lags_ms)} events: p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {worst:.0f} ms")
    else:
        p95 = float("inf")
        print("event written -> plotted lag: no events measured")
    _, p99_train, max_train = stats(training)
    _, p99_million, max_million = stats(million)
    checks = (("p99 delay while training <= 50 ms", p99_train <= 50), ("max delay while training <= 200 ms", max_train <= 200),
              ("p99 delay with 1M points <= 50 ms", p99_million <= 50), ("max delay with 1M points <= 200 ms", max_million <= 200),
              ("event-to-plot lag p95 <= 250 ms", p95 <= 250))
    for name, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    monitor._shutdown()
    window.close()
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
