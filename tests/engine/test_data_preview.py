"""preview(): what the Data page shows for each kind of data."""
from __future__ import annotations

import numpy as np
import pytest

from engine.data import preview
from engine.data.api import load_raw
from engine.problems import SpecError
from engine.spec import DataSpec


def test_image_preview_shows_pixels_with_labels():
    p = preview(DataSpec("digits"), seed=0, n=6)
    assert p.info.kind == "image" and len(p.images) == 6 and len(p.labels) == 6
    assert all(img.shape == (8, 8) and img.dtype == np.float32 for img in p.images)
    assert min(img.min() for img in p.images) >= 0 and max(img.max() for img in p.images) <= 1
    assert max(img.max() for img in p.images) > 0.9  # original pixels, not the normalized values
    assert set(p.labels) <= set(p.info.class_names)
    assert sum(c for _, c in p.class_counts) == p.train_size + p.val_size == 1797
    assert p.rows == () and p.text == ""


def test_rgb_random_images_are_height_width_channels():
    p = preview(DataSpec("random", options={"shape": [3, 5, 7], "samples": 40, "classes": 2}), seed=0, n=3)
    assert [img.shape for img in p.images] == [(5, 7, 3)] * 3


def test_tabular_preview_rows_are_in_original_units():
    data = DataSpec("iris", val_fraction=0.2)
    p = preview(data, seed=1, n=5)
    assert p.columns == p.info.feature_names and p.hidden_columns == 0
    assert len(p.rows) == 5 and all(len(r) == 4 for r in p.rows)
    raw_rows = {tuple(np.round(r, 4)) for r in load_raw(data, 1).x.astype(np.float64)}
    assert all(tuple(np.round(r, 4)) in raw_rows for r in p.rows)
    assert dict(p.class_counts) == {"setosa": 50, "versicolor": 50, "virginica": 50}


def test_wide_tables_are_truncated_with_a_count():
    p = preview(DataSpec("breast_cancer"), seed=0, n=2)
    assert len(p.columns) == 30 and p.hidden_columns == 0
    wide = preview(DataSpec("random", options={"shape": [40], "samples": 50}), seed=0, n=2)
    assert len(wide.columns) == 32 and wide.hidden_columns == 8 and len(wide.rows[0]) == 32


def test_points_preview_has_a_scatter():
    p = preview(DataSpec("moons", options={"samples": 300}), seed=0)
    assert p.points.shape == (p.train_size, 2) and p.point_labels.shape == (p.train_size,)
    assert p.points[:, 0].min() < -0.5 and p.points[:, 0].max() > 1.5  # original units of the moons
    assert p.columns == ("x1", "x2")


def test_regression_preview_reports_target_range(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("a,y\n" + "".join(f"{i},{i * 1.5 + 0.25}\n" for i in range(40)))
    p = preview(DataSpec("csv", options={"path": str(path)}), seed=0, n=3)
    assert p.info.task == "regression" and p.class_counts == ()
    assert p.target_range == (0.25, 58.75)
    assert all(float(label) == pytest.approx(row[0] * 1.5 + 0.25, rel=1e-3) for label, row in zip(p.labels, p.rows))


def test_text_preview_shows_a_snippet_and_the_vocabulary():
    p = preview(DataSpec("text", options={"seq_len": 32}), seed=0)
    assert p.text.lstrip().startswith("The Internet Wiretap") and len(p.text) == 600
    assert p.vocab_size == p.info.num_classes == len(p.vocab)
    assert p.images == () and p.rows == ()


def test_preview_raises_spec_errors():
    with pytest.raises(SpecError, match="data.path: file not found"):
        preview(DataSpec("csv", options={"path": "/no/such/file.csv"}), seed=0)
