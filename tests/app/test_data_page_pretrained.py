"""Data page, issue 10: image augmentation options previewed on the augmented grid, tokenized text
previewed as the tokenizer split it, and problems of fitting the data to a pretrained model shown
with buttons that apply their fix (undoable)."""
from __future__ import annotations

import dataclasses
import importlib.util

import pytest

from tests.app.test_data_page import WAIT_MS, choose_source, wait_preview

needs_torchvision = pytest.mark.skipif(importlib.util.find_spec("torchvision") is None,
                                       reason="needs the pretrained extra (torchvision)")


@pytest.fixture
def photos(tmp_path):
    from PIL import Image

    for name, shade in (("dark", 40), ("light", 200)):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(4):
            Image.new("L", (20, 14), shade + 5 * i).save(tmp_path / "photos" / name / f"{i}.png")
    return tmp_path / "photos"


@needs_torchvision
def test_augmentation_options_show_the_augmented_images(main_window, qtbot, photos):
    page = main_window.show_page("data")
    wait_preview(qtbot, page)
    choose_source(qtbot, page, "image_folder")
    page._option_changed("path", str(photos))
    page._option_changed("size", 12)
    wait_preview(qtbot, page)
    preview = page.preview
    assert preview.mode() == "image" and not preview.augmented_grid.isVisibleTo(preview)
    flip = page.options_form.editor("flip")
    flip.box.setCurrentText("horizontal")  # what picking it in the form does
    assert page.document.spec.data.options["flip"] == "horizontal"
    page.options_form.editor("crop_scale").box.setValue(0.5)
    assert page.document.spec.data.options["crop_scale"] == 0.5
    wait_preview(qtbot, page)
    assert preview.augmented_grid.isVisibleTo(preview) and preview.augmented_grid.count() == preview.image_grid.count()
    assert "augmented each epoch" in preview.notes.text()
    page.options_form.editor("resize").box.setCurrentText("center_crop")
    wait_preview(qtbot, page)
    assert "cropped to the centre" in preview.notes.text()
    main_window.undo_action.trigger()
    assert page.document.spec.data.options.get("resize", "stretch") == "stretch"


def test_tokenized_text_preview_shows_tokens(main_window, qtbot):
    page = main_window.show_page("data")
    wait_preview(qtbot, page)
    choose_source(qtbot, page, "sentiment")
    preview = page.preview
    assert preview.mode() == "text" and preview.tokens.isVisibleTo(preview)
    text = preview.text.toPlainText()
    assert "Samples" in preview.text_title.text() and ("[positive]" in text and "[negative]" in text)
    html = preview.tokens.toHtml()
    assert html.count("background-color:#dbe8f7") > 10  # tokens on alternating backgrounds
    assert ">movie<" in html or ">film<" in html  # word tokens, not characters
    assert "tokens" in preview.vocab.text() and "<pad>" in preview.vocab.text()


@needs_torchvision
def test_fitting_the_data_to_a_pretrained_model_is_one_click(main_window, qtbot, photos):
    from engine.spec import LayerSpec, ModelSpec

    doc = main_window.document
    page = main_window.show_page("data")
    wait_preview(qtbot, page)
    layers = (LayerSpec("Pretrained", {"source": "torchvision", "model": "resnet18", "weights": "library"}),
              LayerSpec("Linear", {"out_features": 0}))
    data = dataclasses.replace(doc.spec.data, source="image_folder",
                               options={"path": str(photos), "size": 16, "color": "grayscale"})
    doc.edit(dataclasses.replace(doc.spec, data=data, model=ModelSpec(layers)), "a pretrained model on grey images")
    qtbot.waitUntil(lambda: len(page.fix_buttons()) == 2, timeout=WAIT_MS)
    texts = sorted(b.text() for b in page.fix_buttons())
    assert texts == ["Apply: color=rgb", "Apply: normalize=imagenet"]
    [rgb] = [b for b in page.fix_buttons() if b.text() == "Apply: color=rgb"]
    rgb.click()
    assert doc.spec.data.options["color"] == "rgb"
    qtbot.waitUntil(lambda: len(page.fix_buttons()) == 1, timeout=WAIT_MS)
    assert doc.undo_stack.undoText() == "Fix: data.color=rgb"
    main_window.undo_action.trigger()
    assert doc.spec.data.options["color"] == "grayscale"
    button = main_window.problems_button
    qtbot.waitUntil(lambda: any(t.startswith("Fix: data.normalize=imagenet") for t in button.texts()), timeout=WAIT_MS)
