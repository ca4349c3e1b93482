"""Build page with a pretrained model: add it from the "Pretrained" palette group, freeze it from the
card's controls, expand its parts and freeze up to one of them; counts follow in the summary bar."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from engine.spec import DataSpec, ExperimentSpec
from tests.app.test_build_page import double_click_palette, types
from tests.engine.pretrained.tiny import need_pretrained_extra

need_pretrained_extra()


@pytest.fixture
def build(main_window):
    data = DataSpec(source="random", options={"shape": [3, 32, 32], "classes": 4, "samples": 40})
    main_window.document.reset(ExperimentSpec(name="finetune", data=data))
    return main_window.show_page("build")


def _count(label) -> int:
    return int(label.text().replace(",", ""))


def test_pretrained_block_freeze_controls_and_parts(build, qtbot):
    assert build.layer_palette.item("Pretrained").parent().text(0).startswith("Pretrained")
    double_click_palette(qtbot, build, "Pretrained")
    double_click_palette(qtbot, build, "Linear")
    assert types(build) == ["Pretrained", "Linear"]
    build.stack.select((1,))
    build.editor.form.editor("out_features").box.setValue(4)
    qtbot.waitUntil(lambda: not build.document.pending(), timeout=60_000)  # torchvision's first import
    card = build.stack.card((0,))
    assert card.shape_label.text() == "→ 512" and card.count_label.text() == "11,176,512 params"
    panel = card.pretrained
    assert panel.freeze_buttons["none"].isChecked() and not panel.parts.isVisible()
    total = _count(build.summary.values["params"])
    assert _count(build.summary.values["trainable"]) == total == 11_176_512 + 512 * 4 + 4

    qtbot.mouseClick(panel.freeze_buttons["all"], Qt.MouseButton.LeftButton)  # freeze the backbone
    assert build.document.spec.model.layers[0].params["freeze"] == "all"
    card = build.stack.card((0,))
    assert card.pretrained.freeze_buttons["all"].isChecked()
    assert card.pretrained.counts.text() == "11,176,512 parameters frozen · 0 trainable"
    assert _count(build.summary.values["trainable"]) == 512 * 4 + 4

    qtbot.mouseClick(card.pretrained.expand_button, Qt.MouseButton.LeftButton)  # show the parts
    assert card.pretrained.parts.isVisible()
    assert list(card.pretrained.locks) == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4",
                                          "avgpool", "fc"]
    qtbot.mouseClick(card.pretrained.locks["layer2"], Qt.MouseButton.LeftButton)  # freeze up to layer2
    layer = build.document.spec.model.layers[0]
    assert (layer.params["freeze"], layer.params["freeze_until"]) == ("up_to", "layer2")
    card = build.stack.card((0,))
    assert card.pretrained.parts.isVisible()  # still expanded after the edit
    locked = [name for name, lock in card.pretrained.locks.items() if lock.isChecked()]
    assert locked == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2"]
    frozen = 9408 + 128 + 147_968 + 525_568
    assert _count(build.summary.values["trainable"]) == total - frozen
    qtbot.mouseClick(card.pretrained.freeze_buttons["up_to"], Qt.MouseButton.LeftButton)  # already up_to
    assert build.document.spec.model.layers[0].params["freeze_until"] == "layer2"  # the chosen part stays

    build.document.undo_stack.undo()  # one edit set both options
    assert build.document.spec.model.layers[0].params["freeze"] == "all"
    assert "freeze_until" not in build.document.spec.model.layers[0].params


def test_a_model_librarys_first_import_happens_off_the_gui_thread(build, qtbot, monkeypatch):
    """The first Pretrained layer imports torch and torchvision (seconds): the page shows the
    stack at once with its shapes pending, says what loads, and fills them in when the thread
    is done."""
    import threading

    import engine.layers.pretrained as pretrained
    import engine.shapes as shapes

    real = shapes.infer_model
    inferred_on = []

    def infer(layers, shape, *args, **kwargs):
        if shape is not None and any(layer.type == "Pretrained" for layer in layers):
            inferred_on.append(threading.current_thread().name)
        return real(layers, shape, *args, **kwargs)

    monkeypatch.setattr(shapes, "infer_model", infer)
    monkeypatch.setattr(pretrained, "libraries_to_import", lambda layers: ("torch", "torchvision"))  # not imported yet
    double_click_palette(qtbot, build, "Pretrained")
    assert build.document.pending() == "loading torch, torchvision"
    assert build.stack.input_label.text() == "Input: loading torch, torchvision…"
    assert build.summary.problems_label.text() == "Checking…"
    assert build.stack.card((0,)).pending
    qtbot.waitUntil(lambda: not build.document.pending(), timeout=60_000)
    assert build.stack.card((0,)).shape_label.text() == "→ 512"
    assert build.stack.input_label.text().startswith("Input: 3×32×32")
    assert "netwright-model-library" in inferred_on and "MainThread" not in inferred_on
