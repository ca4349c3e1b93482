"""Every form shows a human label for every option, never the raw key ("Lr", "Nnodes", "Nt stdev")."""
from __future__ import annotations

import re

import pytest

from app.widgets.schema_form import SchemaForm
from engine.registry import Param, human_label

#: words of option names that are not words a newcomer reads
RAW_WORDS = {"lr", "nt", "nnodes", "num", "dim", "len", "eps", "pct", "rdzv", "stdev", "seq", "div", "val", "eval",
             "grad", "vocab", "max", "min", "out", "p", "abs", "relu", "mlp", "l1", "warmup", "microbatches"}


def all_params() -> list[Param]:
    from engine.data import DATA_SOURCES
    from engine.interpret.baselines import BASELINES
    from engine.interpret.methods import METHODS
    from engine.layers import LAYERS
    from engine.losses import LOSSES
    from engine.optim import OPTIMIZERS
    from engine.schedulers import SCHEDULERS
    from engine.spec import SECTIONS, section_params

    out = [p for cls in SECTIONS.values() for p in section_params(cls)]
    for registry in (DATA_SOURCES, BASELINES, METHODS, LAYERS, LOSSES, OPTIMIZERS, SCHEDULERS):
        out += [p for entry in registry for p in entry.params]
    return out


def looks_raw(label: str) -> bool:
    words = re.findall(r"[A-Za-z0-9]+", label)
    return "_" in label or not label[:1].isupper() or any(w.lower() in RAW_WORDS and w not in ("MLP", "ReLU", "L1")
                                                          for w in words)


def test_labels_are_derived_or_given():
    assert human_label("nt_stdev") == "Noise std. deviation" and human_label("out_channels") == "Output channels"
    assert Param("lr", "float", 0.1).label == "Learning rate"
    assert Param("lr", "float", 0.1, label="Step size").label == "Step size"
    assert looks_raw("Lr") and looks_raw("Nnodes") and looks_raw("Nt stdev") and not looks_raw("Learning rate")


def test_no_param_anywhere_has_a_raw_label():
    raw = sorted({f"{p.name} -> {p.label}" for p in all_params() if looks_raw(p.label)})
    assert raw == []


def field_labels(widget) -> list[str]:
    """The labels of every form on `widget` (its SchemaForms, as they are now)."""
    forms = [widget] if isinstance(widget, SchemaForm) else widget.findChildren(SchemaForm)
    return [text.removesuffix(" *") for form in forms for text in form.labels().values()]


def test_the_forms_of_every_page_show_human_labels(qtbot, window):
    from engine.layers import LAYERS
    from engine.spec import LayerSpec

    shown: list[str] = []
    train = window.show_page("train")
    shown += field_labels(train)
    assert {"Learning rate", "Nodes", "Processes per node", "Optimizer", "Schedule"} <= set(shown)
    shown += field_labels(window.show_page("data"))
    build = window.show_page("build")
    doc = window.document
    for entry in LAYERS:  # every layer kind's options, as the property editor shows them
        if entry.params and not entry.extra.get("composite"):
            doc.edit(doc.spec.with_layers((LayerSpec(entry.name),)), f"try {entry.name}")
            qtbot.waitUntil(lambda: (0,) in build.stack.cards())
            build.stack.select((0,))
            qtbot.waitUntil(lambda name=entry.name: build.editor.title.text() == name)
            shown += field_labels(build)
    assert {"Output channels", "Drop probability", "Kernel size"} <= set(shown)
    explain = window.show_page("explain")
    shown += field_labels(explain)
    assert shown
    assert [label for label in shown if looks_raw(label)] == []
    window.page("train")._planner.wait()


@pytest.mark.parametrize("name", ["lr", "nnodes", "nt_stdev"])
def test_schema_form_uses_the_label(qtbot, name):
    form = SchemaForm([Param(name, "float", 1.0)])
    qtbot.addWidget(form)
    assert field_labels(form) == [human_label(name)]
