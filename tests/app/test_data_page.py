"""Data page: previews per kind (images, table + class balance, points, text), switching the
source re-runs shape inference, bad data is a message on the page, edits are undoable."""
from __future__ import annotations

import pytest

from app.widgets.schema_form import PathEditor

WAIT_MS = 30000


@pytest.fixture
def data_page(main_window, qtbot):
    page = main_window.show_page("data")
    wait_preview(qtbot, page)
    return page


def wait_preview(qtbot, page) -> None:
    qtbot.waitUntil(lambda: not page.preview_pending(), timeout=WAIT_MS)


def choose_source(qtbot, page, name: str) -> None:
    combo = page.combo
    combo.setCurrentIndex(combo.findData(name))  # what picking it from the list does
    wait_preview(qtbot, page)


def test_image_preview_with_labels_and_split_sizes(data_page):
    preview = data_page.preview
    assert data_page.combo.objectName() == "dataSourceCombo" and data_page.combo.currentData() == "digits"
    assert preview.objectName() == "dataPreview" and preview.mode() == "image"
    assert preview.image_grid.count() == 16
    assert len(preview.image_balance.counts()) == 10
    assert "Train 1,4" in preview.splits.text() and "batch size 64" in preview.splits.text()
    assert "1×8×8" in preview.facts.text()


def test_switch_source_updates_preview_and_model_shapes(data_page, main_window, qtbot):
    build = main_window.page("build")
    assert build.summary.values["input"].text() == "1×8×8"
    assert "No problems" in build.summary.problems_label.text()
    choose_source(qtbot, data_page, "wine")
    assert main_window.document.spec.data.source == "wine"
    preview = data_page.preview
    assert preview.mode() == "table"
    assert preview.table.columnCount() == 14 and preview.table.horizontalHeaderItem(0).text() == "alcohol"
    assert len(preview.table_balance.counts()) == 3
    # the model's input now comes from the tabular data: the CNN no longer fits
    assert build.summary.values["input"].text() == "13"
    assert "problem" in build.summary.problems_label.text() and "No" not in build.summary.problems_label.text()
    main_window.undo_action.trigger()
    wait_preview(qtbot, data_page)
    assert data_page.combo.currentData() == "digits" and preview.mode() == "image"
    assert "No problems" in build.summary.problems_label.text()


def test_points_and_text_previews(data_page, qtbot):
    choose_source(qtbot, data_page, "moons")
    assert data_page.preview.mode() == "table" and data_page.preview.points.isVisibleTo(data_page.preview)
    samples = data_page.options_form.editor("samples")
    samples.box.setValue(300)
    assert data_page.document.spec.data.options["samples"] == 300
    wait_preview(qtbot, data_page)
    assert "Train 240" in data_page.preview.splits.text()
    choose_source(qtbot, data_page, "text")
    assert data_page.preview.mode() == "text"
    assert data_page.preview.text.toPlainText().strip()
    assert "Vocabulary:" in data_page.preview.vocab.text()


def test_batch_size_updates_steps_without_reloading(data_page, qtbot):
    loads = []
    data_page.loader.started.connect(lambda: loads.append(1))
    data_page.batch_form.editor("batch_size").box.setValue(100)
    assert data_page.document.spec.data.batch_size == 100
    assert "batch size 100" in data_page.preview.splits.text() and "15 steps" in data_page.preview.splits.text()
    qtbot.wait(200)
    assert loads == []


def test_bad_csv_shows_messages_not_a_crash(data_page, qtbot, tmp_path, monkeypatch):
    choose_source(qtbot, data_page, "csv")
    assert data_page.preview.mode() == "error"
    assert "data.path" in data_page.preview.error.text() and "required" in data_page.preview.error.text()
    path_editor = data_page.options_form.editor("path")
    assert isinstance(path_editor, PathEditor) and not path_editor.wants_folder
    missing = tmp_path / "nope.csv"
    monkeypatch.setattr(PathEditor, "ask_path", lambda self: str(missing))
    path_editor.browse_button.click()
    wait_preview(qtbot, data_page)
    assert data_page.document.spec.data.options["path"] == str(missing)
    assert data_page.preview.mode() == "error" and "nope.csv" in data_page.preview.error.text()
    assert data_page.options_form._problems["path"].text()
    good = tmp_path / "table.csv"
    good.write_text("a,b,label\n" + "".join(f"{i},{i % 3 * 0.5},{'xy'[i % 2]}\n" for i in range(40)))
    data_page.options_form.editor("path").set_value(str(good))
    data_page._option_changed("path", str(good))
    wait_preview(qtbot, data_page)
    assert data_page.preview.mode() == "table" and data_page.preview.table.rowCount() > 0
    data_page._option_changed("target", "lable")
    wait_preview(qtbot, data_page)
    assert data_page.preview.mode() == "error" and "lable" in data_page.preview.error.text()


def test_image_folder_preview_and_unreadable_image(data_page, qtbot, tmp_path):
    from PIL import Image

    choose_source(qtbot, data_page, "image_folder")
    assert data_page.options_form.editor("path").wants_folder
    assert data_page.preview.mode() == "error"
    for name, color in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (20, 16), color).save(tmp_path / "photos" / name / f"{i}.png")
    data_page._option_changed("path", str(tmp_path / "photos"))
    data_page._option_changed("size", 12)
    wait_preview(qtbot, data_page)
    preview = data_page.preview
    assert preview.mode() == "image" and preview.image_grid.count() > 0
    assert [name for name, _ in preview.image_balance.counts()] == ["blue", "red"]
    assert "3×12×12" in preview.facts.text()
    (tmp_path / "photos" / "red" / "broken.png").write_bytes(b"not an image")
    data_page._option_changed("size", 10)
    wait_preview(qtbot, data_page)
    assert preview.mode() == "error" and "broken.png" in preview.error.text()


def test_unknown_source_from_a_hand_written_file(data_page, qtbot):
    import dataclasses

    doc = data_page.document
    doc.edit(dataclasses.replace(doc.spec, data=dataclasses.replace(doc.spec.data, source="digitz")), "typo")
    assert data_page.combo.currentIndex() == -1
    assert "Unknown data source 'digitz'" in data_page.source_help.text()
    assert data_page.preview.mode() == "error" and "digits" in data_page.preview.error.text()  # did you mean
    choose_source(qtbot, data_page, "digits")
    assert data_page.preview.mode() == "image"


def test_source_list_has_headings_that_cannot_be_chosen(data_page, qtbot):
    from PySide6.QtCore import Qt

    combo = data_page.combo
    assert data_page.headings() == ["Built-in", "Generated", "Files"]
    combo.showPopup()
    view = combo.view()
    qtbot.waitUntil(view.isVisible)
    heading = combo.findText("Generated")
    rect = view.visualRect(view.model().index(heading, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # a click on the heading
    assert combo.currentData() == "digits" and data_page.document.spec.data.source == "digits"
    combo.hidePopup()
    next_source = combo.itemData(heading + 1)
    assert next_source and combo.model().item(heading + 1).isEnabled()  # the sources under it can be
