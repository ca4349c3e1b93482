"""The Explain page, clicked as a user would: a trained digits CNN run, a tabular run, Cancel,
and problems shown at the field. The worker is a real separate process (tests marked slow)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import psutil
import pytest
from PySide6.QtCore import Qt

from engine.cli import main as cli
from tests.engine.interpret_runs import make_run, text_spec

WAIT = 60_000


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain_page_runs")
    paths = {"digits": make_run(root, "digits_cnn", steps=40), "wine": make_run(root, "wine_mlp", steps=60)}
    return root, paths


def open_page(qtbot, styled_app, root, run):
    from app.pages.explain import ExplainPage

    page = ExplainPage(SimpleNamespace(runs_dir=root))
    qtbot.addWidget(page)
    page.resize(1280, 760)
    page.show()
    page.open_run(run)
    qtbot.waitUntil(lambda: len(page.browser.visible_indices()) > 0, timeout=WAIT)
    return page


def click_sample(qtbot, page, row: int) -> int:
    """Click the row-th sample in the browser (thumbnail grid or table) like a user."""
    b = page.browser
    if b.kind == "image":
        item = b.grid.item(row)
        qtbot.mouseClick(b.grid.viewport(), Qt.MouseButton.LeftButton, pos=b.grid.visualItemRect(item).center())
    else:
        item = b.table.item(row, 1)
        qtbot.mouseClick(b.table.viewport(), Qt.MouseButton.LeftButton, pos=b.table.visualItemRect(item).center())
    return b.visible_indices()[row]


def wait_result(qtbot, page, method: str, index: int):
    qtbot.waitUntil(lambda: page.current_result is not None and page.current_result["method"] == method
                    and page.current_result["index"] == index and not page.cancel_button.isEnabled(), timeout=WAIT)
    return page.current_result


@pytest.mark.slow
def test_digits_cnn_saliency_and_integrated_gradients_match_the_cli(qtbot, styled_app, runs_dir, tmp_path):
    root, runs = runs_dir
    page = open_page(qtbot, styled_app, root, runs["digits"])
    try:
        assert page.info["kind"] == "image" and page.browser.grid.count() > 100
        qtbot.waitUntil(lambda: not page.browser.grid.item(0).icon().isNull(), timeout=WAIT)  # thumbnails arrived
        index = click_sample(qtbot, page, 4)
        saliency = wait_result(qtbot, page, "Saliency", index)
        view = page.result_panel.view.heatmap
        assert set(view.arrays) == {"input", "attribution", "overlay"} and view.arrays["attribution"].shape == (8, 8, 3)
        assert "predicted" in page.result_panel.headline.text()
        assert len(page.result_panel.probs.rows) == 5
        assert saliency["values"].shape == (1, 8, 8) and saliency["values"].min() >= 0

        page.methods.set_method("IntegratedGradients")
        page.methods.set_param("steps", 24)
        page.methods.target.setCurrentIndex(page.methods.target.findData("true"))
        qtbot.mouseClick(page.explain_button, Qt.MouseButton.LeftButton)
        ig = wait_result(qtbot, page, "IntegratedGradients", index)
        assert ig["delta"] is not None and "convergence delta" in page.result_panel.details.text()
        assert ig["target"] == ig["true"]

        out = tmp_path / "cli"
        assert cli(["explain", str(runs["digits"]), "--method", "IntegratedGradients", "--param", "steps=24",
                    "--index", str(index), "--target", "true", "--out", str(out)]) == 0
        np.testing.assert_array_equal(ig["values"], np.load(out / f"sample_{index:05d}.npy"))
        row = json.loads((out / "summary.json").read_text())["samples"][0]
        assert row["delta"] == pytest.approx(ig["delta"]) and row["predicted"] == ig["predicted"]

        page.export_npy(tmp_path / "view.npy")
        np.testing.assert_array_equal(np.load(tmp_path / "view.npy"), ig["values"])
        page.export_png(tmp_path / "view.png")
        assert (tmp_path / "view.png").stat().st_size > 1000

        # a bad parameter is shown under its field and the worker keeps serving
        pid = page.client.pid
        page.methods.set_method("Occlusion")
        page.methods.set_param("window", [20, 20])
        qtbot.mouseClick(page.explain_button, Qt.MouseButton.LeftButton)
        problem = page.methods.form._problems["window"]
        qtbot.waitUntil(lambda: problem.isVisibleTo(page) and "larger than the input" in problem.text(), timeout=WAIT)
        assert page.client.pid == pid and psutil.pid_exists(pid)

        # compare methods on this sample (Occlusion keeps the bad window: its tile shows the problem)
        page.tabs.setCurrentIndex(1)
        qtbot.mouseClick(page.compare.compare_button, Qt.MouseButton.LeftButton)
        grid = page.compare.method_grid
        qtbot.waitUntil(lambda: grid.tiles and all(t.result is not None or t.error for t in grid.tiles.values()),
                        timeout=WAIT)
        done = {t.title.text(): t for t in grid.tiles.values()}
        assert {"Saliency", "IntegratedGradients", "LayerGradCam", "Occlusion"} <= set(done)
        assert all(done[m].result["method"] == m for m in ("Saliency", "IntegratedGradients", "LayerGradCam"))
        assert "larger than the input" in done["Occlusion"].error
    finally:
        page.can_close()


@pytest.mark.slow
def test_tabular_run_shows_named_feature_bars_and_filters_misclassified(qtbot, styled_app, runs_dir):
    root, runs = runs_dir
    page = open_page(qtbot, styled_app, root, runs["wine"])
    try:
        assert page.browser.stack.currentWidget() is page.browser.table
        index = click_sample(qtbot, page, 2)
        result = wait_result(qtbot, page, "Saliency", index)
        bars = page.result_panel.view.bars
        assert page.result_panel.view.currentWidget() is bars
        names = [n for n, _ in bars.rows]
        assert set(names) <= set(page.info["feature_names"]) and "alcohol" in page.info["feature_names"]
        magnitudes = [abs(v) for _, v in bars.rows]
        assert magnitudes == sorted(magnitudes, reverse=True)
        assert dict(bars.rows)[page.info["feature_names"][0]] == pytest.approx(float(result["values"][0]))
        total = len(page.browser.visible_indices())
        page.browser.only_wrong.setChecked(True)
        wrong = page.browser.visible_indices()
        assert len(wrong) < total
        assert all(page.browser.true[i] != page.browser.predicted[i] for i in wrong)
    finally:
        page.can_close()


@pytest.mark.slow
def test_cancel_stops_a_long_occlusion(qtbot, styled_app, tmp_path):
    root = tmp_path / "runs"
    from engine.spec import load_spec
    spec_file = tmp_path / "big.toml"
    spec_file.write_text("""
name = "big_images"
[data]
source = "random"
shape = [3, 40, 40]
classes = 3
samples = 40
[model]
layers = [{type = "Conv2d", out_channels = 16, kernel_size = 3, padding = 1}, {type = "ReLU"},
          {type = "Conv2d", out_channels = 16, kernel_size = 3, padding = 1}, {type = "ReLU"},
          {type = "Flatten"}, {type = "Linear", out_features = 0}]
""")
    run = make_run(root, spec=load_spec(spec_file), steps=2)
    page = open_page(qtbot, styled_app, root, run)
    try:
        page.auto.setChecked(False)
        click_sample(qtbot, page, 0)
        page.methods.set_method("Occlusion")
        page.methods.set_param("window", [1, 1])
        page.methods.set_param("stride", [1, 1])
        page.methods.set_param("perturbations_per_eval", 1)
        old_pid = page.client.pid
        qtbot.mouseClick(page.explain_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: page.progress.value() > 0, timeout=WAIT)
        assert page.progress.value() < 1000
        qtbot.mouseClick(page.cancel_button, Qt.MouseButton.LeftButton)
        assert not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == psutil.STATUS_ZOMBIE
        assert "Cancelled" in page.result_panel.headline.text() and page.current_result is None
        assert not page.cancel_button.isEnabled()
        # the worker comes back and answers again
        qtbot.waitUntil(lambda: page.client.state == "ready", timeout=WAIT)
        assert page.client.pid != old_pid
        page.methods.set_method("Saliency")
        qtbot.mouseClick(page.explain_button, Qt.MouseButton.LeftButton)
        wait_result(qtbot, page, "Saliency", page.current_index)
    finally:
        page.can_close()


@pytest.mark.slow
def test_a_killed_worker_never_takes_the_page_down(qtbot, styled_app, runs_dir):
    import os
    import signal

    root, runs = runs_dir
    page = open_page(qtbot, styled_app, root, runs["wine"])
    try:
        page.auto.setChecked(False)
        click_sample(qtbot, page, 0)
        pid = page.client.pid
        os.kill(pid, signal.SIGKILL)  # what the out-of-memory killer would do
        qtbot.waitUntil(lambda: "worker stopped" in page.status.text(), timeout=WAIT)
        qtbot.mouseClick(page.explain_button, Qt.MouseButton.LeftButton)  # starts a fresh worker
        result = wait_result(qtbot, page, "Saliency", page.current_index)
        assert page.client.pid != pid and result["values"].shape == (13,)
    finally:
        page.can_close()


@pytest.mark.slow
def test_text_run_colours_each_character(qtbot, styled_app, tmp_path):
    root = tmp_path / "runs"
    run = make_run(root, spec=text_spec(tmp_path / "text"), steps=20)
    page = open_page(qtbot, styled_app, root, run)
    try:
        assert page.info["kind"] == "text" and page.browser.table.columnCount() == 5
        qtbot.waitUntil(lambda: page.browser.table.item(0, 4) is not None and bool(page.browser.table.item(0, 4).text()),
                        timeout=WAIT)
        page.methods.set_method("IntegratedGradients")
        index = click_sample(qtbot, page, 1)
        result = wait_result(qtbot, page, "IntegratedGradients", index)
        tokens = page.result_panel.view.tokens
        assert page.result_panel.view.currentWidget() is tokens
        assert result["values"].shape == (12,) and len(tokens.colors) == 12
        assert "→" in tokens.toPlainText()
        assert page.methods.combo.findText("GuidedBackprop") < 0  # not offered for token ids
    finally:
        page.can_close()


def test_widgets_draw_what_the_engine_renders(qtbot, styled_app):
    from app.widgets.feature_bars import FeatureBars
    from app.widgets.heatmap_view import HeatmapView
    from app.widgets.token_view import TokenView
    from engine.interpret.render import apply_colormap, overlay, scale_values

    rng = np.random.default_rng(0)
    display, values = rng.random((1, 8, 8)), rng.normal(size=(1, 8, 8))
    view = HeatmapView()
    qtbot.addWidget(view)
    view.set_result(display, values, signed=True)
    scaled = scale_values(values[0], True)
    np.testing.assert_array_equal(view.arrays["attribution"], apply_colormap(scaled, True))
    rgb = np.repeat(display[0][..., None], 3, axis=-1)
    np.testing.assert_array_equal(view.arrays["overlay"], overlay(rgb, scaled, True, 0.7))
    view.set_opacity(0.2)
    np.testing.assert_array_equal(view.arrays["overlay"], overlay(rgb, scaled, True, 0.2))
    view.set_mode("absolute")
    np.testing.assert_array_equal(view.arrays["attribution"], apply_colormap(scale_values(values[0], False), False))
    view.grab()  # paints without error

    bars = FeatureBars()
    qtbot.addWidget(bars)
    bars.set_values(np.array([0.1, -0.5, 0.3]), ["a", "b", "c"])
    assert bars.rows == [("b", -0.5), ("c", 0.3), ("a", 0.1)]
    bars.grab()

    tokens = TokenView()
    qtbot.addWidget(tokens)
    tokens.set_tokens(list("ab "), np.array([1.0, -1.0, 0.0]), signed=True, next_token="c")
    assert tokens.colors[0][0] > tokens.colors[0][2] and tokens.colors[1][2] > tokens.colors[1][0]
    assert "·" in tokens.toPlainText() and "c" in tokens.toPlainText()


@pytest.mark.slow
def test_compare_ticks_layergradcam_only_for_a_model_with_convolutions_and_nothing_is_clipped(
        qtbot, styled_app, runs_dir, tmp_path):
    root, runs = runs_dir
    mlp = make_run(tmp_path, "digits_mlp", steps=20)  # an image model without convolutions
    for run, convs in ((runs["digits"], True), (mlp, False)):
        page = open_page(qtbot, styled_app, root if convs else tmp_path, run)
        try:
            page.tabs.setCurrentWidget(page.compare.methods_tab)
            qtbot.waitUntil(lambda: page.compare.method_list.count() > 0, timeout=WAIT)
            assert ("LayerGradCam" in page.compare.checked()) is convs
            assert {"Saliency", "IntegratedGradients"} <= set(page.compare.checked())
            # the run box shows its whole label; the method form's boxes fit inside the panel
            combo = page.run_combo
            assert combo.fontMetrics().horizontalAdvance(combo.currentText()) < combo.width() - 24
            page.methods.set_method("IntegratedGradients")
            qtbot.wait(50)
            panel = page.methods
            for name in ("integration", "baseline", "steps"):
                editor = panel.form.editor(name)
                right = editor.mapTo(panel, editor.rect().topRight()).x()
                assert right <= panel.width(), f"{name} is clipped ({right} > {panel.width()})"
        finally:
            page.can_close()
