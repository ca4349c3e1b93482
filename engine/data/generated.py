"""Generated data: 2-D toy problems (moons, circles, spirals) and random tensors for benchmarks.

All are drawn from the spec's seed, so the same seed gives the same samples. Implemented in
numpy (no scikit-learn import) so they describe and load instantly."""
from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from engine.data.base import DATA_SOURCES, DataInfo, Raw, Source, fail
from engine.registry import Param

_DATA_SALT = 0xDA7A
#: refuse random data sets larger than this (bytes of float32 features)
MAX_RANDOM_BYTES = 8 << 30

_POINT_PARAMS = (
    Param("samples", "int", 1000, "Number of points generated", min=4, max=10_000_000),
    Param("noise", "float", 0.1, "Standard deviation of the Gaussian noise added to each point", min=0.0, max=10.0),
)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([_DATA_SALT, int(seed) & 0xFFFFFFFF])


def _points_info(class_names: tuple[str, ...]) -> DataInfo:
    return DataInfo((2,), "float32", "classification", len(class_names), class_names, ("x1", "x2"), "points")


def _finish_points(info: DataInfo, parts: list[np.ndarray], noise: float, rng: np.random.Generator) -> Raw:
    x = np.concatenate(parts).astype(np.float64)
    y = np.concatenate([np.full(len(p), i, dtype=np.int64) for i, p in enumerate(parts)])
    x += rng.normal(scale=noise, size=x.shape)
    order = rng.permutation(len(x))
    return Raw(info, x[order].astype(np.float32), y[order])


def _halves(samples: int) -> tuple[int, int]:
    return samples // 2, samples - samples // 2


# ----------------------------------------------------------------------------- moons

_MOONS = _points_info(("upper moon", "lower moon"))


def _load_moons(options: Mapping[str, Any], seed: int) -> Raw:
    n_a, n_b = _halves(options["samples"])
    ta, tb = np.linspace(0, math.pi, n_a), np.linspace(0, math.pi, n_b)
    upper = np.stack([np.cos(ta), np.sin(ta)], axis=1)
    lower = np.stack([1 - np.cos(tb), 0.5 - np.sin(tb)], axis=1)
    return _finish_points(_MOONS, [upper, lower], options["noise"], _rng(seed))


# ----------------------------------------------------------------------------- circles

_CIRCLES = _points_info(("outer", "inner"))


def _load_circles(options: Mapping[str, Any], seed: int) -> Raw:
    n_a, n_b = _halves(options["samples"])
    ta = np.linspace(0, 2 * math.pi, n_a, endpoint=False)
    tb = np.linspace(0, 2 * math.pi, n_b, endpoint=False)
    outer = np.stack([np.cos(ta), np.sin(ta)], axis=1)
    inner = options["factor"] * np.stack([np.cos(tb), np.sin(tb)], axis=1)
    return _finish_points(_CIRCLES, [outer, inner], options["noise"], _rng(seed))


# ----------------------------------------------------------------------------- spirals

def _spirals_info(options: Mapping[str, Any]) -> DataInfo:
    return _points_info(tuple(f"arm {i + 1}" for i in range(options["classes"])))


def _load_spirals(options: Mapping[str, Any], seed: int) -> Raw:
    k, n = options["classes"], options["samples"]
    sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    parts = []
    for arm, size in enumerate(sizes):
        r = np.linspace(0.05, 1.0, size)
        theta = r * options["turns"] * 2 * math.pi + arm * 2 * math.pi / k
        parts.append(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1))
    return _finish_points(_spirals_info(options), parts, options["noise"], _rng(seed))


# ----------------------------------------------------------------------------- random

def _random_info(options: Mapping[str, Any]) -> DataInfo:
    shape = tuple(options["shape"])
    if not shape:
        raise fail("shape", "is empty — give the shape of one sample, e.g. [1000] or [3, 32, 32]")
    size = math.prod(shape) * options["samples"] * 4
    if size > MAX_RANDOM_BYTES:
        raise fail("samples", f"{options['samples']} samples of shape {list(shape)} need {size / 2**30:.1f} GiB "
                              f"(limit {MAX_RANDOM_BYTES >> 30} GiB) — use fewer samples or a smaller shape")
    classes = options["classes"]
    kind = "image" if len(shape) == 3 else "tabular"
    features = tuple(f"x{i}" for i in range(shape[0])) if len(shape) == 1 and shape[0] <= 4096 else ()
    return DataInfo(shape, "float32", "classification", classes, tuple(str(i) for i in range(classes)), features, kind)


def _load_random(options: Mapping[str, Any], seed: int) -> Raw:
    """Gaussian features (uniform [0, 1] pixels for image shapes); labels from a fixed random
    linear 'teacher' on the centred features, so the task is learnable."""
    info = _random_info(options)
    rng = _rng(seed)
    n, features = options["samples"], math.prod(info.input_shape)
    if info.kind == "image":
        x = rng.random((n, features), dtype=np.float32)
        centred = x - np.float32(0.5)
    else:
        x = centred = rng.standard_normal((n, features), dtype=np.float32)
    teacher = rng.standard_normal((features, info.num_classes), dtype=np.float32)
    y = np.argmax(centred @ teacher, axis=1).astype(np.int64)
    x = x.reshape((n, *info.input_shape))
    return Raw(info, x, y, normalize="image" if info.kind == "image" else "standardize")


DATA_SOURCES.add(
    "moons", Source(lambda o: _MOONS, _load_moons), params=_POINT_PARAMS, group="Generated",
    description="Two interleaving half circles in 2-D (2 classes); a classic non-linear toy problem.")
DATA_SOURCES.add(
    "circles", Source(lambda o: _CIRCLES, _load_circles),
    params=(*_POINT_PARAMS, Param("factor", "float", 0.5, "Radius of the inner circle relative to the outer one",
                                  min=0.01, max=0.99)),
    group="Generated", description="A small circle inside a large one in 2-D (2 classes); not linearly separable.")
DATA_SOURCES.add(
    "spirals", Source(_spirals_info, _load_spirals),
    params=(*_POINT_PARAMS,
            Param("classes", "int", 2, "Number of spiral arms (one class each)", min=2, max=10),
            Param("turns", "float", 1.5, "How many times each arm winds around the centre", min=0.25, max=5.0)),
    group="Generated", description="Interleaved spiral arms in 2-D, one class per arm; hard for shallow models.")
DATA_SOURCES.add(
    "random", Source(_random_info, _load_random),
    params=(
        Param("shape", "ints", [20], "Shape of one sample, e.g. [1000] (a vector) or [3, 32, 32] (an image)",
              min=1, max=1 << 24),
        Param("classes", "int", 10, "Number of classes", min=2, max=100_000),
        Param("samples", "int", 1000, "Number of samples generated", min=2, max=100_000_000),
    ),
    group="Generated",
    description="Random tensors of any shape (Gaussian; uniform pixels for [C, H, W]), labelled by a fixed "
                "random linear map (for benchmarks).")
