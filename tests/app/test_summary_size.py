"""The Build page's summary bar shows the estimated model size (fp32 weights) and follows edits."""
from __future__ import annotations


def test_summary_shows_the_estimated_fp32_size(main_window):
    build = main_window.page("build")
    main_window.new_from_template("seed_bigmodel")  # Linear 1000 -> 10000 -> 1000 -> 10
    params = (1000 * 10000 + 10000) + (10000 * 1000 + 1000) + (1000 * 10 + 10)
    assert build.summary.values["params"].text() == f"{params:,}"
    assert build.summary.values["size"].text() == "80.08 MB"  # 4 bytes per parameter
    assert build.summary.values["input"].text() == "1000" and build.summary.values["output"].text() == "10"
    doc = main_window.document
    layers = list(doc.spec.model.layers)
    doc.edit(doc.spec.with_layers(layers[2:]), "Remove the first Linear and its ReLU")
    params = (1000 * 1000 + 1000) + (1000 * 10 + 10)
    assert build.summary.values["size"].text() == f"{params * 4 / 1e6:.2f} MB"
