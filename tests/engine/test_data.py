"""Data-source registry, built-in and generated sources, splits and normalization."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from engine.data import DATA_SOURCES, DataInfo, check_data, describe_data, load_data
from engine.data.api import load_raw
from engine.data.builtin import sklearn_metadata
from engine.data.splits import split_indices
from engine.problems import SpecError
from engine.spec import DataSpec, ExperimentSpec

BUILTIN = ["digits", "iris", "wine", "breast_cancer"]
GENERATED = ["moons", "circles", "spirals", "random"]


def spec(source: str, val_fraction: float = 0.2, **options) -> DataSpec:
    return DataSpec(source=source, val_fraction=val_fraction, options=options)


def problems_of(err: pytest.ExceptionInfo) -> list[str]:
    return [str(p) for p in err.value.problems]


# ----------------------------------------------------------------------------- registry


def test_registry_holds_every_source_with_group_and_description():
    expected = {"digits", "iris", "wine", "breast_cancer", "moons", "circles", "spirals", "random",
                "csv", "image_folder", "text", "text_classification", "sentiment"}
    assert set(DATA_SOURCES.names()) == expected
    groups = DATA_SOURCES.groups()
    assert {e.name for e in groups["Built-in"]} == set(BUILTIN)
    assert {e.name for e in groups["Generated"]} == set(GENERATED) | {"sentiment"}
    assert {e.name for e in groups["Files"]} == {"csv", "image_folder", "text", "text_classification"}
    assert all(e.description for e in DATA_SOURCES)


def test_option_schemas_match_the_contract():
    get = DATA_SOURCES.get
    assert get("csv").param("path").kind == "path" and get("csv").param("path").required
    assert get("csv").param("target").kind == "str"
    assert get("image_folder").param("color").choices == ("grayscale", "rgb")
    assert get("image_folder").param("size").kind == "int"
    assert get("text").param("path").default == "" and get("text").param("seq_len").kind == "int"
    assert get("random").param("shape").kind == "ints"
    assert {p.name for p in get("random").params} == {"shape", "classes", "samples"}
    for name in ("moons", "circles", "spirals"):
        assert {"samples", "noise"} <= {p.name for p in get(name).params}
    assert get("digits").params == ()


def test_importing_engine_data_leaves_torch_and_sklearn_out():
    code = ("import sys, engine.data; from engine.spec import DataSpec; engine.data.describe_data(DataSpec('wine')); "
            "bad = [m for m in ('torch', 'sklearn', 'PIL', 'PySide6') if m in sys.modules]; print(bad); sys.exit(bool(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# ----------------------------------------------------------------------------- built-ins


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_metadata_matches_scikit_learn(name):
    assert describe_data(spec(name)) == sklearn_metadata(name)


@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize("through", ["shipped file", "scikit-learn loader"])
def test_builtin_samples_equal_scikit_learns(name, through, monkeypatch):
    import sklearn.datasets

    from engine.data import builtin

    if through == "scikit-learn loader":  # the fallback where the shipped file is not found
        monkeypatch.setattr(builtin, "_shipped_file", lambda name: None)
    raw = load_raw(spec(name), 0)
    bunch = getattr(sklearn.datasets, builtin._BUILTINS[name].loader)()
    expected = bunch.images[:, None] / 16.0 if raw.info.kind == "image" else bunch.data
    assert raw.x.dtype == np.float32 and np.array_equal(raw.x, expected.astype(np.float32))
    assert raw.y.dtype == np.int64 and np.array_equal(raw.y, bunch.target)


def test_loading_a_builtin_set_does_not_import_scikit_learn():
    code = ("import sys; from engine.data import load_data; from engine.spec import DataSpec; "
            "load_data(DataSpec('digits'), 0); print('sklearn' in sys.modules); sys.exit('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("name,shape,classes,kind", [
    ("digits", (1, 8, 8), 10, "image"), ("iris", (4,), 3, "tabular"), ("wine", (13,), 3, "tabular"),
    ("breast_cancer", (30,), 2, "tabular"), ("moons", (2,), 2, "points"), ("circles", (2,), 2, "points"),
    ("spirals", (2,), 2, "points"), ("random", (20,), 10, "tabular"),
])
def test_source_shapes_task_and_names(name, shape, classes, kind):
    info = describe_data(spec(name))
    assert (info.input_shape, info.num_classes, info.kind) == (shape, classes, kind)
    assert info.task == "classification" and info.input_dtype == "float32"
    assert len(info.class_names) == classes
    if kind in ("tabular", "points"):
        assert len(info.feature_names) == shape[0]
    ds = load_data(spec(name), seed=0)
    assert ds.info == info
    assert ds.x_train.shape[1:] == shape and ds.x_val.shape[1:] == shape
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert set(np.unique(np.concatenate([ds.y_train, ds.y_val]))) == set(range(classes))
    assert ds.x_train.flags.writeable


def test_feature_and_class_names_are_readable():
    assert describe_data(spec("iris")).class_names == ("setosa", "versicolor", "virginica")
    assert describe_data(spec("breast_cancer")).feature_names[:2] == ("mean radius", "mean texture")
    assert describe_data(spec("digits")).class_names == tuple("0123456789")


# ----------------------------------------------------------------------------- generated


def test_generated_options_change_the_data():
    small = load_data(spec("moons", samples=100, noise=0.0), seed=1)
    assert small.train_size + small.val_size == 100
    spirals = describe_data(spec("spirals", classes=4))
    assert spirals.num_classes == 4 and spirals.class_names[-1] == "arm 4"
    noisy = load_raw(spec("circles", samples=200, noise=0.3), 1).x
    clean = load_raw(spec("circles", samples=200, noise=0.0), 1).x
    assert not np.allclose(noisy, clean)
    radii = np.linalg.norm(load_raw(spec("circles", samples=200, noise=0.0, factor=0.3), 1).x, axis=1)
    assert np.allclose(sorted(set(np.round(radii, 4))), [0.3, 1.0])


def test_generated_data_follows_the_seed():
    a, b = load_raw(spec("spirals"), 3).x, load_raw(spec("spirals"), 3).x
    assert np.array_equal(a, b)
    assert not np.array_equal(a, load_raw(spec("spirals"), 4).x)


def test_random_data_shapes_kinds_and_learnable_labels():
    image = load_data(spec("random", shape=[3, 8, 8], classes=4, samples=200), seed=0)
    assert image.info.kind == "image" and image.x_train.shape[1:] == (3, 8, 8)
    assert image.norm[0].shape == (3, 1, 1)
    raw = load_raw(spec("random", shape=[3, 8, 8], classes=4, samples=200), 0)
    assert raw.x.min() >= 0 and raw.x.max() <= 1
    vec = load_raw(spec("random", shape=[50], classes=3, samples=600), 0)
    counts = np.bincount(vec.y, minlength=3)
    assert counts.min() > 100  # balanced-ish: a random linear teacher uses every class
    # the labels are a linear function of x: a least-squares fit on one-hot targets recovers most of them
    onehot = np.eye(3)[vec.y]
    w, *_ = np.linalg.lstsq(vec.x, onehot, rcond=None)
    assert (np.argmax(vec.x @ w, axis=1) == vec.y).mean() > 0.8


def test_random_data_too_large_is_a_problem():
    with pytest.raises(SpecError) as err:
        describe_data(spec("random", shape=[3, 1024, 1024], samples=10_000))
    assert problems_of(err)[0].startswith("data.samples: 10000 samples of shape [3, 1024, 1024] need")


# ----------------------------------------------------------------------------- splits


def test_same_seed_same_split_different_seed_different_split():
    a, b, c = (load_data(spec("wine"), seed=s) for s in (7, 7, 8))
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_val, b.y_val)
    assert not np.array_equal(a.x_train, c.x_train)
    assert a.val_size == c.val_size


def test_split_covers_every_sample_once_and_is_stratified():
    labels = np.repeat([0, 1, 2], [100, 50, 10])
    train, val = split_indices(len(labels), 0.2, seed=0, labels=labels)
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(len(labels)))
    assert np.bincount(labels[val]).tolist() == [20, 10, 2]


def test_split_edge_cases():
    train, val = split_indices(10, 0.0, seed=0)
    assert len(val) == 0 and len(train) == 10
    train, val = split_indices(3, 0.01, seed=0)
    assert len(val) == 1 and len(train) == 2  # a positive fraction always validates on something
    ds = load_data(spec("iris", val_fraction=0.0), seed=0)
    assert ds.val_size == 0 and ds.train_size == 150


# ----------------------------------------------------------------------------- normalization


def test_tabular_normalization_uses_training_split_only():
    data = spec("wine", val_fraction=0.3)
    ds = load_data(data, seed=5)
    raw = load_raw(data, 5)
    train, val = split_indices(len(raw.x), 0.3, 5, raw.y)
    mean, std = ds.norm
    np.testing.assert_allclose(mean, raw.x[train].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(std, raw.x[train].std(axis=0), rtol=1e-5)
    assert not np.allclose(mean, raw.x.mean(axis=0), rtol=1e-4)  # the whole set would differ
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(ds.x_train.std(axis=0), 1, atol=1e-3)
    np.testing.assert_allclose(ds.x_val, (raw.x[val] - mean) / std, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ds.unnormalize(ds.x_val), raw.x[val], rtol=1e-4, atol=1e-3)


def test_image_normalization_is_per_channel_and_reversible():
    ds = load_data(spec("digits"), seed=0)
    mean, std = ds.norm
    assert mean.shape == (1, 1, 1) and 0 < mean.item() < 1
    pixels = ds.unnormalize(ds.x_train)
    assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5
    assert abs(float(ds.x_train.mean())) < 1e-4 and abs(float(ds.x_train.std()) - 1) < 1e-3


def test_returned_arrays_are_fresh_copies():
    ds = load_data(spec("iris"), seed=0)
    ds.x_train[:] = 99.0
    again = load_data(spec("iris"), seed=0)
    assert not np.any(again.x_train == 99.0)


# ----------------------------------------------------------------------------- check_data


def test_check_data_reports_schema_problems_with_field_paths():
    bad_source = ExperimentSpec(data=DataSpec(source="digts"))
    assert [str(p) for p in check_data(bad_source)] == ["data.source: unknown data source 'digts' — did you mean 'digits'?"]
    unknown_option = ExperimentSpec(data=DataSpec(source="moons", options={"nosie": 0.1}))
    [problem] = check_data(unknown_option)
    assert problem.path == "data.nosie" and "did you mean 'noise'?" in problem.message
    wrong_kind = ExperimentSpec(data=DataSpec(source="random", options={"shape": "1000"}))
    [problem] = check_data(wrong_kind)
    assert problem.path == "data.shape" and "list of integers" in problem.message
    missing = ExperimentSpec(data=DataSpec(source="csv"))
    [problem] = check_data(missing)
    assert problem.path == "data.path" and "is required" in problem.message
    assert check_data(ExperimentSpec(data=DataSpec(source="wine"))) == []


def test_load_data_raises_the_same_problems():
    with pytest.raises(SpecError) as err:
        load_data(spec("moons", samples=2), seed=0)
    assert problems_of(err) == ["data.samples: must be at least 4, got 2"]


def test_data_info_rejects_unknown_task_and_kind():
    with pytest.raises(ValueError):
        DataInfo((2,), "float32", "clustering", 2)
    with pytest.raises(ValueError):
        DataInfo((2,), "float32", "classification", 2, kind="audio")
