"""The [tracking] check: an MLflow URI needs MLflow installed (found without importing it)."""
from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from engine.problems import Problem

if TYPE_CHECKING:  # pragma: no cover
    from engine.spec import ExperimentSpec


def check_tracking(spec: "ExperimentSpec") -> list[Problem]:
    """Problems in [tracking]."""
    uri = spec.tracking.mlflow_uri
    if uri and importlib.util.find_spec("mlflow") is None:
        return [Problem("tracking.mlflow_uri", "is set but MLflow is not installed — pip install 'netwright[mlflow]', "
                                               "or clear mlflow_uri")]
    return []
