"""The Monitor's building blocks on their own: metric store, EMA, sticky ranges, plot panel
options (x axis, log y, smoothing, hover read-out, zoom vs follow), event tailer, system
sampler and panel, log console."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from app.services.event_tailer import EventTailer, read_log_lines
from app.services.metric_store import MetricStore, ema_chunk
from app.services.system_sampler import SystemSampler, gpus_from_event
from app.widgets.log_console import LogConsole
from app.widgets.plot_panel import PlotPanel
from app.widgets.sticky_range import follow_x, follow_y
from app.widgets.system_panel import SystemPanel


def metric(step, loss, t=None, **more):
    return {"type": "metric", "step": step, "epoch": step / 10, "time": 100.0 + (t if t is not None else step),
            "train_loss": loss, **more}


# ----------------------------------------------------------------------------- metric store

def test_store_series_axes_progress_and_epoch_events_do_not_repeat_step_series():
    store = MetricStore()
    store.add_events([{"type": "start", "time": 100.0, "total_steps": 40, "epochs": 4},
                      metric(1, 2.0, lr=0.1, samples_per_s=500.0), metric(2, 1.5, lr=0.1),
                      {"type": "epoch", "step": 2, "epoch": 1, "time": 103.0, "train_loss": 1.7, "val_loss": 1.6,
                       "val_accuracy": 0.5, "epoch_seconds": 3.0},
                      {"type": "log", "message": "x", "step": 3}])
    assert set(store.series) == {"train_loss", "lr", "samples_per_s", "val_loss", "val_accuracy"}
    loss = store.series["train_loss"]
    assert list(loss.x("step")) == [1, 2] and list(loss.x("time")) == [1.0, 2.0] and list(loss.y) == [2.0, 1.5]
    assert list(store.series["val_loss"].x("epoch")) == [1.0]
    progress = store.progress()
    assert (progress.step, progress.total_steps, progress.total_epochs) == (2, 40, 4)
    assert progress.fraction == pytest.approx(0.05) and progress.eta == pytest.approx(3.0 * 38 / 2)
    assert progress.samples_per_second == 500.0


def test_store_reads_non_finite_values_written_as_strings():
    store = MetricStore()
    store.add_events([metric(1, 1.0), metric(2, "nan"), metric(3, "inf")])
    y = store.series["train_loss"].y
    assert y[0] == 1.0 and math.isnan(y[1]) and math.isinf(y[2])
    assert not store.series["train_loss"].all_finite


@pytest.mark.parametrize("weight", [0.0001, 0.6, 0.99])
def test_ema_chunks_equal_the_plain_recursion(weight):
    x = np.random.default_rng(0).random(700)
    biased, expected = 0.0, []
    for i, v in enumerate(x, 1):
        biased = weight * biased + (1 - weight) * v
        expected.append(biased / (1 - weight ** i))
    a, state = ema_chunk(x[:300], weight, (0.0, 0))
    b, _ = ema_chunk(x[300:], weight, state)
    assert np.allclose(np.r_[a, b], expected, rtol=1e-10, atol=1e-12)


def test_ema_passes_nan_through_without_disturbing_the_average():
    out, _ = ema_chunk(np.array([1.0, np.nan, 1.0]), 0.5, (0.0, 0))
    assert out[0] == pytest.approx(1.0) and math.isnan(out[1]) and out[2] == pytest.approx(1.0)


def test_csv_export_rows(tmp_path):
    store = MetricStore()
    store.add_events([metric(1, 2.0), metric(2, 1.0)])
    assert store.to_csv(tmp_path / "m.csv", run="r1") == 2
    lines = (tmp_path / "m.csv").read_text().splitlines()
    assert lines[0] == "run,metric,step,epoch,seconds,value" and lines[1] == "r1,train_loss,1,0.1,0,2.0"


# ----------------------------------------------------------------------------- ranges

def test_ranges_hold_while_data_fits_and_grow_with_headroom():
    assert follow_x((0, 100), 0, 80) is None
    assert follow_x((0, 100), 0, 101) == (0, 101 + 101 * 0.25)
    assert follow_x((0, 1000), 0, 10) is not None  # far too wide: fit again
    assert follow_y((0, 2), 0.5, 1.9) is None
    lo, hi = follow_y((0.5, 2), 0.2, 1.9)
    assert lo < 0.2 - 0.05 * 1.7 and hi == pytest.approx(1.9 + 0.05 * 1.7)  # extra room below only
    assert follow_y((math.nan, math.nan), 1.0, 1.0) == (0.9, 1.1)


# ----------------------------------------------------------------------------- plot panel

@pytest.fixture
def panel(qtbot):
    widget = PlotPanel()
    qtbot.addWidget(widget)
    widget.resize(1000, 600)
    widget.show()
    return widget


def test_panel_x_axis_log_y_and_smoothing(panel):
    panel.add_events([metric(i, 10.0 ** (-i / 50) * (1 + 0.3 * (-1) ** i), t=i * 0.5) for i in range(1, 201)])
    panel.flush()
    curve = panel._curves[("run", "train_loss")]
    assert list(curve.raw.getData()[0][:3]) == [1, 2, 3]
    panel.x_combo.setCurrentIndex(panel.x_combo.findData("time"))
    panel.flush()
    assert list(curve.raw.getData()[0][:2]) == [0.0, 0.5]
    assert "Wall time" in panel.plot("loss").getPlotItem().getAxis("bottom").labelText
    panel.x_combo.setCurrentIndex(panel.x_combo.findData("epoch"))
    panel.flush()
    assert curve.raw.getData()[0][9] == pytest.approx(1.0)
    panel.log_check.setChecked(True)
    panel.flush()
    assert panel.plot("loss").getPlotItem().ctrl.logYCheck.isChecked()
    panel.smooth_slider.setValue(90)
    panel.flush()
    smooth_y, raw_y = curve.smooth.getData()[1], curve.raw.getData()[1]  # log10 values in log mode
    assert curve.smooth.isVisible() and np.abs(np.diff(smooth_y)).mean() < np.abs(np.diff(raw_y)).mean() / 3
    panel.smooth_slider.setValue(0)
    panel.flush()
    assert not curve.smooth.isVisible() and panel.smooth_label.text() == "off"


def test_hover_readout_names_each_curve_at_the_nearest_point(panel):
    panel.smooth_slider.setValue(0)
    panel.add_events([metric(i, float(i)) for i in range(1, 101)])
    panel.add_events([{"type": "epoch", "step": 50, "epoch": 5, "time": 150.0, "val_loss": 0.25}])
    panel.flush()
    lines = panel.readout("loss", 41.4)
    assert "train_loss = 41  (step 41)" in lines and "val_loss = 0.25  (step 50)" in lines


def test_follows_data_until_the_user_zooms_then_auto_range_resumes(panel):
    panel.add_events([metric(i, 1.0 / i) for i in range(1, 50)])
    panel.flush()
    vb = panel.plot("loss").getPlotItem().vb
    assert vb.viewRange()[0][1] >= 49
    panel.add_events([metric(i, 1.0 / i) for i in range(50, 400)])
    panel.flush()
    assert vb.viewRange()[0][1] >= 399
    vb.sigRangeChangedManually.emit([True, True])  # what a mouse zoom/pan emits
    vb.setRange(xRange=(10, 20), padding=0)
    panel.add_events([metric(i, 1.0 / i) for i in range(400, 900)])
    panel.flush()
    assert vb.viewRange()[0] == pytest.approx([10, 20])
    panel.autorange_button.click()
    assert vb.viewRange()[0][1] >= 899


def test_overlay_sources_get_their_own_colours_and_legend_names(panel):
    first, second = MetricStore(), MetricStore()
    first.add_events([metric(i, 1.0) for i in range(1, 5)])
    second.add_events([metric(i, 2.0) for i in range(1, 5)])
    panel.set_store("a", "run A", first)
    panel.set_store("b", "run B", second)
    panel.flush()
    a, b = panel._curves[("a", "train_loss")], panel._curves[("b", "train_loss")]
    assert a.color != b.color
    names = [label.text for _, label in panel.plot("loss").getPlotItem().legend.items]
    assert names == ["run A", "run B"]  # one entry per run, in its colour


def test_million_points_are_downsampled_and_clipped(panel):
    n = 1_000_000
    store = MetricStore()
    series_events = [metric(i, 1.0 + (i % 100) / 100.0) for i in range(n)]
    store.add_events(series_events)
    del series_events
    panel.set_store("run", "big", store)
    panel.flush()
    curve = panel._curves[("run", "train_loss")].smooth
    assert curve.opts["autoDownsample"] and curve.opts["downsampleMethod"] == "peak" and curve.opts["clipToView"]
    x, _ = curve.getData()  # what is drawn at this size
    assert len(x) < 20_000


def test_export_rejects_unknown_suffix(panel, tmp_path):
    with pytest.raises(ValueError, match=r"\.png, \.svg or \.csv"):
        panel.export(tmp_path / "x.jpg")


# ----------------------------------------------------------------------------- tailer

def test_tailer_reads_complete_lines_incrementally_and_reports_status(qtbot, tmp_path):
    from engine import runs
    from engine.spec import ExperimentSpec

    run = runs.RunDir.create(tmp_path, ExperimentSpec(name="t"))
    runs.write_status(run, "running", pid=os.getpid())
    tailer = EventTailer(interval_ms=20, status_every_s=0.05)
    got, statuses = [], []
    tailer.events.connect(got.extend)
    tailer.statusChanged.connect(lambda s, info: statuses.append(s))
    with open(run.events_path, "w") as fh:
        fh.write(json.dumps({"v": 1, "seq": 0, "type": "metric", "step": 1}) + "\n")
        fh.write('{"v": 1, "seq": 1, "type": "met')  # a line still being written
    tailer.attach(run.path)
    qtbot.waitUntil(lambda: len(got) == 1 and statuses == ["running"], timeout=5000)
    with open(run.events_path, "a") as fh:
        fh.write('ric", "step": 2}\n')
    qtbot.waitUntil(lambda: len(got) == 2, timeout=5000)
    assert [e["step"] for e in got] == [1, 2]
    runs.write_status(run, "completed")
    qtbot.waitUntil(lambda: statuses[-1] == "completed", timeout=5000)
    tailer.detach()
    tailer.wait_idle()


def test_tailer_counts_and_reports_unreadable_event_lines(qtbot, tmp_path):
    from engine import runs
    from engine.spec import ExperimentSpec

    run = runs.RunDir.create(tmp_path, ExperimentSpec(name="t"))
    run.events_path.write_text('{"v": 1, "seq": 0, "type": "log", "message": "a"}\nnot an event\n')
    tailer = EventTailer(interval_ms=20, status_every_s=0.05)
    got, errors = [], []
    tailer.events.connect(got.extend)
    tailer.readError.connect(errors.append)
    tailer.attach(run.path)
    qtbot.waitUntil(lambda: len(got) == 1 and bool(errors), timeout=5000)
    assert tailer.skipped_lines == 1 and "skipped 1 unreadable line(s) of events.jsonl" in errors[0]
    tailer.detach()
    tailer.wait_idle()


def test_read_log_lines_keeps_a_partial_line_for_later(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("one\ntwo\nthr")
    lines, offset = read_log_lines(path, 0)
    assert lines == ["one", "two"] and offset == 8
    assert read_log_lines(tmp_path / "missing.txt", 3) == ([], 3)


# ----------------------------------------------------------------------------- system

def test_sampler_reports_cores_memory_and_the_process_tree():
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        sampler = SystemSampler()
        sample = sampler.sample(os.getpid(), {child.pid: 0})
        assert len(sample.cpu_per_core) == os.cpu_count() and 0 < sample.mem_used < sample.mem_total
        roles = {p.pid: p.role for p in sample.processes}
        assert roles[os.getpid()] == "worker" and roles[child.pid] == "rank 0"
        assert all(p.rss_bytes > 0 for p in sample.processes)
    finally:
        child.kill()
        child.wait()


def test_after_a_re_attach_rank_0_is_labelled_rank_0_beside_its_worker():
    """A run re-attached reads rank 0's pid from status.json: the table still shows the worker
    (rank 0's parent) and rank 0 as "rank 0"."""
    import subprocess
    import sys

    rank = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        sample = SystemSampler().sample(rank.pid, {rank.pid: 0})
        roles = {p.pid: p.role for p in sample.processes}
        assert roles[rank.pid] == "rank 0" and roles[os.getpid()] == "worker"
    finally:
        rank.kill()
        rank.wait()


def test_system_panel_shows_sample_and_gpus_from_worker_events(qtbot):
    panel = SystemPanel()
    qtbot.addWidget(panel)
    sample = SystemSampler().sample(os.getpid())
    panel.show_sample(sample)
    assert panel.table.rowCount() == len(sample.processes) >= 1
    assert "cores" in panel.cpu_label.text() and "of" in panel.mem_bar.format()
    event = {"type": "system", "gpus": [{"index": 0, "name": "H100", "util": 55, "mem_used": 2 << 30, "mem_total": 80 << 30}]}
    assert gpus_from_event(event)[0].name == "H100"
    panel.add_events([event])
    label, util, mem = panel._gpu_rows[0]
    assert "H100" in label.text() and util.format() == "util 55%" and "80.0 GiB" in mem.format()
    fresh = SystemPanel()
    qtbot.addWidget(fresh)
    fresh.add_events([{"type": "metric", "step": 1, "train_loss": 1.0, "gpu_memory": 3 << 30}])
    assert fresh._gpu_rows[0][2].format() == "3.0 GiB peak allocated"


# ----------------------------------------------------------------------------- log console

def test_log_console_lines_and_error_banner(qtbot):
    console = LogConsole()
    qtbot.addWidget(console)
    console.show()
    console.add_lines(["12:00:00 INFO: started", "[rank 1] warming up"])
    assert "started" in console.text() and "[rank 1] warming up" in console.text()
    console.add_events([{"type": "error", "rank": 1, "step": 7, "message": "RuntimeError: boom",
                         "traceback": "Traceback...\nRuntimeError: boom"}])
    assert console.banner.isVisible()
    assert console.banner.label.text() == "Rank 1 failed at step 7: RuntimeError: boom"
    assert not console.banner.traceback.isVisible()
    console.banner.toggle.click()
    assert console.banner.traceback.isVisible() and "Traceback" in console.banner.traceback.toPlainText()


def test_every_plot_gets_its_turn_between_events(panel, qtbot):
    """The loss plot is redrawn at once; the others in turn, none starved."""
    panel.add_events([metric(1, 1.0, lr=0.1, grad_norm=1.0, samples_per_s=10.0, step_time=0.1, val_accuracy=0.5)])
    panel.flush()
    for step in range(2, 40):
        panel.add_events([metric(step, 1.0 / step, lr=0.1, grad_norm=1.0, samples_per_s=10.0, step_time=0.1,
                                 val_accuracy=0.5)])
        qtbot.wait(15)
    names = ("train_loss", "lr", "grad_norm", "samples_per_s", "step_time", "val_accuracy")
    drawn = {name: len(panel._curves[("run", name)].raw.getData()[0]) for name in names}
    assert drawn["train_loss"] == 39
    assert all(n >= 30 for n in drawn.values()), drawn  # each plot a few points behind at most
    qtbot.waitUntil(lambda: not panel._dirty, timeout=3000)
    assert all(len(panel._curves[("run", name)].raw.getData()[0]) == 39 for name in names)


def test_first_data_is_fitted_even_inside_the_default_view(panel):
    panel.add_events([metric(i, 0.3 + 0.05 * (i % 2), step_time=0.01 * (i % 3)) for i in range(1, 40)])
    panel.flush()
    (_, _), (y0, y1) = panel.plot("other").getPlotItem().vb.viewRange()
    assert y1 < 0.05  # step_time tops out at 0.02, not pyqtgraph's default 0..1
    (_, _), (y0, y1) = panel.plot("loss").getPlotItem().vb.viewRange()
    assert 0.25 < y0 and y1 < 0.4
