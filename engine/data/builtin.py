"""Built-in data sets that ship with scikit-learn: digits, iris, wine, breast_cancer.

Their shapes and names are written here so `describe_data` is instant and does not import
scikit-learn (which takes seconds); a test checks them against scikit-learn's own. Loading
reads the CSV files scikit-learn ships (``sklearn/datasets/data``) with numpy, without
importing scikit-learn (~1.2 s of every run's start-up); where those files are not found,
scikit-learn's own loaders are used."""
from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from engine.data.base import DATA_SOURCES, DataInfo, Raw, Source

_CANCER_MEASURES = (
    "radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
    "concave points", "symmetry", "fractal dimension",
)


@dataclass(frozen=True)
class _Builtin:
    loader: str  # name of the sklearn.datasets function
    info: DataInfo
    description: str
    file: str  # its file in sklearn/datasets/data: rows of features then the class (CSV files
    #            other than digits start with a line "samples,features,class names...")


_BUILTINS = {
    "digits": _Builtin("load_digits", DataInfo(
        (1, 8, 8), "float32", "classification", 10, tuple(str(i) for i in range(10)), (), "image"),
        "Handwritten digits 0-9 as 8x8 grey images (1,797 samples, 10 classes).", "digits.csv.gz"),
    "iris": _Builtin("load_iris", DataInfo(
        (4,), "float32", "classification", 3, ("setosa", "versicolor", "virginica"),
        ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"), "tabular"),
        "Fisher's iris flowers: 4 measurements, 3 species (150 samples).", "iris.csv"),
    "wine": _Builtin("load_wine", DataInfo(
        (13,), "float32", "classification", 3, ("class_0", "class_1", "class_2"),
        ("alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
         "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
         "od280/od315_of_diluted_wines", "proline"), "tabular"),
        "Chemical analysis of wines from 3 cultivars: 13 features (178 samples).", "wine_data.csv"),
    "breast_cancer": _Builtin("load_breast_cancer", DataInfo(
        (30,), "float32", "classification", 2, ("malignant", "benign"),
        tuple(f"mean {m}" for m in _CANCER_MEASURES) + tuple(f"{m} error" for m in _CANCER_MEASURES)
        + tuple(f"worst {m}" for m in _CANCER_MEASURES), "tabular"),
        "Wisconsin breast cancer diagnosis: 30 cell-nucleus features, malignant or benign (569 samples).",
        "breast_cancer.csv"),
}


def _describe(name: str):
    def describe(options: Mapping[str, Any]) -> DataInfo:
        return _BUILTINS[name].info
    return describe


def _shipped_file(name: str) -> Path | None:
    """scikit-learn's data file of the set (located without importing scikit-learn), or None."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / _BUILTINS[name].file
    return path if path.is_file() else None


def _read(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(features as float64 rows, class numbers) of the built-in set `name`."""
    path = _shipped_file(name)
    if path is None:  # an unusual scikit-learn layout: its loader knows where the file is
        import sklearn.datasets  # scikit-learn only when a built-in set is loaded (slow import)

        bunch = getattr(sklearn.datasets, _BUILTINS[name].loader)()
        return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target)
    if path.suffix == ".gz":
        with gzip.open(path, "rt") as text:
            table = np.loadtxt(text, delimiter=",", ndmin=2)
    else:
        table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return table[:, :-1], table[:, -1]


def _load(name: str):
    def load(options: Mapping[str, Any], seed: int) -> Raw:
        builtin = _BUILTINS[name]
        data, target = _read(name)
        y = np.asarray(target, dtype=np.int64)
        if builtin.info.kind == "image":
            images = data.reshape((-1, *builtin.info.input_shape[1:])).astype(np.float32) / 16.0  # pixels are 0..16
            return Raw(builtin.info, images[:, None, :, :], y, normalize="image")
        return Raw(builtin.info, np.asarray(data, dtype=np.float32), y)
    return load


def sklearn_metadata(name: str) -> DataInfo:
    """The DataInfo read from scikit-learn itself (used by the tests to check the table above)."""
    raw = _load(name)({}, 0)
    import sklearn.datasets  # as in _load

    bunch = getattr(sklearn.datasets, _BUILTINS[name].loader)()
    features = tuple(str(f) for f in getattr(bunch, "feature_names", ())) if raw.info.kind == "tabular" else ()
    return DataInfo(
        tuple(raw.x.shape[1:]), "float32", "classification", len(bunch.target_names),
        tuple(str(t) for t in bunch.target_names), features, raw.info.kind)


for _name, _builtin in _BUILTINS.items():
    DATA_SOURCES.add(
        _name, Source(_describe(_name), _load(_name)), params=(),
        description=_builtin.description, group="Built-in",
    )
