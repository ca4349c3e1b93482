"""The smoothing slider on a million-point curve: the EMA is exact (equals the plain recursion,
NaN passed through, chunked == whole), later points are filtered incrementally, and a slider move
re-filters only the smoothed curve. Its speed is measured by benchmarks/smoothing.py (ratios)."""
from __future__ import annotations

import numpy as np
import pytest

from app.services.metric_store import MetricStore, Series, ema_chunk
from app.widgets.plot_panel import PlotPanel

MILLION = 1_000_000


def reference(x: np.ndarray, weight: float) -> np.ndarray:
    out, biased, count = x.copy(), 0.0, 0
    for i, v in enumerate(x.tolist()):
        if np.isfinite(v):
            biased = weight * biased + (1 - weight) * v
            count += 1
            out[i] = biased / (1 - weight ** count)
    return out


@pytest.mark.parametrize("weight", [0.001, 0.6, 0.99, 0.9999])
def test_long_ema_equals_the_plain_recursion(weight):
    # 100k points: three levels of the blocked recursion (64 -> 4096 -> 262144)
    x = np.random.default_rng(1).normal(size=100_000).cumsum()
    x[[7, 5000, 77_777]] = [np.nan, np.inf, np.nan]
    expected = reference(x, weight)
    whole, _ = ema_chunk(x, weight, (0.0, 0))
    a, state = ema_chunk(x[:4321], weight, (0.0, 0))
    b, _ = ema_chunk(x[4321:], weight, state)
    for got in (whole, np.r_[a, b]):
        assert np.array_equal(np.isnan(got), np.isnan(expected)) and np.isinf(got[5000])
        fin = np.isfinite(expected)
        assert np.allclose(got[fin], expected[fin], rtol=1e-9, atol=1e-9)


def test_a_new_weight_on_a_million_points_then_later_points_incrementally():
    n = MILLION
    series = Series("train_loss")
    steps = np.arange(n, dtype=np.float64)
    series.extend(steps, steps / 100, steps, np.random.default_rng(0).random(n))
    for weight in (0.5, 0.7):
        assert series.smoothed(weight)[-1] == pytest.approx(ema_chunk(series.y, weight, (0.0, 0))[0][-1])
    series.extend([n], [n / 100], [n], [0.5])  # later points are filtered incrementally, from the state
    assert series.smoothed(0.7)[-1] == pytest.approx(ema_chunk(series.y, 0.7, (0.0, 0))[0][-1])


def test_slider_move_on_a_million_points_refilters_only_the_smoothed_curve(qtbot):
    panel = PlotPanel()
    qtbot.addWidget(panel)
    panel.resize(1000, 600)
    panel.show()
    store = MetricStore()
    store.add_events({"type": "metric", "step": i, "epoch": i / 100, "time": float(i), "train_loss": 1.0 + (i % 100) / 100}
                     for i in range(MILLION))
    panel.set_store("run", "big", store)
    panel.flush()
    curve = panel._curves[("run", "train_loss")]
    raw_before = curve.raw.getOriginalDataset()[1]
    smooth_before = curve.smooth.getOriginalDataset()[1]

    for value in (70, 71):
        panel.smooth_slider.setValue(value)
        panel._redraw()  # what the slider's refresh timer runs on the GUI thread
    assert curve.raw.getOriginalDataset()[1] is raw_before  # the raw million points were not re-set
    assert curve.smooth.getOriginalDataset()[1] is not smooth_before
