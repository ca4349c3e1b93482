"""The smoothing slider on a million-point curve, as ratios measured side by side in one run.

1. A new smoothing weight over 1M points (`Series.smoothed`, the blocked EMA) against one
   `numpy.cumsum` pass over the same points: how many "plain passes" a re-filter costs.
2. A slider move on a PlotPanel holding 1M points (re-filter + set the smoothed curve, on the GUI
   thread) against re-setting the raw 1M-point curve once (what a redraw costs anyway).

Target (issue 9, from test_smoothing_speed): a slider move stays within one 50 ms frame on a
2-core box; the absolute milliseconds are printed beside each ratio for that reason. Best of N.

    QT_QPA_PLATFORM=offscreen python benchmarks/smoothing.py [--repeat 7]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

MILLION = 1_000_000
FRAME_MS = 50.0


def best_ms(fn, repeat: int) -> float:
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from app.services.metric_store import MetricStore, Series
    from app.widgets.plot_panel import PlotPanel

    app = QApplication.instance() or QApplication([])
    series = Series("train_loss")
    steps = np.arange(MILLION, dtype=np.float64)
    values = np.random.default_rng(0).random(MILLION)
    series.extend(steps, steps / 100, steps, values)
    smooth = best_ms(lambda i: series.smoothed(0.5 + i / 50), args.repeat)
    plain = best_ms(lambda i: np.cumsum(values + i), args.repeat)
    print(f"new weight over 1M points: {smooth / plain:.2f}x one numpy.cumsum pass "
          f"({smooth:.1f} ms vs {plain:.1f} ms; frame {FRAME_MS:.0f} ms: {smooth / FRAME_MS:.2f} of it)")

    panel = PlotPanel()
    panel.resize(1000, 600)
    panel.show()
    store = MetricStore()
    store.add_events({"type": "metric", "step": i, "epoch": i / 100, "time": float(i),
                      "train_loss": 1.0 + (i % 100) / 100} for i in range(MILLION))
    panel.set_store("run", "big", store)
    panel.flush()
    app.processEvents()
    curve = panel._curves[("run", "train_loss")]
    x, y = curve.raw.getOriginalDataset()

    def move(i):
        panel.smooth_slider.setValue(70 + i)  # the default is 60: every move is a new weight
        panel._redraw()  # what the slider's refresh timer runs on the GUI thread

    def reset_raw(i):
        curve.raw.setData(x, y + i * 0.0)

    slider = best_ms(move, args.repeat)
    raw = best_ms(reset_raw, args.repeat)
    print(f"slider move over 1M points: {slider / raw:.2f}x re-setting the raw 1M-point curve "
          f"({slider:.1f} ms vs {raw:.1f} ms; frame {FRAME_MS:.0f} ms: {slider / FRAME_MS:.2f} of it)")
    panel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
