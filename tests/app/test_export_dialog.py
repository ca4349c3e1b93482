"""The Export dialog, opened from the Runs page: the formats and their options come from the
engine's registry; an export runs in its own process and its check and the run's export list
show; a run without a best checkpoint says so."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.pages.runs import COLUMNS
from engine.export.core import read_records
from engine.paths import EXAMPLES
from engine.runs import RunDir
from engine.session import run_training
from engine.spec import apply_overrides, load_spec
from tests.app.test_runs_page import window  # noqa: F401  (the shared window; waits for the page's calls)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def trained(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the export process imports this tree
    spec = apply_overrides(load_spec(EXAMPLES / "wine_mlp.toml"),
                           ["training.epochs=1", "training.max_steps=2", "tracking.tensorboard=false"])
    run = RunDir.create(tmp_path / "runs", spec)
    assert run_training(run).status == "completed"
    return run.path


def open_dialog(qtbot, window, run_dir):
    page = window.show_page("runs")
    qtbot.waitUntil(lambda: page.table.model().rowCount() == 1, timeout=10_000)
    page.select_paths([run_dir])
    assert page.export_button.isEnabled()
    qtbot.mouseClick(page.export_button, Qt.MouseButton.LeftButton)
    dialog = page.export_dialog
    qtbot.waitExposed(dialog)
    return dialog


def test_export_bundle_from_the_runs_page(qtbot, window, trained, tmp_path):
    dialog = open_dialog(qtbot, window, trained)
    formats = [dialog.format_combo.itemData(i) for i in range(dialog.format_combo.count())]
    assert {"onnx", "torch_export", "script", "bundle"} <= set(formats)
    dialog.format_combo.setCurrentIndex(formats.index("onnx"))
    assert set(dialog.options.values()) == {"opset", "exporter", "tolerance"}  # the format's schema as a form
    dialog.format_combo.setCurrentIndex(formats.index("bundle"))
    assert dialog.history.item(0).text() == "none yet"
    dialog.out_edit.setText(str(tmp_path / "bundle"))
    qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert not dialog.export_button.isEnabled()
    with qtbot.waitSignal(dialog.finished_export, timeout=240_000):
        pass
    assert dialog.status.text().startswith("<b>Exported.</b> bundle:"), dialog.status.text()
    assert dialog.result["status"] == "exported"
    assert (tmp_path / "bundle" / "MODEL_CARD.md").is_file()
    assert [r["format"] for r in read_records(trained)] == ["bundle"]
    assert dialog.history.item(0).text().startswith(f"bundle: {tmp_path / 'bundle'}")
    dialog.close()
    page = window.page("runs")
    exports = [c[0] for c in COLUMNS].index("Exports")
    page.refresh()  # the table lists the run's exports (from export.json)
    qtbot.waitUntil(lambda: page.table.model().index(0, exports).data() == "bundle", timeout=10_000)


def test_export_failure_names_the_problem(qtbot, window, trained):
    dialog = open_dialog(qtbot, window, trained)
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("bundle"))
    dialog.checkpoint_combo.setCurrentIndex(dialog.checkpoint_combo.findData("best"))
    (trained / "checkpoints" / "best").unlink(missing_ok=True)
    with qtbot.waitSignal(dialog.finished_export, timeout=240_000):
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert dialog.status.text().startswith("<b>Export failed.</b>")
    assert "keeps no best checkpoint" in dialog.status.text()
    dialog.close()


def test_monitor_opens_the_dialog_for_an_ended_run(qtbot, window, trained):
    monitor = window.show_page("monitor")
    monitor.attach(trained)
    qtbot.waitUntil(lambda: monitor.export_button.isEnabled(), timeout=10_000)
    qtbot.mouseClick(monitor.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitExposed(monitor.export_dialog)
    assert monitor.export_dialog.run_dir == trained
    monitor.export_dialog.close()
