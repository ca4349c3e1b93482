"""A live-curve panel builds its plots one per event-loop turn (six pyqtgraph plots at once
stall the GUI thread ~100 ms), on first use when asked for earlier, and all of them for export."""
from __future__ import annotations

from app.widgets.plot_panel import PLOT_GROUPS, PlotPanel


def test_plots_are_built_in_slices_once_shown(qtbot):
    panel = PlotPanel()
    qtbot.addWidget(panel)
    qtbot.wait(50)
    assert len(panel._plots) == 0  # nothing heavy in the constructor, nothing while never shown
    panel.show()
    qtbot.waitUntil(lambda: len(panel._plots) == len(PLOT_GROUPS), timeout=5000)
    assert panel.plot("loss").isVisible() and not panel.plot("other").isVisible()


def test_a_plot_asked_for_early_is_built_on_demand_and_data_shows(qtbot, tmp_path):
    panel = PlotPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.add_events([{"type": "metric", "step": i, "epoch": i / 10, "time": float(i), "train_loss": 1.0 / (i + 1),
                       "custom_thing": 2.0} for i in range(100)])
    panel.flush()
    assert "loss" in panel._plots and "other" in panel._plots
    qtbot.waitUntil(lambda: panel.plot("other").isVisible(), timeout=5000)  # a metric of its own shows it
    panel.export(tmp_path / "curves.png")
    assert len(panel._plots) == len(PLOT_GROUPS) and (tmp_path / "curves.png").stat().st_size > 0


def test_lr_preview_builds_its_plot_after_construction_or_on_first_use(qtbot):
    from app.widgets.lr_preview import LrPreview

    later, now = LrPreview(), LrPreview()
    qtbot.addWidget(later)
    qtbot.addWidget(now)
    assert later._plot is None and now._plot is None  # not inside the Train page's build
    now.set_curve([0.1, 0.2, 0.3])  # first use builds it at once
    assert now._plot is not None and list(now.curve.getData()[1]) == [0.1, 0.2, 0.3]
    qtbot.waitUntil(lambda: later._plot is not None, timeout=5000)
    assert later.layout().indexOf(later.plot) == 0 and later.layout().indexOf(later.caption) == 1


def test_the_app_hands_the_gil_to_the_gui_thread_every_millisecond(tmp_path):
    """run_app shortens the GIL switch interval (repaints wait on busy background threads less)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from app.launch import GIL_SWITCH_INTERVAL_S

    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, NETWRIGHT_STARTUP_PROBE="1", QT_QPA_PLATFORM="offscreen", NETWRIGHT_RUNS_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, str(root / "main.py")], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert GIL_SWITCH_INTERVAL_S < 0.005 and probe["gil_switch_interval"] == GIL_SWITCH_INTERVAL_S
