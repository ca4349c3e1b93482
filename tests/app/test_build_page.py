"""Build page, clicked as a user would: build a CNN from the palette, watch shapes update, break
and fix a shape, undo/redo, keyboard moves, nested blocks, drag and drop."""
from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

from app.widgets.layer_palette import LAYER_TYPE_MIME
from app.widgets.layer_stack import LAYER_PATH_MIME
from engine.spec import DataSpec, ExperimentSpec, LayerSpec


@pytest.fixture
def build(main_window):
    """The Build page on an empty model over the digits data."""
    main_window.document.reset(ExperimentSpec(name="scratch", data=DataSpec(source="digits")))
    return main_window.show_page("build")


def double_click_palette(qtbot, page, kind: str) -> None:
    tree = page.layer_palette.tree
    item = page.layer_palette.item(kind)
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def shapes(page) -> list[str]:
    return [card.shape_label.text() for card in page.stack.cards().values()]


def types(page) -> list[str]:
    return [layer.type for layer in page.document.spec.model.layers]


def test_build_small_cnn_from_palette(build, qtbot):
    assert "empty" in build.summary.problems_label.text() or "problem" in build.summary.problems_label.text()
    for kind in ("Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"):
        double_click_palette(qtbot, build, kind)
    assert types(build) == ["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]
    # the new layer is selected each time: the property editor shows Linear's schema
    assert build.stack.selected_path() == (4,)
    editor = build.editor.form.editor("out_features")
    first = build.stack.card((0,))
    editor.box.setValue(10)  # spin box: the user typed 10 and pressed Enter
    assert build.document.spec.model.layers[4].params["out_features"] == 10
    assert build.stack.card((0,)) is first  # an option edit rebuilds only the cards that changed
    assert build.stack.card((4,)).count_label.text() == "2,890 params"
    assert shapes(build) == ["→ 32×6×6", "→ 32×6×6", "→ 32×3×3", "→ 288", "→ 10"]
    assert build.summary.values["output"].text() == "10"
    assert build.summary.values["input"].text() == "1×8×8"
    assert "No problems" in build.summary.problems_label.text()
    assert build.summary.values["params"].text() == f"{(32 * 9 + 32) + (288 * 10 + 10):,}"
    # change the conv's channels in the property editor: downstream shapes follow at once
    build.stack.select((0,))
    build.editor.form.editor("out_channels").box.setValue(8)
    assert shapes(build)[:4] == ["→ 8×6×6", "→ 8×6×6", "→ 8×3×3", "→ 72"]


def test_shape_problem_and_one_click_fix(build, qtbot):
    build.document.edit(build.document.spec.with_layers((
        LayerSpec("Conv2d", {"out_channels": 4, "kernel_size": 3}),
        LayerSpec("Flatten"),
        LayerSpec("Linear", {"out_features": 10}),
    )), "start")
    assert "No problems" in build.summary.problems_label.text()
    build.stack.select((1,))
    build.stack.setFocus()
    qtbot.keyClick(build.stack, Qt.Key.Key_Delete)
    assert types(build) == ["Conv2d", "Linear"]
    assert "1 problem" in build.summary.problems_label.text()
    card = build.stack.card((1,))
    assert card.property("problem") is True
    assert "flat" in card.problem_label.text().lower()
    assert card.fix_button is not None and "Flatten" in card.fix_button.text()
    qtbot.mouseClick(card.fix_button, Qt.MouseButton.LeftButton)
    assert types(build) == ["Conv2d", "Flatten", "Linear"]
    assert "No problems" in build.summary.problems_label.text()
    # clicking the problem count goes to the offending layer
    build.document.edit(build.document.spec.with_layers((
        LayerSpec("Conv2d", {"out_channels": 4, "kernel_size": 30}), LayerSpec("Flatten"))), "bad kernel")
    build.stack.select(None)
    build.select_first_problem()
    assert build.stack.selected_path() == (0,)


def test_undo_redo_restore_exact_specs(build, qtbot, main_window):
    doc = build.document
    history = [doc.spec]
    for kind in ("Flatten", "Linear", "ReLU"):
        build.add_layer(kind)
        history.append(doc.spec)
    build.stack.select((1,))
    build.editor.form.editor("out_features").box.setValue(20)
    build.editor.form.editor("out_features").box.setValue(30)  # merges with the previous edit
    history.append(doc.spec)
    build.toggle_layer((2,))
    history.append(doc.spec)
    assert not doc.spec.model.layers[2].enabled
    assert build.stack.card((2,)).shape_label.text() == "skipped"
    for expected in reversed(history[:-1]):
        main_window.undo_action.trigger()
        assert doc.spec is expected
    assert not doc.dirty
    for expected in history[1:]:
        main_window.redo_action.trigger()
        assert doc.spec is expected


def test_keyboard_add_move_duplicate_disable(build, qtbot):
    palette = build.layer_palette
    palette.search.setText("relu")
    assert set(palette.visible_kinds()) >= {"ReLU", "LeakyReLU"} and "Conv2d" not in palette.visible_kinds()
    qtbot.keyClick(palette.search, Qt.Key.Key_Return)  # Enter adds the highlighted match
    palette.search.setText("flatten")
    palette.tree.setFocus()
    qtbot.keyClick(palette.tree, Qt.Key.Key_Return)
    assert types(build) == ["ReLU", "Flatten"]
    build.stack.setFocus()
    build.stack.select((1,))
    qtbot.keyClick(build.stack, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
    assert types(build) == ["Flatten", "ReLU"] and build.stack.selected_path() == (0,)
    qtbot.keyClick(build.stack, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert types(build) == ["ReLU", "Flatten"]
    qtbot.keyClick(build.stack, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert types(build) == ["ReLU", "Flatten", "Flatten"] and build.stack.selected_path() == (2,)
    qtbot.keyClick(build.stack, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert build.document.spec.model.layers[2].enabled is False
    qtbot.keyClick(build.stack, Qt.Key.Key_Up)
    assert build.stack.selected_path() == (1,)


def test_palette_groups_and_tooltips(build):
    from engine.layers import LAYERS

    tree = build.layer_palette.tree
    groups = [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())]
    assert groups[:3] == ["Linear", "Convolution", "Pooling"] and "Blocks" in groups
    assert set(build.layer_palette.kinds()) == set(LAYERS.names())
    item = build.layer_palette.item("Conv2d")
    assert LAYERS.get("Conv2d").description.split()[0] in item.toolTip(0)


def test_nested_blocks_collapse_and_add_inside(main_window, qtbot):
    main_window.new_from_template("resnet_mini")
    build = main_window.show_page("build")
    residual = next(p for p, c in build.stack.cards().items() if c.layer.type == "Residual")
    inner = len(build.document.spec.model.layers[residual[0]].layers)
    assert residual + (0,) in build.stack.cards()  # nested cards are shown
    build.stack.card(residual).collapse_button.click()
    assert residual + (0,) not in build.stack.cards()
    build.stack.card(residual).collapse_button.click()
    build.stack.select(residual)
    double_click_palette(qtbot, build, "ReLU")  # a selected block receives the new layer
    layers = build.document.spec.model.layers[residual[0]].layers
    assert len(layers) == inner + 1 and layers[-1].type == "ReLU"
    assert build.stack.selected_path() == residual + (inner,)
    assert "No problems" in build.summary.problems_label.text()


def test_a_collapsed_block_stays_collapsed_when_layers_move_around_it(main_window, qtbot):
    """Collapsing belongs to the block, not to its place: moving it, inserting above it and undoing
    keep that block collapsed and no other."""
    main_window.new_from_template("resnet_mini")
    build = main_window.show_page("build")
    residual = next(p for p, c in build.stack.cards().items() if c.layer.type == "Residual")
    build.stack.card(residual).collapse_button.click()
    build.move_by(residual, -1)  # up one: the layer above takes its old place
    moved = (residual[0] - 1,)
    assert build.stack.card(moved).layer.type == "Residual" and moved + (0,) not in build.stack.cards()
    build.stack.select((0,))
    double_click_palette(qtbot, build, "ReLU")  # one more layer above it
    below = (moved[0] + 1,)
    assert build.stack.card(below).layer.type == "Residual" and below + (0,) not in build.stack.cards()
    build.document.undo_stack.undo()
    build.document.undo_stack.undo()
    assert build.stack.card(residual).layer.type == "Residual" and residual + (0,) not in build.stack.cards()
    collapsed = [p for p, c in build.stack.cards().items() if c.property("composite") and p + (0,) not in build.stack.cards()]
    assert collapsed == [residual]


def test_follow_layers_keeps_marks_with_their_layers():
    from app.widgets.layer_stack import follow_layers

    a, b, c = LayerSpec("Flatten"), LayerSpec("ReLU"), LayerSpec("Linear", {"out_features": 4})
    assert follow_layers({(0,)}, (a, b, c), (b, a, c)) == {(1,)}  # moved
    assert follow_layers({(1,)}, (a, b, c), (a, dataclasses.replace(b, enabled=False), c)) == {(1,)}  # edited in place
    assert follow_layers({(1,)}, (a, b, c), (a, c)) == set()  # deleted
    assert follow_layers({(2,)}, (a, b, c), (LayerSpec("Dropout"), a, b, c)) == {(3,)}  # a layer inserted above
    assert follow_layers({(0,)}, (a, b), (a, a, b)) == {(0,)}  # duplicated: one object in two places
    assert follow_layers({(0,), (1,)}, (a, a, b), (b, a, a)) == {(1,), (2,)}


def _drop(qtbot, container, mime: QMimeData, y: int) -> None:
    event = QDropEvent(QPointF(10, y), Qt.DropAction.MoveAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    container.dropEvent(event)  # Qt delivers drops only inside a real drag; call the handler
    assert event.isAccepted()


def test_drag_and_drop_reorders_and_adds(build, qtbot):
    build.document.edit(build.document.spec.with_layers((
        LayerSpec("Flatten"), LayerSpec("Linear", {"out_features": 32}), LayerSpec("ReLU"))), "start")
    container = build.stack.card((0,)).parentWidget()
    mime = QMimeData()
    mime.setData(LAYER_PATH_MIME, b"[2]")
    _drop(qtbot, container, mime, 1)  # drop the ReLU above the first card
    assert types(build) == ["ReLU", "Flatten", "Linear"]
    container = build.stack.card((0,)).parentWidget()
    mime = QMimeData()
    mime.setData(LAYER_TYPE_MIME, b"Dropout")
    _drop(qtbot, container, mime, container.height() - 1)  # a palette kind dropped at the end
    assert types(build) == ["ReLU", "Flatten", "Linear", "Dropout"]
    # a palette drag carries the kind under the palette's own mime type
    data = build.layer_palette.tree.mimeData([build.layer_palette.item("GELU")])
    assert bytes(data.data(LAYER_TYPE_MIME)) == b"GELU"


def test_property_editor_is_generated_from_the_schema(build):
    from engine.layers import LAYERS

    for kind in ("Conv2d", "Dropout", "GELU"):
        path = build.add_layer(kind)
        build.stack.select(path)
        names = [p.name for p in build.editor.form.params]
        assert names == [p.name for p in LAYERS.get(kind).params]
    gelu = build.editor.form.editor("approximate")
    assert gelu.box.count() == len(LAYERS.get("GELU").param("approximate").choices)
    dropout = build.stack.cards()[(1,)]
    build.stack.select(dropout.path)
    box = build.editor.form.editor("p").box
    assert box.maximum() <= 1.0
    # an out-of-range value typed into the TOML shows at the field
    layers = build.document.spec.model.layers
    bad = dataclasses.replace(layers[1], params={"p": 1.5})
    build.document.edit(build.document.spec.with_layers((layers[0], bad, layers[2])), "bad p")
    build.stack.select((1,))
    problem = build.editor.form._problems["p"]
    assert problem.isVisibleTo(build.editor) and "at most" in problem.text()


def test_layer_tree_edits_are_pure_and_handle_blocks():
    from app import commands as ops

    block = LayerSpec("Residual", layers=(LayerSpec("ReLU"), LayerSpec("Tanh")))
    layers = (LayerSpec("Flatten"), block, LayerSpec("GELU"))
    moved, path = ops.move(layers, (2,), (1,), 1)  # GELU into the block, between ReLU and Tanh
    assert path == (1, 1) and [l.type for l in moved[1].layers] == ["ReLU", "GELU", "Tanh"]
    assert [l.type for l in layers[1].layers] == ["ReLU", "Tanh"]  # the input is untouched
    out, path = ops.move(moved, (1, 0), (), 0)  # ReLU out of the block to the top
    assert path == (0,) and [l.type for l in out] == ["ReLU", "Flatten", "Residual"]
    out, path = ops.move(layers, (0,), (1,), 2)  # a parent path after the source shifts
    assert path == (0, 2) and out[0].layers[-1].type == "Flatten"
    with pytest.raises(ValueError, match="into itself"):
        ops.move(layers, (1,), (1,), 0)
    copied, path = ops.duplicate(layers, (1,))
    assert path == (2,) and copied[2] == block
    from engine.layers import LAYERS

    assert ops.new_layer("Linear", LAYERS.get("Linear").params).params == {"out_features": ops.STARTER_INT}


def test_structural_edits_reuse_unchanged_cards(build):
    build.document.edit(build.document.spec.with_layers((
        LayerSpec("Flatten"), LayerSpec("Linear", {"out_features": 32}), LayerSpec("ReLU"),
        LayerSpec("Dropout"), LayerSpec("Linear", {"out_features": 10}))), "start")
    before = build.stack.cards()
    build.delete_layer((3,))
    after = build.stack.cards()
    assert after[(0,)] is before[(0,)] and after[(3,)] is before[(4,)]  # moved up, not rebuilt
    assert after[(3,)].index_label.text() == "[3]" and after[(3,)].path == (3,)
    assert after[(3,)].name_label.text() == "linear_2"
    build.document.undo_stack.undo()
    assert [c.layer.type for c in build.stack.cards().values()] == ["Flatten", "Linear", "ReLU", "Dropout", "Linear"]
    assert build.stack.card((4,)).index_label.text() == "[4]"


def test_wheel_does_not_change_unfocused_fields(build, qtbot):
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QWheelEvent

    path = build.add_layer("Linear")
    build.stack.select(path)
    box = build.editor.form.editor("out_features").box
    before = box.value()
    build.stack.setFocus()
    event = QWheelEvent(QPointF(5, 5), QPointF(box.mapToGlobal(QPoint(5, 5))), QPoint(0, 0), QPoint(0, 120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(box, event)
    assert box.value() == before and build.document.spec.model.layers[-1].params["out_features"] == before
