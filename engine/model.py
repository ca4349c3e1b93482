"""Build the real torch model from a layer stack (after pure shape inference has passed)."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

from engine.layers import LAYERS
from engine.pretrained.errors import PretrainedError
from engine.problems import Problem, SpecError
from engine.shapes import LayerRow, ModelReport, infer_model, layer_labels
from engine.spec import LayerSpec

__all__ = ["build_model", "build_from_report", "layer_labels", "model_layers"]


def model_layers(spec_or_layers: Any) -> Sequence[LayerSpec]:
    """The layer stack of an ExperimentSpec, or the given sequence of LayerSpecs."""
    model = getattr(spec_or_layers, "model", None)
    return tuple(model.layers) if model is not None else tuple(spec_or_layers)


def build_model(spec_or_layers: Any, input_shape: Sequence[int], input_dtype: str = "float32",
                num_classes: int | None = None):
    """A ``torch.nn.Sequential`` with one child per enabled top-level layer, named by its row
    label (``conv2d_1``, ``relu_1``, ...). Raises SpecError listing every problem if inference fails."""
    report = infer_model(model_layers(spec_or_layers), tuple(input_shape), input_dtype, num_classes)
    return build_from_report(report)


def build_from_report(report: ModelReport):
    """Build the model of a problem-free report (see :func:`build_model`)."""
    import torch.nn as nn  # torch only when a model is built (shape inference stays torch-free)

    if report.problems:
        raise SpecError(report.problems)
    return nn.Sequential(OrderedDict(_children(report, report.top_rows())))


def _children(report: ModelReport, rows: Sequence[LayerRow]) -> list[tuple[str, Any]]:
    return [(row.label, _build(report, row)) for row in rows if row.enabled]


def _build(report: ModelReport, row: LayerRow):
    entry = LAYERS.get(row.type)
    children = _children(report, report.children(row)) if entry.extra.get("composite") else []
    assert row.in_shape is not None  # a problem-free report has every shape
    try:
        return entry.obj.build(row.options, row.in_shape, row.in_dtype, children, row.inner_shape)
    except PretrainedError as err:  # weights that cannot be read or do not fit: name the option
        raise SpecError([Problem(f"{row.path}.{err.option}", err.message)]) from None
